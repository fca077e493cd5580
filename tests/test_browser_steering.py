"""A page cannot steer Chromium around the net guard: sixteen techniques against loopback canaries.

The pages are served on 127.0.0.1 at the site's port, the only address the allow-list names; each technique
has its own two canaries, one on 127.0.0.2 and one on another port of 127.0.0.1 (same site, other port), so
what reached where is known. A plain Chromium shows each technique works (the control); the hardened one,
through the guarded forwarding proxy (with and without an upstream proxy), and screenshots rendered from the
archive, and captures in a capture browser (browser mode) reach none, and no screenshot shows the internal
page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from archive.config import Settings
from archive.net.forward import guarded_proxy_url
from crawler.browser.launch import launch, new_context
from crawler.screenshots import chromium_found
from tests.conftest import _need
from tests.servers.canary import Canary
from tests.servers.proxy import RegionProxy
from tests.servers.site import Page, Site
from tests.steering import TECHNIQUES, steering_page
from tests.test_crawl import crawl, stored_records


@pytest.fixture
def canaries() -> Iterator[dict[str, list[Canary]]]:
    made = {name: [Canary("127.0.0.2").start(), Canary("127.0.0.1").start()] for name in TECHNIQUES}
    yield made
    for pair in made.values():
        for canary in pair:
            canary.stop()


def _serve(site: Site, canaries: dict[str, list[Canary]]) -> str:
    """Every technique's page on the site; returns the allow-list entry naming the site's port alone."""
    for name, pair in canaries.items():
        site.set(f"/steer/{name}", Page(steering_page(name, [c.url("").rstrip("/") for c in pair])))
    return f"127.0.0.1/32:{urlsplit(site.url('/')).port}"


def _reached(canaries: dict[str, list[Canary]]) -> dict[str, int]:
    return {name: sum(c.count() for c in pair) for name, pair in canaries.items()}


async def _visit(browser: Any, site: Site, hardened: bool, settle: float,
                 reached: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Every technique's page, four at a time, each in its own context; the title each page showed. A page stays
    open `settle` seconds, or only until `reached(technique)` says its technique got through (the control)."""
    pool = asyncio.Semaphore(4)

    async def one(name: str) -> str:
        async with pool:
            context = await (new_context(browser) if hardened else browser.new_context())
            try:
                page = await context.new_page()
                await page.goto(site.url(f"/steer/{name}"), wait_until="load", timeout=60_000)
                title = await page.title()
                until = time.monotonic() + settle
                while time.monotonic() < until and not (reached is not None and reached(name)):
                    await asyncio.sleep(0.1)
                return title
            except Exception as exc:  # a page that navigates itself away may interrupt the load
                return f"error: {exc}"
            finally:
                await context.close()

    return dict(zip(TECHNIQUES, await asyncio.gather(*(one(name) for name in TECHNIQUES)), strict=True))


def test_each_technique_reaches_a_canary_from_a_plain_chromium(site: Site, canaries) -> None:
    """The control: without the hardening, every technique gets through; so zero below means something."""
    settings = Settings()
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    _serve(site, canaries)

    async def run() -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=settings.chromium_path)
            await _visit(browser, site, hardened=False, settle=2.5,
                         reached=lambda name: sum(c.count() for c in canaries[name]) > 0)
            await browser.close()

    asyncio.run(run())
    reached = _reached(canaries)
    assert all(reached.values()), {name: n for name, n in reached.items() if not n}


@pytest.mark.parametrize("upstream", [False, True], ids=["direct", "LASTSEEN_PROXY"])
def test_no_technique_reaches_a_canary_through_the_guarded_proxy(site: Site, canaries, upstream: bool) -> None:
    settings = Settings()
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    allow = _serve(site, canaries)
    region = RegionProxy().start() if upstream else None
    proxy = guarded_proxy_url([allow], region.url if region else "")

    async def run() -> dict[str, str]:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await launch(playwright, settings, settings.chromium_path, proxy)
            titles = await _visit(browser, site, hardened=True, settle=2.5)
            await browser.close()
            return titles

    try:
        titles = asyncio.run(run())
    finally:
        if region is not None:
            region.stop()
    time.sleep(0.5)
    assert _reached(canaries) == dict.fromkeys(TECHNIQUES, 0)
    loaded = [name for name, title in titles.items() if title == name]
    assert len(loaded) >= len(TECHNIQUES) - 2, titles  # the pages came through the proxy (two navigate away)
    if region is not None:
        assert region.seen and all(urlsplit(url).port == urlsplit(site.url("/")).port for url in region.seen), \
            "the pages went through the upstream proxy, nothing else did"


def _shows_red(image: bytes) -> bool:
    """Whether a PNG has a pixel of the canary's internal page (pure red)."""
    import png

    _, _, rows, _ = png.Reader(bytes=image).asRGBA8()
    return any(b"\xff\x00\x00\xff" in bytes(row) for row in rows)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "LASTSEEN_PROXY"])
def test_no_technique_reaches_a_canary_from_a_screenshot(settings: Settings, site: Site, canaries,
                                                         proxied: bool) -> None:
    """The crawl captures every technique's page and screenshots it from the archive: no canary is reached and
    no stored image shows the internal page."""
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    allow = _serve(site, canaries)
    env = {"LASTSEEN_SCREENSHOTS": "yes", "LASTSEEN_ALLOW_NETWORKS": allow}
    if not proxied:
        env["LASTSEEN_PROXY"] = ""
    code, summary, stderr = crawl(settings, site, *[site.url(f"/steer/{name}") for name in TECHNIQUES],
                                  "-c", "steer", extra_env=env)
    assert code == 0 and summary["captured"] == len(TECHNIQUES), stderr[-3000:]
    time.sleep(0.5)
    assert _reached(canaries) == dict.fromkeys(TECHNIQUES, 0)
    shots = {h.get_header("WARC-Target-URI"): body for _, kind, h, body in stored_records(settings)
             if kind == "resource"}
    assert len(shots) >= len(TECHNIQUES) - 2, sorted(shots)  # two pages navigate away while loading
    assert not [uri for uri, image in shots.items() if _shows_red(image)]
    assert all(site.hits(f"/steer/{name}") == 1 for name in TECHNIQUES), "the crawl's fetch, none for a screenshot"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "LASTSEEN_PROXY"])
def test_no_technique_reaches_a_canary_in_browser_capture(settings: Settings, site: Site, canaries,
                                                          proxied: bool) -> None:
    """The crawl captures every technique's page in a capture browser (everything it receives recorded, its
    screenshot taken from the same page): no canary is reached, no record holds the internal page, and no
    stored image shows it."""
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    allow = _serve(site, canaries)
    env = {"LASTSEEN_SCREENSHOTS": "yes", "LASTSEEN_ALLOW_NETWORKS": allow, "LASTSEEN_CAPTURE": "browser",
           "LASTSEEN_BROWSER_PAGE_SECONDS": "5", "LASTSEEN_BROWSERS": "4"}
    if not proxied:
        env["LASTSEEN_PROXY"] = ""
    code, summary, stderr = crawl(settings, site, *[site.url(f"/steer/{name}") for name in TECHNIQUES],
                                  "-c", "steer", extra_env=env)
    assert code in (0, 1) and summary["captured"] >= len(TECHNIQUES) - 2, stderr[-3000:]
    time.sleep(0.5)
    assert _reached(canaries) == dict.fromkeys(TECHNIQUES, 0)
    records = stored_records(settings)
    assert not [h.get_header("WARC-Target-URI") for _, kind, h, body in records
                if kind in {"response", "resource"} and b"INTERNAL SECRET" in body]
    rendered = {h.get_header("WARC-Target-URI") for _, kind, h, _ in records
                if kind == "resource" and h.get_header("WARC-Target-URI").startswith("urn:lastseen:rendered:")}
    assert len(rendered) >= len(TECHNIQUES) - 2, sorted(rendered)  # captured in the browser, not over HTTP
    shots = {h.get_header("WARC-Target-URI"): body for _, kind, h, body in records
             if kind == "resource" and h.get_header("WARC-Target-URI").startswith("urn:lastseen:screenshot:")}
    assert shots and not [uri for uri, image in shots.items() if _shows_red(image)]


def test_chromium_runs_sandboxed_as_an_unprivileged_user(caplog: pytest.LogCaptureFixture) -> None:
    """Chromium's own sandbox report says it is sandboxed and, under root, its processes are not root's; where
    the sandbox cannot start (a Chromium that refuses it here), it runs without one and says why in the log."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    settings = Settings()
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    folder = Path(tempfile.mkdtemp())  # not under pytest's folder: the unprivileged user must reach the script
    folder.chmod(0o755)
    no_sandbox = folder / "chromium-without-userns"
    no_sandbox.write_text("#!/bin/sh\n"
                          f"case \" $* \" in *\" --no-sandbox \"*) exec {settings.chromium_path} \"$@\";; esac\n"
                          "echo 'No usable sandbox! (a test Chromium)' >&2\nexit 1\n")
    no_sandbox.chmod(0o755)

    async def report(chromium: str) -> tuple[str, set[str]]:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await launch(playwright, settings, chromium, guarded_proxy_url([]))
            page = await (await new_context(browser)).new_page()
            await page.goto("chrome://sandbox")
            text = await page.inner_text("body")
            ps = subprocess.run(["ps", "-eo", "user:32,args"], capture_output=True, text=True).stdout
            users = {line.split(None, 1)[0] for line in ps.splitlines() if "--type=renderer" in line}
            await browser.close()
            return text, users

    text, users = asyncio.run(report(settings.chromium_path))
    assert "adequately sandboxed" in text and "NOT" not in text, text
    if os.geteuid() == 0:
        assert users and "root" not in users, users
    try:
        with caplog.at_level("WARNING", logger="crawler.browser.launch"):
            text, _ = asyncio.run(report(str(no_sandbox)))
    finally:
        shutil.rmtree(folder)
    assert "NOT adequately sandboxed" in text, "it ran, without its sandbox"
    assert "sandbox did not start" in caplog.text and "sandboxing failed" in caplog.text
