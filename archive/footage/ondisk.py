"""The FAISS index of frame hashes kept on disk beside the database, so a lookup stays fast as the archive grows.

FAISS's multi-index hashing (IndexBinaryMultiHash) splits each 256-bit hash into 11 parts of 23 bits and
probes, for each part of the query, the buckets of that part with up to two of its bits flipped. A hash within
32 bits of the query differs by at most two bits in some part (pigeonhole: 11 parts of 3 or more bits make 33),
so the lookup is exact within EXACT_BITS (the match radius is 31), like the scans. The layout was measured
(an image query's nine hashes, CPU of range_search, random hashes): 11 x 23 bits 6.2 ms at 1M and 28 ms at
10M; 12 x 21 (the first layout) 8.4 ms at 1M, 16 x 16 with one flip 17 ms, 10 x 25 with three flips 37 ms,
8 x 32 with three flips 55 ms: wider parts mean fewer candidates per probe, but another flip multiplies the
probes. 11 x 23 costs ~6 GB in memory at 10M hashes (12 x 21: ~4 GB).
Ids are frame_hash ids: hits are read back from the database with their hash, so a row deleted or replaced
since the index was written never answers.

The file is brought up to date before each lookup: rows added since (ids above the stored highest) are
appended; a file missing, unreadable, ahead of the database, or marked stale (the fingerprinting step deleted
rows under it) is rebuilt from the table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.footage.match import Hit
from archive.footage.tables import FrameHashRow
from archive.models import Source, Video

PARTS, PART_BITS, FLIPS = 11, 23, 2  # 11 parts x (2 flips + 1) = 33 > 32 bits: exact within 32
EXACT_BITS = PARTS * (FLIPS + 1) - 1
LAYOUT = (PARTS, PART_BITS, FLIPS)  # kept in the state file: an index of another layout is rebuilt
CHUNK = 200_000  # rows read from the database and added at once
_LOADED: dict[Path, tuple[int, Any]] = {}  # a process keeps the loaded index while its file is unchanged


def _state_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_state(path: Path) -> dict[str, Any]:
    """The stored highest id and row count of the index file (empty when missing or marked stale)."""
    try:
        state = json.loads(_state_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("stale") or state.get("layout") != list(LAYOUT):
        return {}  # stale, or written with other parts (another version): rebuilt
    return state if path.is_file() else {}


def mark_stale(path: Path) -> None:
    """Say the index holds rows deleted since (a video fingerprinted again): the next lookup rebuilds it."""
    if _state_path(path).exists():
        _state_path(path).write_text(json.dumps({"stale": True}), encoding="utf-8")


def empty_index() -> Any:
    """An empty multi-hash index with frame_hash ids."""
    import faiss

    hashed = faiss.IndexBinaryMultiHash(256, PARTS, PART_BITS)
    hashed.nflip = FLIPS
    return faiss.IndexBinaryIDMap(hashed)


def _one_thread() -> None:
    """A lookup of a few hashes runs on one thread: OpenMP's threads only wait for each other on a busy host."""
    import faiss

    faiss.omp_set_num_threads(1)


def _load(path: Path) -> Any:
    """The index in the file, from this process's memory while the file is unchanged."""
    import faiss

    stamp = path.stat().st_mtime_ns
    kept = _LOADED.get(path)
    if kept is None or kept[0] != stamp:
        kept = (stamp, faiss.read_index_binary(str(path)))
        _LOADED[path] = kept
    return kept[1]


def write_index(path: Path, index: Any, state: dict[str, Any]) -> None:
    """Write the index and its state beside it, each replaced at once (a reader sees old or new, never half)."""
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    faiss.write_index_binary(index, str(partial))
    os.replace(partial, path)
    _LOADED[path] = (path.stat().st_mtime_ns, index)
    partial_state = _state_path(path).with_name(f"{_state_path(path).name}.{os.getpid()}.partial")
    partial_state.write_text(json.dumps({**state, "layout": list(LAYOUT)}), encoding="utf-8")
    os.replace(partial_state, _state_path(path))


def _add_rows(session: Session, index: Any, above: int) -> tuple[int, int]:
    """Add the table's rows with ids above `above` to the index; returns (rows added, highest id)."""
    statement = (select(FrameHashRow.id, FrameHashRow.hash).where(FrameHashRow.id > above)
                 .order_by(FrameHashRow.id).execution_options(yield_per=CHUNK))
    added, highest = 0, above
    for rows in session.execute(statement).partitions():
        codes = np.frombuffer(b"".join(row.hash for row in rows), dtype=np.uint8).reshape(-1, 32)
        ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
        index.add_with_ids(codes, ids)
        added, highest = added + len(rows), int(ids[-1])
    return added, highest


def synced(session: Session, path: Path) -> Any:
    """The index at `path` holding every row of frame_hash: appended to, or rebuilt when it cannot be."""
    state = _read_state(path)
    highest = session.scalar(select(func.max(FrameHashRow.id))) or 0
    if state and state.get("highest", 0) <= highest:
        try:
            index = _load(path)
        except RuntimeError:  # an unreadable file: rebuilt below
            state = {}
        else:
            if state["highest"] == highest:
                return index
            added, top = _add_rows(session, index, state["highest"])
            write_index(path, index, {"highest": top, "rows": state["rows"] + added})
            return index
    index = empty_index()
    added, top = _add_rows(session, index, 0)
    write_index(path, index, {"highest": top, "rows": added})
    return index


class FaissIndex:
    """Lookups through the FAISS index on disk: exact within EXACT_BITS, the same hits as the scans."""

    def __init__(self, session: Session, path: Path, collection_id: int | None = None) -> None:
        self.session, self.path, self.collection_id = session, path, collection_id

    def near(self, queries: Sequence[tuple[float, bytes]], max_bits: int) -> list[Hit]:
        if not queries:
            return []
        if max_bits > EXACT_BITS:
            raise ValueError(f"the FAISS index is exact within {EXACT_BITS} bits, not {max_bits}")
        index = synced(self.session, self.path)
        _one_thread()
        codes = np.frombuffer(b"".join(h for _, h in queries), dtype=np.uint8).reshape(-1, 32)
        limits, _, ids = index.range_search(codes, max_bits + 1)  # FAISS keeps distances below the radius
        found = {int(i) for i in ids}
        if not found:
            return []
        rows = self._rows(found)
        hits = []
        for qi, (second, digest) in enumerate(queries):
            query = int.from_bytes(digest, "big")
            for frame_id in ids[limits[qi]:limits[qi + 1]]:
                row = rows.get(int(frame_id))
                if row is None:
                    continue  # deleted since, or outside the collection
                distance = (query ^ int.from_bytes(row[2], "big")).bit_count()
                if distance <= max_bits:  # a row replaced under a reused id is checked against its hash
                    hits.append(Hit(second, row[0], row[1], distance))
        return hits

    def _rows(self, ids: set[int]) -> dict[int, tuple[int, float, bytes]]:
        """The hit rows still in the table (and in the collection): video, second and hash, by id."""
        statement = select(FrameHashRow.id, FrameHashRow.video_id, FrameHashRow.second, FrameHashRow.hash)
        if self.collection_id is not None:
            statement = statement.join(Video, Video.id == FrameHashRow.video_id).join(
                Source, Source.id == Video.source_id).where(Source.collection_id == self.collection_id)
        found: dict[int, tuple[int, float, bytes]] = {}
        id_list = sorted(ids)
        for start in range(0, len(id_list), 10_000):
            chunk = id_list[start:start + 10_000]
            for row in self.session.execute(statement.where(FrameHashRow.id.in_(chunk))):
                found[row.id] = (row.video_id, row.second, row.hash)
        return found
