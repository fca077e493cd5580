"""Whether two soundtracks are the same sound: Chromaprint items aligned as AcoustID does (pure).

Each item is 32 bits describing about 0.124 s of sound. Items equal in both prints vote for an offset; at the
best voted offsets the bit error rate of the aligned items is counted, word by word. The same sound re-encoded
differs in a few percent of its bits; other sound in far more. A second of the query is matched when the
items of its one-second window differ in at most MAX_ERROR of their bits; a soundtrack matches when at least
MIN_SECONDS are. A tone or silence gives the same item again and again and says nothing, so a stretch whose
items are mostly repeats never matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ITEM_SECONDS = 4096 / 3 / 11025  # Chromaprint's step: 1365.33 samples at 11,025 Hz
WINDOW = 8  # items judged together: about one second
MAX_ERROR = 0.1  # share of differing bits under which a window is the same sound (re-encodes: ~1-5%)
MIN_SECONDS = 4.0  # matched seconds needed for a soundtrack match
MIN_DISTINCT = 0.25  # share of distinct items a matched stretch needs (tones and silence repeat one item)
MAX_REPEATS = 16  # an item value this frequent in the archived print votes for nothing
CANDIDATES = 5  # offsets with the most votes that are checked


@dataclass(frozen=True)
class AudioMatch:
    """An archived soundtrack holding the query's sound: where, for how long, and how close."""

    video_id: int
    offset: float  # seconds into the archived video where the query's start lies (negative: before its start)
    matched_seconds: float
    error: float  # share of differing bits over the matched seconds


def as_items(raw: bytes) -> np.ndarray:
    """Stored items (little-endian uint32) as an array."""
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)


def _votes(query: np.ndarray, archived: np.ndarray) -> list[int]:
    """Offsets (archived index minus query index) where equal items meet, most voted first."""
    values, counts = np.unique(archived, return_counts=True)
    order = np.argsort(archived, kind="stable")
    starts = np.searchsorted(archived[order], values)
    where = {int(v): order[s:s + c] for v, s, c in zip(values, starts, counts, strict=True) if c <= MAX_REPEATS}
    offsets = [position - i for i, value in enumerate(query.tolist()) for position in where.get(value, ())]
    if not offsets:
        return []
    found, tally = np.unique(np.asarray(offsets), return_counts=True)
    return [int(found[i]) for i in np.argsort(-tally, kind="stable")[:CANDIDATES]]


def _aligned(query: np.ndarray, archived: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The stretches of both prints that overlap when the query starts at `offset` in the archived one."""
    start, at = max(0, -offset), max(0, offset)
    length = max(0, min(len(query) - start, len(archived) - at))
    return query[start:start + length], archived[at:at + length]


def _matched(query: np.ndarray, archived: np.ndarray) -> tuple[int, float]:
    """Items of the aligned stretches in windows within MAX_ERROR (and not mere repeats), and their error."""
    if len(query) < WINDOW:
        return 0, 1.0
    errors = np.bitwise_count(query ^ archived).astype(np.float64) / 32
    windows = np.convolve(errors, np.ones(WINDOW) / WINDOW, mode="valid")
    good = np.zeros(len(query), dtype=bool)
    for start in np.flatnonzero(windows <= MAX_ERROR):
        good[start:start + WINDOW] = True
    kept = query[good]
    if kept.size == 0 or len(np.unique(kept)) < MIN_DISTINCT * kept.size:
        return 0, 1.0
    return int(good.sum()), float(errors[good].mean())


def compare(video_id: int, query: np.ndarray, archived: np.ndarray) -> AudioMatch | None:
    """The archived print's match with the query at their best alignment, or None when not the same sound."""
    best: tuple[int, float, int] | None = None
    for voted in _votes(query, archived):
        for offset in (voted - 1, voted, voted + 1):
            count, error = _matched(*_aligned(query, archived, offset))
            if count and (best is None or (count, -error) > (best[0], -best[1])):
                best = (count, error, offset)
    if best is None or best[0] * ITEM_SECONDS < MIN_SECONDS:
        return None
    count, error, offset = best
    return AudioMatch(video_id, round(offset * ITEM_SECONDS, 2), round(count * ITEM_SECONDS, 2), round(error, 4))
