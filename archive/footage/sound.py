"""Soundtrack fingerprints: Chromaprint's items from Debian's `fpcalc`, stored per kept video and looked up.

A crop, a banner, a logo or a mirror leaves the sound as it was, so a copy the frames miss may still be heard.
fpcalc reads the media file itself (FFmpeg inside), bounded by the seconds it may read and a time limit.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive.footage.frames import FootageError
from archive.footage.soundmatch import AudioMatch, as_items, compare
from archive.footage.tables import AudioPrintRow
from archive.models import Source, Video

NO_AUDIO = ("Could not find any audio stream", "no audio stream")


@dataclass(frozen=True)
class SoundPrint:
    """A soundtrack's fingerprint: the seconds of sound read and Chromaprint's raw items."""

    seconds: float
    items: np.ndarray


def read_sound(path: Path, max_seconds: float, timeout: float) -> SoundPrint | None:
    """The soundtrack fingerprint of a media file; None when it has no sound."""
    command = ["fpcalc", "-raw", "-json", "-length", str(max(1, int(max_seconds))), str(path.absolute())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise FootageError("fpcalc is not installed (Debian: libchromaprint-tools)") from None
    except subprocess.TimeoutExpired:
        raise FootageError(f"fpcalc took over {timeout:.0f} s") from None
    if any(text in done.stderr for text in NO_AUDIO):
        return None
    try:
        found = json.loads(done.stdout)
        items = np.asarray(found["fingerprint"], dtype=np.uint32)
        seconds = float(found["duration"])
    except (ValueError, KeyError, TypeError, OverflowError):
        reason = " ".join((done.stderr or done.stdout).split())[:200]
        raise FootageError(f"no soundtrack fingerprint: {reason or f'fpcalc exit {done.returncode}'}") from None
    return SoundPrint(seconds, items) if items.size else None


def store_sound(session: Session, video_id: int, sound: SoundPrint | None) -> None:
    """Replace a video's stored soundtrack fingerprint (none kept when it has no sound)."""
    session.execute(delete(AudioPrintRow).where(AudioPrintRow.video_id == video_id))
    if sound is not None:
        session.add(AudioPrintRow(video_id=video_id, seconds=sound.seconds,
                                  items=sound.items.astype("<u4").tobytes()))


def stored_sound(session: Session, video_id: int) -> np.ndarray | None:
    """A fingerprinted video's own soundtrack items as a query (None without sound)."""
    raw = session.scalar(select(AudioPrintRow.items).where(AudioPrintRow.video_id == video_id))
    return None if raw is None else as_items(raw)


def find_sound(session: Session, query: np.ndarray, collection_id: int | None = None,
               exclude: int | None = None) -> list[AudioMatch]:
    """Archived videos whose soundtrack holds the query's sound, the longest match first."""
    statement = select(AudioPrintRow.video_id, AudioPrintRow.items)
    if collection_id is not None:
        statement = statement.join(Video, Video.id == AudioPrintRow.video_id).join(
            Source, Source.id == Video.source_id).where(Source.collection_id == collection_id)
    found = []
    for video_id, raw in session.execute(statement.execution_options(yield_per=100)):
        if video_id != exclude and (match := compare(video_id, query, as_items(raw))) is not None:
            found.append(match)
    return sorted(found, key=lambda m: (-m.matched_seconds, m.error, m.video_id))
