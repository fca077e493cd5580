"""Downloader middlewares of the crawl: retries with backoff, and the net guard that refuses non-public hosts."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_to_future
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from archive.net.guard import BlockedURL, Resolver, check_public_url, parse_networks, resolve_host
from archive.net.pacing import next_attempt_delay
from crawler.workspace import lastseen_settings

logger = logging.getLogger(__name__)


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
        return next_attempt_delay(retry_times, None, random, base=self.base, cap=self.cap)

    async def _wait(self, request: Request | Response | None) -> Request | Response | None:
        if isinstance(request, Request) and self.base > 0:
            from twisted.internet import reactor  # here: importing it installs a reactor before Scrapy picks one

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


# --- the net guard ---------------------------------------------------------------------------------

VERDICT_TTL = 60.0


class BlockedRequest(IgnoreRequest):
    """A request to a non-public address, refused before it was sent."""


class NetGuardMiddleware:
    """Checks every request, and so every redirect Scrapy follows, with archive.net.guard before it is sent."""

    def __init__(self, allow_networks: Iterable[str] = (), resolve: Resolver = resolve_host,
                 stats: StatsCollector | None = None) -> None:
        self.allow_networks = tuple(allow_networks)
        parse_networks(self.allow_networks)
        self.resolve = resolve
        self.stats = stats
        self._verdicts: dict[tuple[str, str], tuple[float, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetGuardMiddleware:
        return cls(lastseen_settings(crawler).allow_networks, stats=crawler.stats)

    def check(self, url: str) -> None:
        """Raise BlockedURL for a URL the crawler must not fetch (blocking: resolves the host)."""
        check_public_url(url, self.allow_networks, self.resolve)

    async def _verdict(self, url: str) -> str | None:
        """Why this URL's host is refused (None: allowed), remembered per host for VERDICT_TTL seconds.

        A crawl of one site sends thousands of requests to one host: one resolution a minute is enough.
        """
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc.lower())
        cached = self._verdicts.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            await deferred_to_future(deferToThread(self.check, url))
            verdict = None
        except BlockedURL as exc:
            verdict = str(exc)
        self._verdicts[key] = (time.monotonic() + VERDICT_TTL, verdict)
        return verdict

    async def process_request(self, request: Request) -> None:
        """Refuse the request (IgnoreRequest) when its host is not public; resolution runs off the reactor."""
        verdict = await self._verdict(request.url)
        if verdict is not None:
            if self.stats is not None:
                self.stats.inc_value("lastseen/netguard/refused")
            logger.warning("refused: %s", verdict)
            raise BlockedRequest(verdict)
