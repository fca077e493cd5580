"""#25's bounds on reading a video's words: three hours of audio are read a piece at a time and stopped by the
wall-clock limit a video (what was heard by then kept, and saying so); on-screen text is stopped the same way.

Broken media, silence, the audio cap and a missing or corrupt model are tests.test_words'. The long audio is
made with ffmpeg's lavfi (silence at 8 kHz, AAC: under a megabyte for three hours).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from archive.words.screen import ocr_problem, screen_reader
from archive.words.speech import RATE, audio_pieces, load_model, speech_reader
from tests.conftest import _need
from tests.test_words import OnDisk, clips, model_dir  # noqa: F401 - fixtures

THREE_HOURS = 3 * 3600


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hours of (almost all) silence."""
    if shutil.which("ffmpeg") is None:
        _need("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("long") / "three-hours.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t",
                    str(THREE_HOURS), "-c:a", "aac", "-b:a", "8k", str(path)], check=True, timeout=300)
    return path


def test_long_audio_is_decoded_a_piece_at_a_time(long_audio: Path) -> None:
    pieces = itertools.islice(audio_pieces(long_audio, 4 * 3600, piece_seconds=600), 2)
    assert [len(piece) for piece in pieces] == [600 * RATE, 600 * RATE]  # never the whole three hours at once


def test_three_hours_of_audio_stop_at_the_time_limit(long_audio: Path, model_dir: Path) -> None:  # noqa: F811
    model = load_model(str(model_dir), 1)
    started = time.monotonic()
    reading = speech_reader(model, 4 * 3600, max_time=2)(OnDisk(long_audio))
    took = time.monotonic() - started
    assert took < 90, f"three hours of audio read for {took:.0f} s under a limit of 2 s"
    assert reading.note and reading.note.startswith("stopped at ") and "LASTSEEN_TRANSCRIBE_VIDEO_TIME" in reading.note
    assert reading.fields["cut_at"] is not None and reading.fields["cut_at"] < THREE_HOURS
    assert reading.lines == []  # silence: nothing invented


def test_on_screen_text_stops_at_the_time_limit(clips: dict[str, Path]) -> None:  # noqa: F811 - fixture
    if ocr_problem(("eng",)):
        _need(ocr_problem(("eng",)) or "")
    reading = screen_reader(("eng",), 3600, max_time=1e-6)(OnDisk(clips["spoken"]))
    assert reading.note and reading.note.startswith("stopped by the time limit")
    full = screen_reader(("eng",), 3600, max_time=600)(OnDisk(clips["spoken"]))
    assert full.note is None and full.lines
