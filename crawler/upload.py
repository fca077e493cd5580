"""Storing the crawl's WARC files: the thread that keeps them in turn, the one way every WARC file is kept
(archive.evidence.keeping.WarcStore: stored with its CDXJ index, a `captured` custody event, what waited for it
recorded, then timestamped). Files an earlier crawl of the same collection left in the spool (its upload failed,
or it died) are salvaged and stored the same way.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from pathlib import Path

from archive.evidence.keeping import WarcStore
from archive.storage import StorageError
from archive.warc import ClosedWarc, salvage
from crawler.recording import CaptureRecorder
from crawler.summary import CrawlSummary

logger = logging.getLogger(__name__)


def spool_prefix(collection: str) -> str:
    """The name every spooled WARC file of a collection's crawl starts with."""
    return "lastseen-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in collection)


class WarcUploader:
    """Stores the crawl's closed WARC files from one thread, in the order they closed."""

    def __init__(self, store: WarcStore, recorder: CaptureRecorder, summary: CrawlSummary) -> None:
        self.store, self.recorder, self.summary = store, recorder, summary
        self.collection: str | None = None
        self._queue: queue.Queue[ClosedWarc | Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self, collection: str | None = None) -> None:
        """Start the upload thread for a collection's crawl."""
        self.collection = collection
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

    def finish(self) -> None:
        """Wait for every queued upload."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

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
        """Store a file, then the rows that waited for it; on failure it stays in the spool."""
        name = closed.path.name

        def recorded(uri: str) -> None:
            self.summary.stored(uri)
            self.recorder.file_stored(name, uri)

        try:
            self.store.keep(closed, [self.collection], recorded)
        except (StorageError, OSError) as exc:
            logger.error("WARC file %s stays in the spool: %s", closed.path, exc)
            self.recorder.file_failed(name, str(exc))
