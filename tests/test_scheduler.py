"""The scheduler: one leader per database, standby takeover, and no lost or repeated work across a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.config import Settings
from archive.db import session_scope
from archive.locks import named_lock
from archive.models import Alert, Capture, Check, Source
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace
from tests.servers.ia import IAServer
from tests.servers.receiver import Receiver
from tests.servers.site import Page, Site

ROOT = Path(__file__).resolve().parents[1]

HOLD_LOCK = """
import sys, time
from archive.config import load_settings
from archive.locks import named_lock
from archive.workspace import Workspace
ws = Workspace(load_settings())
lock = named_lock(ws.settings, ws.engine, sys.argv[1])
print("held" if lock.acquire() else "busy", flush=True)
time.sleep(60)
"""


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_") and not k.endswith("_PROXY")}
    env.update({"LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
                "LASTSEEN_STORAGE_URL": settings.storage_url, "PYTHONPATH": str(ROOT), **extra})
    return env


def test_locks_are_exclusive_and_die_with_their_holder(settings: Settings) -> None:
    ws = Workspace(settings)
    first = named_lock(settings, ws.engine, "scheduler")
    second = named_lock(settings, ws.engine, "scheduler")
    other = named_lock(settings, ws.engine, "crawl:default")
    assert first.acquire() and first.alive()
    assert not second.acquire()
    assert other.acquire(), "locks of other names are independent"
    first.release()
    assert second.acquire()
    second.release()
    other.release()

    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, "scheduler"], stdout=subprocess.PIPE, text=True,
                              env=env_for(settings))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not first.acquire(), "another process holds it"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while not first.acquire():
        assert time.monotonic() < deadline, "a killed holder's lock was never freed"
        time.sleep(0.1)
    first.release()
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_crawl_of_a_collection_is_refused(settings: Settings) -> None:
    ws = Workspace(settings)
    lock = named_lock(settings, ws.engine, "crawl:default")
    assert lock.acquire()
    try:
        done = subprocess.run([sys.executable, "-m", "archive.cli", "crawl", "-c", "default"], capture_output=True,
                              text=True, env=env_for(settings), timeout=60)
        assert done.returncode == 2 and "another crawl of collection 'default'" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        lock.release()
        ws.close()


def start_scheduler(settings: Settings, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "scheduler.py")], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env=env)


def wait_for(condition, timeout: float, what: str, logs: list[Path] = ()) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.3)


def test_leader_standby_takeover_without_lost_or_repeated_work(settings: Settings, site: Site,
                                                               receiver: Receiver, tmp_path: Path) -> None:
    site.set("/alive", Page("<html><head><title>Alive</title></head><body><p>still here</p></body></html>"))
    site.set("/gone", Page("<html><body>Not found</body></html>", status=404))
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "watch"),
                    [SourceEntry(site.url("/alive")), SourceEntry(site.url("/gone"))])
    env = env_for(settings, LASTSEEN_SCHEDULE_TICK="1", LASTSEEN_STANDBY_POLL="1", LASTSEEN_CONFIRM_CHECKS="1",
                  LASTSEEN_CHECK_TIMEOUT="5", LASTSEEN_WEBHOOK_URL=receiver.url(), LASTSEEN_WEBHOOK_SECRET="s3cret",
                  LASTSEEN_WAYBACK_URL="http://127.0.0.1:9", LASTSEEN_DESCRIBE_WORKERS="1",
                  LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32", LASTSEEN_SCREENSHOTS="no")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    first = start_scheduler(settings, env, logs[0])
    wait_for(lambda: "leader" in logs[0].read_text(errors="replace"), 30, "the first scheduler to lead")
    second = start_scheduler(settings, env, logs[1])
    procs = [first, second]
    try:
        wait_for(lambda: "standby" in logs[1].read_text(errors="replace"), 30, "the second to stand by")

        def counts() -> tuple[int, int, int]:
            with session_scope(ws.sessions) as session:
                return (session.scalar(select(func.count()).select_from(Check)),
                        session.scalar(select(func.count(func.distinct(Capture.source_id)))),
                        session.scalar(select(func.count()).select_from(Alert)))

        wait_for(lambda: counts()[0] >= 2 and counts()[1] == 2 and receiver.alerts, 90,
                 "both sources checked and captured, and the alert sent")
        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_for(lambda: "leader" in logs[1].read_text(errors="replace"), 30, "the standby to take over")
        time.sleep(4)  # several ticks of the new leader

        checks, captured, alerts = counts()
        with session_scope(ws.sessions) as session:
            per_source = dict(session.execute(select(Source.normalized_url, func.count(Check.id))
                                              .join(Check, Check.source_id == Source.id)
                                              .group_by(Source.normalized_url)).all())
            gone = session.scalar(select(Source).where(Source.normalized_url.like("%/gone")))
            assert gone.status == "vanished" and gone.status_reason == "gone"
            captures = session.scalar(select(func.count()).select_from(Capture))
        assert per_source == {site.url("/alive"): 1, site.url("/gone"): 1}, "a recheck was repeated"
        assert captured == 2 and captures == 2, "a capture was repeated"
        assert alerts == 1
        assert [(a["kind"], a["url"]) for a in receiver.alerts] == [("vanished", site.url("/gone"))]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        ws.close()
    assert second.returncode == 0, logs[1].read_text(errors="replace")[-3000:]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_roles_split_by_job_and_bad_job_names(settings: Settings, tmp_path: Path) -> None:
    """Each job has one leader: a crawler process leads `capture` while the other leads the rest."""
    bad = subprocess.run([sys.executable, str(ROOT / "scheduler.py")], capture_output=True, text=True,
                         env=env_for(settings, LASTSEEN_SCHEDULE_JOBS="recheck,dance"), timeout=60)
    assert bad.returncode == 2 and "unknown job(s) dance" in bad.stderr and "Traceback" not in bad.stderr

    base = {"LASTSEEN_SCHEDULE_TICK": "3600", "LASTSEEN_STANDBY_POLL": "1", "LASTSEEN_WAYBACK_URL": "http://127.0.0.1:9"}
    logs = [tmp_path / "main.log", tmp_path / "crawler.log"]
    main = start_scheduler(settings, env_for(settings, LASTSEEN_SCHEDULE_JOBS="recheck,wayback,alerts", **base),
                           logs[0])
    procs = [main]
    try:
        wait_for(lambda: "leader of alerts" in logs[0].read_text(), 30, "the main scheduler to lead", logs)
        crawler = start_scheduler(settings, env_for(settings, LASTSEEN_SCHEDULE_JOBS="capture,alerts", **base),
                                  logs[1])
        procs.append(crawler)
        wait_for(lambda: "leader of capture" in logs[1].read_text() and "standby for alerts" in logs[1].read_text(),
                 30, "the crawler to lead capture and stand by for alerts")
        assert "leader of alerts" not in logs[1].read_text()
        main.send_signal(signal.SIGTERM)
        assert main.wait(timeout=30) == 0
        wait_for(lambda: "leader of alerts" in logs[1].read_text(), 30, "the crawler to take alerts over")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_changed_content_is_captured_again_by_the_capture_job(settings: Settings, site: Site,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that finds the main text edited makes the next capture round recapture the page."""
    import scheduler
    from archive.due import changed_captures
    from archive.watch.check import check_sources

    article = "<html><head><title>Flood</title></head><body><article><p>{}</p></article></body></html>"
    site.set("/story", Page(article.format("The river rose three metres overnight near the old bridge. " * 5)))
    for name, value in env_for(settings, LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32",
                               LASTSEEN_DESCRIBE_WORKERS="1", LASTSEEN_SCREENSHOTS="no").items():
        if name.startswith("LASTSEEN_"):
            monkeypatch.setenv(name, value)
    ws = Workspace(settings.replace(allow_networks=("127.0.0.1/32",), describe_workers=1, screenshots=False))
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "edits"), [SourceEntry(site.url("/story"))])
    monkeypatch.setattr(scheduler, "_ws", ws)
    first = scheduler.capture_round()
    assert [r["exit"] for r in first] == [0]
    with session_scope(ws.sessions) as session:
        source_id = session.scalar(select(Source.id))
    site.set("/story", Page(article.format("The bridge was closed and two villages were evacuated by boat. " * 5)))
    summary = check_sources(ws, [source_id], timeout=5)
    assert dict(summary.outcomes) == {"changed": 1} and summary.to_capture == [source_id]
    second = scheduler.capture_round()
    assert [(r["collection"], r["urls"], r["exit"]) for r in second] == [("edits", 1, 0)]
    with session_scope(ws.sessions) as session:
        shas = list(session.scalars(select(Capture.payload_sha256).order_by(Capture.captured_at)))
        assert len(shas) == 2 and shas[0] != shas[1], "the edited page is captured again"
        assert changed_captures(session) == []
    assert scheduler.capture_round() == [], "nothing left to capture"
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_source_that_failed_to_capture_waits_before_the_next_try(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable source is not fetched again by every round: it waits for its retry (archive.captures)."""
    import scheduler
    from archive.models import CrawlFailure

    for name, value in env_for(settings, LASTSEEN_DESCRIBE_WORKERS="1", LASTSEEN_DOWNLOAD_TIMEOUT="3",
                               LASTSEEN_CRAWL_RETRIES="0").items():
        if name.startswith("LASTSEEN_"):
            monkeypatch.setenv(name, value)
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "dead"), [SourceEntry("http://nowhere.invalid/story")])
    monkeypatch.setattr(scheduler, "_ws", ws)
    assert [(r["collection"], r["exit"]) for r in scheduler.capture_round()] == [("dead", 0)]
    with session_scope(ws.sessions) as session:
        assert [f.reason for f in session.scalars(select(CrawlFailure))] == ["dns_error"]
    assert scheduler.capture_round() == [], "not again in the next round"
    with session_scope(ws.sessions) as session:
        retry_at = session.scalar(select(Source.capture_retry_at))
    monkeypatch.setattr(scheduler, "_now", lambda: retry_at)
    assert [name for name, _ in scheduler.crawl_targets(scheduler._workspace())] == ["dead"], \
        "after the retry delay it is due again"
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_recovery_copies_are_looked_up_once_per_retry_period(settings: Settings, ia: IAServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A vanished source with no copy in the archive is not asked about again every round."""
    from datetime import UTC, datetime

    import scheduler

    ws = Workspace(settings.replace(wayback_url=ia.base_url, wayback_rate=0.0))
    with session_scope(ws.sessions) as session:
        (added,) = add_sources(session, ensure_collection(session, "gone"),
                               [SourceEntry("https://news.example/removed")]).added
        source = session.get(Source, added.id)
        source.status, source.vanished_at = "vanished", datetime.now(UTC)
    monkeypatch.setattr(scheduler, "_ws", ws)
    monkeypatch.setattr(scheduler, "_recovery_tried", {})
    assert scheduler.wayback_round()["recovery_lookups"] == 1
    asked = len(ia.received("GET"))
    assert asked >= 1, "the archive was asked for a copy"
    assert scheduler.wayback_round()["recovery_lookups"] == 0
    assert len(ia.received("GET")) == asked, "and not again in the next round"
    ws.close()
