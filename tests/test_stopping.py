"""The scheduler and a worker stop within 10 s of SIGINT or SIGTERM, with no traceback, even while a job hangs on
an archive that never answers; a stopped worker's leases are let go at once."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture, TaskLease, WaybackSubmission, utcnow
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.rabbitmq import PrivateRabbit, rabbitmq_sbin
from tests.servers.silent import Silent
from tests.servers.site import Page, Site
from tests.test_tasks import env_for

LASTSEEN = [sys.executable, "-c", "from archive.cli import run; run()"]
LIMIT = 10.0  # seconds a stop may take


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRabbit]:
    sbin = rabbitmq_sbin()
    if sbin is None:
        _need("rabbitmq-server is not installed")
    node = PrivateRabbit(tmp_path / "rabbitmq", sbin).start()
    yield node
    node.stop()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*LASTSEEN, *args], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait(condition, timeout: float, what: str, logs: list[Path]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, log: Path) -> float:
    """Send the signal; the seconds the process took to end (killed, and the test failed, past 3 x LIMIT)."""
    started = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(timeout=3 * LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"still running {3 * LIMIT:.0f} s after {sig.name}\n{log.read_text()[-3000:]}") from None
    return time.monotonic() - started


def _workspace(settings: Settings, site: Site, silent: Silent, **values: object) -> Workspace:
    site.set("/story", Page("<html><head><title>Story</title></head><body>a story</body></html>"))
    ws = Workspace(settings.replace(wayback_url=silent.url, wayback_collection="news", schedule_tick=1,
                                    standby_poll=1, describe_workers=1, screenshots=False, **values))
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "news"), [SourceEntry(site.url("/story"))])
    return ws


def _hanging_submission(ws: Workspace) -> bool:
    """The page is captured and its Wayback submission is under way (on an archive that never answers)."""
    with session_scope(ws.sessions) as session:
        captured = session.scalar(select(func.count()).select_from(Capture))
        pending = session.scalar(select(func.count()).select_from(WaybackSubmission)
                                 .where(WaybackSubmission.state == "pending"))
    return bool(captured) and bool(pending)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_scheduler_stops_on_time_while_a_job_hangs(settings: Settings, site: Site, silent: Silent,
                                                       sig: signal.Signals, tmp_path: Path) -> None:
    ws = _workspace(settings, site, silent)
    log = tmp_path / "schedule.log"
    env = env_for(ws.settings, LASTSEEN_WAYBACK_URL=silent.url, LASTSEEN_WAYBACK_COLLECTION="news",
                  LASTSEEN_SCHEDULE_TICK="1", LASTSEEN_STANDBY_POLL="1", LASTSEEN_DESCRIBE_WORKERS="1",
                  LASTSEEN_SCREENSHOTS="no", LASTSEEN_CAPTURE="http", LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32")
    process = _start(["schedule"], env, log)
    try:
        _wait(lambda: _hanging_submission(ws), 120, "a capture and its hanging Wayback submission", [log])
        _wait(lambda: "crawl of news" in log.read_text(errors="replace"), 60, "the crawl's end", [log])
        time.sleep(1.0)
        took = _stop(process, sig, log)
    finally:
        if process.poll() is None:
            process.kill()
        ws.close()
    output = log.read_text(errors="replace")
    assert took < LIMIT, f"took {took:.1f} s to stop\n{output[-3000:]}"
    assert "Traceback" not in output and "RuntimeError" not in output, output[-3000:]
    _calm(output)
    assert "checked 1 source(s): 1 ok" in output and "crawl of news: 1 captured, 0 unchanged, 0 failed" in output, \
        output


def _calm(output: str) -> None:
    """Said as sentences, and quiet when nothing happens: no dict, no warning per tick, no Alembic chatter."""
    assert "{'" not in output, output[-3000:]
    assert "maximum number of running instances" not in output and "alembic" not in output, output[-3000:]


@pytest.mark.timeout(400)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_scheduler_and_a_worker_stop_on_time_and_let_go_of_their_leases(
        settings: Settings, site: Site, silent: Silent, broker: PrivateRabbit, sig: signal.Signals,
        tmp_path: Path) -> None:
    ws = _workspace(settings, site, silent, broker_url=broker.url, task_lease=300)
    env = env_for(ws.settings, LASTSEEN_BROKER_URL=broker.url, LASTSEEN_WAYBACK_URL=silent.url,
                  LASTSEEN_WAYBACK_COLLECTION="news", LASTSEEN_SCHEDULE_TICK="1", LASTSEEN_STANDBY_POLL="1",
                  LASTSEEN_DESCRIBE_WORKERS="1", LASTSEEN_SCREENSHOTS="no", LASTSEEN_CAPTURE="http",
                  LASTSEEN_ALLOW_NETWORKS="127.0.0.1/32",
                  LASTSEEN_TASK_LEASE="300")
    logs = [tmp_path / "worker.log", tmp_path / "schedule.log"]
    worker = _start(["worker"], env, logs[0])
    scheduler = _start(["schedule"], env, logs[1])
    try:
        _wait(lambda: _hanging_submission(ws), 180, "a capture and its hanging Wayback submission", logs)
        _wait(lambda: "lastseen.wayback" in logs[0].read_text(errors="replace"), 30, "the Wayback task", logs)
        time.sleep(1.0)
        took = {"scheduler": _stop(scheduler, sig, logs[1]), "worker": _stop(worker, sig, logs[0])}
    finally:
        for process in (worker, scheduler):
            if process.poll() is None:
                process.kill()
    try:
        with session_scope(ws.sessions) as session:
            held = session.scalar(select(func.count()).select_from(TaskLease).where(
                TaskLease.holder.is_not(None), TaskLease.expires_at > utcnow()))
    finally:
        ws.close()
    outputs = {log.name: log.read_text(errors="replace") for log in logs}
    assert max(took.values()) < LIMIT, f"stopping took {took}\n{outputs}"
    for name, output in outputs.items():
        assert "Traceback" not in output and "RuntimeError" not in output, f"{name}:\n{output[-3000:]}"
    assert held == 0, "the stopped worker's leases are let go, not left to run out"
    for output in outputs.values():
        _calm(output)
    assert re.search(r"capture task done in [\d.]+ s: claimed 1, crawl of news: urls 1, exit 0", outputs["worker.log"])
