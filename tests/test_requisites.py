"""Page requisites: what a page needs is archived in the same crawl, replays from the archive alone, and hostile
pages are bounded without stopping the crawl."""

from __future__ import annotations

import hashlib
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.extract.requisites import css_requisites, html_requisites
from archive.models import CrawlFailure, Requisite
from tests.servers.site import Page, Site
from tests.test_crawl import crawl, stored_records


def _bytes(name: str, size: int) -> bytes:
    """Distinct, deterministic bytes for one file of the site."""
    out = b""
    while len(out) < size:
        out += hashlib.sha256(f"{name}{len(out)}".encode()).digest()
    return out[:size]


ARTICLE = """<!doctype html><html><head><title>Storm hits the coast</title>
<link rel="stylesheet" href="/css/main.css"><link rel="icon" href="/favicon.ico">
<script src="/js/app.js"></script></head><body><article><h1>Storm hits the coast</h1>
<img src="/img/photo.jpg" srcset="/img/photo-2x.jpg 2x, /img/photo-3x.jpg 3x" alt="the harbour">
<video poster="/img/poster.jpg" src="/media/storm.mp4"></video>
<p>Waves broke over the harbour wall on Sunday night.</p></article></body></html>"""

FILES = {
    "/css/main.css": (b'@import "type.css";\nbody { background: url(/img/bg.png) no-repeat; }\n', "text/css"),
    "/css/type.css": (b'@font-face { font-family: "News"; src: url("/fonts/news.woff2") format("woff2"); }\n',
                      "text/css"),
    "/js/app.js": (b"document.title += ' (read)';\n", "application/javascript"),
    "/favicon.ico": (_bytes("icon", 300), "image/x-icon"),
    "/img/photo.jpg": (b"\xff\xd8\xff\xe0" + _bytes("photo", 20000), "image/jpeg"),
    "/img/photo-2x.jpg": (b"\xff\xd8\xff\xe0" + _bytes("photo2", 40000), "image/jpeg"),
    "/img/photo-3x.jpg": (b"\xff\xd8\xff\xe0" + _bytes("photo3", 60000), "image/jpeg"),
    "/img/poster.jpg": (b"\xff\xd8\xff\xe0" + _bytes("poster", 5000), "image/jpeg"),
    "/img/bg.png": (b"\x89PNG\r\n\x1a\n" + _bytes("bg", 3000), "image/png"),
    "/fonts/news.woff2": (b"wOF2" + _bytes("font", 8000), "font/woff2"),
}


def test_finding_requisites_in_html_and_css() -> None:
    """The finder reads srcset, picture sources, posters, icons, inline styles and base href; CSS by tinycss2."""
    page = (b'<html><head><base href="http://a.test/b/"><style>p{background:url("s.png")}</style></head><body>'
            b'<picture><source srcset="w.webp 100w, x,1.webp 200w"><img src="i.png"></picture>'
            b'<div style="background-image:url(d.png)"></div><img src="data:image/png;base64,AA">'
            b'<iframe src="f.html"></iframe><a href="not-a-requisite.html">x</a></body></html>')
    found = [(r.url.removeprefix("http://a.test/b/"), r.kind) for r in html_requisites(page, "http://a.test/", None)]
    assert found == [("s.png", "css"), ("w.webp", "image"), ("x,1.webp", "image"), ("i.png", "image"),
                     ("d.png", "css"), ("f.html", "frame")]
    assert [r.url for r in html_requisites(page, "http://a.test/", None, frames=False)][-1].endswith("d.png")
    css = b'/* url(no.png) */ @import url("a.css") screen; .x{font-family:"F";content:"url(no2.png)"}' \
          b'.y{background:image-set("one.png" 1x, url(two.png) 2x)}'
    assert [(r.url, r.kind) for r in css_requisites(css, "http://a.test/c/s.css")] == [
        ("http://a.test/c/a.css", "import"), ("http://a.test/c/one.png", "css"),
        ("http://a.test/c/two.png", "css")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_articles_requisites_are_archived_and_replay_from_the_archive(
        settings: Settings, site: Site, pywb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every requisite is a response record with the site's bytes; the next crawl keeps unchanged ones as
    revisits; once the site removed them, pywb replays each byte for byte from the export."""
    site.set("/article", Page(ARTICLE))
    for path, (body, kind) in FILES.items():
        site.set(path, Page(body, content_type=kind))
    site.set("/media/storm.mp4", Page(b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4"))
    url = site.url("/article")
    code, summary, stderr = crawl(settings, site, url, "-c", "news")
    assert code == 0 and summary["captured"] == 2, stderr[-3000:]  # the article, and its video as a source
    assert all(site.hits(path) == 1 for path in FILES), {path: site.hits(path) for path in FILES}

    first = {headers.get_header("WARC-Target-URI"): (kind, body) for _, kind, headers, body in stored_records(settings)
             if kind != "request"}
    for path, (body, _) in FILES.items():
        assert first[site.url(path)] == ("response", body), path

    code, summary, stderr = crawl(settings, site, url, "-c", "news")  # nothing changed: revisits
    assert code == 0, stderr[-3000:]
    revisits = {headers.get_header("WARC-Target-URI"): headers for _, kind, headers, _ in stored_records(settings)
                if kind == "revisit"}
    for path in FILES:
        assert revisits[site.url(path)].get_header("WARC-Refers-To-Target-URI") == site.url(path), path
    with session_scope(open_database(settings.database_url)) as session:
        kinds = session.execute(select(Requisite.url, Requisite.record_type)).all()
    assert sorted(kinds) == sorted([(site.url(p), "response") for p in FILES] + [(site.url(p), "revisit")
                                                                                 for p in FILES])

    for path in FILES:  # the site takes them down
        site.routes.pop(path)
    exported = settings.data_dir / "news.warc.gz"
    code, _, stderr = crawl(settings, site, str(exported), "-c", "news", command="export")
    assert code == 0, stderr
    (pywb.root / "collections" / pywb.collection / "archive" / exported.name).write_bytes(exported.read_bytes())
    before = len(site.requests)

    def replay(path: str) -> requests.Response:
        return requests.get(f"{pywb.base_url}/{pywb.collection}/2030id_/{site.url(path)}", timeout=10,
                            proxies={"http": "", "https": ""})

    deadline = time.monotonic() + 60
    while (answer := replay("/article")).status_code != 200:
        assert time.monotonic() < deadline, f"pywb never indexed the export: {answer.status_code}"
        time.sleep(0.5)
    for path, (body, _) in FILES.items():
        answer = replay(path)
        assert answer.status_code == 200 and answer.content == body, path
    assert len(site.requests) == before, "replay reached the live site"


def _claims_two_gigabytes(handler: BaseHTTPRequestHandler) -> Page:
    """An image whose header says 2 GB, trickling out slowly; never really 2 GB."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", str(2 * 1024**3))
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"\xff" * 4096)
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass
    return Page(drop=True)


def _never_ends(handler: BaseHTTPRequestHandler) -> Page:
    """A script that starts and never finishes loading (a byte every 0.2 s)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/javascript")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(150):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass
    return Page(drop=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_requisites_are_bounded_recorded_and_the_crawl_goes_on(settings: Settings, site: Site) -> None:
    """10,000 images, an @import loop, a 2 GB image, a redirect to a loopback address the guard refuses and a
    script that never finishes: each bounded, each the page's failure with its reason; every page is captured."""
    many = "".join(f'<img src="/many/{n}.png">' for n in range(10_000))
    site.set("/many", Page(f"<html><body>{many}</body></html>"))
    site.fallback = Page(b"\x89PNG", content_type="image/png")
    site.set("/loop", Page('<html><head><link rel="stylesheet" href="/a.css"></head><body>x</body></html>'))
    site.set("/a.css", Page('@import "b.css";', content_type="text/css"))
    site.set("/b.css", Page('@import "a.css"; p { color: red }', content_type="text/css"))
    site.set("/huge", Page('<html><body><img src="/huge.jpg"></body></html>'))
    site.set("/huge.jpg", _claims_two_gigabytes)
    secret = site.url("/secret").replace("127.0.0.1", "127.0.0.2")
    site.set("/redirect", Page('<html><body><img src="/away.png"></body></html>'))
    site.set("/away.png", Page(b"", status=302, headers=[("Location", secret)], content_type=None))
    site.set("/slow", Page('<html><head><script src="/slow.js"></script></head><body>x</body></html>'))
    site.set("/slow.js", _never_ends)
    pages = ["/many", "/loop", "/huge", "/redirect", "/slow"]
    started = time.monotonic()
    code, summary, stderr = crawl(settings, site, *(site.url(p) for p in pages), "-c", "hostile",
                                  extra_env={"LASTSEEN_REQUISITE_COUNT": "25"})
    assert code == 0 and summary["captured"] == len(pages), stderr[-3000:]
    assert time.monotonic() - started < 60
    assert sum(1 for _, path, _ in site.requests if "/many/" in path) == 25
    with session_scope(open_database(settings.database_url)) as session:
        failures = {(url.removeprefix(site.url("")), reason)
                    for url, reason in session.execute(select(CrawlFailure.url, CrawlFailure.reason)).all()}
    assert ("/many", "requisite_cap") in failures
    assert ("/a.css", "requisite_loop") in failures
    assert ("/huge.jpg", "requisite_too_large") in failures
    assert (secret, "requisite_blocked_address") in failures  # the redirect's target, refused before sending
    assert ("/slow.js", "requisite_timeout") in failures
    assert site.hits("/secret") == 0
    assert summary["failed"].get("requisite_cap") == 1
