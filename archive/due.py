"""What is due: the one policy of which work the rounds owe, asked by the in-process scheduler, the broker path
(archive.tasks) and the crawl alike, so they cannot disagree.

One function per kind of work: `new_captures` (sources never captured), `changed_captures` (a check saw the
content change since the newest capture), `media_due` (videos of collections that keep media, still without
it, a failed download included once its retry delay passed), `checks_due` (sources to recheck),
`recoveries_due` (vanished sources to look up in the Wayback Machine) and `subscriptions_due` (feeds to poll).
`captures_due` is every capture's work in one list. Paused and deleted sources and collections are never due
(`watched`); a source whose capture failed waits for its retry time. Alert delivery and Wayback submissions are
rows that carry their own due time; their stages drain them whole each round, so there is nothing to choose
here. Layer 3 (stage I/O): queries only."""

from __future__ import annotations

from collections.abc import Collection as Keys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from archive.models import Capture, Check, Collection, CrawlFailure, Source, Subscription, Video
from archive.status import Outcome
from archive.vocab import SourceStatus

RECOVERY_WINDOW = timedelta(days=1)  # look for recovery copies of sources that vanished this recently
RECOVERY_RETRY = timedelta(hours=6)  # ...asking the archive again this often while it has none
RECOVERY_BATCH = 100  # recovery lookups per round

Why = Literal["new", "changed", "media"]


@dataclass(frozen=True)
class CaptureWork:
    """One source a crawl of its collection owes something: its first capture, a new one, or its video's media."""

    source_id: int
    collection: str
    url: str  # the normalized URL (what a crawl given URLs is handed)
    why: Why


def watched() -> Any:
    """Condition on Source: neither it nor its collection is paused or deleted. Only those are checked, captured
    or looked up (archive.sources.manage pauses and deletes)."""
    live = select(Collection.id).where(Collection.paused_at.is_(None), Collection.deleted_at.is_(None))
    return Source.paused_at.is_(None) & Source.deleted_at.is_(None) & Source.collection_id.in_(live)


def awaiting_capture(now: datetime) -> Any:
    """Condition on Source: watched, never captured, and not waiting to retry a failed capture.

    A failed attempt sets the source's capture_retry_at by the one backoff formula (archive.captures.
    capture_failed): a source that does not resolve is not fetched by every round, and says when it is tried
    next; its checks keep watching it meanwhile.
    """
    return (watched() & ~exists().where(Capture.source_id == Source.id)
            & (Source.capture_retry_at.is_(None) | (Source.capture_retry_at <= now)))


def awaiting_media(now: datetime, retry_after: int) -> Any:
    """Condition on Video: its media is not kept yet, its source was captured, and no media download of it
    failed within `retry_after` seconds (a later crawl tries again; meanwhile checks keep watching it)."""
    since = now - timedelta(seconds=retry_after)
    return (Video.media_capture_id.is_(None)
            & exists().where(Capture.source_id == Video.source_id, watched())
            & ~exists().where(CrawlFailure.source_id == Video.source_id, CrawlFailure.reason.like("media%"),
                              CrawlFailure.at >= since))


def _within(stmt: Any, source_ids: Keys[int] | None) -> Any:
    return stmt if source_ids is None else stmt.where(Source.id.in_(list(source_ids) or [-1]))


def new_captures(session: Session, now: datetime, *, limit: int | None = None,
                 source_ids: Keys[int] | None = None) -> list[CaptureWork]:
    """Sources never captured (and not waiting to retry a failed attempt), by id."""
    stmt = (select(Source.id, Collection.name, Source.normalized_url).join(Collection)
            .where(awaiting_capture(now)).order_by(Source.id).limit(limit))
    return [CaptureWork(sid, name, url, "new") for sid, name, url in session.execute(_within(stmt, source_ids))]


def changed_captures(session: Session, *, collection_id: int | None = None, limit: int | None = None,
                     source_ids: Keys[int] | None = None) -> list[CaptureWork]:
    """Sources with a `changed` check newer than their newest capture, oldest change first; once a capture newer
    than the change is stored they drop out."""
    last = (select(Check.source_id, func.max(Check.checked_at).label("changed_at"))
            .where(Check.outcome == Outcome.CHANGED.value).group_by(Check.source_id).subquery())
    stmt = (select(Source.id, Collection.name, Source.normalized_url).select_from(last)
            .join(Source, Source.id == last.c.source_id).join(Collection, Collection.id == Source.collection_id)
            .where(~exists().where(Capture.source_id == last.c.source_id, Capture.captured_at >= last.c.changed_at),
                   watched())
            .order_by(last.c.changed_at, last.c.source_id).limit(limit))
    if collection_id is not None:
        stmt = stmt.where(Source.collection_id == collection_id)
    return [CaptureWork(sid, name, url, "changed") for sid, name, url in session.execute(_within(stmt, source_ids))]


def media_due(session: Session, now: datetime, retry_after: int, *, limit: int | None = None,
              source_ids: Keys[int] | None = None) -> list[CaptureWork]:
    """Video sources of collections that keep media whose media a crawl of the collection should fetch (it
    picks up every such video when it opens), by video."""
    stmt = (select(Source.id, Collection.name, Source.normalized_url).select_from(Video)
            .join(Source, Source.id == Video.source_id).join(Collection, Collection.id == Source.collection_id)
            .where(Collection.media.is_(True), awaiting_media(now, retry_after)).order_by(Video.id).limit(limit))
    return [CaptureWork(sid, name, url, "media") for sid, name, url in session.execute(_within(stmt, source_ids))]


def captures_due(session: Session, now: datetime, retry_after: int, *, limit: int | None = None,
                 source_ids: Keys[int] | None = None) -> list[CaptureWork]:
    """Every capture's work: new sources, changed ones, missing media (at most `limit` of each kind; a source
    may be listed once per reason)."""
    return (new_captures(session, now, limit=limit, source_ids=source_ids)
            + changed_captures(session, limit=limit, source_ids=source_ids)
            + media_due(session, now, retry_after, limit=limit, source_ids=source_ids))


def collections_to_crawl(session: Session, now: datetime, retry_after: int) -> list[str]:
    """Collections whose whole crawl is owed (a source never captured, or media missing), by name: what
    `captures_due` lists as `new` or `media`, asked per collection so a large backlog costs no list of ids."""
    return list(session.scalars(select(Collection.name).where(
        exists().where(Source.collection_id == Collection.id, awaiting_capture(now))
        | (Collection.media.is_(True) & exists().where(Source.collection_id == Collection.id,
                                                       Video.source_id == Source.id, awaiting_media(now, retry_after))))
        .order_by(Collection.name)))


def still_to_capture(session: Session, source_ids: Sequence[int]) -> list[int]:
    """Of these sources, those still owed a capture: never captured, or a check said `changed` since their newest.

    A worker's crawl applies it under the collection's lock, so work handed out twice is captured once.
    """
    kept = set(session.scalars(select(Source.id).where(Source.id.in_(list(source_ids)), watched())))
    ids = [i for i in source_ids if i in kept]
    captured = dict(session.execute(select(Capture.source_id, func.max(Capture.captured_at))
                                    .where(Capture.source_id.in_(ids)).group_by(Capture.source_id)).all())
    changed = dict(session.execute(select(Check.source_id, func.max(Check.checked_at))
                                   .where(Check.source_id.in_(ids), Check.outcome == Outcome.CHANGED.value)
                                   .group_by(Check.source_id)).all())
    return [i for i in ids if i not in captured or (i in changed and changed[i] > captured[i])]


def checks_due(session: Session, now: datetime, limit: int | None = None, *,
               collection_id: int | None = None) -> list[int]:
    """Ids of sources to check now: never checked first, then by how overdue (both use ix_source_next_check)."""
    def query(condition: Any) -> Any:
        stmt = select(Source.id).where(condition, watched())
        return stmt.where(Source.collection_id == collection_id) if collection_id is not None else stmt

    ids = list(session.scalars(query(Source.next_check_at.is_(None)).order_by(Source.id).limit(limit)))
    if limit is None or len(ids) < limit:
        rest = None if limit is None else limit - len(ids)
        ids += session.scalars(query(Source.next_check_at <= now).order_by(Source.next_check_at, Source.id)
                               .limit(rest))
    return ids


def recoveries_due(session: Session, now: datetime, tried: Mapping[int, datetime]) -> list[int]:
    """Vanished sources (within RECOVERY_WINDOW) without a recovery copy, not looked up within RECOVERY_RETRY
    (`tried`: source id -> last lookup), oldest vanishing first, at most RECOVERY_BATCH."""
    vanished = session.scalars(
        select(Source.id).where(Source.status == SourceStatus.VANISHED.value, Source.recovery_archive_url.is_(None),
                                Source.vanished_at >= now - RECOVERY_WINDOW, watched()).order_by(Source.vanished_at))
    return [sid for sid in vanished if tried.get(sid, now - RECOVERY_RETRY) <= now - RECOVERY_RETRY][:RECOVERY_BATCH]


def retries_waiting(session: Session, collection_id: int, now: datetime) -> dict[str, Any]:
    """A collection's sources never captured that wait to retry a failed capture: how many, and the soonest
    retry (a crawl says so, rather than skipping them in silence)."""
    waiting = (Source.collection_id == collection_id, watched(), ~exists().where(Capture.source_id == Source.id),
               Source.capture_retry_at > now)
    count, soonest = session.execute(select(func.count(), func.min(Source.capture_retry_at)).where(*waiting)).one()
    return {"sources": count, "next_attempt_at": soonest}


def subscriptions_due(session: Session, now: datetime) -> list[int]:
    """Ids of feed subscriptions to poll now (never polled, or their time has come), of collections neither
    paused nor deleted, oldest first."""
    live = select(Collection.id).where(Collection.paused_at.is_(None), Collection.deleted_at.is_(None))
    return list(session.scalars(select(Subscription.id).where(
        Subscription.collection_id.in_(live),
        Subscription.next_poll_at.is_(None) | (Subscription.next_poll_at <= now))
        .order_by(Subscription.next_poll_at.is_not(None), Subscription.next_poll_at, Subscription.id)))
