"""Page description (metadata, main text, videos) in worker processes, off the crawl's reactor thread.

Extracting a page, and building the WARC metadata record that holds what was found, costs more CPU than
fetching it: done inline it would halve the crawl's throughput. Worker processes use the other cores
while the reactor keeps downloading; the reactor only appends the finished record.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archive.warc import PreparedRecord, prepare_metadata

logger = logging.getLogger(__name__)
_PARENT_POLL = 0.5  # seconds between a worker's looks at whether its crawl still runs


@dataclass
class PageDescription:
    """What a worker found on a page, and the WARC metadata record that says so, ready to append."""

    page_meta: dict[str, Any] = field(default_factory=dict)
    videos: list[Any] = field(default_factory=list)
    record: PreparedRecord | None = None


def describe_page(body: bytes, url: str, content_type: str | None, concurrent_to: str | None = None,
                  fetched_at: datetime | None = None) -> PageDescription:
    """Page metadata and videos; with `concurrent_to` (the response record id) also the metadata record."""
    from archive.extract.pagemeta import extract_page_metadata
    from archive.extract.videos import find_videos

    meta = extract_page_metadata(body, url, content_type)
    page_meta = meta.as_dict()
    videos = find_videos(body, url, encoding=meta.charset)
    record = None
    if concurrent_to is not None:
        fields = {**page_meta, "videos": [{"provider": v.provider, "video_id": v.video_id, "url": v.canonical_url,
                                           "found_as": v.found_as} for v in videos]}
        record = prepare_metadata(url=url, concurrent_to=concurrent_to, fields=fields,
                                  fetched_at=fetched_at or datetime.now(UTC))
    return PageDescription(page_meta, videos, record)


def _exit_with(parent: int) -> None:
    """In a worker: end this process as soon as the crawl that started it is gone, even after kill -9.

    A watchdog thread, not the parent's goodbye: a crawl killed with SIGKILL says nothing, and its workers
    (and multiprocessing's resource tracker, which lives while they hold its pipe) would run for ever.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-crawl", daemon=True).start()


def worker_count(configured: int) -> int:
    """Workers to start: the setting, or with 0 one per core.

    One per core, not one fewer: a worker waits on pickling and pipes part of the time, and on 2 cores
    bench/crawl.py measured 63% of plain Scrapy's throughput with one worker and 76% with two.
    """
    if configured > 0:
        return configured
    return max(1, os.cpu_count() or 1)


class PageDescriber:
    """A pool of worker processes describing pages; a crashed worker costs one page's metadata, not the crawl."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn, not fork: the crawl process has threads (uploads) and open database connections.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_exit_with,
                                             initargs=(os.getpid(),))
        return self._pool

    async def describe(self, body: bytes, url: str, content_type: str | None,
                       concurrent_to: str | None = None) -> PageDescription:
        """Describe one page in a worker; an empty description if the worker died on it."""
        try:
            future = self._executor().submit(describe_page, body, url, content_type, concurrent_to,
                                             datetime.now(UTC))
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.error("page description worker died on %s; captured without metadata", url)
            self._pool = None
            return PageDescription()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
