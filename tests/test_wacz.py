"""The WACZ export opened by the real tools: py-wacz validates it, pywb imports and replays it, its page list
is the site's HTML pages with their text (and ReplayWeb.page shows and searches it, where Chromium is present)."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from archive.config import Settings
from tests.conftest import _need
from tests.servers.pywb import _clean_env
from tests.servers.site import Page, Site
from tests.servers.wacz import ToolUnavailable, pywacz_venv, replaywebpage_dir, serve_folder
from tests.test_crawl import crawl
from tests.test_dashboard import CHROMIUM, CHROMIUM_ARGS

GZIP_PAGE = ("<html><head><title>Flood in the valley</title></head><body><article><h1>Flood in the valley</h1>"
             "<p>The river rose three metres overnight and the old bridge was closed by the police.</p>"
             "<p>Residents filmed the water reaching the market square, and the council met at noon.</p>"
             "</article></body></html>")
CYRILLIC_PAGE = ("<html><head><title>Новости региона</title></head><body><article><p>Сегодня в городе прошёл "
                 "митинг, полиция задержала несколько человек.</p><p>Видео с места событий опубликовали "
                 "очевидцы.</p></article></body></html>")
HOME_PAGE = ('<html><head><title>Valley News</title></head><body><article><p>Today on Valley News: the flood, '
             'the rally and the weather for the whole week ahead.</p><img src="/logo.png">'
             '<video src="/media/clip.mp4"></video></article></body></html>')
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


def build_site(site: Site) -> dict[str, bytes]:
    """A redirect, a 404, a gzip page, a cp1251 page, an image and a video file; the bytes served, by path."""
    gzip_page = Page(GZIP_PAGE, encoding="gzip")
    site.set("/", Page(HOME_PAGE))
    site.set("/old", Page("", status=301, headers=[("Location", "/gzip.html")], content_type=None))
    site.set("/gzip.html", gzip_page)
    site.set("/cp1251.html", Page(CYRILLIC_PAGE, content_type="text/html; charset=windows-1251",
                                  charset_body="cp1251"))
    site.set("/gone", Page("<html><head><title>Not Found</title></head><body>nothing here</body></html>",
                           status=404))
    site.set("/logo.png", Page(PNG, content_type="image/png"))
    site.set("/media/clip.mp4", Page(CLIP, content_type="video/mp4"))
    return {"/": HOME_PAGE.encode(), "/gzip.html": GZIP_PAGE.encode(), "/cp1251.html": CYRILLIC_PAGE.encode("cp1251"),
            "/logo.png": PNG, "/media/clip.mp4": CLIP}


@pytest.fixture(scope="module")
def tool_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where installed tools are kept between runs: the pytest cache folder."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    return Path(cache.mkdir("lastseen")) if cache is not None else tmp_path_factory.mktemp("tool-cache")


@pytest.fixture(scope="module")
def pywacz_bin(tool_cache: Path) -> Path:
    try:
        return pywacz_venv(tool_cache)
    except ToolUnavailable as exc:
        _need(f"py-wacz cannot be installed here: {exc}")
        raise


@pytest.fixture(scope="module")
def replaywebpage(tool_cache: Path) -> Path:
    """ReplayWeb.page's app (index.html, ui.js, sw.js) from the npm registry."""
    try:
        return replaywebpage_dir(tool_cache)
    except ToolUnavailable as exc:
        _need(f"ReplayWeb.page cannot be fetched here: {exc}")
        raise


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium (never a downloaded build), driven by Playwright."""
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


@pytest.fixture
def exported(settings: Settings, site: Site, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """The test site crawled by lastseen into a collection, exported as WACZ; the site is stopped after."""
    served = build_site(site)
    paths = ["/", "/old", "/cp1251.html", "/gone", "/logo.png", "/media/clip.mp4"]
    code, summary, stderr = crawl(settings, site, *[site.url(p) for p in paths], "-c", "flood")
    assert code == 0, stderr[-3000:]
    assert summary["failed"].get("http_404") == 1, summary
    site.stop()  # from here on, only the archive can answer
    out = tmp_path / "flood.wacz"
    code, result, stderr = crawl(settings, site, str(out), "-c", "flood", command="export")
    assert code == 0, stderr
    return out, served


@contextmanager
def _pywb_replay(pywb_bin: Path, wacz: Path, root: Path) -> Iterator[str]:
    """`wb-manager init` and `wb-manager add --unpack-wacz` in a fresh folder, then a plain `wayback` (no live
    web, no recording) serving it; yields the collection's base URL."""
    root.mkdir()
    env = _clean_env()
    for args in (["init", "flood"], ["add", "--unpack-wacz", "flood", str(wacz)]):
        done = subprocess.run([str(pywb_bin / "wb-manager"), *args], cwd=root, capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "does not contain any" not in done.stderr, done.stderr
    (root / "config.yaml").write_text("enable_memento: true\nframed_replay: false\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (root / "wayback.log").open("wb")
    process = subprocess.Popen([str(pywb_bin / "wayback"), "-p", str(port), "-b", "127.0.0.1", "-d", str(root)],
                               cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/flood"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (root / "wayback.log").read_text()
            try:
                requests.get(f"{base}/cdx?url=example.com", timeout=2, proxies={"http": "", "https": ""})
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "pywb did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wacz_export_validates_imports_into_pywb_and_lists_the_pages(
        exported: tuple[Path, dict[str, bytes]], site: Site, pywacz_bin: Path, pywb_bin: Path,
        tmp_path: Path) -> None:
    wacz, served = exported

    # py-wacz's own validator accepts the package.
    checked = subprocess.run([str(pywacz_bin / "wacz"), "validate", "-f", str(wacz)], capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0 and "validation succeeded" in checked.stdout.lower(), checked.stdout + checked.stderr

    # pages.jsonl: exactly the HTML pages (not the redirect, the 404, the image or the video), once each,
    # with title and main text for full-text search.
    with zipfile.ZipFile(wacz) as package:
        header, *pages = [json.loads(line) for line in package.read("pages/pages.jsonl").decode().splitlines()]
    assert header["format"] == "json-pages-1.0" and header.get("hasText") is True
    by_url = {page["url"]: page for page in pages}
    assert sorted(by_url) == sorted(site.url(p) for p in ("/", "/gzip.html", "/cp1251.html")), by_url.keys()
    assert len(pages) == 3, "each page once"
    assert by_url[site.url("/gzip.html")]["title"] == "Flood in the valley"
    assert "three metres overnight" in by_url[site.url("/gzip.html")]["text"]
    assert by_url[site.url("/cp1251.html")]["title"] == "Новости региона"
    assert "митинг" in by_url[site.url("/cp1251.html")]["text"]
    assert "Valley News" in by_url[site.url("/")]["text"] or "weather" in by_url[site.url("/")]["text"]
    assert all(page["ts"].endswith("Z") and page["id"] for page in pages)

    # pywb imports it with its own WACZ import and replays every capture from it.
    with _pywb_replay(pywb_bin, wacz, tmp_path / "pywb") as base:
        def replay(path: str, **kw: object) -> requests.Response:
            return requests.get(f"{base}/2030id_/{site.url(path)}", timeout=10, proxies={"http": "", "https": ""},
                                **kw)

        for path in ("/", "/cp1251.html", "/logo.png", "/media/clip.mp4"):
            answer = replay(path)
            assert answer.status_code == 200, (path, answer.status_code)
            assert answer.content == served[path], path
            assert answer.headers.get("Memento-Datetime"), path
        gz = replay("/gzip.html", stream=True)
        assert gz.status_code == 200 and gz.headers.get("Content-Encoding") == "gzip"
        assert gzip.decompress(gz.raw.read()) == served["/gzip.html"], "the gzip page's bytes, as sent"
        gone = replay("/gone")
        assert gone.status_code == 404 and b"nothing here" in gone.content, "the archived 404 replays as 404"
        moved = replay("/old", allow_redirects=False)
        assert moved.status_code == 301 and moved.headers["Location"].endswith("/gzip.html")


# Every text node of the app, shadow roots included, trimmed.
TEXT_NODES = """() => { const out = [];
  const walk = (node) => { if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes || []) {
      if (child.nodeType === 3) out.push(child.textContent.trim()); else walk(child); } };
  walk(document.body); return out; }"""


def _wait_for(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"ReplayWeb.page never showed {what}"
        time.sleep(0.3)
    return found


def _frame_texts(page: Any) -> list[str]:
    texts = []
    for frame in page.frames:
        try:
            texts.append(frame.evaluate("document.body ? document.body.innerText : ''"))
        except Exception:  # a frame navigating away meanwhile
            continue
    return texts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replaywebpage_shows_the_pages_and_finds_them_by_their_text(
        exported: tuple[Path, dict[str, bytes]], site: Site, replaywebpage: Path, browser: Any,
        tmp_path: Path) -> None:
    """ReplayWeb.page, served as a static site next to the WACZ, replays pages from it and searches their text."""
    wacz, _ = exported
    web = tmp_path / "web"
    web.mkdir()
    for name in ("index.html", "ui.js", "sw.js"):
        (web / name).write_bytes((replaywebpage / name).read_bytes())
    (web / wacz.name).write_bytes(wacz.read_bytes())
    with serve_folder(web) as base:
        source = quote(f"{base}/{wacz.name}", safe="")
        context = browser.new_context()
        try:
            page = context.new_page()
            for path, words in (("/gzip.html", "three metres overnight"), ("/cp1251.html", "полиция задержала")):
                page.goto(f"{base}/?source={source}#view=replay&url={quote(site.url(path), safe='')}")
                _wait_for(lambda words=words: any(words in text for text in _frame_texts(page)), f"{path}'s text")
            # Full-text search: a word of one page's text only (not in any title or URL) finds that page only.
            for word, path in (("митинг", "/cp1251.html"), ("overnight", "/gzip.html")):
                page.close()
                page = context.new_page()  # the list alone, not what an earlier view left in the app
                page.goto(f"{base}/?source={source}#view=pages&query={quote(word)}")
                others = {site.url(p) for p in ("/", "/gzip.html", "/cp1251.html")} - {site.url(path)}

                def only(url: str = site.url(path), others: set[str] = others, page: Any = page) -> bool:
                    shown = set(page.evaluate(TEXT_NODES))
                    return url in shown and not shown & others

                _wait_for(only, f"{path} alone found by {word!r}")
        finally:
            context.close()
