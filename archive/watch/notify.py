"""Messages and the channels they go out on: signed webhooks and Apprise URLs.

Channels: the webhook of LASTSEEN_WEBHOOK_URL, every Webhook row (for the alert's collection, or for all), and
every Apprise URL. A channel's name (stored on each delivery) never holds a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.config import ConfigError, Settings
from archive.models import Webhook
from archive.net.guard import BlockedURL, NetGuard
from archive.net.http import default_user_agent, make_session, one_line
from archive.net.lookups import guarded_lookups
from archive.net.pacing import parse_retry_after
from archive.timefmt import iso
from archive.watch.alerts import describe, headline

SEND_TIMEOUT = 30.0


@dataclass(frozen=True)
class Message:
    """What one send carries on one channel: one alert, or a digest of several."""

    alerts: tuple[dict[str, Any], ...]
    sent_at: datetime
    key: str  # the same for every try of the same deliveries, so receivers may deduplicate on it
    base_url: str | None = None

    @property
    def is_digest(self) -> bool:
        """Several alerts in one message."""
        return len(self.alerts) > 1

    def title(self) -> str:
        """One line: the alert's headline, or how many of which kind a digest holds."""
        if not self.is_digest:
            return f"lastseen: {headline(self.alerts[0])}"
        counts = Counter(str(a["kind"]) for a in self.alerts)
        return f"lastseen: {len(self.alerts)} alerts (" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"

    def text(self) -> str:
        """Plain text for chat and mail channels."""
        return "\n\n".join("\n".join(describe(a, self.base_url)) for a in self.alerts)

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
        """POST the message's JSON, signed when there is a secret."""
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
    """Any Apprise URL (mail, Matrix, Slack, Telegram, json://...); Apprise does the talking, under the net guard.

    Apprise connects by itself: its target host is checked first, then every name it looks up while sending
    is checked where it connects (archive.net.lookups: no second answer to rebind to), and it follows no
    redirect (a 3xx is a failed delivery, as for our webhooks). The environment's proxies, which its requests
    use, are trusted as the operator's.
    """

    def __init__(self, url: str, channel: str, *, allow_networks: tuple[str, ...] = ()) -> None:
        import apprise
        from requests.utils import getproxies

        self.channel = channel
        self.guard = NetGuard.from_settings(allow_networks, trust=tuple(getproxies().values()))
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, http_redirects=False))
        if not self._apprise.add(url):
            raise ConfigError(f"LASTSEEN_APPRISE_URLS: Apprise cannot use {url.split('://', 1)[0]}://***")
        for server in self._apprise:
            server.redirects = False  # whatever the URL's ?redirect= says
        self.label = f"apprise {self._apprise[0].service_name}"

    def send(self, message: Message) -> SendResult:
        """Hand the message's text to Apprise; its warnings are the error."""
        import apprise

        try:  # an early, clear refusal of the target host (the lookups while sending are checked again)
            for server in self._apprise:
                self.guard.check_host(str(getattr(server, "host", "") or ""), getattr(server, "port", None))
        except BlockedURL as exc:
            return SendResult(False, one_line(f"refused by the net guard: {exc}"))
        with apprise.LogCapture(level=logging.WARNING) as captured, guarded_lookups(self.guard) as refused:
            ok = bool(self._apprise.notify(body=message.text(), title=message.title(),
                                           body_format=apprise.NotifyFormat.TEXT))
        if ok:
            return SendResult(True)
        if refused:
            return SendResult(False, one_line(f"refused by the net guard: {refused[0]}"))
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


def short_hash(text: str) -> str:
    """16 hex digits naming text (a channel, a set of deliveries) without showing it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Channels:
    """The notifiers configured now, and which collections each one is for (None: all)."""

    notifiers: dict[str, Notifier] = field(default_factory=dict)
    scope: dict[str, int | None] = field(default_factory=dict)

    def add(self, notifier: Notifier, collection_id: int | None = None) -> None:
        """A channel for one collection, or for all (None)."""
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
        channels.add(AppriseNotifier(url, f"apprise:{short_hash(url)}", allow_networks=settings.allow_networks))
    return channels
