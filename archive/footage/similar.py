"""Finding footage again: which archived videos hold a still picture (and at which second), or a video's frames.

A picture is looked up in its eight orientations and by its top part; a video query samples its frames, each
looked up the same way, and an archived video matches when it holds at least the asked share of them
(archive.footage.match).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.footage.frames import FootageError, Limits, read_image, sample
from archive.footage.hashes import MATCH_BITS, MIN_QUALITY, hash_picture, orientations, top_part
from archive.footage.index import FrameIndex
from archive.footage.match import VideoMatch, score
from archive.footage.tables import FrameHashRow

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SECONDS_PER_VIDEO = 5  # seconds listed for each video a picture is found in


@dataclass(frozen=True)
class PictureMatch:
    """An archived video holding the picture: the seconds it shows it at, and the closest distance."""

    video_id: int
    seconds: tuple[float, ...]
    distance: int


def find_picture(index: FrameIndex, path: Path) -> list[PictureMatch]:
    """Archived videos holding the picture in the file, closest first."""
    hashes = picture_hashes(read_image(path))
    if not hashes:
        raise FootageError("picture too plain to match")
    by_video: dict[int, dict[float, int]] = {}
    for hit in index.near([(0.0, digest) for digest in hashes], MATCH_BITS):
        seconds = by_video.setdefault(hit.video_id, {})
        seconds[hit.second] = min(hit.distance, seconds.get(hit.second, hit.distance))
    found = []
    for video_id, seconds in by_video.items():
        closest = sorted(seconds.items(), key=lambda item: (item[1], item[0]))[:SECONDS_PER_VIDEO]
        found.append(PictureMatch(video_id, tuple(sorted(s for s, _ in closest)), closest[0][1]))
    return sorted(found, key=lambda m: (m.distance, m.video_id))


def video_queries(path: Path, per_second: float, limits: Limits) -> list[tuple[float, bytes]]:
    """Each clear sampled frame of a video file in its eight orientations, with its second."""
    queries = []
    for frame in sample(path, per_second, limits):
        queries += [(frame.second, digest) for digest in picture_hashes(frame.rgb)]
    return queries


def picture_hashes(rgb: np.ndarray) -> list[bytes]:
    """A picture's hashes worth looking up: its eight orientations and its top part (empty when too plain)."""
    hashes, quality = orientations(rgb)
    top, top_quality = hash_picture(top_part(rgb))
    return (hashes if quality >= MIN_QUALITY else []) + ([top] if top_quality >= MIN_QUALITY else [])


def find_video(index: FrameIndex, queries: list[tuple[float, bytes]], share: float,
               exclude: int | None = None) -> list[VideoMatch]:
    """Archived videos holding at least `share` of the query's frames (other than `exclude`), best first."""
    frames = len({second for second, _ in queries})
    if frames == 0:
        raise FootageError("no frame clear enough to match")
    hits = [hit for hit in index.near(queries, MATCH_BITS) if hit.video_id != exclude]
    return score(hits, frames, share)


def stored_queries(session: Session, video_id: int) -> list[tuple[float, bytes]]:
    """A fingerprinted video's own frame hashes as a query (as archived: one orientation each)."""
    rows = session.execute(select(FrameHashRow.second, FrameHashRow.hash)
                           .where(FrameHashRow.video_id == video_id).order_by(FrameHashRow.second))
    return [(second, digest) for second, digest in rows]


def is_picture(path: Path) -> bool:
    """Whether a query file is a still picture (by its name), not a video."""
    return path.suffix.lower() in IMAGE_SUFFIXES
