"""A describe worker's start: lower priority before anything heavy is imported, and an end with its crawl.

Kept apart from crawler.describe so that a spawned worker runs this first: unpickling a function imports its
module, and crawler.describe's imports (SQLAlchemy, boto3, warcio) would otherwise load at the crawl's own
priority, on the cores its downloads use.
"""

from __future__ import annotations

import os
import threading
import time

_PARENT_POLL = 0.5  # seconds between a worker's looks at whether its crawl still runs
_NICE = 10  # workers yield the cores to a crawl or the API running beside them


def worker_start(parent: int) -> None:
    """In a worker: lower priority, and end as soon as the crawl that started it is gone, even after kill -9.

    A watchdog thread, not the parent's goodbye: a crawl killed with SIGKILL says nothing, and its workers
    (and multiprocessing's resource tracker, which lives while they hold its pipe) would run for ever.
    """
    os.nice(_NICE)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-crawl", daemon=True).start()
