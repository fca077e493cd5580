"""Where frame hashes are looked up: an exact scan, in PostgreSQL (`bit_count(hash # query)`) or in numpy, or
the FAISS index on disk (archive.footage.ondisk) once the hashes are many.

All are exact within 31 bits and give the same hits; a FrameIndex is anything with `near`. The PostgreSQL
scan needs no extension (about 130 ms per query hash at 1M rows, so 1.3 s for a still's nine hashes); the
numpy scan reads the hashes once per query batch, in chunks, for SQLite and small archives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from archive.config import Settings
from archive.footage.hashes import as_words, distances
from archive.footage.match import Hit
from archive.footage.tables import FrameHashRow, bits_text
from archive.models import Source, Video

CHUNK = 200_000  # archived hashes compared at once in the numpy scan (4 words each)


class FrameIndex(Protocol):
    """Finds archived frames near query hashes."""

    def near(self, queries: Sequence[tuple[float, bytes]], max_bits: int) -> list[Hit]:
        """Hits of archived frames within max_bits of each (query second, hash)."""
        ...


class PostgresScan:
    """The exact scan in PostgreSQL: one statement for every query hash of a batch."""

    def __init__(self, session: Session, collection_id: int | None = None) -> None:
        self.session, self.collection_id = session, collection_id

    def near(self, queries: Sequence[tuple[float, bytes]], max_bits: int) -> list[Hit]:
        if not queries:
            return []
        scope = ("JOIN video v ON v.id = f.video_id JOIN source s ON s.id = v.source_id "
                 "WHERE s.collection_id = :collection AND" if self.collection_id is not None else "WHERE")
        rows = self.session.execute(text(
            "SELECT q.i, f.video_id, f.second, bit_count(f.hash # q.h) AS d FROM frame_hash f "
            "CROSS JOIN unnest(CAST(:hashes AS bit(256)[])) WITH ORDINALITY AS q(h, i) "
            f"{scope} bit_count(f.hash # q.h) <= :bits"),
            {"hashes": [bits_text(h) for _, h in queries], "bits": max_bits, "collection": self.collection_id})
        return [Hit(queries[i - 1][0], video_id, second, distance) for i, video_id, second, distance in rows]


class NumpyScan:
    """The exact scan in numpy, over the hashes read from any database."""

    def __init__(self, session: Session, collection_id: int | None = None) -> None:
        self.session, self.collection_id = session, collection_id

    def near(self, queries: Sequence[tuple[float, bytes]], max_bits: int) -> list[Hit]:
        if not queries:
            return []
        query = as_words([h for _, h in queries])
        statement = select(FrameHashRow.video_id, FrameHashRow.second, FrameHashRow.hash).order_by(FrameHashRow.id)
        if self.collection_id is not None:
            statement = statement.join(Video, Video.id == FrameHashRow.video_id).join(
                Source, Source.id == Video.source_id).where(Source.collection_id == self.collection_id)
        hits: list[Hit] = []
        result = self.session.execute(statement.execution_options(yield_per=CHUNK))
        for rows in result.partitions():
            table = as_words([row.hash for row in rows])
            found = distances(query, table)
            for qi, ri in zip(*np.nonzero(found <= max_bits), strict=True):
                row = rows[ri]
                hits.append(Hit(queries[qi][0], row.video_id, row.second, int(found[qi, ri])))
        return hits


def open_index(session: Session, collection_id: int | None = None, settings: Settings | None = None) -> FrameIndex:
    """The FAISS index on disk when the settings are given and the hashes many; else the scan where they are."""
    if settings is not None:
        highest = session.scalar(select(func.max(FrameHashRow.id))) or 0
        if highest >= settings.footage_index_from:
            from archive.footage.ondisk import FaissIndex

            return FaissIndex(session, Path(settings.footage_index_file), collection_id)
    if session.get_bind().dialect.name == "postgresql":
        return PostgresScan(session, collection_id)
    return NumpyScan(session, collection_id)
