"""Pauses shared by every worker: a host that answered 429 (in Redis) and a provider that bot-checked us (in the
database) are left alone by the other workers' checks too, even by batches already under way."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from archive.config import Settings
from archive.db import session_scope
from archive.models import Check, Source, utcnow
from archive.net.pacing import MonotonicClock, RateLimiter
from archive.net.shared_pacing import SharedRateLimiter
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.watch import pauses
from archive.watch.check import check_sources
from archive.watch.fetch import Fetcher, HostHeld
from archive.watch.pauses import ProviderPauses
from archive.workspace import Workspace
from tests.servers.site import Page, Site
from tests.test_tasks import env_for, redis_url  # noqa: F401 - the fixture

RETRY_AFTER = 120


def test_a_hold_pauses_one_key_only() -> None:
    limiter = RateLimiter(0, MonotonicClock())
    limiter.hold("busy.example", 30)
    assert 29 < limiter.held_for("busy.example") <= 30 and limiter.reserve("busy.example") > 29
    assert limiter.held_for("other.example") == 0.0 and limiter.reserve("other.example") == 0.0
    fetcher = Fetcher(timeout=5, max_bytes=1000, user_agent="test", limiter=limiter)
    with pytest.raises(HostHeld):  # a check meeting the paused host on its way gives up at once, asking nothing
        fetcher.fetch("http://busy.example/page")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_host_that_answered_429_is_left_alone_by_every_worker(settings: Settings, site: Site,
                                                                redis_url: str) -> None:  # noqa: F811
    """One worker's check meets a 429 with Retry-After; another worker's process then asks that host nothing
    and makes its sources due when the pause ends."""
    site.set("/limited", Page("slow down", status=429, headers=[("Retry-After", str(RETRY_AFTER))]))
    for path in ("/one", "/two"):
        site.set(path, Page(f"<html><body>{path}</body></html>"))
    settings = settings.replace(redis_url=redis_url, allow_networks=("127.0.0.1/32",), host_rate=5.0,
                                check_concurrency=1)
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "local"),
                    [SourceEntry(site.url(path)) for path in ("/limited", "/one", "/two")])
        limited = session.scalar(select(Source.id).where(Source.url.endswith("/limited")))
    assert check_sources(ws, [limited]).checked == 1
    assert SharedRateLimiter(redis_url, 5.0).held_for("127.0.0.1") > RETRY_AFTER - 30, "held in Redis"

    other = subprocess.run([sys.executable, "-c", "from archive.cli import run; run()", "check",
                            site.url("/one"), site.url("/two")], capture_output=True, text=True, timeout=120,
                           env=env_for(settings, LASTSEEN_REDIS_URL=redis_url, LASTSEEN_HOST_RATE="5",
                                       LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32"))
    assert other.returncode in (0, 1), other.stderr
    assert site.hits("/one") == site.hits("/two") == 0, "the other worker asked the paused host nothing"
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 1, "nothing stored for the skipped"
        due = list(session.scalars(select(Source.next_check_at).where(Source.id != limited)))
    soon = utcnow() + timedelta(seconds=RETRY_AFTER)
    assert all(soon - timedelta(seconds=60) < when <= soon for when in due), "due again when the pause ends"
    ws.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_provider_paused_by_one_worker_stops_the_batch_of_another(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker B loaded the pauses when its batch began; worker A's pause reaches it on B's next look."""
    monkeypatch.setattr(pauses, "RELOAD", 0.0)
    ws_a, ws_b = Workspace(settings), Workspace(settings)
    now = utcnow()
    worker_a, worker_b = ProviderPauses(ws_a, 600), ProviderPauses(ws_b, 600)
    worker_b.load(now)
    assert worker_b.until("youtube", now) is None
    until = worker_a.pause("youtube", now, "bot check")
    assert worker_b.until("youtube", now + timedelta(seconds=1)) == until, "B's batch sees A's pause"
    assert worker_b.until("vimeo", now) is None
    ws_a.close()
    ws_b.close()
