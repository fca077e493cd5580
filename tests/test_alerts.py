"""Alerts on SQLite and PostgreSQL: one per transition, delivered once per channel, retried, and the Atom feed."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.config import ConfigError, Settings
from archive.db import session_scope
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
)
from archive.sources import ensure_collection
from archive.urls import domain_of, normalize_url, url_hash
from archive.watch.alerts import create_alerts
from archive.watch.deliver import CLAIM_LEASE, deliver
from archive.watch.feed import UnknownCollection, collection_feed
from archive.watch.notify import Channels, sign
from archive.workspace import Workspace
from tests.clocks import FakeClock

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-key"
ATOM = "{http://www.w3.org/2005/Atom}"




@pytest.fixture
def workspaces() -> Iterator[list[Workspace]]:
    """Workspaces a test opens; all closed afterwards."""
    opened: list[Workspace] = []
    yield opened
    for ws in opened:
        ws.close()


def open_ws(workspaces: list[Workspace], settings: Settings, **changes: Any) -> Workspace:
    ws = Workspace(settings.replace(**changes))
    workspaces.append(ws)
    return ws


def add_source(session: Any, collection: str, url: str, **values: Any) -> Source:
    normalized = normalize_url(url)
    source = Source(collection_id=ensure_collection(session, collection).id, url=url, normalized_url=normalized,
                    url_hash=url_hash(normalized), domain=domain_of(normalized), **values)
    session.add(source)
    session.flush()
    return source


def add_transition(session: Any, source: Source, kind: str, at: datetime, reason: str | None = None,
                   from_status: str = "alive", to_status: str | None = None) -> StatusTransition:
    transition = StatusTransition(source_id=source.id, at=at, kind=kind, from_status=from_status,
                                  to_status=to_status or kind, reason=reason)
    session.add(transition)
    session.flush()
    return transition


def vanish(ws: Workspace, collection: str, urls: list[str], at: datetime = T0) -> list[int]:
    """Sources in the collection that each vanished (removed) at `at`; their transition ids."""
    with session_scope(ws.sessions) as session:
        return [add_transition(session, add_source(session, collection, url), "vanished", at, "removed").id
                for url in urls]


def check_signature(headers: dict[str, str], body: bytes, secret: str = SECRET) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Lastseen-Signature"], expected)
    assert headers["X-Lastseen-Signature"] == sign(secret, body)


def count(ws: Workspace, model: Any, *where: Any) -> int:
    with session_scope(ws.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_one_alert_per_alerting_transition_with_what_is_known(settings: Settings, workspaces) -> None:
    ws = open_ws(workspaces, settings)
    with session_scope(ws.sessions) as session:
        story = add_source(session, "flood", "https://news.example/story", recovery_archive_url=None)
        session.add_all([
            Check(source_id=story.id, checked_at=T0 - timedelta(days=3), outcome="ok", http_status=200),
            Check(source_id=story.id, checked_at=T0 - timedelta(days=2), outcome="ok", http_status=200),
            Check(source_id=story.id, checked_at=T0 - timedelta(days=1), outcome="removed", http_status=410),
            Capture(source_id=story.id, captured_at=T0 - timedelta(days=5), url=story.url, http_status=200,
                    payload_sha256="a" * 64, size=10, warc_uri="file:///w/1.warc.gz", warc_offset=0, warc_length=9),
            Capture(source_id=story.id, captured_at=T0 - timedelta(hours=1), url=story.url, http_status=404,
                    payload_sha256="b" * 64, size=10, warc_uri="file:///w/2.warc.gz", warc_offset=0, warc_length=9),
            WaybackSubmission(source_id=story.id, state="done", requested_at=T0 - timedelta(days=4),
                              archive_url="https://web.archive.org/web/20250225000000/https://news.example/story"),
            WaybackSubmission(source_id=story.id, state="failed", requested_at=T0 - timedelta(days=3)),
        ])
        gone = add_transition(session, story, "vanished", T0, "removed")
        add_transition(session, story, "returned", T0 + timedelta(days=1), "ok", "vanished", "returned")
        add_transition(session, story, "changed", T0 + timedelta(days=2), "changed", "returned", "returned")
        add_transition(session, story, "unreachable", T0 + timedelta(days=3), "timeout")
        add_transition(session, story, "alive", T0 + timedelta(days=4), "ok", "unreachable", "alive")
        watched = add_source(session, "watched", "https://news.example/live", recovery_archive_url="https://wb/x")
        session.get(Collection, watched.collection_id).alert_on_changed = True
        changed = add_transition(session, watched, "changed", T0, "changed")
    with session_scope(ws.sessions) as session:
        assert create_alerts(session) == 3, "vanished and returned, and changed only where the collection asks"
    with session_scope(ws.sessions) as session:
        assert create_alerts(session) == 0, "a second run makes nothing new"
        rows = {a.transition_id: a for a in session.scalars(select(Alert))}
    assert sorted(a.kind for a in rows.values()) == ["changed", "returned", "vanished"]
    assert all(a.state == "pending" for a in rows.values())
    payload = rows[gone.id].payload
    assert payload["url"] == "https://news.example/story" and payload["collection"] == "flood"
    assert (payload["kind"], payload["reason"], payload["from_status"], payload["to_status"]) == (
        "vanished", "removed", "alive", "vanished")
    assert payload["at"] == "2025-03-01T12:00:00Z"
    assert payload["last_seen_alive_at"] == "2025-02-27T12:00:00Z", "the last ok check before it vanished"
    assert payload["capture"]["warc_uri"] == "file:///w/1.warc.gz", "the good copy, not the 404 capture"
    assert payload["wayback_url"].startswith("https://web.archive.org/web/20250225000000/")
    assert rows[changed.id].payload["wayback_url"] == "https://wb/x", "the recovery copy comes first"
    assert rows[changed.id].payload["capture"] is None


def test_concurrent_create_makes_one_alert_each(settings: Settings, workspaces) -> None:
    ws = open_ws(workspaces, settings)
    vanish(ws, "flood", [f"https://news.example/{i}" for i in range(40)])
    barrier = threading.Barrier(3)
    made: list[int] = []

    def worker() -> None:
        other = open_ws(workspaces, settings)
        barrier.wait()
        with session_scope(other.sessions) as session:
            made.append(create_alerts(session))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(made) == 40 and len(made) == 3
    assert count(ws, Alert) == 40


def test_webhook_gets_one_signed_digest_then_single_alerts(settings: Settings, workspaces, receiver) -> None:
    ws = open_ws(workspaces, settings, webhook_url=receiver.url(), webhook_secret=SECRET,
                 public_url="https://lastseen.example/")
    ids = vanish(ws, "flood", ["https://a.example/1", "https://a.example/2", "https://b.example/3"])
    with session_scope(ws.sessions) as session:
        story = session.scalar(select(Source).where(Source.url == "https://a.example/1"))
        session.add(Capture(source_id=story.id, captured_at=T0 - timedelta(days=1), url=story.url, http_status=200,
                            payload_sha256="c" * 64, size=1, warc_uri="file:///w.warc.gz", warc_offset=5,
                            warc_length=7))
        assert create_alerts(session) == 3
    summary = deliver(ws, now=T0 + timedelta(minutes=5))
    assert (summary["routed"], summary["messages"], summary["delivered"], summary["pending"]) == (3, 1, 3, 0)
    assert len(receiver.posts) == 1, "three transitions in one run: one digest"
    _path, headers, body = receiver.posts[0]
    check_signature(headers, body)
    assert headers["X-Lastseen-Timestamp"] == str(int((T0 + timedelta(minutes=5)).timestamp()))
    assert headers["Content-Type"] == "application/json" and headers["X-Lastseen-Event"] == "digest"
    data = json.loads(body)
    assert data["event"] == "lastseen.digest" and data["count"] == 3
    assert [a["transition_id"] for a in data["alerts"]] == ids
    first = data["alerts"][0]
    assert first["url"] == "https://a.example/1" and first["reason"] == "removed" and first["collection"] == "flood"
    assert first["capture_url"].startswith("https://lastseen.example/api/captures/")
    assert data["alerts"][1]["capture_url"] is None
    assert {"alert_id", "last_seen_alive_at", "wayback_url", "at", "kind"} <= set(first)

    again = deliver(ws, now=T0 + timedelta(hours=1))
    assert again["messages"] == 0 and len(receiver.posts) == 1, "never sent twice"
    assert count(ws, Alert, Alert.state == "delivered") == 3
    with session_scope(ws.sessions) as session:
        delivery = session.scalars(select(AlertDelivery)).first()
        assert delivery.channel == "webhook" and delivery.attempts == 1
        assert delivery.delivered_at == T0 + timedelta(minutes=5)

    vanish(ws, "flood", ["https://c.example/4"], at=T0 + timedelta(hours=2))
    with session_scope(ws.sessions) as session:
        assert create_alerts(session) == 1
    deliver(ws, now=T0 + timedelta(hours=3))
    _path, headers, body = receiver.posts[1]
    check_signature(headers, body)
    data = json.loads(body)
    assert data["event"] == "lastseen.alert" and data["count"] == 1 and headers["X-Lastseen-Event"] == "alert"
    assert data["alerts"][0]["url"] == "https://c.example/4"


def test_failed_delivery_backs_off_and_survives_a_restart(settings: Settings, workspaces, receiver) -> None:
    values = {"webhook_url": receiver.url(), "webhook_secret": SECRET}
    ws = open_ws(workspaces, settings, **values)
    vanish(ws, "flood", ["https://a.example/1"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    receiver.fail_first = 3
    clock = FakeClock(T0)
    summary = deliver(ws, clock=clock.utcnow, sleep=clock.sleep, max_wait=10)
    assert clock.sleeps == [5.0], "one short wait within the run, then the next try waits for a later run"
    assert (summary["delivered"], summary["retrying"], summary["pending"]) == (0, 1, 1)
    assert summary["channels"]["webhook"]["last_error"] == "HTTP 500 Internal Server Error"
    assert len(receiver.posts) == 2
    with session_scope(ws.sessions) as session:
        delivery = session.scalars(select(AlertDelivery)).one()
        assert (delivery.state, delivery.attempts) == ("pending", 2)
        assert delivery.next_attempt_at == T0 + timedelta(seconds=5 + 15)
        assert session.scalars(select(Alert)).one().next_attempt_at == delivery.next_attempt_at
    ws.close()

    restarted = open_ws(workspaces, settings, **values)
    assert deliver(restarted, now=T0 + timedelta(seconds=19), max_wait=0)["messages"] == 0, "not due yet"
    summary = deliver(restarted, now=T0 + timedelta(seconds=20), max_wait=0)
    assert (summary["messages"], summary["retrying"]) == (1, 1)
    with session_scope(restarted.sessions) as session:
        assert session.scalars(select(AlertDelivery)).one().next_attempt_at == T0 + timedelta(seconds=20 + 45)
    summary = deliver(restarted, now=T0 + timedelta(seconds=65), max_wait=0)
    assert (summary["delivered"], summary["pending"]) == (1, 0)
    assert len(receiver.posts) == 4
    assert len({headers["X-Lastseen-Delivery"] for _, headers, _ in receiver.posts}) == 1, "one key for all tries"
    for _path, headers, body in receiver.posts:
        check_signature(headers, body)
    with session_scope(restarted.sessions) as session:
        delivery = session.scalars(select(AlertDelivery)).one()
        assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 4, None)
        assert session.scalars(select(Alert)).one().state == "delivered"
    assert deliver(restarted, now=T0 + timedelta(days=1))["messages"] == 0


def test_gives_up_after_max_attempts_and_honours_retry_after(settings: Settings, workspaces, receiver) -> None:
    ws = open_ws(workspaces, settings, webhook_url=receiver.url(), alert_max_attempts=3)
    vanish(ws, "flood", ["https://a.example/1"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    receiver.fail_first = 100
    receiver.fail_status, receiver.retry_after = 503, "120"
    clock = FakeClock(T0)
    summary = deliver(ws, clock=clock.utcnow, sleep=clock.sleep, max_wait=10)
    assert clock.sleeps == [] and summary["retrying"] == 1, "Retry-After: 120 is longer than the run may wait"
    with session_scope(ws.sessions) as session:
        assert session.scalars(select(AlertDelivery)).one().next_attempt_at == T0 + timedelta(seconds=120)
    assert "X-Lastseen-Signature" not in receiver.posts[0][1], "no secret, no signature"
    receiver.retry_after = None
    clock.t = (T0 + timedelta(seconds=120)).timestamp()
    summary = deliver(ws, clock=clock.utcnow, sleep=clock.sleep, max_wait=1000)
    assert clock.sleeps == [15.0] and summary["failed"] == 1 and len(receiver.posts) == 3
    with session_scope(ws.sessions) as session:
        delivery = session.scalars(select(AlertDelivery)).one()
        assert (delivery.state, delivery.attempts) == ("failed", 3)
        assert delivery.last_error == "HTTP 503 Service Unavailable"
        assert session.scalars(select(Alert)).one().state == "failed"
    assert deliver(ws, now=T0 + timedelta(days=30))["messages"] == 0, "a failed delivery is not tried again"


def test_concurrent_workers_send_each_alert_once(settings: Settings, workspaces, receiver,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("archive.watch.deliver.DIGEST_MAX", 3)
    values = {"webhook_url": receiver.url(), "webhook_secret": SECRET}
    ws = open_ws(workspaces, settings, **values)
    vanish(ws, "flood", [f"https://a.example/{i}" for i in range(24)])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
        alert_ids = sorted(session.scalars(select(Alert.id)))
    receiver.delay = 0.02
    barrier = threading.Barrier(3)
    summaries: list[dict[str, Any]] = []

    def worker() -> None:
        mine = open_ws(workspaces, settings, **values)
        barrier.wait()
        summaries.append(deliver(mine, now=T0 + timedelta(minutes=1)))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [a["alert_id"] for body in receiver.bodies() for a in body["alerts"]]
    assert sorted(sent) == alert_ids, "every alert exactly once over all workers"
    assert sum(s["delivered"] for s in summaries) == 24 and len(receiver.posts) == 8
    assert count(ws, AlertDelivery) == 24 and count(ws, AlertDelivery, AlertDelivery.state == "delivered") == 24


def test_claim_left_by_a_dead_worker_is_taken_again_after_its_lease(settings: Settings, workspaces,
                                                                    receiver) -> None:
    ws = open_ws(workspaces, settings, webhook_url=receiver.url())
    vanish(ws, "flood", ["https://a.example/1"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    deliver(ws, now=T0, channels=Channels())  # routes nothing: no channels
    assert count(ws, AlertDelivery) == 0
    with session_scope(ws.sessions) as session:
        alert = session.scalars(select(Alert)).one()
        session.add(AlertDelivery(alert_id=alert.id, channel="webhook", state="sending", attempts=1,
                                  next_attempt_at=T0 + CLAIM_LEASE))
    assert deliver(ws, now=T0 + timedelta(minutes=9))["messages"] == 0, "another worker may still be sending"
    summary = deliver(ws, now=T0 + timedelta(minutes=10))
    assert summary["delivered"] == 1 and len(receiver.posts) == 1
    with session_scope(ws.sessions) as session:
        assert session.scalars(select(AlertDelivery)).one().attempts == 2


def test_alerts_wait_for_a_channel_and_webhooks_per_collection(settings: Settings, workspaces, receiver) -> None:
    ws = open_ws(workspaces, settings)
    vanish(ws, "flood", ["https://a.example/1"])
    vanish(ws, "other", ["https://b.example/2"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    summary = deliver(ws, now=T0)
    assert (summary["routed"], summary["unrouted"], summary["messages"]) == (0, 2, 0), "nothing lost, nothing sent"
    with session_scope(ws.sessions) as session:
        flood = session.scalar(select(Collection).where(Collection.name == "flood"))
        session.add_all([Webhook(collection_id=flood.id, url=receiver.url("/flood"), secret="flood-key"),
                         Webhook(collection_id=None, url=receiver.url("/all"), secret="")])
    summary = deliver(ws, now=T0 + timedelta(minutes=1))
    assert (summary["routed"], summary["delivered"], summary["unrouted"]) == (3, 3, 0)
    flood_posts = [(h, b) for p, h, b in receiver.posts if p == "/flood"]
    assert len(flood_posts) == 1
    check_signature(*flood_posts[0], secret="flood-key")
    assert [a["url"] for a in json.loads(flood_posts[0][1])["alerts"]] == ["https://a.example/1"]
    assert sorted(a["url"] for a in receiver.bodies("/all")[0]["alerts"]) == ["https://a.example/1",
                                                                              "https://b.example/2"]


def test_apprise_json_delivery(settings: Settings, workspaces, receiver) -> None:
    host = receiver.url("/apprise").removeprefix("http://")
    ws = open_ws(workspaces, settings, apprise_urls=(f"json://{host}",))
    vanish(ws, "flood", ["https://a.example/1", "https://b.example/2"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    receiver.fail_first = 1
    summary = deliver(ws, now=T0, max_wait=0)
    [channel] = summary["channels"].values()
    assert summary["retrying"] == 2 and channel["label"] == "apprise JSON"
    assert "error=500" in channel["last_error"], "Apprise's own words are kept"
    summary = deliver(ws, now=T0 + timedelta(seconds=5))
    assert (summary["delivered"], summary["messages"]) == (2, 1)
    assert len(receiver.posts) == 2
    message = receiver.bodies("/apprise")[-1]
    assert message["title"] == "lastseen: 2 alerts (2 vanished)"
    assert "Vanished: https://a.example/1 (removed)" in message["message"]
    assert "Vanished: https://b.example/2 (removed)" in message["message"]
    assert "collection: flood" in message["message"]
    with session_scope(ws.sessions) as session:
        channels = set(session.scalars(select(AlertDelivery.channel)))
    assert len(channels) == 1 and channels.pop().startswith("apprise:") and host not in str(channels)


def test_unreachable_webhook_error_keeps_its_token_secret(settings: Settings, workspaces) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws = open_ws(workspaces, settings, webhook_url=f"http://127.0.0.1:{port}/hook?token=tok-123")
    vanish(ws, "flood", ["https://a.example/1"])
    with session_scope(ws.sessions) as session:
        create_alerts(session)
    summary = deliver(ws, now=T0, max_wait=0)
    assert summary["retrying"] == 1 and summary["channels"]["webhook"]["last_error"] == "cannot connect to 127.0.0.1"
    with session_scope(ws.sessions) as session:
        assert "tok-123" not in session.scalars(select(AlertDelivery.last_error)).one()


def test_bad_apprise_url_is_a_setting_error(settings: Settings, workspaces) -> None:
    ws = open_ws(workspaces, settings, apprise_urls=("nosuchscheme://token@x",))
    with pytest.raises(ConfigError, match="Apprise cannot use nosuchscheme://\\*\\*\\*"):
        deliver(ws)


def test_feed_is_valid_atom_with_the_alerts(settings: Settings, workspaces) -> None:
    ws = open_ws(workspaces, settings)
    with session_scope(ws.sessions) as session:
        collection = ensure_collection(session, "flood")
        collection.description = 'Floods <2025> & "rivers"\x01'
        story = add_source(session, "flood", "https://news.example/a?q=1&r=<2>")
        clip = add_source(session, "flood", "https://video.example/v/1", recovery_archive_url="https://wb/v?a=1&b=2")
        copy = Capture(source_id=story.id, captured_at=T0 - timedelta(days=1), url=story.url, http_status=200,
                       payload_sha256="d" * 64, size=1, warc_uri="file:///w.warc.gz", warc_offset=0, warc_length=1)
        session.add(copy)
        gone = add_transition(session, story, "vanished", T0, "soft_404")
        add_transition(session, story, "changed", T0 + timedelta(hours=1), "changed")
        back = add_transition(session, clip, "returned", T0 + timedelta(hours=2), "ok", "vanished", "returned")
        add_transition(session, clip, "unreachable", T0 + timedelta(hours=3), "timeout")
        feed = collection_feed(session, "flood", base_url="https://ls.example")
        with pytest.raises(UnknownCollection):
            collection_feed(session, "nope")
    root = ET.fromstring(feed)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}subtitle") == 'Floods <2025> & "rivers"'
    assert root.findtext(f"{ATOM}updated") == "2025-03-01T14:00:00Z"
    assert root.findtext(f"{ATOM}id").startswith("tag:lastseen,")
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "https://ls.example/api/collections/flood/feed.atom"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Returned: https://video.example/v/1 (ok)", "Vanished: https://news.example/a?q=1&r=<2> (soft_404)"]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert ids[0].endswith(f"/transition/{back.id}") and ids[1].endswith(f"/transition/{gone.id}")
    assert all(i.startswith("tag:lastseen,") for i in ids) and len(set(ids)) == 2
    assert [e.findtext(f"{ATOM}updated") for e in entries] == ["2025-03-01T14:00:00Z", "2025-03-01T12:00:00Z"]
    links = {link.get("rel"): link.get("href") for link in entries[0].findall(f"{ATOM}link")}
    assert links == {"alternate": "https://video.example/v/1", "related": "https://wb/v?a=1&b=2"}
    assert entries[1].find(f"{ATOM}link[@rel='alternate']").get("href") == "https://news.example/a?q=1&r=<2>"
    own = entries[1].find(f"{ATOM}link[@rel='related']")
    assert (own.get("title"), own.get("href")) == ("lastseen capture", f"https://ls.example/api/captures/{copy.id}")
    assert entries[1].find(f"{ATOM}category").get("term") == "vanished"
    assert "last seen alive: 2025-02-28T12:00:00Z" in entries[1].findtext(f"{ATOM}summary")
    assert "last seen alive: never seen alive" in entries[0].findtext(f"{ATOM}summary")
    assert b"&lt;2&gt;" in feed and b"\x01" not in feed




def test_cli_alerts_and_feed(run, settings: Settings, workspaces, receiver,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    ws = open_ws(workspaces, settings)
    vanish(ws, "flood", ["https://a.example/1", "https://a.example/2"])
    code, out, _ = run("feed", "-c", "flood")
    assert code == 0
    entries = ET.fromstring(out.encode()).findall(f"{ATOM}entry")
    assert len(entries) == 2
    code, out, _ = run("feed", "-c", "flood", "--json")
    assert code == 0 and [e["url"] for e in json.loads(out)["entries"]] == ["https://a.example/2",
                                                                            "https://a.example/1"]
    code, _, err = run("feed", "-c", "missing")
    assert code == 3 and err.strip() == "lastseen: no collection named 'missing'"

    monkeypatch.setenv("LASTSEEN_WEBHOOK_URL", receiver.url())
    monkeypatch.setenv("LASTSEEN_WEBHOOK_SECRET", SECRET)
    receiver.fail_first = 1
    code, out, _ = run("alerts", "--json", "--max-wait", "0")
    summary = json.loads(out)
    assert code == 1, "a delivery to retry makes the run partial"
    assert (summary["created"], summary["retrying"], summary["pending"]) == (2, 2, 2)
    with session_scope(ws.sessions) as session:
        session.execute(AlertDelivery.__table__.update().values(next_attempt_at=T0))
    code, out, _ = run("alerts")
    assert code == 0 and "0 new alert(s); 2 delivery(ies) done in 1 message(s)" in out
    assert "webhook 127.0.0.1: 2 delivered" in out
    assert len(receiver.posts) == 2
    code, _, err = run("alerts", "--max-wait", "-1")
    assert code == 2 and "--max-wait" in err
