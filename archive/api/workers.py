"""What the Celery workers are doing, as /metrics shows it: the overview `lastseen workers` prints (queues,
depths, workers with their regions and task counts), refreshed in the background.

Asking the broker and broadcasting to the workers takes up to a second, so a scrape never waits for it: a
daemon thread refreshes the view every REFRESH seconds while the server runs, and /metrics reads the last one.
Without a broker (LASTSEEN_BROKER_URL unset) there is nothing to show and no thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from archive.workspace import Workspace

logger = logging.getLogger("lastseen.api")

REFRESH = 15.0  # seconds between two looks at the broker and the workers


class WorkerView:
    """The latest task overview, kept fresh by a thread of its own."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: dict[str, Any] | None = None

    def start(self) -> None:
        """Start refreshing, if a broker is configured."""
        if self._ws.settings.broker_url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lastseen-worker-view", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (the thread ends within one look)."""
        self._stop.set()

    def refresh(self) -> None:
        """Look at the broker and the workers once; an unreachable broker keeps the last view and logs why."""
        from archive.tasks.overview import overview

        try:
            self.latest = overview(self._ws)
        except Exception as exc:  # a broker down must not take /metrics down: keep the last view
            logger.warning("cannot read the task overview: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(REFRESH)


def metrics_lines(view: dict[str, Any] | None, escape: Callable[[str], str]) -> list[str]:
    """The overview as Prometheus families: queue depths and consumers, leases by kind, workers by region,
    and tasks done or failed by worker and kind."""
    if view is None:
        return []
    lines = ["# HELP lastseen_task_queue_messages Messages waiting in each task queue.",
             "# TYPE lastseen_task_queue_messages gauge"]
    lines += [f'lastseen_task_queue_messages{{queue="{escape(queue)}"}} {depth["messages"]}'
              for queue, depth in sorted(view["queues"].items()) if depth["messages"] is not None]
    lines += ["# HELP lastseen_task_queue_consumers Workers consuming each task queue.",
              "# TYPE lastseen_task_queue_consumers gauge"]
    lines += [f'lastseen_task_queue_consumers{{queue="{escape(queue)}"}} {depth["consumers"]}'
              for queue, depth in sorted(view["queues"].items()) if depth["consumers"] is not None]
    lines += ["# HELP lastseen_task_leases Work queued, running or run out, by task kind (leases in the database).",
              "# TYPE lastseen_task_leases gauge"]
    lines += [f'lastseen_task_leases{{kind="{escape(kind)}",state="{state}"}} {count}'
              for kind, states in sorted(view["leases"].items()) for state, count in sorted(states.items())]
    regions: dict[str, int] = {}
    tasks: list[str] = []
    for worker in view["workers"]:
        region = worker["region"] or "default"
        regions[region] = regions.get(region, 0) + 1
        for key, count in sorted(worker["tasks"].items()):
            kind, _, outcome = key.partition(":")
            tasks.append(f'lastseen_worker_tasks_total{{worker="{escape(worker["name"])}",region="{escape(region)}",'
                         f'kind="{escape(kind)}",outcome="{escape(outcome)}"}} {count}')
    lines += ["# HELP lastseen_workers Workers answering, by region.", "# TYPE lastseen_workers gauge"]
    lines += [f'lastseen_workers{{region="{escape(region)}"}} {count}' for region, count in sorted(regions.items())]
    lines += ["# HELP lastseen_worker_tasks_total Tasks each worker finished, by kind and outcome.",
              "# TYPE lastseen_worker_tasks_total counter", *tasks]
    return lines
