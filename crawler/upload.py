"""Closed WARC files to storage from one background thread; capture rows follow their file.

Each closed file is indexed (CDXJ) and stored with its index; the capture rows waiting for it are recorded
only then, so a row never points at bytes that are not durably kept. Files an earlier crawl of the same
collection left in the spool (its upload failed, or it died) are salvaged and stored the same way.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.captures import record_captures
from archive.db import session_scope
from archive.storage import StorageError, warc_key
from archive.warc import ClosedWarc, salvage, write_index
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


def spool_prefix(collection: str) -> str:
    """The name every spooled WARC file of a collection's crawl starts with."""
    return "lastseen-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in collection)


def store_warc(ws: Workspace, closed: ClosedWarc) -> str:
    """Store a closed file and its CDXJ index; the file's URI. Raises StorageError or OSError."""
    now = datetime.now(UTC)
    cdxj = write_index(closed)
    stored = ws.storage.put_file(warc_key(closed.path.name, now), closed.path, "application/warc")
    ws.storage.put_file(warc_key(cdxj.name, now), cdxj, "application/x-cdxj")
    cdxj.unlink(missing_ok=True)
    return stored.uri


@dataclass
class PendingCapture:
    """A capture row waiting for its WARC file to be stored; a capture without a failure proves its source alive."""

    source_id: int
    file_name: str
    row: dict[str, Any]
    unchanged: bool
    failure: str | None = None
    describe: bool = False  # an HTML page whose metadata is described after the crawl

    @property
    def alive(self) -> bool:
        """True when the fetch gave the page itself (no failure reason)."""
        return self.failure is None


@dataclass
class CrawlSummary:
    """What a crawl did: captured, unchanged (revisits), failed by reason."""

    captured: int = 0
    unchanged: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    storage_error: str | None = None
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as the crawl's stats (and `lastseen crawl --json`) show it."""
        return {"captured": self.captured, "unchanged": self.unchanged, "failed": dict(sorted(self.failed.items())),
                "storage_error": self.storage_error, "warc_files": list(self.files)}


class WarcUploader:
    """Stores closed WARC files and their CDXJ from one thread; records capture rows once their file is stored."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.summary = CrawlSummary()
        self._lock = threading.Lock()
        self._pending: dict[str, list[PendingCapture]] = {}
        self._stored: dict[str, str] = {}
        self._failed_files: dict[str, str] = {}
        self._queue: queue.Queue[ClosedWarc | Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.to_describe: list[int] = []  # ids of recorded captures whose pages wait for their description

    def start(self) -> None:
        """Start the upload thread."""
        self._thread = threading.Thread(target=self._loop, name="warc-upload", daemon=True)
        self._thread.start()

    def put(self, closed: ClosedWarc) -> None:
        """Queue a closed file for storage (the writer's on_close callback)."""
        self._queue.put(closed)

    def salvage(self, spool: Path, prefix: str) -> None:
        """Store WARC files an earlier crawl of this collection left in the spool (its upload failed, or it
        died): their bytes are evidence. No other crawl of the collection runs now (the crawl lock)."""
        # Exactly this collection's names: "lastseen-a-..." must not take "lastseen-a-b-..." files of a
        # crawl of collection "a-b" that may be running now.
        ours = re.compile(re.escape(prefix) + r"-\d{20}-\d{5}-[0-9a-f]{8}\.warc\.gz(\.open)?")
        for path in sorted(spool.iterdir()):
            if ours.fullmatch(path.name):
                self._queue.put(path)  # cut back and stored on the upload thread, not at start-up

    def add_capture(self, pending: PendingCapture) -> None:
        """A capture row to insert once its file is stored (at once if it already is)."""
        with self._lock:
            if pending.file_name in self._failed_files:
                self.summary.failed["storage"] += 1
                return
            if pending.file_name not in self._stored:
                self._pending.setdefault(pending.file_name, []).append(pending)
                return
            uri = self._stored[pending.file_name]
        self._insert([pending], uri)

    def record_failure(self, reason: str) -> None:
        """Count a fetch that gave nothing worth keeping as a capture."""
        with self._lock:
            self.summary.failed[reason] += 1

    def finish(self) -> None:
        """Wait for every queued upload; count rows whose file was never stored as storage failures."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for name, waiting in self._pending.items():
                logger.error("WARC file %s was never stored; %d capture(s) not recorded", name, len(waiting))
                self.summary.failed["storage"] += len(waiting)
            self._pending.clear()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, Path):
                closed = salvage(item)
                if closed is None:
                    continue
                logger.warning("storing %s, left in the spool by an earlier crawl (%d bytes; its captures have "
                               "no rows: recrawl the sources to record them)", closed.path.name, closed.size)
                item = closed
            self._upload(item)

    def _upload(self, closed: ClosedWarc) -> None:
        """Store a file and its CDXJ index, then the rows that waited for it; on failure it stays in the spool."""
        name = closed.path.name
        try:
            uri = store_warc(self.ws, closed)
        except (StorageError, OSError) as exc:
            logger.error("WARC file %s stays in the spool: %s", closed.path, exc)
            with self._lock:
                self._failed_files[name] = str(exc)
                self.summary.storage_error = str(exc)
                lost = self._pending.pop(name, [])
                self.summary.failed["storage"] += len(lost)
            return
        with self._lock:
            self._stored[name] = uri
            self.summary.files.append(uri)
            waiting = self._pending.pop(name, [])
        self._insert(waiting, uri)
        closed.path.unlink(missing_ok=True)

    def _insert(self, pending: list[PendingCapture], uri: str) -> None:
        """Capture rows for a stored file, and what they tell of their sources, in one transaction."""
        if not pending:
            return
        with session_scope(self.ws.sessions) as session:
            ids = record_captures(session, [(item.row, item.alive) for item in pending], uri)
        with self._lock:
            self.to_describe.extend(i for i, item in zip(ids, pending, strict=True) if item.describe)
            for item in pending:
                if item.failure:
                    self.summary.failed[item.failure] += 1
                elif item.unchanged:
                    self.summary.unchanged += 1
                else:
                    self.summary.captured += 1
