"""Delivering alerts: routed once to the channels, claimed, sent as one message per channel, retried.

An alert is routed once, when a run first sees it: one AlertDelivery row per channel that applies then. Those
rows live in the database, so what could not be sent is tried again by the next run, also after a restart. An
alert routed nowhere (no channel configured yet) waits, pending, until a channel exists.

Sending is claimed: a worker moves due deliveries from ``pending`` to ``sending`` with one UPDATE that checks
their state and sends only the rows it moved, so two workers never send the same delivery. A claim is a lease:
a worker that dies while sending leaves rows that the next run may claim again after CLAIM_LEASE. That is the
only way a receiver can see one alert twice, and webhook receivers can tell (alert ids in the body, the
X-Lastseen-Delivery header is the same for every try of the same deliveries).

Everything due on one channel in one run goes out as one message: a digest when there are several alerts (at
most DIGEST_MAX per message). A failed message is tried again within the run after short waits (max_wait
seconds in all), then by later runs with exponential backoff (RETRY_BASE x RETRY_FACTOR^n, at most RETRY_CAP,
at least what Retry-After asked); after alert_max_attempts tries a delivery is ``failed`` for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.db import session_scope
from archive.models import Alert, AlertDelivery, Source, utcnow
from archive.net.pacing import next_attempt_delay
from archive.timefmt import iso
from archive.watch.alerts import BATCH, DELIVERED, FAILED, PENDING, SENDING, capture_url, insert_new
from archive.watch.notify import Channels, Message, Notifier, configured_channels, short_hash
from archive.workspace import Workspace

CLAIM_LEASE = timedelta(minutes=10)
RETRY_BASE, RETRY_FACTOR, RETRY_CAP = 5.0, 3.0, 6 * 3600.0
DEFAULT_MAX_WAIT = 10.0
DIGEST_MAX = 50


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed try number `attempt`: 5 s, 15 s, 45 s... at most 6 h; Retry-After is a floor."""
    return next_attempt_delay(attempt, retry_after, base=RETRY_BASE, factor=RETRY_FACTOR, cap=RETRY_CAP,
                              retry_after_cap=RETRY_CAP)


@dataclass
class DeliverySummary:
    """What one delivery run did, per channel and in all."""

    routed: int = 0
    messages: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def count(self, notifier: Notifier, outcome: str, n: int, error: str | None = None) -> None:
        """Add n deliveries (or messages) of this outcome on the notifier's channel."""
        entry = self.channels.setdefault(notifier.channel, {"label": notifier.label, "messages": 0, DELIVERED: 0,
                                                            "retrying": 0, FAILED: 0, "last_error": None})
        entry[outcome] += n
        setattr(self, outcome, getattr(self, outcome) + n)
        if error:
            entry["last_error"] = error


def _route(sessions: sessionmaker[Session], channels: Channels, now: datetime) -> int:
    """Give every pending alert that has no deliveries yet one per channel that applies to it now."""
    routed, after = 0, 0
    if not channels.notifiers:
        return 0
    while True:
        with session_scope(sessions) as session:
            rows = session.execute(
                select(Alert.id, Source.collection_id).join(Source, Source.id == Alert.source_id)
                .where(Alert.state == PENDING, Alert.id > after,
                       ~exists().where(AlertDelivery.alert_id == Alert.id))
                .order_by(Alert.id).limit(BATCH)).all()
            if not rows:
                return routed
            values = [{"alert_id": alert_id, "channel": channel, "state": PENDING, "attempts": 0,
                       "next_attempt_at": now}
                      for alert_id, collection_id in rows for channel in channels.for_collection(collection_id)]
            routed += insert_new(session, AlertDelivery.__table__, values, ["alert_id", "channel"])
            after = rows[-1][0]


def _due(now: datetime) -> Any:
    """SQL condition: a delivery may be claimed now (pending and due, or a claim whose lease ran out)."""
    return or_(and_(AlertDelivery.state == PENDING,
                    or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now)),
               and_(AlertDelivery.state == SENDING, AlertDelivery.next_attempt_at <= now))


def _claim(sessions: sessionmaker[Session], ids: list[int], now: datetime) -> dict[int, int]:
    """Move these deliveries to `sending` if still due; only the ones moved here are ours (id -> attempts)."""
    with session_scope(sessions) as session:
        rows = session.execute(
            update(AlertDelivery).where(AlertDelivery.id.in_(ids), _due(now))
            .values(state=SENDING, attempts=AlertDelivery.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
            .returning(AlertDelivery.id, AlertDelivery.attempts)
            .execution_options(synchronize_session=False)).all()
    return {delivery_id: attempts for delivery_id, attempts in rows}


def _settle(sessions: sessionmaker[Session], claimed: dict[int, int], tried: dict[int, int], state: str,
            now: datetime, error: str | None, next_at: dict[int, datetime] | None = None) -> None:
    """Write how deliveries ended, unless another worker has claimed them again since (its claim wins)."""
    with session_scope(sessions) as session:
        for delivery_id, attempts in tried.items():
            values: dict[str, Any] = {"state": state, "attempts": attempts, "last_error": error,
                                      "next_attempt_at": (next_at or {}).get(delivery_id)}
            if state == DELIVERED:
                values["delivered_at"] = now
            session.execute(update(AlertDelivery).where(
                AlertDelivery.id == delivery_id, AlertDelivery.state == SENDING,
                AlertDelivery.attempts == claimed[delivery_id]).values(**values)
                .execution_options(synchronize_session=False))


def _documents(sessions: sessionmaker[Session], ids: Iterable[int], base_url: str | None) -> dict[int, dict[str, Any]]:
    """What receivers get for these deliveries (by delivery id): each alert's payload with its id and links."""
    with session_scope(sessions) as session:
        rows = session.execute(select(AlertDelivery.id, Alert).join(Alert, AlertDelivery.alert_id == Alert.id)
                               .where(AlertDelivery.id.in_(list(ids)))).all()
        return {delivery_id: {"alert_id": a.id, **a.payload, "created_at": iso(a.created_at),
                              "capture_url": capture_url(a.payload, base_url)} for delivery_id, a in rows}


@dataclass
class _Run:
    """One delivery run's clock, waiting budget and tallies."""

    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    max_wait: float
    max_attempts: int
    base_url: str | None
    summary: DeliverySummary
    waited: float = 0.0


def _send(run: _Run, notifier: Notifier, claimed: dict[int, int]) -> None:
    """Send claimed deliveries of one channel as one message; retry within the budget; record the outcome."""
    docs = _documents(run.sessions, claimed, run.base_url)
    tried = {d: a for d, a in claimed.items() if d in docs}  # an alert may go with its source, deleted meanwhile
    key = short_hash(notifier.channel + ":" + ",".join(map(str, sorted(claimed))))
    while tried:
        alerts = tuple(sorted((docs[d] for d in tried), key=lambda doc: doc["alert_id"]))
        result = notifier.send(Message(alerts, run.clock(), key, run.base_url))
        run.summary.count(notifier, "messages", 1)
        now = run.clock()
        if result.ok:
            _settle(run.sessions, claimed, tried, DELIVERED, now, None)
            run.summary.count(notifier, DELIVERED, len(tried))
            return
        spent = {d: a for d, a in tried.items() if a >= run.max_attempts}
        if spent:
            _settle(run.sessions, claimed, spent, FAILED, now, result.error)
            run.summary.count(notifier, FAILED, len(spent), result.error)
        tried = {d: a for d, a in tried.items() if d not in spent}
        if not tried:
            return
        delay = min(retry_delay(a, result.retry_after) for a in tried.values())
        if run.waited + delay > run.max_wait:
            next_at = {d: now + timedelta(seconds=retry_delay(a, result.retry_after)) for d, a in tried.items()}
            _settle(run.sessions, claimed, tried, PENDING, now, result.error, next_at)
            run.summary.count(notifier, "retrying", len(tried), result.error)
            return
        run.sleep(delay)
        run.waited += delay
        tried = {d: a + 1 for d, a in tried.items()}


def _refresh_alerts(sessions: sessionmaker[Session]) -> None:
    """Close alerts whose deliveries all ended (failed if one failed); safe anywhere, as final states are final."""
    open_delivery = exists().where(AlertDelivery.alert_id == Alert.id, AlertDelivery.state.in_([PENDING, SENDING]))
    failed_delivery = exists().where(AlertDelivery.alert_id == Alert.id, AlertDelivery.state == FAILED)
    with session_scope(sessions) as session:
        session.execute(update(Alert).where(Alert.state == PENDING, ~open_delivery,
                                            exists().where(AlertDelivery.alert_id == Alert.id))
                        .values(state=case((failed_delivery, FAILED), else_=DELIVERED), next_attempt_at=None)
                        .execution_options(synchronize_session=False))
        session.execute(update(Alert).where(Alert.state == PENDING, open_delivery).values(
            next_attempt_at=select(func.min(AlertDelivery.next_attempt_at)).where(
                AlertDelivery.alert_id == Alert.id, AlertDelivery.state.in_([PENDING, SENDING])).scalar_subquery())
                        .execution_options(synchronize_session=False))


def _backlog(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Deliveries still to send, and alerts no channel has taken yet."""
    with session_scope(sessions) as session:
        pending = session.scalar(select(func.count()).select_from(AlertDelivery)
                                 .where(AlertDelivery.state.in_([PENDING, SENDING]))) or 0
        unrouted = session.scalar(select(func.count()).select_from(Alert).where(
            Alert.state == PENDING, ~exists().where(AlertDelivery.alert_id == Alert.id))) or 0
    return {"pending": pending, "unrouted": unrouted}


def deliver(ws: Workspace, now: datetime | None = None, *, clock: Callable[[], datetime] | None = None,
            sleep: Callable[[float], None] | None = None, max_wait: float = DEFAULT_MAX_WAIT,
            channels: Channels | None = None) -> dict[str, Any]:
    """Route new alerts, send every due delivery (one message per channel), and say what happened."""
    if clock is None:
        clock = utcnow if now is None else (lambda: now)
    if channels is None:
        with session_scope(ws.sessions) as session:
            channels = configured_channels(session, ws.settings)
    run = _Run(ws.sessions, clock, sleep or time.sleep, max_wait, max(ws.settings.alert_max_attempts, 1),
               ws.settings.public_url or None, DeliverySummary())
    run.summary.routed = _route(ws.sessions, channels, clock())
    after = 0
    while channels.notifiers:
        with session_scope(ws.sessions) as session:
            due = session.execute(select(AlertDelivery.id, AlertDelivery.channel).where(
                _due(clock()), AlertDelivery.channel.in_(list(channels.notifiers)), AlertDelivery.id > after)
                .order_by(AlertDelivery.id).limit(BATCH)).all()
        if not due:
            break
        after = due[-1][0]
        by_channel: dict[str, list[int]] = {}
        for delivery_id, channel in due:
            by_channel.setdefault(channel, []).append(delivery_id)
        for channel, ids in by_channel.items():
            for start in range(0, len(ids), DIGEST_MAX):
                claimed = _claim(ws.sessions, ids[start:start + DIGEST_MAX], clock())
                if claimed:
                    _send(run, channels.notifiers[channel], claimed)
    _refresh_alerts(ws.sessions)
    summary = run.summary
    return {"routed": summary.routed, "messages": summary.messages,
            "delivered": summary.delivered, "retrying": summary.retrying, "failed": summary.failed,
            **_backlog(ws.sessions), "channels": summary.channels}
