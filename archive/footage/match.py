"""How a query's frames meet an archived video's: the share of the query found, and the segments (pure).

A query video matches an archived one when at least `share` of its sampled frames lie within MATCH_BITS of
some frame of it (vPDQ's rule, 80% by default); the matched seconds are joined into segments in both videos.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

GAP = 2.5  # seconds: matched frames closer than this belong to one segment


@dataclass(frozen=True)
class Hit:
    """A query frame (its second) near an archived frame (video and second) at a Hamming distance."""

    query_second: float
    video_id: int
    second: float
    distance: int


@dataclass(frozen=True)
class Segment:
    """A stretch of footage shared by the query (start-end) and the archived video (start-end), seconds."""

    query_start: float
    query_end: float
    start: float
    end: float


@dataclass(frozen=True)
class VideoMatch:
    """An archived video and how much of the query it holds."""

    video_id: int
    share: float
    matched_frames: int
    query_frames: int
    segments: tuple[Segment, ...]
    best_distance: int


def _segments(pairs: list[tuple[float, float]]) -> tuple[Segment, ...]:
    """Matched (query second, archived second) pairs joined where both advance together."""
    found: list[Segment] = []
    start = end = None
    for query_second, second in sorted(pairs):
        if start is not None and end is not None and query_second - end[0] <= GAP and abs(
                (second - end[1]) - (query_second - end[0])) <= GAP:
            end = (query_second, second)
            continue
        if start is not None and end is not None:
            found.append(Segment(start[0], end[0], min(start[1], end[1]), max(start[1], end[1])))
        start = end = (query_second, second)
    if start is not None and end is not None:
        found.append(Segment(start[0], end[0], min(start[1], end[1]), max(start[1], end[1])))
    return tuple(found)


def score(hits: Iterable[Hit], query_frames: int, share: float) -> list[VideoMatch]:
    """Archived videos holding at least `share` of the query's frames, best first."""
    best: dict[int, dict[float, Hit]] = defaultdict(dict)
    for hit in hits:
        kept = best[hit.video_id].get(hit.query_second)
        if kept is None or hit.distance < kept.distance:
            best[hit.video_id][hit.query_second] = hit
    matches = []
    for video_id, by_second in best.items():
        matched = len(by_second)
        ratio = matched / query_frames if query_frames else 0.0
        if ratio + 1e-9 < share:
            continue
        pairs = [(hit.query_second, hit.second) for hit in by_second.values()]
        matches.append(VideoMatch(video_id, round(ratio, 4), matched, query_frames, _segments(pairs),
                                  min(hit.distance for hit in by_second.values())))
    return sorted(matches, key=lambda m: (-m.share, m.best_distance, m.video_id))
