"""Capturing one page in a browser: load it, let it settle, scroll it, keep what it received and what it built.

The page loads in a fresh profile of a steering-proof Chromium (crawler.browser.launch) whose every connection
goes through the guarded forwarding proxy; a PageRecorder writes each response it receives into the crawl's
WARC. Behaviours: wait for the network to settle, scroll to the bottom (a few screens at a time) so lazy
content loads, settle again; all within LASTSEEN_BROWSER_PAGE_SECONDS, after which what the page loaded is
kept as it is. Then the rendered DOM becomes a `resource` record tied to the page's response record (its text
is what the page's description reads), and a screenshot of the same page is taken when asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.net.http import one_line
from archive.warc import ExchangeRecords, RollingWarcWriter, WarcRecordInfo, prepare_rendered, prepare_screenshot
from crawler.browser.launch import new_context
from crawler.browser.recorder import Caps, Exchange, PageRecorder, Write

logger = logging.getLogger(__name__)

VIEWPORT = {"width": 1280, "height": 800}
SETTLE_MS = 500  # the network counts as settled after this long with no request under way (Playwright's idle)
SCROLL_STEPS = 20  # screens scrolled at most
_CLOSE_TIMEOUT = 10.0


class BrowserCaptureError(Exception):
    """The page could not be captured in the browser (no response for it); the message says why."""


@dataclass(frozen=True)
class Asked:
    """A page to capture: its URL, the crawl's writer, and what the page may take."""

    url: str
    writer: RollingWarcWriter
    caps: Caps
    seconds: float
    user_agent: str
    screenshot: bool = False


@dataclass(frozen=True)
class Captured:
    """What a browser capture gave: the page's records and response, the DOM it rendered, what was skipped."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    records: ExchangeRecords
    rendered: WarcRecordInfo
    html: str
    recorded: int
    skipped: list[tuple[str, str]]
    timed_out: bool
    screenshot: WarcRecordInfo | None = None


class _Clock:
    """Seconds left of a page's time."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def ms(self, at_most: float | None = None) -> float:
        left = self.left() if at_most is None else min(self.left(), at_most)
        return max(1.0, left * 1000)


def _writer_of(asked: Asked) -> Write:
    """How the page's recorder writes an exchange: a request/response pair through the crawl's writer."""

    def write(exchange: Exchange) -> ExchangeRecords:
        host = exchange.url.split("://", 1)[-1].split("/", 1)[0]
        headers = exchange.request_headers
        if not any(name.lower() == "host" for name, _ in headers):
            headers = [("Host", host), *headers]
        return asked.writer.write_exchange(
            url=exchange.url, method=exchange.method, request_headers=headers, http_version="HTTP/1.1",
            status=exchange.status, reason=exchange.reason, response_headers=exchange.response_headers,
            body=exchange.body, ip_address=None, fetched_at=exchange.fetched_at)
    return write


async def capture_page(browser: Any, asked: Asked) -> Captured:
    """Load, settle, scroll and record one page in a fresh context; BrowserCaptureError when nothing came."""
    clock = _Clock(asked.seconds)
    asked.writer.hold()  # the rendered DOM's record goes into the file that holds the page's response record
    context = await new_context(browser, viewport=VIEWPORT, user_agent=asked.user_agent)
    try:
        page = await context.new_page()
        recorder = PageRecorder(_writer_of(asked), asked.caps, clock.left)
        await recorder.attach(context, page)
        timed_out = await _behave(page, asked.url, clock)
        await recorder.drain(min(clock.left(), 5.0) or 0.5)
        if recorder.main is None or recorder.main_exchange is None:
            why = f"timed out: no response within {asked.seconds:g} s (LASTSEEN_BROWSER_PAGE_SECONDS)"
            raise BrowserCaptureError(f"{asked.url}: {why if timed_out else 'no response'}")
        html = await _dom(page, clock)
        main, exchange = recorder.main, recorder.main_exchange
        rendered = asked.writer.append(prepare_rendered(url=exchange.url, concurrent_to=main.response.record_id,
                                                        html=html.encode("utf-8"), taken_at=datetime.now(UTC)))
        shot = await _screenshot(page, exchange.url, main, asked, clock) if asked.screenshot else None
        return Captured(url=exchange.url, status=exchange.status, headers=exchange.response_headers, records=main,
                        rendered=rendered, html=html, recorded=recorder.recorded, skipped=list(asked.caps.skipped),
                        timed_out=timed_out, screenshot=shot)
    finally:
        asked.writer.release()
        try:
            await asyncio.wait_for(context.close(), _CLOSE_TIMEOUT)
        except Exception as exc:  # a context that will not close goes with its browser
            logger.warning("closing a capture's context: %s", one_line(str(exc)))


async def _behave(page: Any, url: str, clock: _Clock) -> bool:
    """Load the page, settle, scroll to load lazy content, settle again; True when the page's time ran out."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.goto(url, wait_until="load", timeout=clock.ms())
        await page.wait_for_load_state("networkidle", timeout=clock.ms())
        if await _scroll(page, clock):
            await page.wait_for_load_state("networkidle", timeout=clock.ms())
    except PlaywrightError as exc:  # a timeout, or a navigation the page made itself
        logger.info("browser capture of %s: %s", url, one_line(str(exc), 300))
        return clock.left() <= 0.05 or "Timeout" in type(exc).__name__
    return False


async def _scroll(page: Any, clock: _Clock) -> bool:
    """Scroll a screen at a time to the bottom (at most SCROLL_STEPS screens), letting lazy content ask for more;
    False when the page fits its window (nothing to scroll)."""
    bottom = ("() => window.scrollY + window.innerHeight >= "
              "Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0) - 2")
    if await page.evaluate(bottom):
        return False
    for _ in range(SCROLL_STEPS):
        if clock.left() < 1.0:
            break
        await page.evaluate("() => window.scrollBy(0, window.innerHeight)")
        await page.wait_for_timeout(min(250.0, clock.ms()))
        if await page.evaluate(bottom):
            break
    return True


async def _dom(page: Any, clock: _Clock) -> str:
    """The page's DOM as HTML now (the page may still be loading: what it has built so far)."""
    try:
        return str(await asyncio.wait_for(page.content(), max(2.0, min(clock.left(), 10.0))))
    except Exception as exc:  # a page still navigating: its content cannot be read
        raise BrowserCaptureError(f"the rendered page could not be read: {one_line(str(exc), 300)}") from None


async def _screenshot(page: Any, url: str, main: ExchangeRecords, asked: Asked,
                      clock: _Clock) -> WarcRecordInfo | None:
    """A full-page PNG of the page as captured, tied to its response record; None when it cannot be taken."""
    try:
        png = await page.screenshot(full_page=True, type="png", timeout=max(2000.0, clock.ms(15.0)))
    except Exception as exc:  # a page too tall or gone: the capture stands without its picture
        logger.warning("no screenshot of %s: %s", url, one_line(str(exc), 300))
        return None
    return asked.writer.append(prepare_screenshot(url=url, concurrent_to=main.response.record_id, png=bytes(png),
                                                  taken_at=datetime.now(UTC)))
