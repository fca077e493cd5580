"""The Wayback queue: what waits to go to a Wayback archive, the worker that sends it, lookups and recovery copies.

A capture (first one, or new content) queues its source (``archive.captures.enqueue_capture``, called by the
crawl in its own transaction). ``drain`` sends what is due, never inside the crawl: ``lastseen wayback`` drains
once, the scheduler keeps draining. Each ``wayback_submission`` row walks through these states:

- ``queued``: waiting for its first submission;
- ``pending``: under way (a worker holds it until ``next_attempt_at``, or the archive's job is still running);
- ``retrying``: a transient failure; tried again at ``next_attempt_at`` (exponential backoff, full jitter);
- ``paused``: the archive said the account or host is over a limit (or throttled us with HTTP 429): the whole
  queue for that archive waits until this row's ``next_attempt_at``, across processes;
- ``done``: the archive holds the copy (``archive_url``, ``archive_timestamp``);
- ``skipped``: the archive already held a good copy younger than ``wayback_skip_window``;
- ``failed``: a permanent refusal, or transient failures ``wayback_max_attempts`` times.

``error`` keeps the archive's own one-line message with what it means for us in front (``permanent, blocked
by the site: ...``, ``transient, will retry at ...: ...``), so ``lastseen status`` can show it as is.

Pacing is ``archive.net.pacing``'s: one ``RateLimiter`` per process and archive (``wayback_rate``),
``wayback_concurrency`` worker threads, and a fake clock in tests so nothing sleeps.
"""

from __future__ import annotations

import argparse
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from archive.captures import enqueue_source
from archive.cli.output import Output
from archive.config import Settings, load_settings
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.models import Capture, Collection, Source, WaybackLookup, WaybackSubmission
from archive.net.pacing import Backoff, Clock, RateLimiter, SystemClock
from archive.sources import find_sources
from archive.timefmt import iso
from archive.vocab import OPEN_SUBMISSIONS, SubmissionState
from archive.wayback import (
    InternetArchive,
    LookupResult,
    SubmitResult,
    WaybackTarget,
    WaybackUnavailable,
    backoff_from_settings,
    parse_timestamp,
    should_skip,
    target_from_settings,
    to_timestamp,
)
from archive.workspace import Workspace

QUEUED, PENDING, RETRYING, PAUSED, DONE, SKIPPED, FAILED = (state.value for state in SubmissionState)
STATES = (QUEUED, PENDING, RETRYING, PAUSED, DONE, SKIPPED, FAILED)
WAITING = (QUEUED, RETRYING, PAUSED, PENDING)  # a drain takes these once next_attempt_at has come
OPEN = OPEN_SUBMISSIONS

POLL_INTERVAL = 5.0  # seconds between polls of a Save Page Now job
POLL_TIMEOUT = 600.0  # a job pending longer is left pending and polled again by a later drain
REPOLL_DELAY = 300.0
LEASE = 3600.0  # a worker that dies holding a row gives it back after this long
SAME_SNAPSHOT_SLACK = 300.0  # a "new" capture older than the request by this much is a copy the archive had
LOOKUP_RATE = 1.0  # CDX lookups per second, unless wayback_rate is 0 (an archive of our own: no pacing)

# Permanent refusals by the archive's code, then by its words, as `lastseen status` names them.
_REASON_BY_CODE = {
    "error:blocked": "blocked by the site",
    "error:no-access": "blocked by the site",
    "error:unauthorized": "blocked by the site",
    "error:network-authentication-required": "blocked by the site",
    "error:blocked-url": "excluded from the archive",
    "error:not-found": "not found",
    "http-404": "not found",
    "http-410": "not found",
    "error:invalid-url-syntax": "invalid URL",
    "error:bad-request": "invalid URL",
}
_REASON_BY_WORDS = (
    (("exclu",), "excluded from the archive"),
    (("blocked", "forbidden", "403", "401"), "blocked by the site"),
    (("not found", "404", "410"), "not found"),
    (("invalid url", "not a valid url", "url syntax"), "invalid URL"),
)

_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def _now(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime, as the database stores times."""
    return datetime.fromtimestamp(clock.now(), UTC)


def _later(seconds: float) -> datetime:
    """A time to try again, rounded up to the second so the message and the column say the same."""
    return datetime.fromtimestamp(math.ceil(seconds), UTC)


# --- what a drain did -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DrainItem:
    """One submission as a drain left it."""

    submission_id: int
    source_id: int
    url: str
    state: str
    attempts: int
    archive_url: str | None
    timestamp: str | None
    job_id: str | None
    next_attempt_at: datetime | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """The item as `lastseen wayback --json` shows it."""
        return {"submission_id": self.submission_id, "source_id": self.source_id, "url": self.url,
                "state": self.state, "attempts": self.attempts, "archive_url": self.archive_url,
                "timestamp": self.timestamp, "job_id": self.job_id, "next_attempt_at": iso(self.next_attempt_at),
                "error": self.error}


@dataclass
class DrainSummary:
    """Everything one drain did, and until when the archive asked the queue to wait."""

    target: str
    items: list[DrainItem] = field(default_factory=list)
    paused_until: datetime | None = None

    def count(self, state: str) -> int:
        """How many submissions this drain left in ``state``."""
        return sum(1 for item in self.items if item.state == state)

    def as_dict(self) -> dict[str, Any]:
        """The summary as `lastseen wayback --json` shows it."""
        return {"target": self.target, "processed": len(self.items),
                **{state: self.count(state) for state in (DONE, SKIPPED, PENDING, RETRYING, PAUSED, FAILED)},
                "paused_until": iso(self.paused_until), "items": [item.as_dict() for item in self.items]}


def _item(sub: WaybackSubmission, url: str) -> DrainItem:
    """A detached copy of a submission row for the summary."""
    return DrainItem(sub.id, sub.source_id, url, sub.state, sub.attempts, sub.archive_url, sub.archive_timestamp,
                     sub.job_id, sub.next_attempt_at, sub.error)


# --- what the archive's answers mean, in words ------------------------------------------------------

def refusal_reason(result: SubmitResult) -> str:
    """Why a permanent failure is permanent: blocked by the site, excluded, not found, invalid URL, refused."""
    code = (result.error_code or "").lower()
    if code in _REASON_BY_CODE:
        return _REASON_BY_CODE[code]
    words = result.message.lower()
    for needles, reason in _REASON_BY_WORDS:
        if any(needle in words for needle in needles):
            return reason
    return "refused by the archive"


def _said(result: SubmitResult) -> str:
    """The archive's own message, with its error code when the message does not already name it."""
    message = result.message or result.error_code or "no message"
    code = result.error_code or ""
    if code.startswith("error:") and code not in message:
        return f"{message} ({code})"
    return message


# --- the worker -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claimed:
    """A submission a worker holds, as it was before the claim (no ORM object crosses threads)."""

    id: int
    source_id: int
    url: str
    state: str
    next_attempt_at: datetime | None
    attempts: int
    job_id: str | None
    target: str


class _Worker:
    """Sends claimed submissions to one archive and writes down what came of them."""

    def __init__(self, ws: Workspace, client: WaybackTarget, clock: Clock, limiter: RateLimiter, backoff: Backoff,
                 poll_interval: float, poll_timeout: float) -> None:
        self.ws = ws
        self.client = client
        self.clock = clock
        self.limiter = limiter
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.window = float(ws.settings.wayback_skip_window)

    def process(self, submission_id: int) -> DrainItem | None:
        """Claim and send one submission; None when another worker has it or the queue is paused."""
        if self.limiter.pause_remaining() > 0:
            return None
        claimed = self._claim(submission_id)
        if claimed is None:
            return None
        try:
            return self._run(claimed)
        except BaseException:
            self._release(claimed)
            raise

    def _claim(self, submission_id: int) -> _Claimed | None:
        """Take a due row with a lease (state pending until LEASE from now); None when someone else has it."""
        now = _now(self.clock)
        with session_scope(self.ws.sessions) as session:
            row = session.execute(
                select(WaybackSubmission, Source.normalized_url).join(Source, Source.id == WaybackSubmission.source_id)
                .where(WaybackSubmission.id == submission_id)).first()
            if row is None:
                return None
            sub, url = row
            claimed = _Claimed(sub.id, sub.source_id, url, sub.state, sub.next_attempt_at, sub.attempts, sub.job_id,
                               sub.target)
            taken = session.execute(
                update(WaybackSubmission)
                .where(WaybackSubmission.id == submission_id, WaybackSubmission.state.in_(WAITING),
                       or_(WaybackSubmission.next_attempt_at.is_(None), WaybackSubmission.next_attempt_at <= now))
                .values(state=PENDING, next_attempt_at=_later(self.clock.now() + LEASE))
                .execution_options(synchronize_session=False))
            return claimed if taken.rowcount == 1 else None

    def _release(self, claimed: _Claimed) -> None:
        """Give a row back as it was (the queue paused while it waited, or the worker failed)."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is not None and sub.state == PENDING:
                sub.state, sub.next_attempt_at = claimed.state, claimed.next_attempt_at

    def _run(self, claimed: _Claimed) -> DrainItem | None:
        """Follow the row's job, or skip it for a recent copy, or submit it at the limiter's pace."""
        if claimed.state == PENDING and claimed.job_id and claimed.target == self.client.name:
            result = self._poll(claimed.job_id, claimed.url, sleep_first=False)  # the job began in an earlier run
            return self._record(claimed, result, claimed.attempts, None)
        recent = self._recent_copy(claimed)
        if recent is not None:
            return self._record_skipped(claimed, *recent)
        if self.limiter.pause_remaining() > 0:
            self._release(claimed)
            return None
        self.limiter.acquire()
        if self.limiter.pause_remaining() > 0:  # another worker hit a limit while this one waited for its slot
            self._release(claimed)
            return None
        started = self.clock.now()
        result = self.client.submit(claimed.url)
        self.limiter.observe(result)
        attempts = claimed.attempts + 1
        if result.state == "pending":
            if not result.job_id:
                result = SubmitResult("failed", transient=True, message="the archive gave no job to follow",
                                      error_code="no-job")
            else:
                self._save_job(claimed, result.job_id, attempts)
                result = self._poll(result.job_id, claimed.url, sleep_first=True)
        return self._record(claimed, result, attempts, started)

    def _poll(self, job_id: str, url: str, *, sleep_first: bool) -> SubmitResult:
        """Poll a job until it ends or POLL_TIMEOUT passes (then the pending result is returned)."""
        result = SubmitResult("pending", job_id=job_id)
        waited = 0.0
        if not sleep_first:
            result = self.client.status(job_id, url)
            self.limiter.observe(result)
        while result.state == "pending" and waited < self.poll_timeout:
            step = max(self.poll_interval, result.retry_after or 0.0)
            self.clock.sleep(step)
            waited += step
            result = self.client.status(job_id, url)
            self.limiter.observe(result)
        return result

    def _recent_copy(self, claimed: _Claimed) -> tuple[str, str] | None:
        """(timestamp, archive URL) of a good copy younger than the skip window: ours, else the archive's."""
        if self.window <= 0:
            return None
        now = self.clock.now()
        with session_scope(self.ws.sessions) as session:
            ours = session.execute(
                select(WaybackSubmission.archive_timestamp, WaybackSubmission.archive_url)
                .where(WaybackSubmission.source_id == claimed.source_id, WaybackSubmission.state.in_((DONE, SKIPPED)),
                       WaybackSubmission.target == self.client.name, WaybackSubmission.archive_timestamp.is_not(None))
                .order_by(WaybackSubmission.archive_timestamp.desc()).limit(1)).first()
        if ours and ours[1] and now - parse_timestamp(ours[0]).timestamp() < self.window:
            return ours[0], ours[1]
        if _skips_by_itself(self.client):
            return None
        try:
            lookup = self.client.lookup(claimed.url)
        except WaybackUnavailable:
            return None  # cannot tell: submitting costs one capture at most
        with session_scope(self.ws.sessions) as session:
            _store_lookup(session, claimed.source_id, self.client.name, lookup, _now(self.clock))
        if should_skip(lookup, self.window, now) and lookup.last_ok_timestamp and lookup.last_ok_url:
            return lookup.last_ok_timestamp, lookup.last_ok_url
        return None

    def _save_job(self, claimed: _Claimed, job_id: str, attempts: int) -> None:
        """Write the job down at once: a worker that dies while polling leaves a job to poll, not to resubmit."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is not None:
                sub.job_id, sub.attempts, sub.target = job_id, attempts, self.client.name

    def _record_skipped(self, claimed: _Claimed, timestamp: str, archive_url: str) -> DrainItem | None:
        """The archive holds a recent good copy: point at it instead of making another."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is None:
                return None
            sub.target = self.client.name
            sub.state, sub.archive_url, sub.archive_timestamp = SKIPPED, archive_url, timestamp
            sub.next_attempt_at, sub.error, sub.finished_at = None, None, _now(self.clock)
            return _item(sub, claimed.url)

    def _record(self, claimed: _Claimed, result: SubmitResult, attempts: int,
                started: float | None) -> DrainItem | None:
        """Write down what one submission came to, and when (if ever) it is tried again."""
        now = self.clock.now()
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is None:  # the source was deleted meanwhile
                return None
            sub.target = self.client.name
            sub.attempts = attempts
            sub.job_id = result.job_id or sub.job_id
            if result.state == "success":
                sub.state = SKIPPED if _older_copy(result, started) else DONE
                sub.archive_url, sub.archive_timestamp = result.archive_url, result.timestamp
                sub.next_attempt_at, sub.error, sub.finished_at = None, None, _now(self.clock)
            elif result.state == "pending":
                sub.state, sub.next_attempt_at = PENDING, _later(now + REPOLL_DELAY)
                sub.error = f"still under way at the archive after {self.poll_timeout:g}s; asked again later"
            elif result.quota_exhausted:
                sub.attempts = claimed.attempts  # the archive's limit, not this URL's fault
                until = now + (result.retry_after if result.retry_after is not None else self.limiter.quota_pause)
                self.limiter.pause_until(until)
                sub.state, sub.job_id, sub.next_attempt_at = PAUSED, None, _later(until)
                sub.error = f"archive over its limit, queue paused until {iso(sub.next_attempt_at)}: {_said(result)}"
            elif result.transient and (attempts < self.backoff.max_attempts or result.http_status == 429):
                until = now + self.backoff.delay(attempts, result.retry_after)
                sub.job_id, sub.next_attempt_at = None, _later(until)
                of = f"attempt {attempts} of {self.backoff.max_attempts}"
                if result.http_status == 429:  # the archive throttles this host: everyone waits, nobody gives up
                    self.limiter.pause_until(until)
                    sub.state = PAUSED
                    sub.error = f"archive throttling us, queue paused until {iso(sub.next_attempt_at)} " \
                                f"(attempt {attempts}): {_said(result)}"
                else:
                    sub.state = RETRYING
                    sub.error = f"transient, will retry at {iso(sub.next_attempt_at)} ({of}): {_said(result)}"
            else:
                sub.state, sub.next_attempt_at, sub.finished_at = FAILED, None, _now(self.clock)
                if result.transient:
                    sub.error = f"gave up after {attempts} attempts: {_said(result)}"
                else:
                    sub.error = f"permanent, {refusal_reason(result)}: {_said(result)}"
            return _item(sub, claimed.url)


def _older_copy(result: SubmitResult, started: float | None) -> bool:
    """True when the 'new' capture predates the request: the archive answered with a copy it already had."""
    if not result.timestamp or started is None:  # a job followed from an earlier run: when it began is not kept
        return False
    return parse_timestamp(result.timestamp).timestamp() < started - SAME_SNAPSHOT_SLACK


def _skips_by_itself(client: WaybackTarget) -> bool:
    """Save Page Now 2 is told the skip window (if_not_archived_within): no lookup needed first."""
    return isinstance(client, InternetArchive) and client.authenticated and bool(client.if_not_archived_within)


def _store_lookup(session: Session, source_id: int, target: str, lookup: LookupResult, at: datetime) -> WaybackLookup:
    """Keep what the archive said it holds of a source (a wayback_lookup row)."""
    row = WaybackLookup(source_id=source_id, looked_up_at=at, target=target, first_timestamp=lookup.first_timestamp,
                        last_timestamp=lookup.last_timestamp, count=lookup.count,
                        last_ok_timestamp=lookup.last_ok_timestamp, last_ok_url=lookup.last_ok_url)
    session.add(row)
    session.flush()
    return row


def shared_limiter(settings: Settings, target: str) -> RateLimiter:
    """One limiter per process and archive, so drains run one after another keep the rate between them."""
    key = (target, float(settings.wayback_rate))
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(settings.wayback_rate)
        return _limiters[key]


def lookup_pace(settings: Settings, clock: Clock) -> RateLimiter:
    """Lookups go at LOOKUP_RATE; with wayback_rate 0 (no limit asked for) they are not paced either."""
    return RateLimiter(LOOKUP_RATE if settings.wayback_rate > 0 else 0.0, clock)


def persisted_pause(session: Session, target: str) -> datetime | None:
    """Until when the archive asked the whole queue to wait (its newest 'paused' row), if any."""
    return session.scalar(select(func.max(WaybackSubmission.next_attempt_at))
                          .where(WaybackSubmission.state == PAUSED, WaybackSubmission.target == target))


def due_submissions(session: Session, now: datetime, collection: str | None = None,
                    source_ids: Iterable[int] | None = None, limit: int | None = None) -> list[int]:
    """Ids of submissions a drain may take now, oldest first."""
    query = (select(WaybackSubmission.id)
             .where(WaybackSubmission.state.in_(WAITING),
                    or_(WaybackSubmission.next_attempt_at.is_(None), WaybackSubmission.next_attempt_at <= now))
             .order_by(func.coalesce(WaybackSubmission.next_attempt_at, WaybackSubmission.requested_at),
                       WaybackSubmission.id))
    if collection:
        query = query.join(Source, Source.id == WaybackSubmission.source_id).join(Collection) \
            .where(Collection.name == collection)
    if source_ids is not None:
        query = query.where(WaybackSubmission.source_id.in_(list(source_ids)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def drain(ws: Workspace, collection: str | None = None, clock: Clock | None = None,
          client: WaybackTarget | None = None, *, source_ids: Iterable[int] | None = None, limit: int | None = None,
          backoff: Backoff | None = None, limiter: RateLimiter | None = None, poll_interval: float = POLL_INTERVAL,
          poll_timeout: float = POLL_TIMEOUT, progress: Callable[[DrainItem], None] | None = None) -> DrainSummary:
    """Send every submission due now (once each), ``wayback_concurrency`` at a time, and say what came of them.

    Stops early when the archive says the account or host is over a limit; the pause is kept in the database
    (a 'paused' row), so the next drain, in this process or another, waits too.
    """
    settings = ws.settings
    clock = clock or SystemClock()
    client = client or target_from_settings(settings, clock=clock)
    if limiter is None:
        limiter = shared_limiter(settings, client.name) if isinstance(clock, SystemClock) \
            else RateLimiter(settings.wayback_rate, clock)
    worker = _Worker(ws, client, clock, limiter, backoff or backoff_from_settings(settings), poll_interval,
                     poll_timeout)
    summary = DrainSummary(client.name)
    with session_scope(ws.sessions) as session:
        paused = persisted_pause(session, client.name)
        if paused is not None and paused.timestamp() > clock.now():
            limiter.pause_until(paused.timestamp())
            ids: list[int] = []
        else:
            ids = due_submissions(session, _now(clock), collection, source_ids, limit)

    def record(item: DrainItem | None) -> None:
        if item is not None:
            summary.items.append(item)
            if progress is not None:
                progress(item)

    workers = max(1, settings.wayback_concurrency)
    if workers == 1 or len(ids) <= 1:
        for submission_id in ids:
            if limiter.pause_remaining() > 0:
                break
            record(worker.process(submission_id))
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wayback") as pool:
            for item in pool.map(worker.process, ids):
                record(item)
    if limiter.pause_remaining() > 0:
        summary.paused_until = _later(limiter.paused_until)
    return summary


# --- lookups --------------------------------------------------------------------------------------

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
        pace.acquire()
        try:
            lookup = client.lookup(url)
        except WaybackUnavailable as exc:
            items.append(LookupItem(source_id, url, None, str(exc)))
            continue
        with session_scope(ws.sessions) as session:
            _store_lookup(session, source_id, client.name, lookup, _now(clock))
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
    if source.status == "vanished" and source.streak_started_at is not None:
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

    Called by the checker on a transition to vanished (also when a source is gone at its first check).
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
            url, before, ours = _recovery_facts(session, source_id, client.name, _now(clock))
        found = _choose_copy(client, url, before, ours)
        if found is not None:
            with session_scope(ws_or_session.sessions) as session:
                _set_recovery(session, source_id, found)
        return found
    session = ws_or_session
    client = client or target_from_settings(settings or load_settings(), clock=clock)
    url, before, ours = _recovery_facts(session, source_id, client.name, _now(clock))
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
        .where(WaybackSubmission.source_id == source_id, WaybackSubmission.state == DONE,
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
        pace.acquire()
        out.append((source_id, url, find_recovery_copy(ws, source_id, client=client, clock=clock)))
    return out


# --- `lastseen wayback` ---------------------------------------------------------------------------

def _chosen_sources(session: Session, args: argparse.Namespace, out: Output) -> tuple[list[int], int]:
    """Source ids the command works on (the URLs given, in the collection if named) and how many URLs were unknown."""
    if args.collection and session.scalar(select(Collection.id).where(Collection.name == args.collection)) is None:
        raise UsageError(f"no collection named {args.collection!r}")
    ids: list[int] = []
    unknown = 0
    for url in args.urls:
        found = find_sources(session, url, args.collection)
        if not found:
            unknown += 1
            out.warn(f"lastseen: {url} is not tracked" + (f" in {args.collection!r}" if args.collection else ""))
        ids.extend(source.id for source in found if source.id not in ids)
    return ids, unknown


def _scope_query(query: Any, collection: str | None) -> Any:
    """A query over sources narrowed to one collection when one is named."""
    if collection:
        return query.join(Collection, Collection.id == Source.collection_id).where(Collection.name == collection)
    return query


def cmd_wayback(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Drain the Wayback queue once; or --lookup the copies the archive holds; or --recover vanished sources."""
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    client = target_from_settings(ws.settings)
    with session_scope(ws.sessions) as session:
        ids, unknown = _chosen_sources(session, args, out)
        if args.urls and not ids:
            return EXIT_NOT_FOUND
        if not args.urls and (args.lookup or args.recover):
            query = _scope_query(select(Source.id), args.collection)
            if args.recover:
                query = query.where(Source.status == "vanished", Source.recovery_archive_url.is_(None))
            ids = list(session.scalars(query.order_by(Source.id).limit(args.limit)))
        if not args.lookup and not args.recover:
            for source_id in ids:
                enqueue_source(session, source_id)
            if args.backfill:
                never = _scope_query(select(Source.id), args.collection).where(
                    Source.id.in_(select(Capture.source_id)),
                    Source.id.not_in(select(WaybackSubmission.source_id)))
                for source_id in session.scalars(never.order_by(Source.id)):
                    enqueue_source(session, source_id)
    if args.lookup:
        code = _run_lookup(ws, ids, client, out)
    elif args.recover:
        code = _run_recover(ws, ids, client, out)
    else:
        code = _run_drain(ws, args, ids if args.urls else None, client, out)
    return EXIT_PARTIAL if unknown and code == EXIT_OK else code


def _run_drain(ws: Workspace, args: argparse.Namespace, source_ids: list[int] | None, client: WaybackTarget,
               out: Output) -> int:
    """Drain once, printing each submission as it ends; exit 1 when some failed for good."""
    def show(item: DrainItem) -> None:
        if not out.as_json:
            out.line(f"{item.state:<9} {item.url}  {item.archive_url or item.error or ''}".rstrip())

    summary = drain(ws, args.collection, client=client, source_ids=source_ids, limit=args.limit, progress=show)
    if out.as_json:
        out.json(summary.as_dict())
    else:
        counts = ", ".join(f"{summary.count(s)} {s}" for s in (DONE, SKIPPED, PENDING, RETRYING, PAUSED, FAILED)
                           if summary.count(s))
        out.line(f"{len(summary.items)} submission(s) to {summary.target}" + (f": {counts}" if counts else ""))
        if summary.paused_until is not None:
            out.warn(f"lastseen: the archive asked us to wait: queue paused until {iso(summary.paused_until)}")
    return EXIT_PARTIAL if summary.count(FAILED) else EXIT_OK


def _run_lookup(ws: Workspace, ids: list[int], client: WaybackTarget, out: Output) -> int:
    """Look each source up and print what the archive holds; exit 1 when some lookups failed."""
    items = lookup_sources(ws, ids, client=client)
    if out.as_json:
        out.json({"target": client.name, "lookups": [item.as_dict() for item in items]})
    for item in items:
        found = item.lookup
        if out.as_json:
            continue
        if found is None:
            out.warn(f"lastseen: {item.url}: {item.error}")
        elif not found.count:
            out.line(f"{item.url}  no copies")
        else:
            out.line(f"{item.url}  {found.count} copies ({found.first_timestamp} .. {found.last_timestamp}), "
                     f"last good {found.last_ok_timestamp or '-'} {found.last_ok_url or ''}".rstrip())
    return EXIT_PARTIAL if any(item.error for item in items) else EXIT_OK


def _run_recover(ws: Workspace, ids: list[int], client: WaybackTarget, out: Output) -> int:
    """Find recovery copies and print them."""
    found = recover_sources(ws, ids, client=client)
    if out.as_json:
        out.json({"target": client.name, "recovered": [
            {"source_id": source_id, "url": url, "copy": copy.as_dict() if copy else None}
            for source_id, url, copy in found]})
    else:
        for _, url, copy in found:
            out.line(f"{url}  {copy.archive_url if copy else 'no good copy from before it vanished'}")
        out.line(f"{sum(1 for *_, copy in found if copy)} of {len(found)} vanished source(s) have a recovery copy")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `lastseen wayback`."""
    p = sub.add_parser("wayback", parents=[common], help="submit captured sources to the Wayback Machine",
                       description="Drain the Wayback queue once (what is due now), or look copies up.")
    p.add_argument("urls", nargs="*", metavar="URL", help="queue these tracked URLs and submit only them")
    p.add_argument("-c", "--collection", help="only this collection (default: all)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--lookup", action="store_true",
                      help="ask the archive's CDX API which copies it holds (first, last, count, last good)")
    mode.add_argument("--recover", action="store_true",
                      help="find the newest good copy from before each vanished source vanished")
    p.add_argument("--backfill", action="store_true", help="also queue every captured source never submitted")
    p.add_argument("--limit", type=int, help="at most this many submissions (or sources) this run")
    p.set_defaults(handler=cmd_wayback)
