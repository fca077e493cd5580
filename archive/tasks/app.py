"""The Celery application: one per process, configured from the settings, with one queue per kind of work.

Every task is acknowledged late and rejected (requeued) when its worker is lost, and a worker takes one
message at a time per thread, so a killed worker's messages go back to the queue; the leases in the database
(archive.tasks.leases) make a second delivery do nothing that was done. With Redis as the broker a message
unacknowledged for ``task_lease`` seconds is delivered again (its visibility timeout), in step with the leases.
A worker reconnects to a restarted broker for as long as it takes, and the tasks it was running go on: their
messages come again and find the work held or done.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from archive.config import Settings

# kind of work -> (task name, queue); the kinds are also the lease kinds.
TASKS: dict[str, str] = {"check": "lastseen.check", "capture": "lastseen.capture", "wayback": "lastseen.wayback",
                         "alerts": "lastseen.alerts", "feeds": "lastseen.feeds", "transcribe": "lastseen.transcribe",
                         "footage": "lastseen.footage",
                         # captures of collections that capture in a browser: workers with Chromium take them
                         "browser": "lastseen.browser"}
QUEUES: tuple[str, ...] = tuple(TASKS)
# Celery's package swaps its own module in sys.modules on first import, which two threads doing it at once (the
# scheduler's jobs starting together) can catch half-made: "cannot import name 'Celery'". One at a time.
_MAKING = threading.Lock()


def check_queue(region: str | None) -> str:
    """The queue (and lease kind) of checks: `check` for checks from anywhere, `check.<region>` for one region's
    (a collection that asks for regions; `check.default` is for workers started without --region)."""
    return "check" if region is None else f"check.{region}"


@cache
def celery_app(broker_url: str, task_lease: int) -> Any:
    """The Celery app of this broker (cached: the scheduler sends through one connection pool)."""
    from celery import Celery

    app = Celery("lastseen", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="check",
        task_routes={name: {"queue": kind} for kind, name in TASKS.items()},
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": task_lease},
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,  # a worker waits out a broker restart, however long
        broker_heartbeat=10,  # ...and notices within seconds a connection the restart left half-open
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_publish_retry_policy={"max_retries": 4, "interval_start": 0, "interval_step": 1, "interval_max": 2},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def app_for(settings: Settings) -> Any:
    """The app of these settings' broker (made by one thread at a time)."""
    with _MAKING:
        return celery_app(settings.broker_url, settings.task_lease)


def send(settings: Settings, kind: str, task_id: str, args: list[Any]) -> None:
    """Queue one task of this kind (a queue: check.<region> is a check) under task_id (the id its leases name)."""
    app_for(settings).send_task(TASKS[kind.partition(".")[0]], args=args, task_id=task_id, queue=kind)
