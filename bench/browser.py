"""Browser capture benchmark: pages per minute per browser, lastseen recording vs plain Playwright.

Usage: .venv/bin/python bench/browser.py [--pages 60] [--runs 1]
A local site of JS-rendered pages (an HTML shell, a script, the text fetched from a JSON endpoint and an image
it inserts, a stylesheet) is loaded page after page by one browser each way, in the same run:
- plain Playwright: the same Chromium, launched as Playwright does, a fresh context per page, `goto` until the
  network is idle and the DOM read; nothing recorded, no proxy (the limit);
- lastseen: one capture browser of the pool (crawler.browser.pool: hardened, through the guarded forwarding
  proxy, every response recorded through CDP into a WARC file, settle, scroll, rendered DOM record).
Target (issue #21): at least 70% of plain Playwright's pages per minute. Browsertrix-crawler publishes
10-13 pages/min per container for the web at large.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHELL = ('<!doctype html><html><head><title>Story {n}</title><link rel="stylesheet" href="/style.css">'
         '<script src="/app.js"></script></head><body><div id="app">Loading</div></body></html>')
APP = ("fetch('/api/' + location.pathname.split('/').pop() + '.json').then(r => r.json()).then(d => {"
       " const app = document.getElementById('app');"
       " app.innerHTML = '<h1>' + d.title + '</h1>' + d.paragraphs.map(p => '<p>' + p + '</p>').join('');"
       " const img = new Image(); img.src = '/img/' + d.n + '.png'; app.appendChild(img); });")
STYLE = "body { font-family: serif; max-width: 40em; margin: auto } h1 { font-size: 2em }"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        path = self.path.split("?", 1)[0]
        if path.startswith("/story/"):
            body, kind = SHELL.format(n=path.rsplit("/", 1)[-1]).encode(), "text/html; charset=utf-8"
        elif path == "/app.js":
            body, kind = APP.encode(), "application/javascript"
        elif path == "/style.css":
            body, kind = STYLE.encode(), "text/css"
        elif path.startswith("/api/"):
            n = path.rsplit("/", 1)[-1].removesuffix(".json")
            story = {"n": n, "title": f"Story {n}: the river rose",
                     "paragraphs": [f"Paragraph {i} of story {n}: the water reached the old bridge." * 4
                                    for i in range(8)]}
            body, kind = json.dumps(story).encode(), "application/json"
        elif path.startswith("/img/"):
            body, kind = IMAGE, "image/png"
        else:
            body, kind = b"no", "text/plain"
        self.send_response(200 if kind != "text/plain" else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _plain(chromium: str, urls: list[str]) -> tuple[float, int]:
    """Plain Playwright: seconds for the pages, and how many showed their text."""
    from playwright.async_api import async_playwright

    async def run() -> tuple[float, int]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium)
            shown = 0
            started = time.perf_counter()
            for url in urls:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(url, wait_until="networkidle", timeout=60_000)
                shown += "the water reached" in await page.content()
                await context.close()
            took = time.perf_counter() - started
            await browser.close()
            return took, shown

    return asyncio.run(run())


def _lastseen(chromium: str, urls: list[str], spool: Path) -> tuple[float, int, int]:
    """One capture browser of lastseen's pool: seconds, pages whose rendered DOM held the text, records written."""
    from archive.config import load_settings
    from archive.warc import RollingWarcWriter
    from crawler.browser.capture import Asked
    from crawler.browser.pool import BrowserPool
    from crawler.browser.recorder import Caps

    settings = load_settings(environ={"LASTSEEN_DATA_DIR": str(spool / "data"), "LASTSEEN_CHROMIUM_PATH": chromium,
                                      "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32"})
    closed = []
    writer = RollingWarcWriter(spool, prefix="bench", max_size=1024**3, warcinfo={}, on_close=closed.append)
    pool = BrowserPool(settings, chromium, size=1).start()
    try:
        pool.capture(Asked(urls[0], writer, Caps(300, 10**8, 10**8), 60, settings.user_agent)).result()  # warm up
        shown = 0
        started = time.perf_counter()
        for url in urls:
            done = pool.capture(Asked(url, writer, Caps(300, 10**8, 10**8), 60, settings.user_agent)).result()
            shown += "the water reached" in done.html
        took = time.perf_counter() - started
    finally:
        pool.close()
        writer.close()
    return took, shown, sum(c.records for c in closed)


def _load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    from archive.config import Settings
    from crawler.screenshots import chromium_found

    chromium = chromium_found(Settings())
    if chromium is None:
        sys.exit("Chromium and Playwright are needed (LASTSEEN_CHROMIUM_PATH)")
    server = _serve()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/story/{n}" for n in range(args.pages)]
    print(f"pages: {args.pages} JS-rendered (shell, script, JSON text, image, stylesheet), {os.cpu_count()} cores, "
          f"{_load()} before", flush=True)
    _plain(chromium, urls[:2])  # warm up
    for run in range(args.runs):
        plain, plain_shown = _plain(chromium, urls)
        with tempfile.TemporaryDirectory() as folder:
            ours, ours_shown, records = _lastseen(chromium, urls, Path(folder))
        plain_rate, our_rate = 60 * len(urls) / plain, 60 * len(urls) / ours
        print(f"run {run + 1}: plain Playwright {plain_rate:.0f} pages/min ({plain_shown} showed the text); "
              f"lastseen {our_rate:.0f} pages/min per browser ({ours_shown} rendered with the text, {records} WARC "
              f"records); ratio {our_rate / plain_rate:.0%}; {_load()}", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
