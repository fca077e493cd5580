"""A downloader middleware that refuses requests (redirects included) to non-public addresses at fetch time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_to_future
from twisted.internet.threads import deferToThread

from archive.netguard import BlockedURL, Resolver, check_public_url, parse_networks, resolve_host
from crawler.workspace import lastseen_settings

logger = logging.getLogger(__name__)

VERDICT_TTL = 60.0


class BlockedRequest(IgnoreRequest):
    """A request to a non-public address, refused before it was sent."""


class NetGuardMiddleware:
    """Checks every request, and so every redirect Scrapy follows, with archive.netguard before it is sent."""

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
