"""A vanished video's variants: its kept media decoded again and each sampled frame hashed in its eight
orientations (rotations and mirrors) and by its top part, so a mirrored or rotated copy of its footage is found.

Archived frames are hashed as they are (one orientation: the index stays small); only a video that vanished,
the one whose copies matter, gets its variants, made in the footage round's pool of processes. A video whose
media cannot be read again gets a stored failure with its reason, tried again only when its media changes.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.footage.frames import FootageError, Limits
from archive.footage.hashes import as_words, distances
from archive.footage.kept import kept_file
from archive.footage.match import Hit
from archive.footage.prints import kept_media_of
from archive.footage.similar import video_queries
from archive.footage.tables import FrameHashRow, VariantHashRow, VariantPrint
from archive.models import Source, Video
from archive.vocab import SourceStatus
from archive.workspace import Workspace

logger = logging.getLogger(__name__)

CHUNK = 20_000  # variant hashes compared at once...
QUERY_CHUNK = 100  # ...with this many query hashes: 64 MB of XORed words


def variants_pending(session: Session, collection_id: int | None = None, limit: int = 100) -> list[int]:
    """Vanished videos with kept media whose variants were not made (nor failed) for their current media."""
    statement = (select(Video.id).join(Source, Source.id == Video.source_id)
                 .join(VariantPrint, VariantPrint.video_id == Video.id, isouter=True)
                 .where(Video.media_capture_id.is_not(None), Source.status == SourceStatus.VANISHED.value)
                 .where(VariantPrint.video_id.is_(None) | (VariantPrint.media_sha256 != Video.media_sha256))
                 .order_by(Video.id).limit(limit))
    if collection_id is not None:
        statement = statement.where(Source.collection_id == collection_id)
    return list(session.scalars(statement))


def make_variants(ws: Workspace, video_id: int, per_second: float, limits: Limits) -> VariantPrint:
    """Decode a vanished video's kept media again and store its frames' variant hashes (or its failure)."""
    capture, sha256 = kept_media_of(ws, video_id)
    queries: list[tuple[float, bytes]] = []
    reason = None
    with tempfile.TemporaryDirectory(prefix="lastseen-variants-") as folder:
        try:
            queries = video_queries(kept_file(ws, capture, Path(folder)), per_second, limits)
            if not queries:
                raise FootageError("no frame clear enough to hash")
        except FootageError as exc:
            reason = str(exc)
    if reason:
        logger.info("video %s: no variants: %s", video_id, reason)
    return _store(ws, video_id, queries, reason, sha256)


def _store(ws: Workspace, video_id: int, queries: list[tuple[float, bytes]], reason: str | None,
           sha256: str | None) -> VariantPrint:
    """Replace a video's variant hashes and their record with these (or its failure); what was stored."""
    with session_scope(ws.sessions) as session:
        session.execute(delete(VariantHashRow).where(VariantHashRow.video_id == video_id))
        session.execute(delete(VariantPrint).where(VariantPrint.video_id == video_id))
        if queries:
            session.execute(insert(VariantHashRow), [
                {"video_id": video_id, "second": second, "hash": digest} for second, digest in queries])
        made = VariantPrint(video_id=video_id, state="failed" if reason else "done", reason=reason,
                            frames=len({second for second, _ in queries}), media_sha256=sha256)
        session.add(made)
        session.flush()
        session.expunge(made)
    return made


def store_variant_failure(ws: Workspace, video_id: int, reason: str) -> VariantPrint:
    """Store a video's variants' failure found outside the making itself (its worker process died)."""
    return _store(ws, video_id, [], reason, kept_media_of(ws, video_id)[1])


def variant_queries(session: Session, video_id: int) -> list[tuple[float, bytes]]:
    """A video's variant hashes as a query: each sampled frame's eight orientations and top part."""
    rows = session.execute(select(VariantHashRow.second, VariantHashRow.hash)
                           .where(VariantHashRow.video_id == video_id).order_by(VariantHashRow.id))
    return [(second, digest) for second, digest in rows]


class VariantTable:
    """The variant hashes of a collection's vanished videos (of their current media), read once and scanned
    exactly in numpy: the table holds vanished videos only, so a round keeps it in memory while it compares."""

    def __init__(self, session: Session, collection_id: int) -> None:
        rows = session.execute(
            select(VariantHashRow.video_id, VariantHashRow.second, VariantHashRow.hash)
            .join(VariantPrint, VariantPrint.video_id == VariantHashRow.video_id)
            .join(Video, Video.id == VariantHashRow.video_id).join(Source, Source.id == Video.source_id)
            .where(Source.collection_id == collection_id, Source.status == SourceStatus.VANISHED.value,
                   VariantPrint.state == "done", VariantPrint.media_sha256 == Video.media_sha256)
            .order_by(VariantHashRow.id)).all()
        self.video_ids = [row.video_id for row in rows]
        self.seconds = [row.second for row in rows]
        self.words = as_words([row.hash for row in rows])

    def near(self, queries: Sequence[tuple[float, bytes]], max_bits: int) -> list[Hit]:
        """Vanished videos' frames whose variant hashes lie within max_bits of each (query second, hash)."""
        if not queries or not self.video_ids:
            return []
        query = as_words([h for _, h in queries])
        best: dict[tuple[float, int, float], int] = {}
        for q in range(0, len(query), QUERY_CHUNK):
            for r in range(0, len(self.words), CHUNK):
                found = distances(query[q:q + QUERY_CHUNK], self.words[r:r + CHUNK])
                for qi, ri in zip(*np.nonzero(found <= max_bits), strict=True):
                    key = (queries[q + qi][0], self.video_ids[r + ri], self.seconds[r + ri])
                    best[key] = min(best.get(key, max_bits + 1), int(found[qi, ri]))
        return [Hit(second, video_id, other, distance) for (second, video_id, other), distance in best.items()]


def seconds_of(session: Session, video_ids: set[int]) -> dict[int, int]:
    """How many sampled seconds each video holds: by its fingerprint, else by its variants."""
    counted: dict[int, int] = {}
    for table in (FrameHashRow, VariantHashRow):
        missing = video_ids - set(counted)
        if missing:
            counted |= dict(session.execute(
                select(table.video_id, func.count(func.distinct(table.second)))
                .where(table.video_id.in_(missing)).group_by(table.video_id)).all())
    return counted
