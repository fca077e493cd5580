"""Finding footage by its sound: a cropped, mirrored copy with the same soundtrack is heard in the archived clip;
a tone is not; a video without sound is no error. Clips are made with ffmpeg's lavfi sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.config import Settings
from archive.db import session_scope
from archive.footage.sound import find_sound, read_sound, store_sound
from archive.footage.soundmatch import compare
from archive.models import Video
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace
from tests.conftest import _need

SOUNDTRACK = "anoisesrc=d=12:c=pink:r=22050:a=0.3:seed=7"  # mixed with a beeping tone: sound unlike any other


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clip A with a soundtrack, its cropped and mirrored copy (sound re-encoded, 2 s in), a clip of a tone,
    and a clip without sound."""
    for tool in ("ffmpeg", "fpcalc"):
        if shutil.which(tool) is None:
            _need(f"{tool} is not installed (fpcalc: Debian's libchromaprint-tools)")
    folder = tmp_path_factory.mktemp("sound")
    made = {name: folder / f"{name}.mp4" for name in ("a", "copy", "tone", "silent")}
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=320x180:r=10", "-f", "lavfi", "-i", SOUNDTRACK,
           "-f", "lavfi", "-i", "sine=f=220:d=12:beep_factor=4", "-filter_complex", "[1][2]amix=inputs=2",
           "-t", "12", "-pix_fmt", "yuv420p", "-preset", "ultrafast", str(made["a"]))
    ffmpeg("-ss", "2", "-i", str(made["a"]), "-vf", "crop=iw*0.9:ih*0.9,hflip", "-c:a", "aac", "-b:a", "48k",
           "-preset", "ultrafast", str(made["copy"]))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=320x180:r=10", "-f", "lavfi", "-i", "sine=f=1000:d=12",
           "-t", "12", "-pix_fmt", "yuv420p", "-preset", "ultrafast", str(made["tone"]))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=10", "-t", "5", "-pix_fmt", "yuv420p", str(made["silent"]))
    return made


def test_the_same_soundtrack_is_heard_under_a_cropped_mirrored_copy(clips: dict[str, Path]) -> None:
    archived, copy, tone = (read_sound(clips[name], 3600, 60) for name in ("a", "copy", "tone"))
    assert archived is not None and copy is not None and tone is not None
    match = compare(1, copy.items, archived.items)
    assert match is not None
    assert abs(match.offset - 2.0) <= 0.3, match  # the copy starts 2 s into the clip
    assert match.matched_seconds >= 6 and match.error < 0.1, match
    assert compare(1, tone.items, archived.items) is None
    assert compare(1, archived.items, tone.items) is None
    assert read_sound(clips["silent"], 3600, 60) is None  # no sound: nothing to compare, no error


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings)
    yield workspace
    workspace.close()


def test_similar_reports_sound_matches_beside_frame_matches(ws: Workspace, clips: dict[str, Path], run) -> None:
    url = "https://v.example/a"
    with session_scope(ws.sessions) as session:
        source = add_sources(session, ensure_collection(session, "event"), [SourceEntry(url)], kind="video").added[0]
        video = Video(source_id=source.id, provider="generic", video_id=url, canonical_url=url)
        session.add(video)
        session.flush()
        store_sound(session, video.id, read_sound(clips["a"], 3600, 60))
        assert [m.video_id for m in find_sound(session, read_sound(clips["copy"], 3600, 60).items)] == [video.id]
    code, out, err = run("similar", str(clips["copy"]), "--json")
    assert code == 0, err
    found = json.loads(out)
    assert [(hit["url"], hit["matched_by"]) for hit in found] == [(url, ["sound"])]
    assert abs(found[0]["sound"]["offset"] - 2.0) <= 0.3 and found[0]["sound"]["matched_seconds"] >= 6
    code, out, _ = run("similar", str(clips["copy"]))
    assert code == 0 and "sound:" in out and url in out
    for name in ("tone", "silent"):
        code, out, err = run("similar", str(clips[name]), "--json")
        assert (code, json.loads(out)) == (3, []), (name, err)
