"""Adding sources to collections: normalized, de-duplicated, each refusal with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from archive.models import SOURCE_KINDS, Capture, Collection, CrawlFailure, Source, SourceTag
from archive.sources.limits import InputError, clean_tag, collection_name
from archive.urls import InvalidURL, domain_of, normalize_url, url_hash

DEFAULT_COLLECTION = "default"
_BATCH = 500


@dataclass(frozen=True)
class SourceEntry:
    """One URL to add, with where it came from (line number), its own tags, and why a reader refused it."""

    url: str
    line: int | None = None
    tags: tuple[str, ...] = ()
    problem: str | None = None


@dataclass
class AddResult:
    """What happened to each entry of a batch."""

    added: list[Source] = field(default_factory=list)
    known: list[tuple[SourceEntry, Source]] = field(default_factory=list)
    refused: list[tuple[SourceEntry, str]] = field(default_factory=list)


def awaiting_capture(now: datetime, retry_after: int) -> Any:
    """Condition on Source: never captured, and no failed capture attempt within `retry_after` seconds.

    Without the second part a source that does not resolve would be fetched again by every scheduler
    round; its checks keep watching it meanwhile.
    """
    since = now - timedelta(seconds=retry_after)
    return (~exists().where(Capture.source_id == Source.id)
            & ~exists().where(CrawlFailure.source_id == Source.id, CrawlFailure.at >= since))


def get_collection(session: Session, name: str) -> Collection | None:
    """The collection of that name, if any."""
    return session.scalar(select(Collection).where(Collection.name == name))


def ensure_collection(session: Session, name: str) -> Collection:
    """The collection of that name, created on first use."""
    name = name.strip()
    collection = get_collection(session, name)
    if collection is None:
        collection = Collection(name=collection_name(name))
        session.add(collection)
        session.flush()
    return collection


def find_sources(session: Session, url: str, collection: str | None = None) -> list[Source]:
    """Sources tracking this URL (after normalization), in one collection or all."""
    query = select(Source).where(Source.url_hash == url_hash(normalize_url(url)))
    if collection:
        query = query.join(Collection).where(Collection.name == collection)
    return list(session.scalars(query.order_by(Source.id)))


def add_sources(session: Session, collection: Collection, entries: Iterable[SourceEntry], *,
                kind: str = "page", tags: Sequence[str] = (), recheck_interval: int | None = None) -> AddResult:
    """Add entries to a collection; known URLs are reported, invalid ones refused, the rest go in."""
    if kind not in SOURCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}")
    tags = [clean_tag(tag) for tag in tags]
    result = AddResult()
    batch: list[tuple[SourceEntry, str, str]] = []
    for entry in entries:
        if entry.problem:
            result.refused.append((entry, entry.problem))
            continue
        try:
            normalized = normalize_url(entry.url)
            entry = replace(entry, tags=tuple(clean_tag(tag) for tag in entry.tags))
        except InvalidURL as exc:
            result.refused.append((entry, str(exc)))
            continue
        except InputError as exc:
            result.refused.append((entry, f"{exc}: {entry.url[:200]}"))
            continue
        batch.append((entry, normalized, url_hash(normalized)))
        if len(batch) >= _BATCH:
            _add_batch(session, collection, batch, kind, tags, recheck_interval, result)
            batch = []
    if batch:
        _add_batch(session, collection, batch, kind, tags, recheck_interval, result)
    return result


def _add_batch(session: Session, collection: Collection, batch: list[tuple[SourceEntry, str, str]], kind: str,
               tags: Sequence[str], recheck_interval: int | None, result: AddResult) -> None:
    hashes = {digest for _, _, digest in batch}
    existing = {
        source.url_hash: source
        for source in session.scalars(
            select(Source).where(Source.collection_id == collection.id, Source.url_hash.in_(hashes)))
    }
    for entry, normalized, digest in batch:
        if digest in existing:
            result.known.append((entry, existing[digest]))
            continue
        source = Source(collection_id=collection.id, url=entry.url.strip(), normalized_url=normalized,
                        url_hash=digest, domain=domain_of(normalized), kind=kind,
                        recheck_interval=recheck_interval)
        source.tags = [SourceTag(tag=tag) for tag in sorted({*tags, *entry.tags}) if tag]
        session.add(source)
        existing[digest] = source
        result.added.append(source)
    session.flush()
