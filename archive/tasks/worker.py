"""A Celery worker of lastseen: the tasks registered on the app, its counters, and running it in this process.

The worker uses Celery's thread pool: checks run their own threads and crawls run in child processes, so a
thread per task is enough, and the process keeps one database pool. Each worker answers the `lastseen_stats`
inspect command with its region and how many tasks of each kind it finished or failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any

from archive.models import utcnow
from archive.tasks import leases, work
from archive.tasks.app import QUEUES, TASKS, app_for
from archive.tasks.stopping import Deadline
from archive.tasks.wording import sentence
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.tasks")

BUSY_RETRY = 15  # seconds before a capture whose collection is being crawled elsewhere is tried again

_counts: Counter[tuple[str, str]] = Counter()  # (kind, done|failed) -> tasks, in this worker
_counts_lock = threading.Lock()
_identity: dict[str, str] = {"region": ""}


def _count(kind: str, outcome: str) -> None:
    with _counts_lock:
        _counts[(kind, outcome)] += 1


def register(app: Any, ws: Workspace) -> None:
    """Register the four tasks on the app, bound to this workspace."""

    def body(kind: str, task: Any, keys: list[str], *extra: Any) -> dict[str, Any]:
        run = work.Run(ws, task.request.id, f"{task.request.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
        started = time.monotonic()
        try:
            if kind == "check":
                result = work.check_batch(run, *extra[:1])  # check.<region>'s tasks name their queue
            elif kind in ("capture", "browser"):
                result = work.capture_batch(run, kind)
            elif kind == "wayback":
                result = work.wayback_round(run, extra[0] if extra else [])
            elif kind == "feeds":
                result = work.feeds_round(run)
            elif kind == "transcribe":
                result = work.transcribe_round(run)
            elif kind == "footage":
                result = work.footage_round(run)
            else:
                result = work.alerts_round(run)
        except work.CollectionBusy as exc:
            raise task.retry(countdown=BUSY_RETRY, max_retries=None, exc=exc) from None
        except Exception:
            _count(kind, "failed")
            raise
        _count(kind, "done")
        logger.info("%s task done in %.1f s: %s", kind, time.monotonic() - started, sentence(result))
        return result

    for kind, name in TASKS.items():
        def task_fn(self: Any, keys: list[str], *extra: Any, _kind: str = kind) -> dict[str, Any]:
            return body(_kind, self, keys, *extra)

        app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True)(task_fn)


def _stats(state: Any) -> dict[str, Any]:
    """This worker's region and task counts (the `lastseen_stats` inspect command)."""
    with _counts_lock:
        counts = {f"{kind}:{outcome}": n for (kind, outcome), n in sorted(_counts.items())}
    return {"region": _identity["region"], "pid": os.getpid(), "tasks": counts}


def run_worker(ws: Workspace, *, queues: list[str], concurrency: int, region: str = "") -> int:
    """Run a worker in the foreground until it is told to stop (SIGTERM, SIGINT)."""
    from celery import signals
    from celery.worker.control import inspect_command

    app = app_for(ws.settings)
    register(app, ws)
    _identity["region"] = region
    inspect_command(name="lastseen_stats")(_stats)
    name = f"lastseen-{region or 'any'}-{os.getpid()}@{socket.gethostname()}"
    worker = app.Worker(hostname=name, queues=queues or list(QUEUES), concurrency=max(1, concurrency),
                        pool="threads", loglevel="INFO", without_mingle=True, without_gossip=True,
                        optimization="fair")
    # Our own sentence says what each task did (above); Celery's line would print the result as a dict.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    deadline = Deadline(lambda: _let_go(ws, f"{name}:{os.getpid()}:"))
    signals.worker_shutting_down.connect(lambda **_: deadline.start(), weak=False)
    worker.start()
    return int(worker.exitcode or 0)


def _let_go(ws: Workspace, holder_prefix: str) -> None:
    """The leases of this worker's unfinished runs run out now: the scheduler hands their work out again."""
    count = leases.let_go(ws.sessions, holder_prefix, utcnow())
    if count:
        logger.info("let go of %d lease(s) of unfinished work", count)
