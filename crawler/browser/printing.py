"""Printing a local HTML document (an evidence dossier) to PDF with the Chromium pages cannot steer.

The document is local content: the browser is given it under one address by the page's route and nothing else;
every other request is refused there, WebSockets are closed, JavaScript is off, and whatever Chromium sends past
the route goes to a proxy that refuses it (crawler.browser.refusing), so printing touches no network at all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from typing import Any

from archive.config import Settings
from crawler.browser.launch import launch, new_context
from crawler.browser.refusing import RefusingProxy

DOCUMENT_URL = "https://lastseen.invalid/dossier.html"  # never resolved: the route answers it
PRINT_TIMEOUT_MS = 120_000
# Every page names the document and its place in it, so a printed page out of the pile is still placed.
FOOTER = ("<div style='font-size:8px;width:100%;text-align:center;color:#555;font-variant-ligatures:none'>"
          "<span class='title'></span> - page <span class='pageNumber'></span> of <span class='totalPages'></span>"
          "</div>")


class PrintError(Exception):
    """The document could not be printed (the reason is one line)."""


def print_pdf(settings: Settings, chromium: str, html: bytes) -> bytes:
    """The PDF of an HTML document (A4, backgrounds printed), rendered with no network.

    The browser runs on an event loop of its own thread, so a caller inside another loop (the API, a test's
    browser) may print too.
    """
    try:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lastseen-print") as pool:
            return pool.submit(asyncio.run, _print(settings, chromium, html)).result()
    except PrintError:
        raise
    except Exception as exc:  # Playwright's own error kinds: a crash, a timeout, a browser that will not start
        raise PrintError(" ".join(str(exc).split())[:300] or type(exc).__name__) from None


async def _print(settings: Settings, chromium: str, html: bytes) -> bytes:
    from playwright.async_api import async_playwright

    proxy = RefusingProxy().start()
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright, settings, chromium, proxy.url)
            try:
                context = await new_context(browser, java_script_enabled=False)
                await context.route("**/*", lambda route: _only_the_document(route, html))
                await context.route_web_socket(re.compile(".*"), _no_socket)
                page = await context.new_page()
                await page.goto(DOCUMENT_URL, wait_until="load", timeout=PRINT_TIMEOUT_MS)
                return bytes(await page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                                            display_header_footer=True, header_template="<span></span>",
                                            footer_template=FOOTER,
                                            margin={"top": "12mm", "bottom": "14mm", "left": "10mm",
                                                    "right": "10mm"}))
            finally:
                await browser.close()
    finally:
        proxy.stop()


async def _only_the_document(route: Any, html: bytes) -> None:
    """The document itself for its address; every other request fails without leaving the browser."""
    if route.request.url == DOCUMENT_URL and route.request.method == "GET":
        await route.fulfill(status=200, headers={"Content-Type": "text/html; charset=utf-8"}, body=html)
        return
    await route.abort("blockedbyclient")


async def _no_socket(socket: Any) -> None:
    """A WebSocket (none is expected without scripts): closed, never connected."""
    await socket.close()
