"""Stopping a long-running process on time: the scheduler and a worker end within seconds of SIGINT/SIGTERM.

A stop signal lets running work finish for a short grace; what is still running then (a Wayback submission
backing off, a check batch on a slow host, a crawl) is abandoned: its leases are let go so another process takes
the work at once, and the process ends without waiting for threads that would keep it alive. Nothing stored is
lost: every row is written in a transaction, and an unfinished task's message goes back to the broker.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger("lastseen.stopping")

GRACE = 6.0  # seconds running work gets after a stop signal; the process ends within about this


class Deadline:
    """Once started, ends the process after `grace` seconds unless `done()` came first; `before_exit` runs
    first (it lets leases and locks go). Runs in a daemon thread, so it works while the main thread waits."""

    def __init__(self, before_exit: Callable[[], None], grace: float = GRACE) -> None:
        self.before_exit = before_exit
        self.grace = grace
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    def start(self, code: int = 0) -> None:
        """Begin counting (again stopping is a no-op: the first deadline stands)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._wait, args=(code,), name="lastseen-stop-deadline", daemon=True).start()

    def done(self) -> None:
        """The process stopped cleanly in time: nothing to abandon."""
        self._done.set()

    def _wait(self, code: int) -> None:
        if self._done.wait(self.grace):
            return
        logger.warning("stopping now: work still running after %.0f s is abandoned; it is done again later or "
                       "by another process", self.grace)
        abandon(self.before_exit, code)


def abandon(before_exit: Callable[[], None], code: int) -> None:
    """Let go of what this process holds, flush what it said, and end it now, whatever threads still run."""
    try:
        before_exit()
    except Exception as exc:  # the leases then run out on their own (task_lease)
        logger.warning("stopping: could not let go of leases and locks: %s", exc)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
