"""Scaling out on Celery: workers on the real RabbitMQ and Redis share the work once, politely, across a kill -9;
without a broker nothing changes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import scheduler
from archive.config import Settings
from archive.db import session_scope
from archive.models import Alert, Capture, Check, Source, TaskLease, utcnow
from archive.net.shared_pacing import SharedRateLimiter, window_for
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.tasks import leases, work
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.rabbitmq import PrivateRabbit, rabbitmq_sbin
from tests.servers.receiver import Receiver
from tests.servers.site import Page, Site

ROOT = Path(__file__).resolve().parents[1]
REDIS = os.environ.get("LASTSEEN_TEST_REDIS", "redis://127.0.0.1:6379/13")
HOST_RATE = 5.0


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not _reachable(6379):
        _need("Redis not reachable at 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return REDIS


SPAN = 5  # seconds over which a host's request rate is measured


class TimedSite(Site):
    """A site that remembers when each check (requests' Accept: */*) reached it; crawls (Scrapy) are apart."""

    def __init__(self, host: str, pages: int) -> None:
        super().__init__(host)
        self.check_times: list[float] = []
        self.paths = [f"/story/{n}" for n in range(pages)]
        self.gone: set[str] = set()
        for path in self.paths:
            self.set(path, self._answer(path))
        self.fallback = self._answer("")

    def _answer(self, path: str):  # type: ignore[no-untyped-def]
        def answer(handler: BaseHTTPRequestHandler) -> Page:
            if handler.headers.get("Accept") == "*/*":
                with self._lock:
                    self.check_times.append(time.monotonic())
            if not path or path in self.gone:
                return Page("<html><body>no such page</body></html>", status=404)
            return Page(f"<html><head><title>{path}</title></head><body><p>story {path} stays</p></body></html>")
        return answer

    def busiest(self, span: float) -> int:
        """The most checks that reached the site within any `span` seconds."""
        times = sorted(self.check_times)
        return max((sum(1 for t in times[i:] if t - start < span) for i, start in enumerate(times)), default=0)


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_") and not k.endswith("_PROXY")}
    env.update({"LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
                "LASTSEEN_STORAGE_URL": settings.storage_url, "PYTHONPATH": str(ROOT), **extra})
    return env


def test_window_is_never_faster_than_the_rate() -> None:
    for rate, window in ((1.0, (1, 1)), (5.0, (5, 1)), (0.5, (1, 2)), (0.3, (1, 4)), (2.5, (5, 2))):
        assert window_for(rate) == window
        hits, seconds = window
        assert hits / seconds <= rate


# One limiter in a process of its own: says "ready", waits for "go" on stdin, takes six slots of one host and
# prints when it got each (CLOCK_MONOTONIC: one clock for every process of the machine).
_TAKER = """
import json, sys, time
from archive.net.shared_pacing import SharedRateLimiter
limiter = SharedRateLimiter(sys.argv[1], 4.0)
print("ready", flush=True)
sys.stdin.readline()
taken = []
for _ in range(6):
    limiter.acquire("example.org")
    taken.append(time.monotonic())
print(json.dumps(taken), flush=True)
"""


def test_two_processes_share_one_hosts_limit(redis_url: str) -> None:
    """Two limiters in two OS processes (as in two workers) together take no more than the rate from one host."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
    takers = [subprocess.Popen([sys.executable, "-c", _TAKER, redis_url], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        assert [taker.stdout.readline().strip() for taker in takers] == ["ready", "ready"]  # type: ignore[union-attr]
        for taker in takers:
            taker.stdin.write("go\n")  # type: ignore[union-attr]
            taker.stdin.flush()  # type: ignore[union-attr]
        outputs = [taker.communicate(timeout=60)[0] for taker in takers]
    finally:
        for taker in takers:
            if taker.poll() is None:
                taker.kill()
    assert [taker.returncode for taker in takers] == [0, 0]
    taken = sorted(t for out in outputs for t in json.loads(out.strip().splitlines()[-1]))
    assert len(taken) == 12
    assert max(sum(1 for t in taken[i:] if t - start < 0.9) for i, start in enumerate(taken)) <= 4
    assert taken[-1] - taken[0] >= 2.0, "12 slots at 4/s span at least two windows"
    assert SharedRateLimiter(redis_url, 4.0).acquire("other.example") == 0.0, "each host has its own window"


def test_a_task_delivered_twice_does_its_work_once(settings: Settings) -> None:
    ws = Workspace(settings)
    now = utcnow()
    with session_scope(ws.sessions) as session:
        leases.grant(session, "check", ["1", "2"], "task-a", now, 60)
    with session_scope(ws.sessions) as session:
        assert leases.held_keys(session, "check", now) == {"1", "2"}
    first = leases.claim(ws.sessions, "check", "task-a", "run-1", now, 60)
    again = leases.claim(ws.sessions, "check", "task-a", "run-2", now, 60)
    assert set(first) == {"1", "2"} and again == {}, "the second delivery finds the work held"
    assert leases.claim(ws.sessions, "check", "task-b", "run-3", now, 60) == {}, "another task's work is not ours"
    later = now + timedelta(seconds=61)
    assert set(leases.claim(ws.sessions, "check", "task-a", "run-4", later, 60)) == {"1", "2"}, \
        "a lost run's hold runs out"
    leases.release(ws.sessions, "check", ["1", "2"], "run-1")
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(TaskLease)) == 2, "only the holder releases"
    leases.release(ws.sessions, "check", ["1", "2"], "run-4")
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(TaskLease)) == 0
    ws.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_longer_than_its_lease_keeps_it(settings: Settings, site: Site) -> None:
    """The run's heartbeat renews its leases: past task_lease, a second run finds the work held, and nothing
    is handed out again."""
    for n in range(3):
        site.set(f"/slow/{n}", Page(f"<html><body>slow {n}</body></html>", hang=1.5))
    ttl = 2
    ws = Workspace(settings.replace(task_lease=ttl, check_concurrency=1, host_rate=0.0, check_timeout=10,
                                    allow_networks=("127.0.0.1/32",)))
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "slow"),
                    [SourceEntry(site.url(f"/slow/{n}")) for n in range(3)])
        keys = {str(source_id) for source_id in session.scalars(select(Source.id))}
        leases.grant(session, "check", sorted(keys), "task-slow", utcnow(), 60)
    done: list[dict] = []
    worker = threading.Thread(target=lambda: done.append(work.check_batch(work.Run(ws, "task-slow", "run-1"))))
    worker.start()
    deadline = time.monotonic() + 30
    while _holders(ws) != {"run-1"} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _holders(ws) == {"run-1"}, "the run claimed its batch"
    time.sleep(ttl * 1.5)  # past the lease the claim took: only renewals keep it
    assert worker.is_alive(), "the batch outlasts its lease"
    assert leases.claim(ws.sessions, "check", "task-slow", "run-2", utcnow(), ttl) == {}, "no second run takes it"
    with session_scope(ws.sessions) as session:
        assert leases.held_keys(session, "check", utcnow()) == keys, "the scheduler sees it held"
    worker.join(timeout=60)
    assert done and done[0]["checked"] == 3
    assert sorted(_per_source(ws, Check).values()) == [1, 1, 1], "each source checked once"
    assert _holders(ws) == set(), "released once stored"
    ws.close()


def _holders(ws: Workspace) -> set[str | None]:
    with session_scope(ws.sessions) as session:
        return set(session.scalars(select(TaskLease.holder)))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_broker_the_scheduler_works_in_process(settings: Settings, site: Site, run,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    site.set("/here", Page("<html><head><title>Here</title></head><body>here</body></html>"))
    ws = Workspace(settings.replace(allow_networks=("127.0.0.1/32",)))
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "local"), [SourceEntry(site.url("/here"))])
    monkeypatch.setattr(scheduler, "_ws", ws)
    assert scheduler.recheck_round()["checked"] == 1, "checked here, not queued"
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 1
        assert session.scalar(select(func.count()).select_from(TaskLease)) == 0
    code, _, err = run("worker")
    assert code == 2 and err.count("\n") == 1 and "LASTSEEN_BROKER_URL is not set" in err
    ws.close()


SITES, PAGES, SITES_PER_COLLECTION = 20, 25, 2  # 500 sources, 50 to a collection (one capture task each)
GONE = 2  # pages per site that vanish before the second round


@pytest.fixture
def sites() -> Iterator[list[TimedSite]]:
    servers = [TimedSite(f"127.0.0.{n + 1}", PAGES).start() for n in range(SITES)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of this test's own, which it restarts without disturbing the machine's broker."""
    sbin = rabbitmq_sbin()
    if sbin is None:
        _need("rabbitmq-server is not installed")
    broker = PrivateRabbit(tmp_path / "rabbitmq", sbin).start()
    yield broker
    broker.stop()


def _per_source(ws: Workspace, model: type) -> dict[int, int]:
    with session_scope(ws.sessions) as session:
        return dict(session.execute(select(model.source_id, func.count()).group_by(model.source_id)).all())


def _wait(condition, timeout: float, what: str, logs: list[Path], tick=None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        if tick is not None:
            tick()
        time.sleep(1.0)


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """Warm shutdown of worker processes still running; killed after 20 s."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def _counts(ws: Workspace) -> tuple[dict[int, int], dict[int, int], int, list[int]]:
    """Checks and captures per source, vanished sources, and the alerts made."""
    with session_scope(ws.sessions) as session:
        vanished = session.scalar(select(func.count()).select_from(Source).where(Source.status == "vanished"))
        alerts = sorted(session.scalars(select(Alert.id)))
    return _per_source(ws, Check), _per_source(ws, Capture), int(vanished or 0), alerts


@pytest.mark.timeout(1500)  # bounds for a machine loaded by other jobs; about 3 minutes on 2 idle cores
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_workers_process_500_sources_once_across_a_kill_and_a_broker_restart(
        settings: Settings, private_broker: PrivateRabbit, redis_url: str, sites: list[TimedSite],
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture, check twice, a vanishing and its alerts, with one worker killed (kill -9) and the broker
    restarted mid-run: every source captured once, every check round stored once, every alert sent once, and
    no host asked more often than its limit."""
    broker_url, total = private_broker.url, SITES * PAGES
    values = {"broker_url": broker_url, "redis_url": redis_url, "task_lease": 6, "task_batch": 50,
              "host_rate": HOST_RATE, "allow_networks": ("127.0.0.0/8",), "check_timeout": 5,
              "describe_workers": 1, "wayback_url": "http://127.0.0.1:9", "confirm_checks": 1,
              "webhook_url": receiver.url(), "screenshots": False}
    ws = Workspace(settings.replace(**values))
    with session_scope(ws.sessions) as session:
        for n, site in enumerate(sites):
            add_sources(session, ensure_collection(session, f"part{n // SITES_PER_COLLECTION}"),
                        [SourceEntry(site.url(path)) for path in site.paths])
    env = env_for(ws.settings, LASTSEEN_BROKER_URL=broker_url, LASTSEEN_REDIS_URL=redis_url,
                  LASTSEEN_TASK_LEASE="6", LASTSEEN_HOST_RATE=str(HOST_RATE), LASTSEEN_ALLOW_NETWORKS="127.0.0.0/8",
                  LASTSEEN_CHECK_TIMEOUT="5", LASTSEEN_DESCRIBE_WORKERS="1", LASTSEEN_WAYBACK_URL="http://127.0.0.1:9",
                  LASTSEEN_CONFIRM_CHECKS="1", LASTSEEN_WEBHOOK_URL=receiver.url(),
                  LASTSEEN_SCREENSHOTS="no")  # Chromium only where a test looks at screenshots (500 took minutes)
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [subprocess.Popen([sys.executable, "-c", "from archive.cli import run; run()", "worker",
                                 "--concurrency", "2"], stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
               for log in logs]
    monkeypatch.setattr(scheduler, "_ws", ws)
    restart = threading.Thread(target=private_broker.restart)
    started = time.monotonic()
    try:
        _wait(lambda: all("ready" in log.read_text(errors="replace") for log in logs), 120, "workers ready", logs)
        _wait(lambda: sum(_per_source(ws, Check).values()) >= 50, 240, "the first checks", logs, scheduler.run_round)
        workers[0].send_signal(signal.SIGKILL)  # mid-run: its leases run out and their work is handed out again
        workers[0].wait()
        _wait(lambda: len(_per_source(ws, Capture)) >= 100, 480, "the first captures", logs, scheduler.run_round)
        restart.start()  # the scheduler keeps ticking while the broker is away

        def first_round() -> bool:
            checks, captures, _, _ = _counts(ws)
            return len(checks) == total and len(captures) == total
        _wait(first_round, 600, "every source checked and captured", logs, scheduler.run_round)
        restart.join()
        for site in sites:  # a vanishing: two pages of every site are gone by the second round
            site.gone.update(site.paths[:GONE])
        with session_scope(ws.sessions) as session:
            session.execute(update(Source).values(next_check_at=utcnow()))

        def second_round() -> bool:
            checks, _, vanished, alerts = _counts(ws)
            delivered = {alert["alert_id"] for alert in receiver.alerts}
            return min(checks.values()) >= 2 and vanished == GONE * SITES and bool(alerts) and set(alerts) <= delivered
        _wait(second_round, 300, "the second round, its vanishings and their alerts", logs, scheduler.run_round)
        for _ in range(3):  # nothing left to do, so nothing more happens
            scheduler.run_round()
            time.sleep(2)
        print(f"500 sources, two rounds: {time.monotonic() - started:.0f} s")  # noqa: T201 - shown with -s

        checks, captures, vanished, alerts = _counts(ws)
        assert sorted(set(captures.values())) == [1] and len(captures) == total, "every source captured once"
        assert sorted(set(checks.values())) == [2] and len(checks) == total, "every check round stored once"
        assert vanished == GONE * SITES and len(alerts) == vanished, "one alert per vanishing"
        sent = sorted(alert["alert_id"] for alert in receiver.alerts)
        assert sent == alerts, "every alert delivered once"
        limit = window_for(HOST_RATE)[0]
        # Counted where they arrive, over 5 s: on a loaded machine the site's threads may take a second's
        # requests late and the next second's on time, so one window of slack; three workers each keeping
        # only their own count would reach three times the limit.
        busiest = [site.busiest(SPAN) for site in sites]
        assert max(busiest) <= limit * (SPAN + 1) and min(busiest) >= 1, f"checks in the busiest {SPAN} s: {busiest}"
    finally:
        if restart.is_alive():
            restart.join()
        stop_workers(workers)
        ws.close()
