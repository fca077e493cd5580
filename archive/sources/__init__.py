"""Adding sources to collections: de-duplicated by their normalized URL, each refusal with its reason.

A source keeps the URL as it was given (less any userinfo): that is the URL the crawl fetches and archives;
the normalized URL only tells sources apart. A source's kind comes from its URL unless asked otherwise: a URL
any provider recognizes (archive.providers) names a video and becomes a `video` source with its video row,
everything else a `page`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.db import copy_rows, insert_new
from archive.evidence import ADDED, record
from archive.models import SOURCE_KINDS, Collection, Source, SourceTag, Video
from archive.providers import VideoRef, recognize
from archive.sources.limits import InputError, clean_tag, collection_name
from archive.urls import InvalidURL, domain_of, given_and_normalized, normalize_url, url_hash

DEFAULT_COLLECTION = "default"
# Who adds sources nobody named: a crawl following links, or finding videos on pages.
CRAWL_ACTOR = "lastseen crawl"
_BATCH = 2000  # rows per statement: large enough that round trips do not count, small enough to stay flat


@dataclass(frozen=True)
class SourceEntry:
    """One URL to add, with where it came from (line number), its own tags, and why a reader refused it."""

    url: str
    line: int | None = None
    tags: tuple[str, ...] = ()
    problem: str | None = None


class Tracked(NamedTuple):
    """A source as adding reports it: its id, the normalized URL it is known by, and its URL as given."""

    id: int
    normalized_url: str
    url: str = ""


@dataclass
class AddResult:
    """What happened to each entry of a batch."""

    added: list[Tracked] = field(default_factory=list)
    known: list[tuple[SourceEntry, Tracked]] = field(default_factory=list)
    refused: list[tuple[SourceEntry, str]] = field(default_factory=list)

    def extend(self, other: AddResult) -> None:
        """Add another batch's results to these."""
        self.added += other.added
        self.known += other.known
        self.refused += other.refused


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
                kind: str | None = None, tags: Sequence[str] = (), recheck_interval: int | None = None,
                actor: str = CRAWL_ACTOR) -> AddResult:
    """Add entries to a collection; known URLs are reported, invalid ones refused, the rest go in.

    kind: "page" or "video" for every entry; None (the default) takes each entry's kind from its URL.
    Each source added is an `added` event of the custody record, by actor (who asked).
    """
    result = AddResult()
    for batch in add_in_batches(session, collection, entries, kind=kind, tags=tags,
                                recheck_interval=recheck_interval, actor=actor):
        result.extend(batch)
    return result


def add_in_batches(session: Session, collection: Collection, entries: Iterable[SourceEntry], *,
                   kind: str | None = None, tags: Sequence[str] = (), recheck_interval: int | None = None,
                   actor: str = CRAWL_ACTOR) -> Iterator[AddResult]:
    """add_sources for inputs of any size: one result per batch, so nothing grows with the input."""
    if kind is not None and kind not in SOURCE_KINDS:
        raise InputError(f"kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}")
    tags = [clean_tag(tag) for tag in tags]
    result = AddResult()
    batch: list[tuple[SourceEntry, str, str]] = []
    for entry in entries:
        refusal = _refusal(entry)
        if isinstance(refusal, str):
            result.refused.append((entry, refusal))
            continue
        batch.append(refusal)
        if len(batch) >= _BATCH:
            _add_batch(session, collection, batch, kind, tags, recheck_interval, result)
            _record_added(session, collection, result, actor)
            yield result
            result, batch = AddResult(), []
    if batch:
        _add_batch(session, collection, batch, kind, tags, recheck_interval, result)
        _record_added(session, collection, result, actor)
    if batch or result.refused:
        yield result


def _record_added(session: Session, collection: Collection, result: AddResult, actor: str) -> None:
    """The custody record's `added` events of a batch's new sources."""
    record(session, ADDED, actor, [source.normalized_url for source in result.added], collection=collection.name,
           detail={"kind": "sources"})


def _refusal(entry: SourceEntry) -> str | tuple[SourceEntry, str, str]:
    """Why an entry cannot be added, or the entry (tags checked, userinfo dropped from its URL: credentials are
    never stored) with its normalized URL and hash."""
    if entry.problem:
        return entry.problem
    try:
        given, normalized = given_and_normalized(entry.url)
        tags = tuple(clean_tag(tag) for tag in entry.tags) if entry.tags else ()
    except InvalidURL as exc:
        return str(exc)
    except InputError as exc:
        return f"{exc}: {entry.url[:200]}"
    return SourceEntry(given, entry.line, tags), normalized, url_hash(normalized)


def _add_batch(session: Session, collection: Collection, batch: list[tuple[SourceEntry, str, str]],
               kind: str | None, tags: Sequence[str], recheck_interval: int | None, result: AddResult) -> None:
    """Insert one batch's new sources, then their tags and videos, with one statement each (see archive.db).

    A URL stored meanwhile by another writer is skipped by the insert and reported as known, like any other.
    """
    rows: dict[str, dict[str, Any]] = {}
    tag_sets: dict[str, list[str]] = {}
    order: list[tuple[SourceEntry, str, bool]] = []  # (entry, hash, first time in this batch)
    videos: dict[str, tuple[str, str, str]] = {}
    for entry, normalized, digest in batch:
        first = digest not in rows
        if first:
            found = recognize(normalized) if kind != "page" else None
            if found is not None and kind in (None, "video"):
                videos[digest] = found
            rows[digest] = {"collection_id": collection.id, "url": entry.url, "normalized_url": normalized,
                            "url_hash": digest, "domain": domain_of(normalized),
                            "kind": kind or ("video" if found else "page"), "recheck_interval": recheck_interval}
            tag_sets[digest] = sorted({tag for tag in (*tags, *entry.tags) if tag})
        order.append((entry, digest, first))
    inserted = {digest: source_id for digest, source_id in insert_new(
        session, Source.__table__, list(rows.values()), ("collection_id", "url_hash"), ("url_hash", "id"))}
    tracked = {digest: Tracked(source_id, rows[digest]["normalized_url"], rows[digest]["url"])
               for digest, source_id in inserted.items()}
    if len(inserted) < len(rows):
        tracked |= _stored(session, collection, [digest for digest in rows if digest not in inserted])
    copy_rows(session, SourceTag.__table__, [{"source_id": source_id, "tag": tag}
                                             for digest, source_id in inserted.items() for tag in tag_sets[digest]])
    copy_rows(session, Video.__table__, [
        {"source_id": inserted[digest], "provider": provider, "video_id": video_id, "canonical_url": canonical}
        for digest, (provider, video_id, canonical) in videos.items() if digest in inserted])
    for entry, digest, first in order:
        if first and digest in inserted:
            result.added.append(tracked[digest])
        else:
            result.known.append((entry, tracked[digest]))


def _stored(session: Session, collection: Collection, hashes: list[str]) -> dict[str, Tracked]:
    """The collection's stored sources of these URL hashes."""
    query = (select(Source.url_hash, Source.id, Source.normalized_url, Source.url)
             .where(Source.collection_id == collection.id, Source.url_hash.in_(hashes)))
    return {digest: Tracked(source_id, normalized, url)
            for digest, source_id, normalized, url in session.execute(query)}


def as_video(session: Session, source_id: int, ref: VideoRef) -> Video:
    """The source becomes a video (a URL given as a page and then found on a page as a video): its video row."""
    session.execute(update(Source).where(Source.id == source_id, Source.kind != "video").values(kind="video"))
    video = session.scalar(select(Video).where(Video.source_id == source_id))
    if video is None:
        video = Video(source_id=source_id, provider=ref.provider, video_id=ref.video_id,
                      canonical_url=ref.canonical_url)
        session.add(video)
        session.flush()
    return video
