"""What a Wayback archive holds of our sources: CDX lookups, and recovery copies of sources that vanished.

Lookups are stored as wayback_lookup rows; a recovery copy (the newest good copy from before a source vanished)
is recorded on the source, where status, alerts and the API find it. Both are paced at LOOKUP_RATE.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.config import Settings, load_settings
from archive.db import session_scope
from archive.models import Source, WaybackLookup, WaybackSubmission
from archive.net.pacing import Clock, RateLimiter, SystemClock
from archive.vocab import SourceStatus, SubmissionState
from archive.wayback.client import (
    LookupResult,
    WaybackTarget,
    WaybackUnavailable,
    parse_timestamp,
    to_timestamp,
    utc_now,
)
from archive.wayback.targets import target_from_settings
from archive.wayback.withhold import PRIVATE, kept_from
from archive.workspace import Workspace

LOOKUP_RATE = 1.0  # CDX lookups per second, unless wayback_rate is 0 (an archive of our own: no pacing)


# --- lookups --------------------------------------------------------------------------------------

def lookup_pace(settings: Settings, clock: Clock) -> RateLimiter:
    """Lookups go at LOOKUP_RATE; with wayback_rate 0 (no limit asked for) they are not paced either."""
    return RateLimiter(LOOKUP_RATE if settings.wayback_rate > 0 else 0.0, clock)


def store_lookup(session: Session, source_id: int, target: str, lookup: LookupResult, at: datetime) -> WaybackLookup:
    """Keep what the archive said it holds of a source (a wayback_lookup row)."""
    row = WaybackLookup(source_id=source_id, looked_up_at=at, target=target, first_timestamp=lookup.first_timestamp,
                        last_timestamp=lookup.last_timestamp, count=lookup.count,
                        last_ok_timestamp=lookup.last_ok_timestamp, last_ok_url=lookup.last_ok_url)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class LookupItem:
    """What the archive holds of one source, or why it could not say."""

    source_id: int
    url: str
    lookup: LookupResult | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The lookup as `lastseen wayback --lookup --json` shows it."""
        found = self.lookup
        return {"source_id": self.source_id, "url": self.url, "error": self.error,
                "count": found.count if found else None,
                "first_timestamp": found.first_timestamp if found else None,
                "last_timestamp": found.last_timestamp if found else None,
                "last_ok_timestamp": found.last_ok_timestamp if found else None,
                "last_ok_url": found.last_ok_url if found else None}


def lookup_sources(ws: Workspace, source_ids: Sequence[int], *, clock: Clock | None = None,
                   client: WaybackTarget | None = None) -> list[LookupItem]:
    """Ask the archive's CDX API which copies it holds of each source, and store each answer (wayback_lookup)."""
    clock = clock or SystemClock()
    client = client or target_from_settings(ws.settings, clock=clock)
    pace = lookup_pace(ws.settings, clock)
    items = []
    for source_id, url in source_urls(ws, source_ids):
        if kept_from(client, url, ws.settings):
            items.append(LookupItem(source_id, url, None, PRIVATE))
            continue
        pace.acquire()
        try:
            lookup = client.lookup(url)
        except WaybackUnavailable as exc:
            items.append(LookupItem(source_id, url, None, str(exc)))
            continue
        with session_scope(ws.sessions) as session:
            store_lookup(session, source_id, client.name, lookup, utc_now(clock))
        items.append(LookupItem(source_id, url, lookup))
    return items


def source_urls(ws: Workspace, source_ids: Sequence[int], chunk: int = 500) -> Iterator[tuple[int, str]]:
    """(id, normalized URL) of each source still there, in the order given, read a chunk at a time."""
    for start in range(0, len(source_ids), chunk):
        part = list(source_ids[start:start + chunk])
        with session_scope(ws.sessions) as session:
            urls = dict(session.execute(select(Source.id, Source.normalized_url).where(Source.id.in_(part))).all())
        yield from ((source_id, urls[source_id]) for source_id in part if source_id in urls)


# --- recovery copies ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryCopy:
    """The newest good archive copy from before a source vanished."""

    archive_url: str
    timestamp: str
    found_by: str  # "cdx", "availability" or "submission" (our own, when the index lags or cannot be asked)

    def as_dict(self) -> dict[str, Any]:
        """The copy as `lastseen wayback --recover --json` shows it."""
        return {"archive_url": self.archive_url, "timestamp": self.timestamp, "found_by": self.found_by}


def vanished_since(source: Source, now: datetime) -> datetime:
    """When the source was first seen gone: the start of the run of checks that made it vanish, else vanished_at."""
    times = [now]
    if source.vanished_at is not None:
        times.append(source.vanished_at)
    if source.status == SourceStatus.VANISHED and source.streak_started_at is not None:
        times.append(source.streak_started_at)
    return min(times)


def _ask_archive(client: WaybackTarget, url: str, before: datetime) -> tuple[str, str, str] | None:
    """(timestamp, archive URL, how) of the archive's newest 2xx copy before ``before``; the CDX API first."""
    try:
        found = client.newest_good_before(url, before)
        return (found[0], found[1], "cdx") if found else None
    except WaybackUnavailable as exc:
        available = getattr(client, "available", None)
        if available is None:
            raise
        try:
            closest = available(url, to_timestamp(before))
        except WaybackUnavailable:
            raise exc from None
        if closest and parse_timestamp(closest[0]) < before:
            return closest[0], closest[1], "availability"
        return None


def find_recovery_copy(ws_or_session: Workspace | Session, source_id: int, *, client: WaybackTarget | None = None,
                       settings: Settings | None = None, clock: Clock | None = None) -> RecoveryCopy | None:
    """Find the newest good Wayback copy from before the source vanished and record it on the source.

    Called for each vanished source by recover_sources (the scheduler's Wayback round, `lastseen wayback
    --recover`).
    Given a Workspace it uses its own short transactions around the network call; given a Session it reads
    and writes in that session (the caller commits), with ``client`` or ``settings`` naming the archive
    (default: settings from the environment). The archive's CDX index is asked first, its availability
    API when the index cannot answer; our own successful submissions count too, since a fresh capture may
    not be indexed yet. Nothing found: None, and the source keeps any copy it had.
    """
    clock = clock or SystemClock()
    if isinstance(ws_or_session, Workspace):
        client = client or target_from_settings(settings or ws_or_session.settings, clock=clock)
        with session_scope(ws_or_session.sessions) as session:
            url, before, ours = _recovery_facts(session, source_id, client.name, utc_now(clock))
        found = _choose_copy(client, url, before, ours)
        if found is not None:
            with session_scope(ws_or_session.sessions) as session:
                _set_recovery(session, source_id, found)
        return found
    session = ws_or_session
    client = client or target_from_settings(settings or load_settings(), clock=clock)
    url, before, ours = _recovery_facts(session, source_id, client.name, utc_now(clock))
    found = _choose_copy(client, url, before, ours)
    if found is not None:
        _set_recovery(session, source_id, found)
    return found


def _recovery_facts(session: Session, source_id: int, target: str,
                    now: datetime) -> tuple[str, datetime, list[tuple[str, str]]]:
    """The source's URL, when it was first seen gone, and our own copies of it from before then."""
    source = session.get(Source, source_id)
    if source is None:
        raise ValueError(f"no source with id {source_id}")
    before = vanished_since(source, now)
    ours = [(ts, url) for ts, url in session.execute(
        select(WaybackSubmission.archive_timestamp, WaybackSubmission.archive_url)
        .where(WaybackSubmission.source_id == source_id, WaybackSubmission.state == SubmissionState.DONE,
               WaybackSubmission.target == target, WaybackSubmission.archive_url.is_not(None),
               WaybackSubmission.archive_timestamp < to_timestamp(before)))]
    return source.normalized_url, before, ours


def _choose_copy(client: WaybackTarget, url: str, before: datetime,
                 ours: list[tuple[str, str]]) -> RecoveryCopy | None:
    """The newest of the archive's answer and our own copies; the archive's own index wins a tie."""
    candidates = [RecoveryCopy(archive_url, ts, "submission") for ts, archive_url in ours]
    try:
        found = _ask_archive(client, url, before)
    except WaybackUnavailable:
        found = None
    if found is not None:
        candidates.append(RecoveryCopy(found[1], found[0], found[2]))
    return max(candidates, key=lambda copy: (copy.timestamp, copy.found_by != "submission"), default=None)


def _set_recovery(session: Session, source_id: int, copy: RecoveryCopy) -> None:
    """Record the copy on the source, where status, alerts and the API find it."""
    source = session.get(Source, source_id)
    if source is not None:
        source.recovery_archive_url, source.recovery_timestamp = copy.archive_url, copy.timestamp


def recover_sources(ws: Workspace, source_ids: Sequence[int], *, clock: Clock | None = None,
                    client: WaybackTarget | None = None) -> list[tuple[int, str, RecoveryCopy | None]]:
    """find_recovery_copy for each source: (source id, URL, the copy or None)."""
    clock = clock or SystemClock()
    client = client or target_from_settings(ws.settings, clock=clock)
    pace = lookup_pace(ws.settings, clock)
    out = []
    for source_id, url in source_urls(ws, source_ids):
        if kept_from(client, url, ws.settings):
            out.append((source_id, url, None))
            continue
        pace.acquire()
        out.append((source_id, url, find_recovery_copy(ws, source_id, client=client, clock=clock)))
    return out
