"""Alerts: one per status transition that matters, sent once on every channel, and an Atom feed per collection.

A transition to ``vanished`` or ``returned`` (and ``changed``, when the collection asks for it) gets one Alert row;
the alert table is unique per transition, and rows go in with INSERT ... ON CONFLICT DO NOTHING, so running
``create_alerts`` twice, or in two workers at once, never makes two.

Channels: the webhook of LASTSEEN_WEBHOOK_URL, every Webhook row (for the alert's collection, or for all), and
every Apprise URL. An alert is routed once, when a run first sees it: one AlertDelivery row per channel that
applies then. Those rows live in the database, so what could not be sent is tried again by the next run, also
after a restart. An alert routed nowhere (no channel configured yet) waits, pending, until a channel exists.

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

import argparse
import hashlib
import hmac
import json
import logging
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from archive import __version__
from archive.cli.output import Output
from archive.config import ConfigError, Settings
from archive.db import DatabaseError, session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.models import (
    Alert,
    AlertDelivery,
    Capture,
    Check,
    Collection,
    Source,
    StatusTransition,
    WaybackSubmission,
    Webhook,
    utcnow,
)
from archive.net.guard import BlockedURL, NetGuard
from archive.net.http import default_user_agent, make_session, one_line
from archive.net.pacing import next_attempt_delay, parse_retry_after
from archive.sources import DEFAULT_COLLECTION
from archive.status import ALERT_KINDS, ALIVE
from archive.timefmt import iso
from archive.vocab import TransitionKind
from archive.workspace import Workspace

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
CLAIM_LEASE = timedelta(minutes=10)
RETRY_BASE, RETRY_FACTOR, RETRY_CAP = 5.0, 3.0, 6 * 3600.0
DEFAULT_MAX_WAIT = 10.0
DIGEST_MAX = 50
BATCH = 500
FEED_LIMIT = 100
SEND_TIMEOUT = 30.0
ATOM = "http://www.w3.org/2005/Atom"
# Where the API serves these; links in alerts and feeds are built on Settings.public_url with them.
CAPTURE_PATH = "/api/captures/{id}"
FEED_PATH = "/api/collections/{name}/feed.atom"

_ALWAYS = [kind.value for kind in ALERT_KINDS if kind is not TransitionKind.CHANGED]
_ALIVE_OUTCOMES = [outcome.value for outcome in ALIVE]
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class UnknownCollection(LookupError):
    """The named collection does not exist."""


# --- what an alert says ---------------------------------------------------------------------------

def _alerting() -> Any:
    """SQL condition: the transition raises an alert (changed only where the collection asks)."""
    return or_(StatusTransition.kind.in_(_ALWAYS),
               and_(StatusTransition.kind == TransitionKind.CHANGED.value, Collection.alert_on_changed.is_(True)))


def _last_seen_alive(session: Session, source: Source, transition: StatusTransition) -> datetime | None:
    """The last time the source answered alive before the transition (a change is itself alive)."""
    if transition.kind == TransitionKind.CHANGED:
        return transition.at
    check_at = session.scalar(select(func.max(Check.checked_at)).where(
        Check.source_id == source.id, Check.outcome.in_(_ALIVE_OUTCOMES), Check.checked_at < transition.at))
    capture_at = session.scalar(select(func.max(Capture.captured_at)).where(
        Capture.source_id == source.id, Capture.http_status < 400, Capture.captured_at < transition.at))
    known = source.last_seen_alive_at if source.last_seen_alive_at and source.last_seen_alive_at < transition.at \
        else None
    return max((t for t in (check_at, capture_at, known) if t is not None), default=None)


def _own_capture(session: Session, source_id: int, before: datetime) -> dict[str, Any] | None:
    """lastseen's newest good copy of the source from before the transition."""
    capture = session.scalar(select(Capture).where(
        Capture.source_id == source_id, Capture.http_status < 400, Capture.captured_at <= before)
        .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1))
    if capture is None:
        return None
    return {"id": capture.id, "captured_at": iso(capture.captured_at), "http_status": capture.http_status,
            "warc_uri": capture.warc_uri, "warc_offset": capture.warc_offset, "warc_length": capture.warc_length}


def _wayback_copy(session: Session, source: Source) -> str | None:
    """The recovery copy found when it vanished, else the newest copy we had the Wayback Machine make."""
    if source.recovery_archive_url:
        return source.recovery_archive_url
    return session.scalar(select(WaybackSubmission.archive_url).where(
        WaybackSubmission.source_id == source.id, WaybackSubmission.state == "done",
        WaybackSubmission.archive_url.is_not(None))
        .order_by(WaybackSubmission.requested_at.desc(), WaybackSubmission.id.desc()).limit(1))


def transition_payload(session: Session, transition: StatusTransition, source: Source,
                       collection: Collection) -> dict[str, Any]:
    """What an alert about this transition says; stored on the Alert row (fields are an interface)."""
    return {
        "transition_id": transition.id,
        "source_id": source.id,
        "url": source.url,
        "normalized_url": source.normalized_url,
        "collection": collection.name,
        "source_kind": source.kind,
        "kind": transition.kind,
        "from_status": transition.from_status,
        "to_status": transition.to_status,
        "reason": transition.reason,
        "at": iso(transition.at),
        "last_seen_alive_at": iso(_last_seen_alive(session, source, transition)),
        "capture": _own_capture(session, source.id, transition.at),
        "wayback_url": _wayback_copy(session, source),
    }


def capture_url(payload: dict[str, Any], base_url: str | None) -> str | None:
    """Link to lastseen's own copy through the API, when the API's public address is known."""
    if not base_url or not payload.get("capture"):
        return None
    return base_url.rstrip("/") + CAPTURE_PATH.format(id=payload["capture"]["id"])


def _headline(payload: dict[str, Any]) -> str:
    reason = f" ({payload['reason']})" if payload.get("reason") else ""
    return f"{str(payload['kind']).capitalize()}: {payload['url']}{reason}"


def _describe(payload: dict[str, Any], base_url: str | None) -> list[str]:
    """Plain-text lines about one alert, for messages and the feed."""
    capture = payload.get("capture")
    own = capture_url(payload, base_url) or (
        f"{capture['warc_uri']} @{capture['warc_offset']}+{capture['warc_length']}" if capture else None)
    return [
        _headline(payload),
        f"  collection: {payload['collection']}; {payload['from_status']} -> {payload['to_status']} at "
        f"{payload['at']}",
        f"  last seen alive: {payload.get('last_seen_alive_at') or 'never seen alive'}",
        f"  lastseen copy: {own or 'none'}",
        f"  Wayback copy: {payload.get('wayback_url') or 'none'}",
    ]


# --- creating alerts ------------------------------------------------------------------------------

def _insert_new(session: Session, table: Any, rows: list[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert rows, skipping those that clash on `keys` (another worker got there first); count those added."""
    if not rows:
        return 0
    insert = _INSERTS.get(session.get_bind().dialect.name)
    if insert is None:
        raise DatabaseError("alerts need SQLite or PostgreSQL")
    statement = insert(table).values(rows).on_conflict_do_nothing(index_elements=list(keys))
    return len(session.execute(statement.returning(table.c.id)).all())


def create_alerts(session: Session, *, now: datetime | None = None) -> int:
    """Make the Alert of every alerting transition that has none yet; how many were made (idempotent)."""
    made, after = 0, 0
    while True:
        rows = session.execute(
            select(StatusTransition, Source, Collection)
            .join(Source, Source.id == StatusTransition.source_id)
            .join(Collection, Collection.id == Source.collection_id)
            .where(StatusTransition.id > after, _alerting(),
                   ~exists().where(Alert.transition_id == StatusTransition.id))
            .order_by(StatusTransition.id).limit(BATCH)).all()
        if not rows:
            return made
        created_at = now or utcnow()
        values = [{"source_id": source.id, "transition_id": transition.id, "kind": transition.kind,
                   "created_at": created_at, "payload": transition_payload(session, transition, source, collection),
                   "state": PENDING, "next_attempt_at": None}
                  for transition, source, collection in rows]
        made += _insert_new(session, Alert.__table__, values, ["transition_id"])
        after = rows[-1][0].id


# --- messages and notifiers -----------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """What one send carries on one channel: one alert, or a digest of several."""

    alerts: tuple[dict[str, Any], ...]
    sent_at: datetime
    key: str  # the same for every try of the same deliveries, so receivers may deduplicate on it
    base_url: str | None = None

    @property
    def is_digest(self) -> bool:
        return len(self.alerts) > 1

    def title(self) -> str:
        """One line: the alert's headline, or how many of which kind a digest holds."""
        if not self.is_digest:
            return f"lastseen: {_headline(self.alerts[0])}"
        counts = Counter(str(a["kind"]) for a in self.alerts)
        return f"lastseen: {len(self.alerts)} alerts (" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"

    def text(self) -> str:
        """Plain text for chat and mail channels."""
        return "\n\n".join("\n".join(_describe(a, self.base_url)) for a in self.alerts)

    def json_body(self) -> bytes:
        """The webhook body: the exact bytes that are signed."""
        data = {"event": "lastseen.digest" if self.is_digest else "lastseen.alert", "sent_at": iso(self.sent_at),
                "count": len(self.alerts), "alerts": list(self.alerts)}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class SendResult:
    """How one send went; `retry_after` is the receiver's Retry-After, in seconds."""

    ok: bool
    error: str | None = None
    retry_after: float | None = None


class Notifier(Protocol):
    """A channel alerts go out on; `channel` names it in the database and never holds a secret."""

    channel: str
    label: str

    def send(self, message: Message) -> SendResult: ...


def sign(secret: str, body: bytes) -> str:
    """The X-Lastseen-Signature value: HMAC-SHA256 of the exact body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs signed JSON to a URL; 2xx is delivered, anything else (redirects too) is a failure to retry."""

    def __init__(self, url: str, secret: str, channel: str, *, session: requests.Session | None = None,
                 timeout: float = SEND_TIMEOUT) -> None:
        self.url, self.secret, self.channel, self.timeout = url, secret, channel, timeout
        self.label = f"webhook {_host_of(url)}" + ("" if channel == "webhook" else f" ({channel})")
        self.session = session or make_session(default_user_agent())

    def send(self, message: Message) -> SendResult:
        body = message.json_body()
        headers = {"Content-Type": "application/json", "X-Lastseen-Timestamp": str(int(message.sent_at.timestamp())),
                   "X-Lastseen-Delivery": message.key,
                   "X-Lastseen-Event": "digest" if message.is_digest else "alert"}
        if self.secret:
            headers["X-Lastseen-Signature"] = sign(self.secret, body)
        try:
            resp = self.session.post(self.url, data=body, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)
        except requests.RequestException as exc:
            return SendResult(False, _network_error(exc, self.url, self.timeout))
        with resp:
            if 200 <= resp.status_code < 300:
                return SendResult(True)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), message.sent_at.timestamp())
            return SendResult(False, one_line(f"HTTP {resp.status_code} {resp.reason or ''}".strip()), retry_after)


class AppriseNotifier:
    """Any Apprise URL (mail, Matrix, Slack, Telegram, json://...); Apprise does the talking."""

    def __init__(self, url: str, channel: str, *, allow_networks: tuple[str, ...] = ()) -> None:
        import apprise

        self.channel = channel
        self.guard = NetGuard.from_settings(allow_networks)
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ConfigError(f"LASTSEEN_APPRISE_URLS: Apprise cannot use {url.split('://', 1)[0]}://***")
        self.label = f"apprise {self._apprise[0].service_name}"

    def send(self, message: Message) -> SendResult:
        import apprise

        try:  # Apprise connects itself: its target host is checked here (archive.net.guard)
            for server in self._apprise:
                self.guard.check_host(str(getattr(server, "host", "") or ""), getattr(server, "port", None))
        except BlockedURL as exc:
            return SendResult(False, one_line(f"refused by the net guard: {exc}"))
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = bool(self._apprise.notify(body=message.text(), title=message.title(),
                                           body_format=apprise.NotifyFormat.TEXT))
        if ok:
            return SendResult(True)
        lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip()]
        return SendResult(False, one_line(" ".join(lines) or "Apprise could not send"))


def _host_of(url: str) -> str:
    return urlsplit(url).hostname or "?"


def _network_error(exc: requests.RequestException, url: str, timeout: float) -> str:
    """What went wrong, without the URL's path or query (webhook URLs often carry a token)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer from {_host_of(url)} within {timeout:g}s"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {_host_of(url)}"
    return f"{type(exc).__name__} talking to {_host_of(url)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Channels:
    """The notifiers configured now, and which collections each one is for (None: all)."""

    notifiers: dict[str, Notifier] = field(default_factory=dict)
    scope: dict[str, int | None] = field(default_factory=dict)

    def add(self, notifier: Notifier, collection_id: int | None = None) -> None:
        self.notifiers[notifier.channel] = notifier
        self.scope[notifier.channel] = collection_id

    def for_collection(self, collection_id: int) -> list[str]:
        """Channels an alert of this collection goes to."""
        return [c for c, scope in self.scope.items() if scope is None or scope == collection_id]


def configured_channels(session: Session, settings: Settings) -> Channels:
    """The webhook of the settings, the Webhook rows, and the Apprise URLs."""
    channels = Channels()
    http = make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks)
    if settings.webhook_url:
        channels.add(WebhookNotifier(settings.webhook_url, settings.webhook_secret, "webhook", session=http))
    for hook in session.scalars(select(Webhook).order_by(Webhook.id)):
        channels.add(WebhookNotifier(hook.url, hook.secret, f"webhook:{hook.id}", session=http), hook.collection_id)
    for url in settings.apprise_urls:
        channels.add(AppriseNotifier(url, f"apprise:{_digest(url)}", allow_networks=settings.allow_networks))
    return channels


# --- delivering -----------------------------------------------------------------------------------

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
            routed += _insert_new(session, AlertDelivery.__table__, values, ["alert_id", "channel"])
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
    key = _digest(notifier.channel + ":" + ",".join(map(str, sorted(claimed))))
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


# --- the Atom feed --------------------------------------------------------------------------------

def _xml(text: str | None) -> str:
    """Text that XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", text or "")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def _atom_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def feed_entries(session: Session, collection_name: str, limit: int = FEED_LIMIT) -> tuple[Collection, list[Any]]:
    """The collection and its newest alerting transitions (transition, payload), newest first."""
    collection = session.scalar(select(Collection).where(Collection.name == collection_name))
    if collection is None:
        raise UnknownCollection(f"no collection named {collection_name!r}")
    rows = session.execute(
        select(StatusTransition, Source).join(Source, Source.id == StatusTransition.source_id)
        .join(Collection, Collection.id == Source.collection_id)
        .where(Source.collection_id == collection.id, _alerting())
        .order_by(StatusTransition.at.desc(), StatusTransition.id.desc()).limit(limit)).all()
    return collection, [(t, transition_payload(session, t, s, collection)) for t, s in rows]


def collection_feed(session: Session, collection_name: str, base_url: str | None = None) -> bytes:
    """Atom XML of a collection's alerts (vanished, returned, changed if asked), newest first."""
    collection, entries = feed_entries(session, collection_name)
    tag = f"tag:lastseen,{collection.created_at:%Y-%m-%d}:collection/{quote(collection.name, safe='')}"
    feed = ET.Element("feed", xmlns=ATOM)
    _sub(feed, "id", tag)
    _sub(feed, "title", f"lastseen: {collection.name}")
    if collection.description:
        _sub(feed, "subtitle", collection.description)
    newest = entries[0][0].at if entries else collection.created_at
    _sub(feed, "updated", _atom_time(newest))
    _sub(_sub(feed, "author"), "name", "lastseen")
    _sub(feed, "generator", "lastseen", version=__version__)
    if base_url:
        _sub(feed, "link", rel="self", type="application/atom+xml",
             href=base_url.rstrip("/") + FEED_PATH.format(name=quote(collection.name, safe="")))
    for transition, payload in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"{tag}/transition/{transition.id}")
        _sub(entry, "title", _headline(payload))
        _sub(entry, "updated", _atom_time(transition.at))
        _sub(entry, "published", _atom_time(transition.at))
        _sub(entry, "link", rel="alternate", href=payload["url"])
        if payload["wayback_url"]:
            _sub(entry, "link", rel="related", title="Wayback Machine copy", href=payload["wayback_url"])
        own = capture_url(payload, base_url)
        if own:
            _sub(entry, "link", rel="related", title="lastseen capture", href=own)
        _sub(entry, "category", term=str(payload["kind"]))
        _sub(entry, "summary", "\n".join(_describe(payload, base_url)), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


# --- command line ---------------------------------------------------------------------------------

def cmd_alerts(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Make alerts for new transitions and send what is due."""
    if args.max_wait < 0:
        raise UsageError("--max-wait must not be negative")
    with session_scope(ws.sessions) as session:
        created = create_alerts(session)
    summary = {"created": created, **deliver(ws, max_wait=args.max_wait)}
    if out.as_json:
        out.json(summary)
    else:
        out.line(f"{created} new alert(s); {summary['delivered']} delivery(ies) done in {summary['messages']} "
                 f"message(s), {summary['retrying']} to retry, {summary['failed']} failed; "
                 f"{summary['pending']} pending, {summary['unrouted']} waiting for a channel")
        for entry in summary["channels"].values():
            error = f" (last error: {entry['last_error']})" if entry["last_error"] else ""
            out.line(f"  {entry['label']}: {entry[DELIVERED]} delivered, {entry['retrying']} to retry, "
                     f"{entry[FAILED]} failed{error}")
    return EXIT_PARTIAL if summary["failed"] or summary["retrying"] else EXIT_OK


def cmd_feed(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print a collection's Atom feed (or its entries as JSON)."""
    base_url = ws.settings.public_url or None
    try:
        with session_scope(ws.sessions) as session:
            if out.as_json:
                _collection, entries = feed_entries(session, args.collection)
                data: Any = {"collection": args.collection, "entries": [
                    {**p, "capture_url": capture_url(p, base_url)} for _t, p in entries]}
            else:
                data = collection_feed(session, args.collection, base_url)
    except UnknownCollection as exc:
        out.warn(f"lastseen: {exc.args[0]}")
        return EXIT_NOT_FOUND
    if out.as_json:
        out.json(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `alerts` and `feed` to the command line."""
    p = sub.add_parser("alerts", parents=[common], help="make alerts for new transitions and send what is due")
    p.add_argument("--max-wait", type=float, default=DEFAULT_MAX_WAIT, metavar="SECONDS",
                   help=f"time to spend waiting to retry failed sends in this run (default {DEFAULT_MAX_WAIT:g})")
    p.set_defaults(handler=cmd_alerts)
    p = sub.add_parser("feed", parents=[common], help="print a collection's Atom feed of alerts")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION, help=f"default: {DEFAULT_COLLECTION}")
    p.set_defaults(handler=cmd_feed)
