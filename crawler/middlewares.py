"""Downloader middlewares of the crawl."""

from __future__ import annotations

import random

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.utils.defer import deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, waiting base * 2^(n-1) seconds (full jitter, capped) before retry n.

    A site that answers 503 under load gets time to recover instead of an immediate second hit.
    """

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        return middleware

    def delay_for(self, retry_times: int) -> float:
        """Seconds to wait before the given retry (1-based)."""
        return random.uniform(0, min(self.cap, self.base * 2 ** max(retry_times - 1, 0)))

    async def _wait(self, request: Request | Response | None) -> Request | Response | None:
        if isinstance(request, Request) and self.base > 0:
            delay = self.delay_for(request.meta.get("retry_times", 1))
            await deferred_to_future(deferLater(reactor, delay, lambda: None))
        return request

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        result = super().process_response(request, response)
        return await self._wait(result)  # type: ignore[return-value]

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        return await self._wait(result)
