"""Timestamper: every stored WARC file is stamped by the TSAs of LASTSEEN_TSA_URLS, on a thread of its own.

The one path by which the capture side asks for timestamps (the crawl's files and the page-metadata files
alike): a slow or failing TSA only logs, since `lastseen timestamp` and the scheduler's `timestamp` job ask
again, and never holds up a capture.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from archive.evidence import TimestampAuthority, TimestampError, authorities, stamp_file
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


def _uncounted(kept: int, failed: int) -> None:
    """What a Timestamper does with its counts when nobody counts them."""


class Timestamper:
    """Stamps stored files one after another on a thread; idle (no thread) when no TSA is configured."""

    def __init__(self, ws: Workspace, actor: str, counted: Callable[[int, int], None] = _uncounted) -> None:
        self.ws, self.actor, self.counted = ws, actor, counted
        self._tsas: list[TimestampAuthority] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Read the configured TSAs and start the thread when there are any."""
        try:
            self._tsas = list(authorities(self.ws.settings))
        except TimestampError as exc:
            logger.error("stored WARC files will not be timestamped now: %s", exc)
        if self._tsas:
            self._thread = threading.Thread(target=self._loop, name="warc-timestamp", daemon=True)
            self._thread.start()

    def put(self, uri: str) -> None:
        """Queue a stored file for its timestamps."""
        if self._tsas:
            self._queue.put(uri)

    def finish(self) -> None:
        """Wait until every queued file is stamped (or has failed)."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while (uri := self._queue.get()) is not None:
            self._stamp(uri)

    def _stamp(self, uri: str) -> None:
        """Ask every TSA for a token of one stored file; what fails is logged and asked again later."""
        key = self.ws.storage.key_of(uri)
        try:
            outcomes = stamp_file(self.ws, uri, self.ws.storage.read(key), self._tsas, self.actor)
        except Exception as exc:  # the database or storage failed: the file is asked for again later
            logger.error("timestamping %s failed (asked again by `lastseen timestamp`): %s", key, exc)
            self.counted(0, len(self._tsas))
            return
        for outcome in outcomes:
            if not outcome.ok:
                logger.warning("timestamping %s: %s (asked again by `lastseen timestamp`)", key, outcome.detail)
        kept = sum(outcome.ok for outcome in outcomes)
        self.counted(kept, len(outcomes) - kept)
