"""The timeline's facts read from the database, a batch of sources at a time with one query per table.

First-known evidence: a video's upload date (Video.upload_date), a page's published date (Capture.page_meta,
as describing the capture extracted it from JSON-LD and meta tags), the earliest memento a Wayback lookup found,
and our first capture. Copies: our captures, and the mementos the Wayback lookups and submissions name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Capture, Check, Source, StatusTransition, Video, WaybackLookup, WaybackSubmission
from archive.research.facts import (
    CAPTURE,
    DEFAULT_REGION,
    PUBLISHED,
    UPLOAD_DATE,
    WAYBACK,
    CheckFact,
    Copy,
    Evidence,
    SourceFacts,
    TransitionFact,
    day_or_time,
    memento_time,
)

BATCH = 500


def source_facts(session: Session, sources: list[Source], *, checks: bool = True) -> list[SourceFacts]:
    """The facts of these sources (in their order); checks=False leaves out their checks (the regions' lanes),
    for a view of the overall intervals only (the collection's chart)."""
    facts = {s.id: SourceFacts(id=s.id, url=s.url, kind=s.kind, title=None, added_at=s.added_at) for s in sources}
    ids = list(facts)
    for source_id, *transition in session.execute(  # columns, not rows: the evidence JSON is not decoded
            select(StatusTransition.source_id, StatusTransition.at, StatusTransition.kind,
                   StatusTransition.from_status, StatusTransition.to_status, StatusTransition.reason)
            .where(StatusTransition.source_id.in_(ids)).order_by(StatusTransition.at, StatusTransition.id)):
        facts[source_id].transitions.append(TransitionFact(*transition))
    for source_id, at, outcome, region in session.execute(
            select(Check.source_id, Check.checked_at, Check.outcome, Check.region)
            .where(Check.source_id.in_(ids)).order_by(Check.checked_at, Check.id)) if checks else ():
        facts[source_id].checks.append(CheckFact(at, outcome, region or DEFAULT_REGION))
    for source_id, capture_id, at, meta in session.execute(
            select(Capture.source_id, Capture.id, Capture.captured_at, Capture.page_meta)
            .where(Capture.source_id.in_(ids)).order_by(Capture.captured_at, Capture.id)):
        _add_capture(facts[source_id], capture_id, at, meta or {})
    for video in session.scalars(select(Video).where(Video.source_id.in_(ids))):
        item = facts[video.source_id]
        item.title = video.title or item.title
        _add_day(item, UPLOAD_DATE, video.upload_date)
    for lookup in session.scalars(select(WaybackLookup).where(WaybackLookup.source_id.in_(ids))
                                  .order_by(WaybackLookup.looked_up_at, WaybackLookup.id)):
        _add_lookup(facts[lookup.source_id], lookup)
    for source_id, url, stamp in session.execute(
            select(WaybackSubmission.source_id, WaybackSubmission.archive_url, WaybackSubmission.archive_timestamp)
            .where(WaybackSubmission.source_id.in_(ids), WaybackSubmission.archive_url.is_not(None))
            .order_by(WaybackSubmission.id)):
        _add_memento(facts[source_id], stamp, url)
    return [item.sort() for item in facts.values()]


def _add_capture(item: SourceFacts, capture_id: int, at: Any, meta: dict[str, Any]) -> None:
    """A capture is a copy; the first is evidence; its page's title and published date are read from it."""
    if not any(e.origin == CAPTURE for e in item.evidence):
        item.evidence.append(Evidence(at, CAPTURE, str(capture_id)))
    item.copies.append(Copy(at, "capture", str(capture_id)))
    if isinstance(meta.get("title"), str) and meta["title"].strip() and item.kind == "page":
        item.title = meta["title"].strip()  # the latest capture's title wins (captures come in time order)
    published = meta.get("published")
    if isinstance(published, str) and not any(e.origin == PUBLISHED and e.value == published for e in item.evidence):
        _add_day(item, PUBLISHED, published)


def _add_day(item: SourceFacts, origin: str, value: str | None) -> None:
    """Evidence from a date or time as a page or provider wrote it; garbage is left out."""
    found = day_or_time(value)
    if found is not None:
        item.evidence.append(Evidence(found[0], origin, str(value).strip(), found[1]))


def _add_lookup(item: SourceFacts, lookup: WaybackLookup) -> None:
    """What a Wayback lookup found: its earliest memento is evidence, it and the last good one are copies."""
    first = memento_time(lookup.first_timestamp)
    if first is not None and not any(e.origin == WAYBACK and e.at == first for e in item.evidence):
        item.evidence.append(Evidence(first, WAYBACK, str(lookup.first_timestamp)))
        _add_memento(item, lookup.first_timestamp, _memento_url(lookup.target, lookup.first_timestamp, item.url))
    _add_memento(item, lookup.last_ok_timestamp, lookup.last_ok_url)


def _add_memento(item: SourceFacts, timestamp: str | None, url: str | None) -> None:
    at = memento_time(timestamp)
    if at is not None and url and not any(c.kind == "wayback" and c.ref == url for c in item.copies):
        item.copies.append(Copy(at, "wayback", url))


def _memento_url(target: str, timestamp: str | None, url: str) -> str:
    """The memento's address in the archive that was asked: a pywb target is named by its collection's URL
    (mementos under it), the Internet Archive by its host (mementos under /web/)."""
    base = (target or "https://web.archive.org").rstrip("/")
    return f"{base}/{timestamp}/{url}" if urlsplit(base).path else f"{base}/web/{timestamp}/{url}"


def collection_facts(session: Session, collection_id: int, *, after: int = 0, limit: int | None = None,
                     batch: int = BATCH, checks: bool = True) -> Iterator[list[SourceFacts]]:
    """A collection's sources' facts in id order from after `after`, at most `limit` of them, a batch at a time
    (keyset paging, never an offset); checks as for source_facts."""
    left = limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        sources = list(session.scalars(select(Source).where(Source.collection_id == collection_id,
                                                            Source.id > after).order_by(Source.id).limit(size)))
        if not sources:
            return
        yield source_facts(session, sources, checks=checks)
        after = sources[-1].id
        left = None if left is None else left - len(sources)
