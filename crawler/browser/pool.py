"""A pool of capture browsers on a thread of their own: LASTSEEN_BROWSERS Chromiums, one page at a time each.

The crawl (Twisted's reactor) asks for a page and gets a concurrent Future; the pool's asyncio loop runs
Playwright. Browsers start on first use and a crashed one is started again for the next page. Every browser
sends everything through the guarded forwarding proxy for the crawl's allow-list and proxy setting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

from archive.config import Settings
from archive.net.forward import guarded_proxy_url
from archive.net.http import one_line
from crawler.browser.capture import Asked, Captured, capture_page
from crawler.browser.launch import launch

logger = logging.getLogger(__name__)

# Capture browsers only: one renderer process for a page and its frames, so that CDP's Fetch domain on the
# page's target sees the requests of cross-site frames too (each page still has a fresh profile, sandboxed).
CAPTURE_ARGS = ["--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process"]


class BrowserPool:
    """Captures pages in up to `size` browsers at once; start, capture (thread-safe), close."""

    def __init__(self, settings: Settings, chromium: str, size: int | None = None) -> None:
        self.settings, self.chromium = settings, chromium
        self.size = max(1, size if size is not None else settings.browsers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="browser-pool", daemon=True)
        self._idle: asyncio.Queue[Any] | None = None
        self._playwright: Any = None
        self._browsers: list[Any] = []
        self._starting: asyncio.Lock | None = None
        self._started = False

    def start(self) -> BrowserPool:
        self._thread.start()
        self._started = True
        return self

    def capture(self, asked: Asked) -> concurrent.futures.Future[Captured]:
        """Capture a page in the next free browser (a Future of its Captured, or of the error that stopped it)."""
        return asyncio.run_coroutine_threadsafe(self._capture(asked), self._loop)

    async def _capture(self, asked: Asked) -> Captured:
        idle = await self._ready()
        browser = await idle.get()
        try:
            if not browser.is_connected():
                browser = await self._launch()
            return await asyncio.wait_for(capture_page(browser, asked), asked.seconds + 30.0)
        finally:
            idle.put_nowait(browser)

    async def _ready(self) -> asyncio.Queue[Any]:
        """The queue of idle browsers, filled on first use."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._idle is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
                idle: asyncio.Queue[Any] = asyncio.Queue()
                for _ in range(self.size):
                    idle.put_nowait(await self._launch())
                self._idle = idle
        return self._idle

    async def _launch(self) -> Any:
        proxy = guarded_proxy_url(self.settings.allow_networks, self.settings.proxy)
        browser = await launch(self._playwright, self.settings, self.chromium, proxy, extra_args=CAPTURE_ARGS)
        self._browsers.append(browser)
        return browser

    def close(self) -> None:
        """Close every browser and stop the loop."""
        if not self._started:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=60)
        except Exception as exc:  # browsers that will not close are killed with this process
            logger.warning("closing the capture browsers: %s", one_line(str(exc)))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._started = False

    async def _close(self) -> None:
        for browser in self._browsers:
            try:
                await browser.close()
            except Exception as exc:  # already gone
                logger.debug("a capture browser: %s", one_line(str(exc)))
        if self._playwright is not None:
            await self._playwright.stop()
        self._browsers, self._playwright = [], None
