"""CaptureRecorder: capture rows wait for their WARC file, and are recorded (with their sources' proof of life)
only once it is stored, so a row never points at bytes that are not durably kept.

What other parts of the crawl write about a stored file (a video's media row: `when_stored`) waits the same
way. The rows go in through archive.captures, which also records proof of life and queues Wayback copies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archive.captures import record_captures
from archive.db import session_scope
from archive.workspace import Workspace
from crawler.summary import CrawlSummary

logger = logging.getLogger(__name__)


@dataclass
class PendingCapture:
    """A capture row waiting for its WARC file to be stored; a capture without a failure proves its source alive."""

    source_id: int
    file_name: str
    row: dict[str, Any]
    unchanged: bool
    failure: str | None = None
    redirect: bool = False  # a hop on the way to the page: archived, but neither proof of life nor a failure
    describe: bool = False  # an HTML page whose metadata is described after the crawl

    @property
    def alive(self) -> bool:
        """True when the fetch gave the page itself (no failure reason, not a redirect on the way)."""
        return self.failure is None and not self.redirect


@dataclass
class _Waiting:
    """What waits for one file: its capture rows and the actions to run with its URI."""

    rows: list[PendingCapture] = field(default_factory=list)
    actions: list[Callable[[str], None]] = field(default_factory=list)


class CaptureRecorder:
    """Holds capture rows until their file is stored, then records them in one transaction a file."""

    def __init__(self, ws: Workspace, summary: CrawlSummary) -> None:
        self.ws, self.summary = ws, summary
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiting] = {}
        self._files: dict[str, str | None] = {}  # file name -> its stored URI, None when storing it failed
        self.to_describe: list[int] = []  # ids of recorded captures whose pages wait for their description

    def add(self, pending: PendingCapture) -> None:
        """A capture row to insert once its file is stored (at once if it already is)."""
        with self._lock:
            if pending.file_name not in self._files:
                self._waiting.setdefault(pending.file_name, _Waiting()).rows.append(pending)
                return
            uri = self._files[pending.file_name]
        if uri is None:
            self.summary.count_failure("storage")
        else:
            self._insert([pending], uri)

    def when_stored(self, file_name: str, action: Callable[[str], None]) -> None:
        """Call action(uri of the stored file) once the file is stored and its capture rows recorded (at once if
        it already is); never if its storage failed (the file stays in the spool, a later crawl salvages it)."""
        with self._lock:
            if file_name not in self._files:
                self._waiting.setdefault(file_name, _Waiting()).actions.append(action)
                return
            uri = self._files[file_name]
        if uri is None:
            logger.error("WARC file %s was not stored: what waited for it is not recorded", file_name)
        else:
            _run_after([action], uri)

    def file_stored(self, file_name: str, uri: str) -> None:
        """The file is stored: record its rows, then run what waited for it."""
        with self._lock:
            self._files[file_name] = uri
            waiting = self._waiting.pop(file_name, _Waiting())
        self._insert(waiting.rows, uri)
        _run_after(waiting.actions, uri)

    def file_failed(self, file_name: str, error: str) -> None:
        """The file could not be stored: its rows are counted as storage failures, what waited is dropped."""
        with self._lock:
            self._files[file_name] = None
            waiting = self._waiting.pop(file_name, _Waiting())
        self.summary.storage_failed(error, len(waiting.rows))

    def finish(self) -> None:
        """Count rows whose file was never stored as storage failures."""
        with self._lock:
            for name, waiting in self._waiting.items():
                if waiting.rows:
                    logger.error("WARC file %s was never stored; %d capture(s) not recorded", name, len(waiting.rows))
                    self.summary.count_failure("storage", len(waiting.rows))
            self._waiting.clear()

    def _insert(self, pending: list[PendingCapture], uri: str) -> None:
        """Capture rows for a stored file, and what they tell of their sources, in one transaction."""
        if not pending:
            return
        with session_scope(self.ws.sessions) as session:
            ids = record_captures(session, [(item.row, item.alive) for item in pending], uri)
        with self._lock:
            self.to_describe.extend(i for i, item in zip(ids, pending, strict=True) if item.describe)
        for item in pending:
            if item.redirect:
                continue
            if item.failure:
                self.summary.count_failure(item.failure)
                logger.warning("could not capture %s: %s", item.row.get("url"), item.failure)
            else:
                self.summary.count_capture(item.unchanged)


def _run_after(actions: list[Callable[[str], None]], uri: str) -> None:
    """Run what waited for a stored file; one that fails is logged, the others and the uploads go on."""
    for action in actions:
        try:
            action(uri)
        except Exception:
            logger.exception("recording what %s holds failed", uri)
