"""lastseen's scheduler: keeps rechecks, captures, the Wayback queue and alerts moving, one leader per database.

Run it as `python scheduler.py` or `lastseen schedule`. APScheduler keeps its jobs in lastseen's own
database; the work itself (what is due, what is queued, what is undelivered) lives in lastseen's tables,
so a restarted scheduler carries on where the last one stopped without losing or repeating anything.
Only the holder of the `scheduler` lock acts; a second scheduler waits as a standby and takes over when
the first dies. With LASTSEEN_BROKER_URL the jobs only decide what is due and queue it for `lastseen worker`
processes (archive.tasks); without it they do the work here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from archive.config import load_settings
from archive.db import session_scope
from archive.due import changed_captures, checks_due, collections_to_crawl, recoveries_due
from archive.locks import Lock, named_lock
from archive.spawn import run_lastseen
from archive.tasks.stopping import Deadline
from archive.tasks.wording import sentence
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.scheduler")

LOCK_NAME = "scheduler"
JOB_TABLE = "apscheduler_jobs"
CRAWL_URL_BATCH = 500  # URLs handed to one crawl process on its command line
CRAWL_TIMEOUT = 6 * 3600

_ws: Workspace | None = None
_recovery_tried: dict[int, datetime] = {}  # source id -> last recovery lookup, in this process


def _workspace() -> Workspace:
    if _ws is None:
        raise RuntimeError("the scheduler's workspace is not set (call run_scheduler)")
    return _ws


def _now() -> datetime:
    return datetime.now(UTC)


# --- the jobs: module-level functions, so the persistent job store can name them -------------------

def recheck_round() -> dict[str, Any]:
    """Check the sources that are due (at most schedule_batch of them); with a broker, queue them for workers."""
    from archive.watch.check import check_sources

    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_checks

        return queue_checks(ws)
    with session_scope(ws.sessions) as session:
        ids = checks_due(session, _now(), ws.settings.schedule_batch)
    if not ids:
        return {"checked": 0}
    summary = check_sources(ws, ids)
    logger.info("checked %d source(s): %s", summary.checked,
                ", ".join(f"{n} {outcome}" for outcome, n in sorted(summary.outcomes.items())) or "no outcome")
    return summary.as_dict()


def crawl_targets(ws: Workspace) -> list[tuple[str, list[str]]]:
    """(collection, URLs) to crawl, as archive.due decides: each collection owed a whole crawl (a source never
    captured, media missing; URLs empty: the crawl finds them), and sources changed since their last capture."""
    now, retry = _now(), ws.settings.capture_retry
    with session_scope(ws.sessions) as session:
        whole = collections_to_crawl(session, now, retry)
        changed: dict[str, list[str]] = {}
        for work in changed_captures(session):
            changed.setdefault(work.collection, []).append(work.url)
    targets: list[tuple[str, list[str]]] = [(name, []) for name in whole]
    for name, urls in sorted(changed.items()):
        for start in range(0, len(urls), CRAWL_URL_BATCH):
            targets.append((name, urls[start:start + CRAWL_URL_BATCH]))
    return targets


def capture_round() -> list[dict[str, Any]]:
    """Crawl new and changed sources, each crawl in its own process (Twisted's reactor runs once a process);
    with a broker, queue them for workers."""
    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_captures

        return [queue_captures(ws)]
    results = []
    for collection, urls in crawl_targets(ws):
        started = time.monotonic()
        started_by = f"lastseen scheduler on {socket.gethostname()}"
        done = run_lastseen(ws.settings, ["crawl", "--json", "-c", collection, "--started-by", started_by, *urls],
                            timeout=CRAWL_TIMEOUT, die_with_parent=True)
        if done.returncode not in (0, 1):
            logger.warning("crawl of %s ended with %d: %s", collection, done.returncode,
                           (done.stderr.strip().splitlines() or [""])[-1])
        else:
            logger.info("crawl of %s: %s", collection, _crawl_sentence(done.stdout))
        results.append({"collection": collection, "urls": len(urls), "exit": done.returncode,
                        "seconds": round(time.monotonic() - started, 1)})
    return results


def _crawl_sentence(stdout: str) -> str:
    """What a crawl child's JSON summary says, as a sentence: captured, unchanged, failed (and why)."""
    import json

    try:
        summary = json.loads(stdout)
    except ValueError:
        return "done (no summary)"
    failed = summary.get("failed") or {}
    reasons = ", ".join(f"{reason} {n}" for reason, n in failed.items())
    return (f"{summary.get('captured', 0)} captured, {summary.get('unchanged', 0)} unchanged, "
            f"{sum(failed.values())} failed" + (f" ({reasons})" if reasons else ""))


def wayback_round() -> dict[str, Any]:
    """Send due Wayback submissions; find recovery copies of sources that vanished since the last round."""
    from archive.tasks.work import wayback_work

    ws = _workspace()
    now = _now()
    with session_scope(ws.sessions) as session:
        vanished = recoveries_due(session, now, _recovery_tried)
    for source_id in vanished:
        _recovery_tried[source_id] = now
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_singleton

        return queue_singleton(ws, "wayback", "drain", [vanished])
    return wayback_work(ws, vanished)


def alert_round() -> dict[str, Any]:
    """Make alerts for new transitions and send what is due; with a broker, a worker does both."""
    from archive.tasks.work import alert_work

    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_singleton

        return queue_singleton(ws, "alerts", "deliver")
    return alert_work(ws)


def feeds_round() -> dict[str, Any]:
    """Read the feeds and sitemaps that are due; their new entries become sources (captured by the next capture
    round). With a broker, a worker reads them."""
    from archive.sources.subscriptions import poll_due

    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_singleton

        return queue_singleton(ws, "feeds", "poll")
    results = poll_due(ws, _now())
    added = sum(len(result.added) for result in results)
    if results:
        logger.info("read %d feed(s): %d new source(s)", len(results), added)
    return {"polled": len(results), "added": added, "failed": sum(bool(result.error) for result in results)}


def transcribe_round() -> dict[str, Any]:
    """Read kept videos for their words (speech, on-screen text); with a broker, a worker on the `transcribe`
    queue does it, off the scheduler's cores."""
    from archive.tasks.work import transcribe_work

    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_singleton

        return queue_singleton(ws, "transcribe", "read")
    return transcribe_work(ws)


def footage_round() -> dict[str, Any]:
    """Fingerprint newly kept videos and images, compare them with vanished videos, alert reappearances: in a
    pool of processes here (LASTSEEN_FOOTAGE_WORKERS), or by a worker on the `footage` queue with a broker."""
    from archive.tasks.work import footage_work

    ws = _workspace()
    if ws.settings.broker_url:
        from archive.tasks.dispatch import queue_singleton

        return queue_singleton(ws, "footage", "match")
    return footage_work(ws)


def timestamp_round() -> dict[str, Any]:
    """Ask the TSAs again for tokens of stored WARC files that lack one (a TSA was down, a crawl died)."""
    from archive.evidence import authorities, timestamp_stored

    ws = _workspace()
    tsas = authorities(ws.settings)
    if not tsas:
        return {"skipped": "no TSA configured"}
    outcomes = timestamp_stored(ws, tsas, actor=f"lastseen scheduler on {socket.gethostname()}")
    failed = sum(not outcome.ok for outcome in outcomes)
    if outcomes:
        logger.info("timestamps: %d kept, %d failed", len(outcomes) - failed, failed)
    return {"kept": len(outcomes) - failed, "failed": failed}


JOBS: dict[str, Callable[[], Any]] = {
    "recheck": recheck_round,
    "capture": capture_round,
    "wayback": wayback_round,
    "alerts": alert_round,
    "feeds": feeds_round,
    "transcribe": transcribe_round,
    "footage": footage_round,
    "timestamp": timestamp_round,
}


def run_round() -> dict[str, Any]:
    """Every job once, in order: what one scheduler tick does, for tests and for `lastseen schedule --once`."""
    out: dict[str, Any] = {}
    for name, job in JOBS.items():
        try:
            out[name] = job()
        except Exception as exc:  # one failing job must not stop the others
            logger.exception("job %s failed", name)
            out[name] = {"error": str(exc)}
    return out


def _guarded(name: str) -> None:
    """Run one job by name, logging instead of raising (APScheduler would log a traceback per run)."""
    try:
        JOBS[name]()
    except Exception:
        logger.exception("job %s failed", name)


# --- leadership and the APScheduler loop -----------------------------------------------------------

class Leadership:
    """Which jobs this process leads: each job has its own lock, so roles can be split across processes
    (LASTSEEN_SCHEDULE_JOBS) while every job still has one leader."""

    def __init__(self, ws: Workspace, jobs: list[str], scheduler: Any) -> None:
        self.ws = ws
        self.scheduler = scheduler
        self.locks: dict[str, Lock] = {name: named_lock(ws.settings, ws.engine, f"{LOCK_NAME}:{name}") for name in jobs}
        self.held: set[str] = set()
        self._announced = False

    def step(self) -> None:
        """Take free jobs, drop jobs whose lock was lost; log the first time this process waits."""
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        tick = self.ws.settings.schedule_tick
        for name, lock in self.locks.items():
            if name in self.held:
                if not lock.alive():
                    logger.error("lost the lock of job %s (database connection dropped); standing by", name)
                    self.scheduler.remove_jobstore(name, shutdown=True)
                    self.held.discard(name)
                    lock.release()
                continue
            if lock.acquire():
                # One job store table per job: a job store shared by two processes would run its jobs twice.
                store = SQLAlchemyJobStore(engine=self.ws.engine, tablename=f"{JOB_TABLE}_{name}")
                self.scheduler.add_jobstore(store, alias=name)
                self.scheduler.add_job("scheduler:_guarded", "interval", args=[name], id=name, name=name,
                                       jobstore=name, seconds=tick, next_run_time=_now(), replace_existing=True)
                self.held.add(name)
                logger.info("leader of %s: this scheduler runs it for the database (pid %d)", name, os.getpid())
        waiting = sorted(set(self.locks) - self.held)
        if waiting and not self._announced:
            logger.info("standby for %s: another scheduler leads; trying every %d s", ", ".join(waiting),
                        self.ws.settings.standby_poll)
        self._announced = bool(waiting)

    def release(self) -> None:
        for name in list(self.held):
            self.locks[name].release()
        self.held.clear()


def scheduled_jobs(value: tuple[str, ...], timestamps: bool = True) -> list[str]:
    """The jobs this process offers to run (LASTSEEN_SCHEDULE_JOBS; default all, `timestamp` only with TSAs)."""
    names = [name for name in value if name] or [name for name in JOBS if timestamps or name != "timestamp"]
    unknown = sorted(set(names) - set(JOBS))
    if unknown:
        from archive.config import ConfigError

        raise ConfigError(f"LASTSEEN_SCHEDULE_JOBS: unknown job(s) {', '.join(unknown)} (known: {', '.join(JOBS)})")
    return names


def run_scheduler(ws: Workspace, stop: threading.Event | None = None) -> int:
    """Lead every job whose lock is free, stand by for the others, until stopped."""
    global _ws
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    stop = stop or threading.Event()
    ws.check()
    _ws = ws
    settings = ws.settings
    jobs = scheduled_jobs(settings.schedule_jobs, bool(settings.tsa_urls))
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(len(JOBS))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(60, settings.schedule_tick)},
        timezone=UTC)
    scheduler.start()
    leadership = Leadership(ws, jobs, scheduler)
    try:
        leadership.step()
        while not stop.wait(float(settings.standby_poll)):
            leadership.step()
    finally:
        # Job stores out first (their jobs stay stored for the next leader): no tick submits to a closed executor.
        for name in leadership.held:
            scheduler.remove_jobstore(name, shutdown=False)
        scheduler.shutdown(wait=True)
        leadership.release()
    return 0


def _still_running(record: logging.LogRecord) -> bool:
    """Drop APScheduler's warning that a tick found its job still running: with a short tick it is every tick,
    and nothing is wrong (the next run starts when this one ends)."""
    return "maximum number of running instances" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
    """`python scheduler.py [--config FILE] [--once]`."""
    parser = argparse.ArgumentParser(prog="scheduler.py", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="TOML settings file (or LASTSEEN_CONFIG)")
    parser.add_argument("--once", action="store_true", help="run every job once and exit (no leadership)")
    args = parser.parse_args(argv)
    return run(args.config, args.once)


def run(config: str | None, once: bool) -> int:
    """Run the scheduler with the settings of a config file (or the environment): one round, or until stopped."""
    from archive.config import ConfigError
    from archive.db import DatabaseError
    from archive.storage import StorageError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_still_running)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        ws = Workspace(load_settings(config))
        ws.check()
        scheduled_jobs(ws.settings.schedule_jobs)
    except (ConfigError, DatabaseError, StorageError) as exc:
        print(f"lastseen: error: {exc}", file=sys.stderr)
        return 2
    global _ws
    if once:
        _ws = ws
        result = run_round()
        for name, outcome in result.items():
            logger.info("%s: %s", name, "; ".join(sentence(part) for part in outcome)
                        if isinstance(outcome, list) else sentence(outcome))
        return 0
    stop = threading.Event()
    deadline = Deadline(lambda: None)  # the leadership locks die with the process; crawl children with it

    def stopping(signum: int, _frame: object) -> None:
        if not stop.is_set():
            logger.info("stopping (%s): jobs under way get %.0f s to finish", signal.Signals(signum).name,
                        deadline.grace)
        stop.set()
        deadline.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopping)
    try:
        return run_scheduler(ws, stop)
    finally:
        ws.close()
        deadline.done()


if __name__ == "__main__":
    # Jobs name `scheduler:...`: run the imported module, not this __main__ copy, so they share its state.
    import scheduler as _scheduler

    sys.exit(_scheduler.main())
