"""Managing the watch list: pause, resume, delete and purge sources and collections, and apply new intervals.

A paused or deleted source (or one of a paused or deleted collection) is never checked or captured
(archive.due.watched). Deleting keeps the captures and their WARC files, so what was archived stays evidence;
purging, an admin's decision, removes the rows and every WARC file no other capture needs. Deletes, purges and
restores are events of the custody record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from archive.evidence import ADDED, DELETED, record
from archive.models import Capture, Collection, Source, TimestampToken
from archive.storage import Storage, StorageError

_BATCH = 1000  # ids per statement


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield list(ids[start:start + _BATCH])


def _urls(session: Session, ids: Sequence[int]) -> dict[str, list[str]]:
    """The normalized URLs of these sources, by collection name (the custody record names subjects by URL)."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(ids):
        for name, url in session.execute(select(Collection.name, Source.normalized_url).join(Collection)
                                         .where(Source.id.in_(chunk)).order_by(Source.id)):
            out.setdefault(name, []).append(url)
    return out


def _set(session: Session, ids: Sequence[int], condition: Any, **values: Any) -> list[int]:
    """Set columns of the sources meeting condition among ids; the ids changed."""
    changed: list[int] = []
    for chunk in _chunks(ids):
        changed += session.scalars(update(Source).where(Source.id.in_(chunk), condition).values(**values)
                                   .returning(Source.id)).all()
    return changed


def pause_sources(session: Session, ids: Sequence[int], now: datetime) -> list[int]:
    """Stop checking and capturing these sources; the ids that were not paused already."""
    return _set(session, ids, Source.paused_at.is_(None), paused_at=now)


def resume_sources(session: Session, ids: Sequence[int], actor: str) -> tuple[list[int], list[int]]:
    """Watch these sources again: (ids resumed from a pause, ids restored from a delete, recorded in custody)."""
    restored = _set(session, ids, Source.deleted_at.is_not(None), deleted_at=None, paused_at=None)
    for name, urls in _urls(session, restored).items():
        record(session, ADDED, actor, urls, collection=name, detail={"kind": "source", "restored": True})
    resumed = _set(session, ids, Source.paused_at.is_not(None), paused_at=None)
    return resumed, restored


def delete_sources(session: Session, ids: Sequence[int], actor: str, now: datetime) -> list[int]:
    """Take these sources off the watch list, keeping their captures and WARC files; recorded in custody."""
    deleted = _set(session, ids, Source.deleted_at.is_(None), deleted_at=now)
    for name, urls in _urls(session, deleted).items():
        record(session, DELETED, actor, urls, collection=name, detail={"kind": "source", "purged": False})
    return deleted


@dataclass
class Purged:
    """What a purge removed: sources, captures, and the stored objects no remaining capture needs."""

    sources: int = 0
    captures: int = 0
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def purge_sources(session: Session, storage: Storage, ids: Sequence[int], actor: str) -> Purged:
    """Remove these sources with their captures and checks, and each WARC file (with its index and timestamp
    tokens) that no other capture points into; every source and file is an event of the custody record."""
    result = Purged()
    uris: set[str] = set()
    by_collection = _urls(session, ids)
    for chunk in _chunks(ids):
        uris |= set(session.scalars(select(Capture.warc_uri).where(Capture.source_id.in_(chunk)).distinct()))
        result.captures += session.scalar(select(func.count()).select_from(Capture)
                                          .where(Capture.source_id.in_(chunk))) or 0
        result.sources += session.execute(delete(Source).where(Source.id.in_(chunk))).rowcount or 0
    for name, urls in by_collection.items():
        record(session, DELETED, actor, urls, collection=name, detail={"kind": "source", "purged": True})
    _purge_files(session, storage, uris, actor, result)
    return result


def _purge_files(session: Session, storage: Storage, uris: set[str], actor: str, result: Purged) -> None:
    """Delete the stored files of uris that no capture points into any more, and the objects kept beside them."""
    still = set(session.scalars(select(Capture.warc_uri).where(Capture.warc_uri.in_(list(uris))).distinct())) \
        if uris else set()
    for uri in sorted(uris - still):
        try:
            key = storage.key_of(uri)
            for found in [k for k in storage.keys(key) if k == key or k.startswith(key + ".")]:
                storage.delete(found)
        except StorageError as exc:
            result.errors.append(f"{uri}: {exc}")
            continue
        session.execute(delete(TimestampToken).where(TimestampToken.file_uri == uri))
        result.files.append(uri)
    if result.files:
        record(session, DELETED, actor, result.files, detail={"kind": "warc_file", "purged": True})


def set_collection(session: Session, collection: Collection, *, paused: bool | None = None,
                   deleted: bool | None = None, actor: str, now: datetime) -> bool:
    """Pause/resume or delete/restore a whole collection; whether anything changed. Deletes and restores are
    custody events; the sources keep their own pause and delete marks."""
    changed = False
    if paused is not None and (collection.paused_at is not None) != paused:
        collection.paused_at = now if paused else None
        changed = True
    if deleted is not None and (collection.deleted_at is not None) != deleted:
        collection.deleted_at = now if deleted else None
        action, detail = (DELETED, {"purged": False}) if deleted else (ADDED, {"restored": True})
        record(session, action, actor, [collection.name], collection=collection.name,
               detail={"kind": "collection", **detail})
        changed = True
    return changed


def purge_collection(session: Session, storage: Storage, collection: Collection, actor: str) -> Purged:
    """Remove a collection with all its sources, their captures, and the WARC files only they needed."""
    ids = list(session.scalars(select(Source.id).where(Source.collection_id == collection.id).order_by(Source.id)))
    result = purge_sources(session, storage, ids, actor)
    record(session, DELETED, actor, [collection.name], collection=collection.name,
           detail={"kind": "collection", "purged": True})
    session.delete(collection)
    session.flush()
    return result


def reschedule(session: Session, default_interval: int, *, collection_id: int | None = None,
               source_ids: Sequence[int] = ()) -> int:
    """Apply a changed interval at once: the next check of these sources (a collection's that follow its
    interval, or the ids given) moves to their last check plus the interval now in force.

    A never-checked source stays due now; a source in the middle of a confirming streak keeps an earlier
    confirming check. Returns how many sources moved.
    """
    query = (select(Source.id, Source.last_checked_at, Source.next_check_at, Source.streak_outcome,
                    Source.recheck_interval, Collection.recheck_interval)
             .join(Collection, Collection.id == Source.collection_id).order_by(Source.id))
    moved = 0
    for rows in _pages(session, query, collection_id, source_ids):
        values = []
        for source_id, last, current, streak, own, shared in rows:
            if last is None:
                continue
            when = last + timedelta(seconds=own or shared or default_interval)
            if streak is not None and current is not None:
                when = min(when, current)
            if when != current:
                values.append({"_id": source_id, "_when": when})
        if values:
            table = Source.__table__
            session.execute(update(table).where(table.c.id == bindparam("_id"))
                            .values(next_check_at=bindparam("_when")), values)
            moved += len(values)
    return moved


def _pages(session: Session, query: Any, collection_id: int | None, ids: Sequence[int]) -> Iterator[list[Any]]:
    """The query's rows in pages: a collection's sources that follow its interval, else the ids given."""
    if collection_id is None:
        for chunk in _chunks(ids):
            yield list(session.execute(query.where(Source.id.in_(chunk))))
        return
    query = query.where(Source.collection_id == collection_id, Source.recheck_interval.is_(None))
    after = 0
    while rows := list(session.execute(query.where(Source.id > after).limit(_BATCH))):
        yield rows
        after = rows[-1][0]


def retry_now(session: Session, collection_id: int) -> int:
    """Make the collection's failed captures due at once (`crawl --retry`: the cause was fixed); how many."""
    return session.execute(update(Source).where(Source.collection_id == collection_id,
                                                Source.capture_retry_at.is_not(None))
                           .values(capture_retry_at=None)).rowcount or 0
