"""Screenshots as evidence: a full-page PNG of each captured HTML page, in the same WARC as the page.

Headless Chromium renders the archive, not the live site again: every request the page makes is answered
from the responses this crawl wrote (the page itself, and whatever of its requisites the crawl holds, looked
up by URL in `ArchivedAnswers`); one the archive cannot answer fails, and nothing is fetched. Chromium itself
cannot be steered (crawler.browser.launch): whatever it sends past the page's route (speculative loads,
WebRTC, its own traffic) goes to a proxy that refuses it, WebSockets are closed, and each page has a fresh
profile. Pages render in a bounded pool on a thread of their own, off the reactor. The PNG becomes a
`resource` record (``urn:lastseen:screenshot:<page URL>``, WARC-Concurrent-To the page's response) appended
to the WARC file being written, which does not roll over while a screenshot is under way. A failed
screenshot is a stored CrawlFailure (reason `screenshot`), never a failed capture.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import logging
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from sqlalchemy import select

from archive.config import Settings
from archive.db import session_scope
from archive.models import Collection, CrawlFailure
from archive.net.http import one_line
from archive.warc import prepare_screenshot
from crawler.browser.archived import ArchivedAnswers
from crawler.browser.launch import launch, new_context
from crawler.browser.refusing import RefusingProxy
from crawler.extensions import WarcCapture
from crawler.items import PageCapture
from crawler.workspace import crawler_workspace

logger = logging.getLogger(__name__)

VIEWPORT = {"width": 1280, "height": 800}
PAGE_TIMEOUT_MS = 30_000
MAX_WAITING = 200  # pages queued for a screenshot at most; past it a page gets a stored failure instead
DRAIN_TIMEOUT = 300.0


def chromium_found(settings: Settings) -> str | None:
    """The Chromium executable screenshots would use, or None when it (or Playwright) is not installed."""
    if importlib.util.find_spec("playwright") is None:
        return None
    return shutil.which(settings.chromium_path)


@dataclass(frozen=True)
class Shot:
    """A captured page to render: its URL and its response record's id."""

    source_id: int
    url: str
    concurrent_to: str


class Screenshots:
    """Takes a screenshot of each captured HTML page; from_crawler, signals, a browser thread."""

    def __init__(self, crawler: Crawler, chromium: str) -> None:
        self.crawler = crawler
        self.capture: WarcCapture | None = None
        self.ws = crawler_workspace(crawler)
        self.chromium = chromium
        self.enabled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._browser: Any = None
        self._playwright: Any = None
        self._pool: asyncio.Semaphore | None = None
        self._futures: set[concurrent.futures.Future[None]] = set()
        self._proxy: RefusingProxy | None = None
        self.archived = ArchivedAnswers()
        self._launching: asyncio.Lock | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Screenshots:
        ws = crawler_workspace(crawler)
        chromium = chromium_found(ws.settings)
        if not ws.settings.screenshots or chromium is None:
            raise NotConfigured
        extension = cls(crawler, chromium)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.item_scraped, signal=signals.item_scraped)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        """Switch on unless the collection says no; the browser starts with the first page.

        WarcCapture is looked up now (extensions are all built by then) and told to wait for the
        screenshots under way before it closes its last file.
        """
        self.capture = self.crawler.get_extension(WarcCapture)
        if self.capture is None:
            return
        self.capture.before_close.append(self.finish)
        name = getattr(spider, "collection_name", "default")
        with session_scope(self.ws.sessions) as session:
            wanted = session.scalar(select(Collection.screenshots).where(Collection.name == name))
        self.enabled = wanted is not False
        if not self.enabled:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="screenshots", daemon=True)
        self._thread.start()

    def item_scraped(self, item: Any, response: Any, spider: Spider) -> None:
        """Queue a screenshot of a captured HTML page (new content: a revisit's picture would be the same)."""
        if not self.enabled or self._loop is None or self.capture is None or not isinstance(item, PageCapture):
            return
        record = item.records.response
        self.archived.remember(item.response.url, record)
        html = "html" in (item.content_type or "").lower()
        # a page captured in a browser had its screenshot taken there, from the same page
        if item.kind != "page" or item.failure or not html or record.record_type != "response" or item.rendered:
            return
        if len(self._futures) >= MAX_WAITING:
            self._failed(item.source_id, item.response.url, "too many pages waiting for a screenshot")
            return
        shot = Shot(item.source_id, item.response.url, record.record_id)
        writer = self.capture.writer
        if writer is not None:
            writer.hold()
        future = asyncio.run_coroutine_threadsafe(self._take(shot), self._loop)
        self._futures.add(future)
        future.add_done_callback(lambda done: self._done(done, writer))

    def _done(self, future: concurrent.futures.Future[None], writer: Any) -> None:
        self._futures.discard(future)
        if writer is not None:
            writer.release()

    def finish(self) -> None:
        """Before the last WARC file closes: wait for the screenshots under way, then stop the browser."""
        if self._loop is None:
            return
        concurrent.futures.wait(list(self._futures), timeout=DRAIN_TIMEOUT)
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=60)
        except Exception as exc:  # a browser that will not close is killed with this process
            logger.warning("closing Chromium: %s", one_line(str(exc)))
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    async def _take(self, shot: Shot) -> None:
        """Render one page from its captured bytes and append the PNG; a failure is stored, never raised."""
        try:
            png = await self._render(shot)
        except Exception as exc:  # Playwright raises its own kinds for a crash, a timeout, a closed page
            self._failed(shot.source_id, shot.url, one_line(str(exc), 500) or type(exc).__name__)
            return
        writer = self.capture.writer if self.capture is not None else None
        if writer is None:
            self._failed(shot.source_id, shot.url, "the WARC file closed before the screenshot was taken")
            return
        writer.append(prepare_screenshot(url=shot.url, concurrent_to=shot.concurrent_to, png=png,
                                         taken_at=datetime.now(UTC)))
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("lastseen/screenshots")

    async def _render(self, shot: Shot) -> bytes:
        browser = await self._started()
        assert self._pool is not None
        async with self._pool:
            context = await new_context(browser, viewport=VIEWPORT, user_agent=self.ws.settings.user_agent)
            try:
                await context.route("**/*", self._from_archive)
                await context.route_web_socket(re.compile(".*"), _no_socket)
                page = await context.new_page()
                await page.goto(shot.url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
                return bytes(await page.screenshot(full_page=True, type="png", timeout=PAGE_TIMEOUT_MS))
            finally:
                await context.close()

    async def _from_archive(self, route: Any) -> None:
        """Any request of the page, its frames and workers: the archived response for its URL, or a failure."""
        request = route.request
        writer = self.capture.writer if self.capture is not None else None
        answer = None
        if request.method in ("GET", "HEAD"):
            answer = await asyncio.to_thread(self.archived.answer, request.url, writer)
        if answer is None:
            await route.abort("blockedbyclient")
            return
        await route.fulfill(status=answer.status, headers=answer.headers, body=answer.body)

    async def _started(self) -> Any:
        """The browser, launched on first use."""
        if self._launching is None:
            self._launching = asyncio.Lock()
        async with self._launching:
            if self._browser is None:
                from playwright.async_api import async_playwright

                self._proxy = RefusingProxy().start()
                self._playwright = await async_playwright().start()
                self._browser = await launch(self._playwright, self.ws.settings, self.chromium, self._proxy.url)
                self._pool = asyncio.Semaphore(max(1, self.ws.settings.screenshot_pages))
        return self._browser

    async def _close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        if self._proxy is not None:
            self._proxy.stop()
        self._browser = self._playwright = self._proxy = None

    def _failed(self, source_id: int, url: str, detail: str) -> None:
        """A screenshot that could not be taken: a stored failure with its reason; the capture stands."""
        logger.warning("no screenshot of %s: %s", url, detail)
        with session_scope(self.ws.sessions) as session:
            session.add(CrawlFailure(source_id=source_id, url=url, reason="screenshot", detail=detail[:2000]))
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("lastseen/screenshot_failures")


async def _no_socket(socket: Any) -> None:
    """A WebSocket the archived page opens: closed, never connected (the archive holds no WebSocket traffic)."""
    await socket.close()
