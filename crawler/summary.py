"""CrawlSummary: what a crawl did, counted from the threads that store, record and stamp its files."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CrawlSummary:
    """Captured, unchanged (revisits), failed by reason, the stored files and their timestamps; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.captured = 0
        self.unchanged = 0
        self.failed: Counter[str] = Counter()
        self.storage_error: str | None = None
        self.files: list[str] = []
        self.timestamps: Counter[str] = Counter()

    def count_failure(self, reason: str, number: int = 1) -> None:
        """Fetches (or rows) that gave no capture, by reason."""
        with self._lock:
            self.failed[reason] += number

    def count_capture(self, unchanged: bool) -> None:
        """A capture recorded: new content, or a revisit of unchanged content."""
        with self._lock:
            if unchanged:
                self.unchanged += 1
            else:
                self.captured += 1

    def stored(self, uri: str) -> None:
        """A WARC file kept in storage."""
        with self._lock:
            self.files.append(uri)

    def storage_failed(self, error: str, lost: int) -> None:
        """A file that could not be stored, and how many capture rows it takes with it."""
        with self._lock:
            self.storage_error = error
            self.failed["storage"] += lost

    def stamped(self, kept: int, failed: int) -> None:
        """Timestamp tokens kept and TSAs that failed, for one stored file."""
        with self._lock:
            self.timestamps["kept"] += kept
            self.timestamps["failed"] += failed

    def as_dict(self) -> dict[str, Any]:
        """The summary as the crawl's stats (and `lastseen crawl --json`) show it."""
        with self._lock:
            return {"captured": self.captured, "unchanged": self.unchanged,
                    "failed": dict(sorted(self.failed.items())), "storage_error": self.storage_error,
                    "warc_files": list(self.files),
                    "timestamps": {"kept": self.timestamps["kept"], "failed": self.timestamps["failed"]}}
