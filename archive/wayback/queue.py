"""The Wayback queue: what waits to go to a Wayback archive, and the drain and worker that send it.

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

One concept, the queue's state machine: the drain and the worker that moves rows between the states above
stay together, so the module is somewhat over the usual size.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from archive.config import Settings
from archive.db import session_scope
from archive.models import Collection, Source, WaybackSubmission
from archive.net.pacing import Backoff, Clock, RateLimiter, SystemClock
from archive.timefmt import iso
from archive.vocab import OPEN_SUBMISSIONS, SubmissionState
from archive.wayback.client import (
    SubmitResult,
    WaybackTarget,
    WaybackUnavailable,
    archive_said,
    parse_timestamp,
    refusal_reason,
    should_skip,
    utc_now,
)
from archive.wayback.ia import InternetArchive
from archive.wayback.lookups import store_lookup
from archive.wayback.targets import target_from_settings
from archive.wayback.withhold import withheld
from archive.workspace import Workspace

WAITING = (*OPEN_SUBMISSIONS, SubmissionState.PENDING.value)  # a drain takes these once next_attempt_at has come
# The states a drain leaves rows in, in the order its summaries list them.
REPORTED = (SubmissionState.DONE, SubmissionState.SKIPPED, SubmissionState.PENDING, SubmissionState.RETRYING,
            SubmissionState.PAUSED, SubmissionState.FAILED)

POLL_INTERVAL = 5.0  # seconds between polls of a Save Page Now job
POLL_TIMEOUT = 600.0  # a job pending longer is left pending and polled again by a later drain
REPOLL_DELAY = 300.0
LEASE = 3600.0  # a worker that dies holding a row gives it back after this long
SAME_SNAPSHOT_SLACK = 300.0  # a "new" capture older than the request by this much is a copy the archive had

_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


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
                **{state: self.count(state) for state in REPORTED},
                "paused_until": iso(self.paused_until), "items": [item.as_dict() for item in self.items]}


def _item(sub: WaybackSubmission, url: str) -> DrainItem:
    """A detached copy of a submission row for the summary."""
    return DrainItem(sub.id, sub.source_id, url, sub.state, sub.attempts, sub.archive_url, sub.archive_timestamp,
                     sub.job_id, sub.next_attempt_at, sub.error)


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
        now = utc_now(self.clock)
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
                .values(state=SubmissionState.PENDING.value, next_attempt_at=_later(self.clock.now() + LEASE))
                .execution_options(synchronize_session=False))
            return claimed if taken.rowcount == 1 else None

    def _release(self, claimed: _Claimed) -> None:
        """Give a row back as it was (the queue paused while it waited, or the worker failed)."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is not None and sub.state == SubmissionState.PENDING:
                sub.state, sub.next_attempt_at = claimed.state, claimed.next_attempt_at

    def _run(self, claimed: _Claimed) -> DrainItem | None:
        """Follow the row's job, or skip it for a recent copy, or submit it at the limiter's pace."""
        if claimed.state == SubmissionState.PENDING and claimed.job_id and claimed.target == self.client.name:
            result = self._poll(claimed.job_id, claimed.url, sleep_first=False)  # the job began in an earlier run
            return self._record(claimed, result, claimed.attempts, None)
        with session_scope(self.ws.sessions) as session:
            reason = withheld(session, claimed.source_id, claimed.url, self.ws.settings, self.client)
        if reason is not None:
            return self._record_skipped(claimed, None, None, reason)
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
                .where(WaybackSubmission.source_id == claimed.source_id,
                       WaybackSubmission.state.in_((SubmissionState.DONE, SubmissionState.SKIPPED)),
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
            store_lookup(session, claimed.source_id, self.client.name, lookup, utc_now(self.clock))
        if should_skip(lookup, self.window, now) and lookup.last_ok_timestamp and lookup.last_ok_url:
            return lookup.last_ok_timestamp, lookup.last_ok_url
        return None

    def _save_job(self, claimed: _Claimed, job_id: str, attempts: int) -> None:
        """Write the job down at once: a worker that dies while polling leaves a job to poll, not to resubmit."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is not None:
                sub.job_id, sub.attempts, sub.target = job_id, attempts, self.client.name

    def _record_skipped(self, claimed: _Claimed, timestamp: str | None, archive_url: str | None,
                        reason: str | None = None) -> DrainItem | None:
        """The archive holds a recent good copy: point at it instead of making another; or the source is withheld
        from the target (the reason)."""
        with session_scope(self.ws.sessions) as session:
            sub = session.get(WaybackSubmission, claimed.id)
            if sub is None:
                return None
            sub.target = self.client.name
            sub.state, sub.archive_url, sub.archive_timestamp = SubmissionState.SKIPPED.value, archive_url, timestamp
            sub.next_attempt_at, sub.error, sub.finished_at = None, reason, utc_now(self.clock)
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
                sub.state = (SubmissionState.SKIPPED if _older_copy(result, started) else SubmissionState.DONE).value
                sub.archive_url, sub.archive_timestamp = result.archive_url, result.timestamp
                sub.next_attempt_at, sub.error, sub.finished_at = None, None, utc_now(self.clock)
            elif result.state == "pending":
                sub.state, sub.next_attempt_at = SubmissionState.PENDING.value, _later(now + REPOLL_DELAY)
                sub.error = f"still under way at the archive after {self.poll_timeout:g}s; asked again later"
            elif result.quota_exhausted:
                sub.attempts = claimed.attempts  # the archive's limit, not this URL's fault
                until = now + (result.retry_after if result.retry_after is not None else self.limiter.quota_pause)
                self.limiter.pause_until(until)
                sub.state, sub.job_id, sub.next_attempt_at = SubmissionState.PAUSED.value, None, _later(until)
                sub.error = f"archive over its limit, queue paused until {iso(sub.next_attempt_at)}: " \
                            f"{archive_said(result)}"
            elif result.transient and (attempts < self.backoff.max_attempts or result.http_status == 429):
                until = now + self.backoff.delay(attempts, result.retry_after)
                sub.job_id, sub.next_attempt_at = None, _later(until)
                of = f"attempt {attempts} of {self.backoff.max_attempts}"
                if result.http_status == 429:  # the archive throttles this host: everyone waits, nobody gives up
                    self.limiter.pause_until(until)
                    sub.state = SubmissionState.PAUSED.value
                    sub.error = f"archive throttling us, queue paused until {iso(sub.next_attempt_at)} " \
                                f"(attempt {attempts}): {archive_said(result)}"
                else:
                    sub.state = SubmissionState.RETRYING.value
                    sub.error = f"transient, will retry at {iso(sub.next_attempt_at)} ({of}): {archive_said(result)}"
            else:
                sub.state, sub.next_attempt_at = SubmissionState.FAILED.value, None
                sub.finished_at = utc_now(self.clock)
                if result.transient:
                    sub.error = f"gave up after {attempts} attempts: {archive_said(result)}"
                else:
                    sub.error = f"permanent, {refusal_reason(result)}: {archive_said(result)}"
            return _item(sub, claimed.url)


def _older_copy(result: SubmitResult, started: float | None) -> bool:
    """True when the 'new' capture predates the request: the archive answered with a copy it already had."""
    if not result.timestamp or started is None:  # a job followed from an earlier run: when it began is not kept
        return False
    return parse_timestamp(result.timestamp).timestamp() < started - SAME_SNAPSHOT_SLACK


def _skips_by_itself(client: WaybackTarget) -> bool:
    """Save Page Now 2 is told the skip window (if_not_archived_within): no lookup needed first."""
    return isinstance(client, InternetArchive) and client.authenticated and bool(client.if_not_archived_within)


def shared_limiter(settings: Settings, target: str) -> RateLimiter:
    """One limiter per process and archive, so drains run one after another keep the rate between them."""
    key = (target, float(settings.wayback_rate))
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(settings.wayback_rate)
        return _limiters[key]



def persisted_pause(session: Session, target: str) -> datetime | None:
    """Until when the archive asked the whole queue to wait (its newest 'paused' row), if any."""
    return session.scalar(select(func.max(WaybackSubmission.next_attempt_at))
                          .where(WaybackSubmission.state == SubmissionState.PAUSED, WaybackSubmission.target == target))


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
            ids = due_submissions(session, utc_now(clock), collection, source_ids, limit)

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



def backoff_from_settings(settings: Settings, rng: Any = None) -> Backoff:
    """The retry policy of the Wayback queue: full-jitter backoff, wayback_max_attempts tries."""
    return Backoff(max_attempts=settings.wayback_max_attempts, rng=rng or random.Random())
