"""Captured images: each distinct image a page kept as a requisite gets a PDQ hash (whole and top part), so an
image query finds it and a frame of an archived video reappearing in a picture is found.

One hash per image content (its payload SHA-256): the same picture kept again by a later crawl, or on another
page, is hashed once. An image that cannot be read back or decoded (SVG, a tracking pixel, a bomb) is a stored
failure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.footage.frames import FootageError, read_image
from archive.footage.hashes import MIN_QUALITY, as_words, distances, hash_picture, top_part
from archive.footage.kept import kept_file
from archive.footage.links import ImagePrint
from archive.models import Requisite
from archive.workspace import Workspace

IMAGE_KINDS = ("image", "icon", "poster")
CHUNK = 100_000  # image hashes compared at once


@dataclass(frozen=True)
class ImageHit:
    """A query hash (its second) near a captured image's hash."""

    query_second: float
    image_id: int
    distance: int


def is_image() -> object:
    """SQL condition on Requisite: a kept picture (by kind or by its content type)."""
    return or_(Requisite.kind.in_(IMAGE_KINDS), Requisite.content_type.like("image/%"))


def images_pending(session: Session, collection_id: int | None = None, limit: int = 1000) -> list[int]:
    """Requisites holding a picture whose content has no hash (nor failure) yet: one requisite per content."""
    statement = (select(func.min(Requisite.id)).where(
        is_image(), Requisite.record_type == "response", Requisite.http_status < 400,
        ~exists().where(ImagePrint.payload_sha256 == Requisite.payload_sha256))
        .group_by(Requisite.payload_sha256).order_by(func.min(Requisite.id)).limit(limit))
    if collection_id is not None:
        statement = statement.where(Requisite.collection_id == collection_id)
    return list(session.scalars(statement))


def hash_image(ws: Workspace, requisite_id: int) -> ImagePrint | None:
    """Hash one captured image and store it (or why it could not be); None when another worker stored it."""
    with session_scope(ws.sessions) as session:
        requisite = session.get(Requisite, requisite_id)
        if requisite is None:
            return None
        session.expunge(requisite)
    digest = top = None
    quality, reason = 0, None
    with tempfile.TemporaryDirectory(prefix="lastseen-image-") as folder:
        try:
            rgb = read_image(kept_file(ws, requisite, Path(folder)))  # type: ignore[arg-type]
            digest, quality = hash_picture(rgb)
            top, top_quality = hash_picture(top_part(rgb))
            top = top if top_quality >= MIN_QUALITY else None
            if quality < MIN_QUALITY:
                raise FootageError(f"picture too plain to match (PDQ quality {quality})")
        except FootageError as exc:
            digest, top, reason = None, None, str(exc)
    made = ImagePrint(payload_sha256=requisite.payload_sha256, requisite_id=requisite_id,
                      state="failed" if reason else "done", reason=reason, quality=quality, hash=digest, top_hash=top)
    try:
        with session_scope(ws.sessions) as session:
            session.add(made)
            session.flush()
            session.expunge(made)
    except IntegrityError:
        return None
    return made


def images_near(session: Session, queries: Sequence[tuple[float, bytes]], max_bits: int,
                collection_id: int | None = None) -> list[ImageHit]:
    """Captured images (of one collection, or all) within max_bits of each (query second, hash): an exact scan."""
    if not queries:
        return []
    statement = select(ImagePrint.id, ImagePrint.hash, ImagePrint.top_hash).where(ImagePrint.state == "done")
    if collection_id is not None:
        statement = statement.join(Requisite, Requisite.id == ImagePrint.requisite_id).where(
            Requisite.collection_id == collection_id)
    query = as_words([h for _, h in queries])
    hits: dict[tuple[float, int], int] = {}
    for rows in session.execute(statement.order_by(ImagePrint.id).execution_options(yield_per=CHUNK)).partitions():
        owners = [row.id for row in rows for h in (row.hash, row.top_hash) if h is not None]
        found = distances(query, as_words([h for row in rows for h in (row.hash, row.top_hash) if h is not None]))
        for qi, ri in zip(*np.nonzero(found <= max_bits), strict=True):
            key = (queries[qi][0], owners[ri])
            hits[key] = min(hits.get(key, max_bits + 1), int(found[qi, ri]))
    return [ImageHit(second, image_id, distance) for (second, image_id), distance in hits.items()]
