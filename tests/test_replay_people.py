"""Replay for people: the dashboard's archived copy is ReplayWeb.page reading the capture's WACZ from our API, in
a real Chromium; the site is never asked again; the raw HTML is text only; a kept video plays inside its page."""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from archive.api import archived
from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture, Requisite, Source
from archive.sources import ensure_collection
from archive.urls import url_key
from tests.conftest import _need
from tests.servers.api import ApiServer, add_capture, add_source, at, store_exchange
from tests.servers.site import Page, Site
from tests.test_crawl import crawl
from tests.test_requisites import ARTICLE, FILES

CHROMIUM = Path(os.environ.get("LASTSEEN_TEST_CHROMIUM", "/usr/bin/chromium"))
# The researcher's browser: nothing of its own on the network, only what the dashboard's page asks for.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-proxy-server"]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (what the browser must decode to give naturalWidth > 0)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# The requisites test's article and files, its photos real images here.
IMAGES = {"/img/photo.jpg": png(40, 30, (200, 40, 40)), "/img/photo-2x.jpg": png(80, 60, (200, 40, 40)),
          "/img/photo-3x.jpg": png(120, 90, (200, 40, 40)), "/img/poster.jpg": png(32, 18, (0, 0, 0)),
          "/img/bg.png": png(8, 8, (240, 240, 200))}
SITE_FILES = {path: (IMAGES.get(path, body), "image/png" if path in IMAGES else kind)
              for path, (body, kind) in FILES.items()}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, as the researcher's browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _need(f"Playwright is not installed: {exc}")
        raise
    if not CHROMIUM.exists():
        _need(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _need_replaywebpage() -> None:
    if not archived.replay_installed():
        _need(f"ReplayWeb.page's files are not in {archived.STATIC} (setup.sh installs them with npm)")


def _capture_of(api: ApiServer, url: str) -> int:
    with session_scope(api.workspace.sessions) as session:
        found = session.scalar(select(Capture.id).join(Source).where(Source.normalized_url == url,
                                                                     Capture.record_type == "response")
                               .order_by(Capture.id.desc()))
    assert found is not None, f"no capture of {url}"
    return found


def _replayed_frame(page: Any, url: str, deadline: float) -> Any:
    """ReplayWeb.page's innermost frame replaying url (inside its own frames)."""
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "mp_/" in frame.url and frame.url.endswith(url):
                return frame
        page.wait_for_timeout(200)
    shown = [(frame.url, frame.content()[:800]) for frame in page.frames]
    raise AssertionError(f"ReplayWeb.page never replayed {url}: frames {shown}")


def _open(browser: Any, api: ApiServer, capture_id: int) -> tuple[Any, Any, list[str]]:
    """The dashboard's archived copy in a fresh context signed in as a reader; the requests it made."""
    context = browser.new_context()
    context.add_cookies([{"name": "lastseen_token", "value": api.tokens["reader"], "url": api.base_url}])
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    page = context.new_page()
    page.goto(api.url(f"/captures/{capture_id}"))
    return context, page, asked


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_archived_copy_replays_in_replaywebpage_without_the_site(settings: Settings, site: Site, api: ApiServer,
                                                                     browser: Any) -> None:
    """The article's photo loads inside ReplayWeb.page once the site removed everything; the site is not asked;
    the page says when and from where, links the TimeMap, and its raw HTML is text only."""
    _need_replaywebpage()
    site.set("/article", Page(ARTICLE))
    for path, (body, kind) in SITE_FILES.items():
        site.set(path, Page(body, content_type=kind))
    url = site.url("/article")
    code, summary, stderr = crawl(settings, site, url, "-c", "news")
    assert code == 0 and summary["captured"] >= 1, stderr[-3000:]
    for path in [*SITE_FILES, "/article", "/media/storm.mp4"]:
        site.routes.pop(path, None)
    capture_id = _capture_of(api, url)
    before = len(site.requests)

    context, page, asked = _open(browser, api, capture_id)
    try:
        assert "Archived on" in page.inner_text("#archived") and url in page.inner_text("#archived")
        assert page.get_attribute("a:text('TimeMap')", "href").endswith(f"/api/timemap/link/{url}")
        frame = _replayed_frame(page, url, time.monotonic() + 60)
        frame.wait_for_function("() => { const i = document.querySelector('img'); return i && i.complete "
                                "&& i.naturalWidth > 0 }", timeout=40000)
        assert frame.evaluate("document.querySelector('h1').textContent") == "Storm hits the coast"
        assert frame.evaluate("getComputedStyle(document.body).backgroundImage").count("/img/bg.png") == 1
        page.wait_for_timeout(500)
    finally:
        context.close()
    assert len(site.requests) == before, f"replay reached the live site: {site.requests[before:]}"
    foreign = [u for u in asked if not u.startswith((api.base_url, "blob:", "data:", "about:"))]
    assert not foreign, f"the browser asked another origin: {foreign}"

    answer = api.get(f"/captures/{capture_id}")
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "worker-src 'self'" in policy
    source = api.get(f"/captures/{capture_id}/source")
    assert source.status_code == 200 and source.headers["Content-Type"].startswith("text/plain")
    assert source.headers["X-Content-Type-Options"] == "nosniff" and "<article>" in source.text
    with zipfile.ZipFile(io.BytesIO(api.get(f"/api/captures/{capture_id}/wacz").content)) as wacz:
        index = gzip.decompress(wacz.read("indexes/index.cdx.gz")).decode()
    for path in [*SITE_FILES, "/article", "/media/storm.mp4"]:  # the page, what it needs, the video it plays
        assert f'"url": "{site.url(path)}"' in index, path
    photo = site.url("/img/photo.jpg")  # a requisite: its copies are on its TimeMap and behind its TimeGate
    timemap = api.get(f"/api/timemap/link/{photo}").text
    mementos = re.findall(r"<([^>]+/api/requisites/\d+)>; rel=\"first last memento\"", timemap)
    assert len(mementos) == 1, timemap
    assert requests.get(mementos[0], headers=api.headers("reader"), timeout=10).content == IMAGES["/img/photo.jpg"]
    assert api.get(f"/api/timegate/{photo}").headers["Location"] == mementos[0]
    worker = api.get("/static/replaywebpage/sw.js", role=None)
    assert worker.status_code == 200 and worker.headers["Service-Worker-Allowed"] == "/static/replaywebpage/"
    assert "connect-src 'self'" in worker.headers["Content-Security-Policy"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_replaywebpage_the_page_says_so_and_keeps_the_source(api: ApiServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without npm's files: the archived copy says replay is not installed and links the source."""
    record, uri = store_exchange(api.workspace, "https://news.example/a", b"<html><body>kept</body></html>",
                                 when=at("2026-03-01T10:00"))
    with session_scope(api.workspace.sessions) as session:
        source = add_source(session, ensure_collection(session, "c"), "https://news.example/a")
        capture_id = add_capture(session, source, record, uri).id
    monkeypatch.setattr(archived, "STATIC", Path("/nonexistent/replaywebpage"))
    answer = api.get(f"/captures/{capture_id}")
    assert answer.status_code == 200 and "id='no-replay'" in answer.text and "<replay-web-page" not in answer.text
    assert f"/captures/{capture_id}/source" in answer.text and "2026-03-01 10:00:00 UTC" in answer.text
    assert api.get(f"/captures/{capture_id}", role=None).status_code == 303  # a private collection: sign in
    assert api.get(f"/api/captures/{capture_id}/wacz", role=None).status_code == 401


def clip(path: Path) -> bytes:
    """A second of real H.264 video (ffmpeg's lavfi test source), playable by Chromium."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                    "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", str(path)],
                   check=True, timeout=60)
    return path.read_bytes()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_kept_video_plays_inside_its_page_from_the_archive(settings: Settings, site: Site, api: ApiServer,
                                                             browser: Any, pywb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """yt-dlp's download is replayed inside the page (the page stays the page) in pywb and ReplayWeb.page, its
    bytes from the archive: the <video> reaches HAVE_CURRENT_DATA with the site gone."""
    _need_replaywebpage()
    if subprocess.run(["which", "ffmpeg"], capture_output=True).returncode:
        _need("ffmpeg is not installed")
    media = clip(tmp_path / "clip.mp4")
    site.set("/player", Page('<html><head><title>Flood, filmed</title></head><body><h1>Flood, filmed</h1>'
                             '<video controls muted preload="auto"><source src="/files/flood.mp4" type="video/mp4">'
                             '</video></body></html>'))
    site.set("/files/flood.mp4", Page(media, content_type="video/mp4"))
    url = site.url("/player")
    code, _, stderr = crawl(settings, site, "-c", "media", "--kind", "video", url, command="add")
    assert code == 0, stderr
    code, _, stderr = crawl(settings, site, "-c", "media", extra_env={"LASTSEEN_DOWNLOAD_TIMEOUT": "20"})
    assert code == 0, stderr[-3000:]
    site.routes.pop("/files/flood.mp4")
    site.routes.pop("/player")
    capture_id = _capture_of(api, url)
    before = len(site.requests)

    context, page, _ = _open(browser, api, capture_id)
    try:
        frame = _replayed_frame(page, url, time.monotonic() + 60)
        frame.wait_for_function("() => document.title === 'Flood, filmed' && document.querySelector('video') "
                                "&& document.querySelector('video').readyState >= 2", timeout=40000)
    finally:
        context.close()
    assert len(site.requests) == before, f"replay reached the live site: {site.requests[before:]}"

    wacz = tmp_path / "capture.wacz"
    wacz.write_bytes(api.get(f"/api/captures/{capture_id}/wacz").content)
    collection = pywb.root / "collections" / pywb.collection
    unpacked = subprocess.run([str(pywb.bin_dir / "wb-manager"), "add", "--unpack-wacz", pywb.collection, str(wacz)],
                              cwd=pywb.root, capture_output=True, text=True, timeout=60)
    assert unpacked.returncode == 0, unpacked.stderr[-2000:]
    assert any(collection.joinpath("archive").iterdir())

    def ask(target: str) -> requests.Response:
        return requests.get(f"{pywb.base_url}/{pywb.collection}/2030id_/{target}", timeout=10,
                            proxies={"http": "", "https": ""})

    deadline = time.monotonic() + 30
    while (answer := ask(url)).status_code != 200:
        assert time.monotonic() < deadline, f"pywb never indexed the WACZ: {answer.status_code}"
        time.sleep(0.5)
    assert answer.headers["Content-Type"].startswith("text/html") and b"Flood, filmed" in answer.content
    assert ask(site.url("/files/flood.mp4")).content == media
    assert len(site.requests) == before


@pytest.fixture
def paged_api(settings: Settings) -> Iterator[ApiServer]:
    """The API with TimeMap pages of one memento."""
    from dataclasses import replace

    from tests.servers.api import serve

    yield from serve(replace(settings, timemap_page_size=1))


def test_a_timemap_pages_through_captures_and_requisites_copies(paged_api: ApiServer) -> None:
    """A URL archived as a source and as another page's image: one TimeMap of both kinds, oldest first, paged
    after either kind; the TimeGate picks the closest of both; private copies need a token."""
    api, url = paged_api, "https://news.example/img/logo.png"
    record, uri = store_exchange(api.workspace, url, png(4, 4, (1, 2, 3)), when=at("2026-03-02T00:00"),
                                 headers=[("Content-Type", "image/png")])
    with session_scope(api.workspace.sessions) as session:
        collection = ensure_collection(session, "c")
        capture_id = add_capture(session, add_source(session, collection, url), record, uri).id
        requisites = []
        for day in ("2026-03-01", "2026-03-03"):
            row = Requisite(collection_id=collection.id, captured_at=at(day), url=url, url_hash=url_key(url),
                            kind="image", http_status=200, content_type="image/png",
                            payload_sha256=record.payload_sha256, payload_digest=record.payload_digest,
                            size=record.payload_size, record_type="response", warc_uri=uri,
                            warc_offset=record.offset, warc_length=record.length, record_id=record.record_id)
            session.add(row)
            session.flush()
            requisites.append(row.id)
    found, page_url, pages = [], api.url(f"/api/timemap/link/{url}"), 0
    while page_url:
        lines = api.get(page_url.removeprefix(api.base_url)).text.strip().split(",\n")
        found += re.findall(r"/api/(captures|requisites)/(\d+)>; rel=\"[a-z ]*memento\"", ",".join(lines))
        following = [line for line in lines if 'rel="next timemap"' in line]
        page_url = following[0][1:following[0].index(">")] if following else None
        pages += 1
    assert found == [("requisites", str(requisites[0])), ("captures", str(capture_id)),
                     ("requisites", str(requisites[1]))] and pages == 3
    gate = api.get(f"/api/timegate/{url}", headers={"Accept-Datetime": "Tue, 03 Mar 2026 01:00:00 GMT"})
    assert gate.headers["Location"].endswith(f"/api/requisites/{requisites[1]}")
    assert api.get(f"/api/requisites/{requisites[0]}").content == png(4, 4, (1, 2, 3))
    assert api.get(f"/api/timemap/link/{url}", role=None).status_code == 401
    assert api.get(f"/api/requisites/{requisites[0]}", role=None).status_code == 401
