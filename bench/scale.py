"""Scale-out benchmark: rechecks and captures per second with one and with two `lastseen worker` processes.

Usage: .venv/bin/python bench/scale.py [--sources 4000] [--captures 300] [--hosts 200] [--concurrency 2]
                                       [--postgres URL] [--redis-url URL] [--broker-url URL]
Real PostgreSQL (a fresh schema per run, dropped after), Redis (per-host limits shared by the workers) and
RabbitMQ (by default a private node on free ports, so no other broker user takes our messages), and the
local server of bench/recheck.py on --hosts loopback addresses. The host rate is set high (1000/s) so the
workers, not politeness, are the bottleneck. The scheduler's side (queue_checks, queue_captures) runs here
every half second. Prints, for 1 and 2 workers side by side: rechecks/s, captures/s and the ratio; then what
one deployment's shared parts take: check rows stored per second, lease cycles per second, broker messages
per second (publish, consume+ack), shared-limit hits per second in Redis, and storage objects written per
capture.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.recheck import SERVER, _hosts, _populate  # noqa: E402 - after the path is set

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 50  # sources per task, and per capture collection (one crawl each)


@contextmanager
def schema(postgres: str) -> Iterator[str]:
    """A fresh PostgreSQL schema; its database URL."""
    import psycopg

    name, plain = f"bench_{uuid.uuid4().hex[:10]}", postgres.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{postgres}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def broker(url: str, folder: Path) -> Iterator[str]:
    """The broker given, or a private RabbitMQ node for this run."""
    if url:
        yield url
        return
    from tests.servers.rabbitmq import PrivateRabbit, rabbitmq_sbin

    sbin = rabbitmq_sbin()
    if sbin is None:
        sys.exit("rabbitmq-server is not installed: pass --broker-url")
    node = PrivateRabbit(folder / "rabbitmq", sbin).start()
    try:
        yield node.url
    finally:
        node.stop()


def settings_env(args: argparse.Namespace, data_dir: Path, database_url: str, broker_url: str) -> dict[str, str]:
    """The LASTSEEN_ settings of the workers and of this scheduler."""
    return {"LASTSEEN_DATA_DIR": str(data_dir), "LASTSEEN_DATABASE_URL": database_url,
            "LASTSEEN_BROKER_URL": broker_url, "LASTSEEN_REDIS_URL": args.redis_url, "LASTSEEN_HOST_RATE": "1000",
            "LASTSEEN_ALLOW_NETWORKS": "127.0.0.0/8", "LASTSEEN_TASK_BATCH": str(BATCH),
            "LASTSEEN_TASK_LEASE": "60", "LASTSEEN_WAYBACK_URL": "http://127.0.0.1:9",
            "LASTSEEN_DESCRIBE_WORKERS": "1"}


def run_workers(count: int, queue: str, env: dict[str, str], concurrency: int, logs: Path) -> list[subprocess.Popen]:
    """Start `count` workers on one queue and wait until each says it is ready."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_")}
    base.update(env, PYTHONPATH=str(ROOT))
    workers = []
    for n in range(count):
        log = logs / f"{queue}-{count}-{n}.log"
        workers.append(subprocess.Popen([sys.executable, "-c", "from archive.cli import run; run()", "worker",
                                         "--queues", queue, "--concurrency", str(concurrency)],
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=base))
    deadline = time.monotonic() + 120
    while not all("ready" in (logs / f"{queue}-{count}-{n}.log").read_text(errors="replace") for n in range(count)):
        if time.monotonic() > deadline:
            sys.exit(f"workers not ready; see {logs}")
        time.sleep(0.3)
    return workers


def stop(workers: list[subprocess.Popen]) -> None:
    """Warm shutdown (a task under way ends first); killed when that takes over two minutes."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def drive(queue_round: Callable[[], object], done: Callable[[], int], total: int, timeout: float = 900) -> float:
    """Run the scheduler's queueing every half second until `done()` reaches total; the seconds it took."""
    started = time.perf_counter()
    while done() < total:
        if time.perf_counter() - started > timeout:
            sys.exit(f"only {done()} of {total} done after {timeout} s")
        queue_round()
        time.sleep(0.5)
    return time.perf_counter() - started


def count(ws: object, what: str) -> int:
    """Sources checked since the run began, or captured."""
    from sqlalchemy import func, select

    from archive.db import session_scope
    from archive.models import Capture, Check

    with session_scope(ws.sessions) as session:
        if what == "check":
            return int(session.scalar(select(func.count()).select_from(Check)) or 0)
        return int(session.scalar(select(func.count(func.distinct(Capture.source_id)))) or 0)


def phase(args: argparse.Namespace, kind: str, workers: int, urls: list[str], tmp: Path, broker_url: str) -> dict:
    """One measurement: `workers` workers checking (or capturing) every source of urls; the rate and extras."""
    from archive.config import load_settings
    from archive.db import session_scope
    from archive.models import utcnow
    from archive.sources import SourceEntry, add_sources, ensure_collection
    from archive.tasks.dispatch import queue_captures, queue_checks
    from archive.workspace import Workspace

    data_dir = tmp / f"{kind}-{workers}"
    with schema(args.postgres) as database_url:
        env = settings_env(args, data_dir, database_url, broker_url)
        ws = Workspace(load_settings(environ=env))
        if kind == "check":
            _populate(ws, urls, utcnow(), etags=True)
        else:
            with session_scope(ws.sessions) as session:
                for start in range(0, len(urls), BATCH):
                    add_sources(session, ensure_collection(session, f"part{start // BATCH}"),
                                [SourceEntry(url) for url in urls[start:start + BATCH]])
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        running = run_workers(workers, kind, env, args.concurrency, tmp)
        try:
            queue_round = (lambda: queue_checks(ws)) if kind == "check" else (lambda: queue_captures(ws))
            seconds = drive(queue_round, lambda: count(ws, kind), len(urls))
        finally:
            stop(running)
        result = {"seconds": seconds, "rate": len(urls) / seconds}
        if kind == "capture":
            stored = [p for p in (data_dir / "storage").rglob("*") if p.is_file()]
            result["objects_per_capture"] = len(stored) / len(urls)
        elif workers == 1:
            result.update(shared_limits(ws, broker_url, args.redis_url))
        ws.close()
    return result


def shared_limits(ws: object, broker_url: str, redis_url: str) -> dict:
    """What the shared parts take, measured on this machine: check rows stored and lease cycles a second
    (PostgreSQL), messages a second through the broker (persistent publish; consume and ack), shared-limit
    hits a second (Redis)."""
    from kombu import Connection, Exchange, Queue
    from sqlalchemy import insert, select

    from archive.db import session_scope
    from archive.models import Check, Source, utcnow
    from archive.net.shared_pacing import SharedRateLimiter
    from archive.tasks import leases

    with session_scope(ws.sessions) as session:
        ids = list(session.scalars(select(Source.id)))
    rows = [{"source_id": ids[n % len(ids)], "checked_at": utcnow(), "outcome": "ok", "detail": "HTTP 200; bench",
             "http_status": 200, "final_url": None, "latency_ms": 1.0} for n in range(20_000)]
    started = time.perf_counter()
    for start in range(0, len(rows), 200):  # as the checks store them: 200 a transaction
        with session_scope(ws.sessions) as session:
            session.execute(insert(Check), rows[start:start + 200])
    check_rows = len(rows) / (time.perf_counter() - started)

    keys, now = [str(source_id) for source_id in ids[:5000]], utcnow()
    started = time.perf_counter()
    for start in range(0, len(keys), BATCH):  # grant, claim, release: a task's whole life in the lease table
        task_id = uuid.uuid4().hex
        with session_scope(ws.sessions) as session:
            leases.grant(session, "bench", keys[start:start + BATCH], task_id, now, 600)
        leases.claim(ws.sessions, "bench", task_id, "bench-run", now, 600)
        leases.release(ws.sessions, "bench", keys[start:start + BATCH], "bench-run")
    lease_keys = len(keys) / (time.perf_counter() - started)

    queue, messages = Queue("bench", Exchange("bench"), "bench", durable=True), 10_000
    with Connection(broker_url) as conn:
        producer = conn.Producer()
        started = time.perf_counter()
        for n in range(messages):
            producer.publish({"keys": [str(n)] * BATCH}, exchange=queue.exchange, routing_key="bench",
                             declare=[queue] if n == 0 else [], delivery_mode=2, serializer="json")
        published = messages / (time.perf_counter() - started)
        got = 0
        started = time.perf_counter()
        with conn.SimpleQueue(queue) as simple:
            while got < messages:
                simple.get(timeout=10).ack()
                got += 1
        consumed = messages / (time.perf_counter() - started)
    limiter = SharedRateLimiter(redis_url, 1000.0)
    started = time.perf_counter()
    for n in range(5000):  # a request's slot in the moving window of its host, as every check takes one
        limiter.reserve(f"host{n % 200}")
    redis_hits = 5000 / (time.perf_counter() - started)
    return {"check_rows_per_s": check_rows, "lease_keys_per_s": lease_keys, "publish_per_s": published,
            "consume_ack_per_s": consumed, "redis_hits_per_s": redis_hits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=4000, help="sources rechecked per run")
    parser.add_argument("--captures", type=int, default=300, help="sources captured per run")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="tasks at once per worker")
    parser.add_argument("--postgres", default=os.environ.get("LASTSEEN_TEST_POSTGRES", POSTGRES))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="flushed: use a spare db")
    parser.add_argument("--broker-url", default="", help="default: a private RabbitMQ node")
    args = parser.parse_args()

    hosts = _hosts(args.hosts)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lastseen-bench-scale-") as folder:
        tmp = Path(folder)
        server = subprocess.Popen([sys.executable, "-c", SERVER, ",".join(hosts), "etag"], stdout=subprocess.PIPE,
                                  text=True)
        try:
            port = int(server.stdout.readline())
            pages = [f"http://{hosts[n % len(hosts)]}:{port}/story/{n}" for n in range(args.sources)]
            # Captures: stories not ending in 42 (those answer 404), 50 to a collection (one crawl each).
            stories = [f"http://{hosts[n % len(hosts)]}:{port}/story/{n}" for n in range(10 * args.captures)
                       if n % 100 != 42][:args.captures]
            with broker(args.broker_url, tmp) as broker_url:
                results = {(kind, workers): phase(args, kind, workers, urls, tmp, broker_url)
                           for kind, urls in (("check", pages), ("capture", stories)) for workers in (1, 2)}
        finally:
            server.terminate()
            server.wait()
    report(args, results, load_before)


def report(args: argparse.Namespace, results: dict, load_before: tuple[float, float, float]) -> None:
    """Print the figures side by side."""
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after; workers of {args.concurrency} threads")
    for kind, what, total in (("check", "rechecks/s", args.sources), ("capture", "captures/s", args.captures)):
        one, two = results[(kind, 1)], results[(kind, 2)]
        print(f"{what:>11}: 1 worker {one['rate']:7.1f} ({total} in {one['seconds']:.1f} s) | 2 workers "
              f"{two['rate']:7.1f} ({total} in {two['seconds']:.1f} s) | ratio {two['rate'] / one['rate']:.2f}")
    limits = results[("check", 1)]
    print(f"PostgreSQL: {limits['check_rows_per_s']:.0f} check rows/s stored (200 a transaction, one writer); "
          f"{limits['lease_keys_per_s']:.0f} leased keys/s through grant+claim+release ({BATCH} a task)")
    print(f"RabbitMQ: {limits['publish_per_s']:.0f} persistent messages/s published, "
          f"{limits['consume_ack_per_s']:.0f}/s consumed and acked (one connection each)")
    print(f"Redis: {limits['redis_hits_per_s']:.0f} shared-limit hits/s from one thread")
    print(f"Storage: {results[('capture', 1)]['objects_per_capture']:.2f} objects written per capture "
          f"(WARC files and their sidecars, {BATCH} sources a crawl)")
    rate = results[("check", 2)]["rate"]
    print(f"Broker traffic of the checks: 2 messages (send, ack) per task of {BATCH} sources, so "
          f"{2 * rate / BATCH:.0f} messages/s at {rate:.0f} rechecks/s")
    print("settings:", " ".join(f"{k}={v}" for k, v in sorted(vars(args).items()) if k != "postgres"))


if __name__ == "__main__":
    main()
