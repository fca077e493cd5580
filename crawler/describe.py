"""Page description (metadata, main text, videos) in worker processes, off the crawl's reactor thread.

Extracting a page costs a few milliseconds of CPU, more than fetching it: done inline it would halve the
crawl's throughput. Worker processes use the other cores while the reactor keeps downloading.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

logger = logging.getLogger(__name__)


def describe_page(body: bytes, url: str, content_type: str | None) -> tuple[dict[str, Any], list[Any]]:
    """Page metadata (as the WARC metadata record holds it) and the videos the page shows."""
    from crawler.pagemeta import extract_page_metadata
    from crawler.videos import find_videos

    meta = extract_page_metadata(body, url, content_type)
    return meta.as_dict(), find_videos(body, url, encoding=meta.charset)


def worker_count(configured: int) -> int:
    """Workers to start: the setting, or with 0 one per core but the one the reactor uses."""
    if configured > 0:
        return configured
    return max(1, (os.cpu_count() or 2) - 1)


class PageDescriber:
    """A pool of worker processes describing pages; a crashed worker costs one page's metadata, not the crawl."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn, not fork: the crawl process has threads (uploads) and open database connections.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    async def describe(self, body: bytes, url: str, content_type: str | None) -> tuple[dict[str, Any], list[Any]]:
        """Describe one page in a worker; ({}, []) if the worker died on it."""
        try:
            future = self._executor().submit(describe_page, body, url, content_type)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.error("page description worker died on %s; captured without metadata", url)
            self._pool = None
            return {}, []

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
