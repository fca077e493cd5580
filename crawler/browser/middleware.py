"""Browser capture in the crawl: a downloader middleware that renders a page's request in the browser pool.

A request the spider marks (META_BROWSER: its collection captures in a browser, or auto mode chose it) never
reaches Scrapy's download handler: a capture browser loads it while its recorder writes every response the
page received into the crawl's WARC, the page's own as received from the network. The spider gets a Response
whose body is the DOM the browser rendered (links, videos and text as a reader saw them) and whose meta holds
the page's records, as WarcCapture's would be, and the rendered DOM's record. Responses the page's caps left
out, and a page whose time ran out, are stored failures; the capture stands.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.defer import deferred_to_future
from sqlalchemy import select
from twisted.internet.defer import Deferred

from archive.db import session_scope
from archive.models import Collection, CrawlFailure
from crawler.browser.capture import Asked, BrowserCaptureError, Captured
from crawler.browser.pool import BrowserPool
from crawler.browser.recorder import Caps
from crawler.extensions import META_BROWSER, META_RECORDS, META_RENDERED, WarcCapture
from crawler.screenshots import chromium_found
from crawler.workspace import crawler_workspace

logger = logging.getLogger(__name__)
_SKIPPED_SHOWN = 20


class BrowserCaptureFailed(IgnoreRequest):
    """The page gave nothing to keep in the browser (no response for it in its time)."""


class BrowserCaptureMiddleware:
    """Downloader middleware: marked requests are captured in the browser pool (started on first use)."""

    def __init__(self, crawler: Crawler, chromium: str | None) -> None:
        self.crawler = crawler
        self.ws = crawler_workspace(crawler)
        self.chromium = chromium
        self._pool: BrowserPool | None = None
        self._shots: bool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserCaptureMiddleware:
        middleware = cls(crawler, chromium_found(crawler_workspace(crawler).settings))
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    async def process_request(self, request: Request) -> HtmlResponse | None:
        """Capture a marked request in a browser; others (and all, without Chromium) go on to Scrapy's download."""
        if not request.meta.get(META_BROWSER) or self.chromium is None:
            return None
        capture = self.crawler.get_extension(WarcCapture)
        if capture is None or capture.writer is None:
            return None
        settings = self.ws.settings
        asked = Asked(url=request.url, writer=capture.writer,
                      caps=Caps(settings.requisite_count, settings.requisite_bytes, settings.page_size_cap),
                      seconds=float(settings.browser_page_seconds), user_agent=settings.user_agent,
                      screenshot=self._screenshots())
        if self._pool is None:
            self._pool = BrowserPool(settings, self.chromium).start()
        try:
            captured = await _waited(self._pool.capture(asked))
        except BrowserCaptureError as exc:
            raise BrowserCaptureFailed(str(exc)) from None
        self._note(request, captured)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("lastseen/browser_pages")
            self.crawler.stats.inc_value("lastseen/browser_responses", captured.recorded)
        request.meta[META_RECORDS] = captured.records
        request.meta[META_RENDERED] = captured.rendered
        headers = [(name, value) for name, value in captured.headers if name.lower() != "content-type"]
        headers.append(("Content-Type", _content_type(captured)))
        return HtmlResponse(url=captured.url, status=captured.status, headers=headers,
                            body=captured.html.encode("utf-8"), encoding="utf-8", request=request,
                            flags=["browser"])

    def _screenshots(self) -> bool:
        """Whether pages get a screenshot, taken from the capture's own browser page (LASTSEEN_SCREENSHOTS and
        the collection's setting, as for pages fetched over HTTP)."""
        if self._shots is None:
            name = getattr(self.crawler.spider, "collection_name", "default")
            with session_scope(self.ws.sessions) as session:
                wanted = session.scalar(select(Collection.screenshots).where(Collection.name == name))
            self._shots = self.ws.settings.screenshots and wanted is not False
        return self._shots

    def _note(self, request: Request, captured: Captured) -> None:
        """Stored failures for what the page's time and caps left out (the capture itself stands)."""
        source = request.meta.get("lastseen_source")
        if source is None:
            return
        failures = []
        if captured.timed_out:
            failures.append(("browser_timeout", f"{request.url}: still loading after "
                             f"{self.ws.settings.browser_page_seconds} s (LASTSEEN_BROWSER_PAGE_SECONDS); what it had "
                             "loaded is kept"))
        if captured.skipped:
            shown = "; ".join(f"{url} ({why})" for url, why in captured.skipped[:_SKIPPED_SHOWN])
            failures.append(("browser_unrecorded", f"{len(captured.skipped)} response(s) of {request.url} not "
                             f"recorded: {shown}"))
        if not failures:
            return
        with session_scope(self.ws.sessions) as session:
            for reason, detail in failures:
                session.add(CrawlFailure(source_id=source[0], url=request.url, reason=reason, detail=detail[:2000]))
        for reason, detail in failures:
            logger.warning("%s: %s", reason, detail[:300])

    def spider_closed(self, spider: Spider) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _content_type(captured: Captured) -> str:
    """The page's own media type (what its capture row says), with the charset of the DOM given to the spider."""
    for name, value in captured.headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip() + "; charset=utf-8"
    return "text/html; charset=utf-8"


async def _waited(future: concurrent.futures.Future[Captured]) -> Captured:
    """The pool's result, awaited on the reactor without holding a thread."""
    from twisted.internet import reactor  # here: importing it installs a reactor before Scrapy picks one

    deferred: Deferred[Any] = Deferred()

    def done(finished: concurrent.futures.Future[Captured]) -> None:
        error = finished.exception()
        if error is not None:
            reactor.callFromThread(deferred.errback, error)  # type: ignore[attr-defined]
        else:
            reactor.callFromThread(deferred.callback, finished.result())  # type: ignore[attr-defined]

    future.add_done_callback(done)
    return await deferred_to_future(deferred)  # type: ignore[no-any-return]
