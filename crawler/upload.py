"""Closed WARC files to storage from one background thread; capture rows follow their file.

Each closed file is indexed (CDXJ) and stored with its index; the capture rows waiting for it are recorded
only then, so a row never points at bytes that are not durably kept (and so are the rows other stages wait to
write about it: `when_stored`), and the custody record gets a `captured` event naming the file. Files an
earlier crawl of the same collection left in the spool (its upload failed, or it died) are salvaged and stored
the same way. A stored file is then timestamped by the TSAs of LASTSEEN_TSA_URLS on a thread of its own: a slow
or failing TSA only logs (`lastseen timestamp` and the scheduler's `timestamp` job ask again), never holding up
a capture.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.captures import record_captures
from archive.db import session_scope
from archive.evidence import CAPTURED, TimestampAuthority, TimestampError, authorities, record, stamp_file
from archive.storage import StorageError, StoredObject, warc_key
from archive.warc import ClosedWarc, salvage, write_index
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


def spool_prefix(collection: str) -> str:
    """The name every spooled WARC file of a collection's crawl starts with."""
    return "lastseen-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in collection)


def store_warc(ws: Workspace, closed: ClosedWarc) -> StoredObject:
    """Store a closed file and its CDXJ index; the stored file. Raises StorageError or OSError.

    The file is uploaded while its index is built and uploaded beside it: the last file of a crawl is stored
    after its last download, so both waits would add up in the crawl's time.
    """
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warc-put") as pool:
        warc = pool.submit(ws.storage.put_file, warc_key(closed.path.name, now), closed.path, "application/warc")
        cdxj = write_index(closed)
        ws.storage.put_file(warc_key(cdxj.name, now), cdxj, "application/x-cdxj")
        stored = warc.result()
    cdxj.unlink(missing_ok=True)
    return stored


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
class CrawlSummary:
    """What a crawl did: captured, unchanged (revisits), failed by reason."""

    captured: int = 0
    unchanged: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    storage_error: str | None = None
    files: list[str] = field(default_factory=list)
    timestamps: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The summary as the crawl's stats (and `lastseen crawl --json`) show it."""
        return {"captured": self.captured, "unchanged": self.unchanged, "failed": dict(sorted(self.failed.items())),
                "storage_error": self.storage_error, "warc_files": list(self.files),
                "timestamps": {"kept": self.timestamps["kept"], "failed": self.timestamps["failed"]}}


class WarcUploader:
    """Stores closed WARC files and their CDXJ from one thread; records capture rows once their file is stored."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.summary = CrawlSummary()
        self._lock = threading.Lock()
        self._pending: dict[str, list[PendingCapture]] = {}
        self._after: dict[str, list[Callable[[str], None]]] = {}
        self._stored: dict[str, str] = {}
        self._failed_files: dict[str, str] = {}
        self._queue: queue.Queue[ClosedWarc | Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stamps: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._stamper: threading.Thread | None = None
        self._tsas: list[TimestampAuthority] = []
        self.collection: str | None = None
        self.actor = "lastseen crawl"
        self.to_describe: list[int] = []  # ids of recorded captures whose pages wait for their description

    def start(self, collection: str | None = None, actor: str = "lastseen crawl") -> None:
        """Start the upload thread, and the timestamping thread when TSAs are configured."""
        self.collection, self.actor = collection, actor
        try:
            self._tsas = list(authorities(self.ws.settings))
        except TimestampError as exc:
            logger.error("stored WARC files will not be timestamped now: %s", exc)
        self._thread = threading.Thread(target=self._loop, name="warc-upload", daemon=True)
        self._thread.start()
        if self._tsas:
            self._stamper = threading.Thread(target=self._stamp_loop, name="warc-timestamp", daemon=True)
            self._stamper.start()

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

    def when_stored(self, file_name: str, action: Callable[[str], None]) -> None:
        """Call action(uri of the stored file) once the file is stored and its capture rows recorded (at once if
        it already is); never if its storage failed (the file stays in the spool, a later crawl salvages it)."""
        with self._lock:
            if file_name in self._failed_files:
                logger.error("WARC file %s was not stored: what waited for it is not recorded", file_name)
                return
            if file_name not in self._stored:
                self._after.setdefault(file_name, []).append(action)
                return
            uri = self._stored[file_name]
        _run_after([action], uri)

    def record_failure(self, reason: str) -> None:
        """Count a fetch that gave nothing worth keeping as a capture."""
        with self._lock:
            self.summary.failed[reason] += 1

    def finish(self) -> None:
        """Wait for every queued upload; count rows whose file was never stored as storage failures."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
        self._stamps.put(None)
        if self._stamper is not None:
            self._stamper.join()
        with self._lock:
            for name, waiting in self._pending.items():
                logger.error("WARC file %s was never stored; %d capture(s) not recorded", name, len(waiting))
                self.summary.failed["storage"] += len(waiting)
            self._pending.clear()
            self._after.clear()

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
            stored = store_warc(self.ws, closed)
        except (StorageError, OSError) as exc:
            logger.error("WARC file %s stays in the spool: %s", closed.path, exc)
            with self._lock:
                self._failed_files[name] = str(exc)
                self.summary.storage_error = str(exc)
                lost = self._pending.pop(name, [])
                self.summary.failed["storage"] += len(lost)
                self._after.pop(name, None)
            return
        with session_scope(self.ws.sessions) as session:
            record(session, CAPTURED, self.actor, [stored.uri], collection=self.collection,
                   detail={"sha256": stored.sha256, "size": stored.size, "records": closed.records})
        with self._lock:
            self._stored[name] = stored.uri
            self.summary.files.append(stored.uri)
            waiting = self._pending.pop(name, [])
            after = self._after.pop(name, [])
        self._insert(waiting, stored.uri)
        _run_after(after, stored.uri)
        closed.path.unlink(missing_ok=True)
        if self._tsas:
            self._stamps.put((stored.uri, self.ws.storage.key_of(stored.uri)))

    def _stamp_loop(self) -> None:
        """Timestamp stored files one after another; what fails is logged and asked again later."""
        while (item := self._stamps.get()) is not None:
            uri, key = item
            try:
                outcomes = stamp_file(self.ws, uri, self.ws.storage.read(key), self._tsas, self.actor)
            except Exception as exc:  # the database or storage failed: the file is asked for again later
                logger.error("timestamping %s failed (asked again by `lastseen timestamp`): %s", key, exc)
                with self._lock:
                    self.summary.timestamps["failed"] += len(self._tsas)
                continue
            for outcome in outcomes:
                if not outcome.ok:
                    logger.warning("timestamping %s: %s (asked again by `lastseen timestamp`)", key, outcome.detail)
            with self._lock:
                self.summary.timestamps["kept"] += sum(outcome.ok for outcome in outcomes)
                self.summary.timestamps["failed"] += sum(not outcome.ok for outcome in outcomes)

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
                    self.summary.failed[item.failure] += 1
                    logger.warning("could not capture %s: %s", item.row.get("url"), item.failure)
                elif item.unchanged:
                    self.summary.unchanged += 1
                else:
                    self.summary.captured += 1


def _run_after(actions: list[Callable[[str], None]], uri: str) -> None:
    """Run what waited for a stored file; one that fails is logged, the others and the uploads go on."""
    for action in actions:
        try:
            action(uri)
        except Exception:
            logger.exception("recording what %s holds failed", uri)
