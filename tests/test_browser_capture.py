"""Browser capture: a page whose text arrives by fetch() from a JSON endpoint, captured in each mode.

In browser mode (and auto, which spots the script shell) the JSON response is a WARC record as received, the
page's own response record holds the shell as the network sent it, the rendered DOM is a record of its own,
and the text reaches pages.jsonl and `lastseen status`; over HTTP only the shell is kept. A page that never
stops loading is bounded by LASTSEEN_BROWSER_PAGE_SECONDS, and the crawl goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.config import Settings
from archive.db import open_database, session_scope
from archive.models import Capture, CrawlFailure, Source, utcnow
from crawler.screenshots import chromium_found
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl, stored_records

SHELL = ('<!doctype html><html><head><title>Dam report</title><script src="/app.js"></script></head>'
         '<body><div id="app"></div></body></html>')
APP = ("fetch('/api/story.json').then(r => r.json()).then(d => {"
       " document.getElementById('app').innerHTML = '<h1>' + d.title + '</h1><p>' + d.text + '</p>'; });")
TEXT = "The river rose overnight and flooded seven villages below the dam"
STORY = json.dumps({"title": "Dam breaks", "text": TEXT})


def _serve_story(site: Site) -> str:
    site.set("/story", Page(SHELL, encoding="gzip"))
    site.set("/app.js", Page(APP, content_type="application/javascript"))
    site.set("/api/story.json", Page(STORY, content_type="application/json", encoding="gzip"))
    return site.url("/story")


def _lastseen(settings: Settings, site: Site, command: str, *args: str, mode: str = "http") -> tuple[int, dict, str]:
    return crawl(settings, site, *args, command=command, extra_env={"LASTSEEN_PROXY": "", "LASTSEEN_CAPTURE": mode})


def _status_text(settings: Settings, url: str, collection: str) -> str:
    """`lastseen status URL -c C` as a person reads it."""
    env = {"LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url, "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[1])
    lastseen = Path(sys.executable).with_name("lastseen")
    done = subprocess.run([str(lastseen), "status", url, "-c", collection], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _pages(settings: Settings, site: Site, collection: str, out: Path) -> list[dict]:
    code, _, stderr = _lastseen(settings, site, "export", str(out), "-c", collection)
    assert code == 0, stderr[-2000:]
    with zipfile.ZipFile(out) as package:
        lines = package.read("pages/pages.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines[1:]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_text_fetched_by_a_script_is_kept_in_browser_mode_and_not_over_http(settings: Settings, site: Site,
                                                                            tmp_path: Path) -> None:
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    url = _serve_story(site)
    code, shown, stderr = _lastseen(settings, site, "collection", "rendered", "--capture", "browser")
    assert code == 0 and shown["capture"] == "browser", stderr[-2000:]
    code, summary, stderr = _lastseen(settings, site, "crawl", url, "-c", "rendered")
    assert code == 0 and summary["captured"] == 1, stderr[-3000:]
    code, summary, stderr = _lastseen(settings, site, "crawl", url, "-c", "plain")  # LASTSEEN_CAPTURE=http
    assert code == 0 and summary["captured"] == 1, stderr[-3000:]
    code, summary, stderr = _lastseen(settings, site, "crawl", url, "-c", "auto", mode="auto")
    assert code == 0 and summary["captured"] == 1, stderr[-3000:]

    records = stored_records(settings)
    json_bodies = [body for _, kind, headers, body in records
                   if kind == "response" and headers.get_header("WARC-Target-URI").endswith("/api/story.json")]
    assert json_bodies == [STORY.encode(), STORY.encode()], "one JSON response record each in browser and auto mode"
    shells = [body for _, kind, headers, body in records
              if kind == "response" and headers.get_header("WARC-Target-URI") == url]
    assert shells and all(body == SHELL.encode() for body in shells), "the page's record: the bytes as received"
    rendered = [body for _, kind, headers, body in records
                if kind == "resource" and headers.get_header("WARC-Target-URI") == "urn:lastseen:rendered:" + url]
    assert len(rendered) == 2 and all(TEXT.encode() in body for body in rendered)

    with session_scope(open_database(settings.database_url)) as session:
        rows = session.execute(select(Capture.url, Capture.rendered_offset, Capture.page_meta)).all()
    assert len(rows) == 3 and sum(1 for row in rows if row.rendered_offset is not None) == 2
    for collection, kept in (("rendered", True), ("auto", True), ("plain", False)):
        pages = _pages(settings, site, collection, tmp_path / f"{collection}.wacz")
        assert [page["url"] for page in pages] == [url], pages  # the page once, its script and JSON are no pages
        assert (TEXT in pages[0].get("text", "")) is kept, (collection, pages)
        status = _status_text(settings, url, collection)
        assert (TEXT[:60] in status) is kept, status
        code, found, stderr = _lastseen(settings, site, "search", "seven", "villages", "-c", collection)
        assert code == 0 and [hit["url"] for hit in found["hits"]] == ([url] if kept else []), (found, stderr)
    # over HTTP the shell alone: the page's title, no text (for the closing note)
    assert "Dam report" in _status_text(settings, url, "plain")


def _never_ends(handler: BaseHTTPRequestHandler) -> Page:
    """A response that starts and never finishes (a byte every 0.2 s for a minute)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/javascript")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(300):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass
    return Page(drop=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_that_never_stops_loading_is_bounded_and_the_crawl_goes_on(settings: Settings, site: Site) -> None:
    if chromium_found(settings) is None:
        _need("Chromium and Playwright")
    url = _serve_story(site)
    site.set("/busy", Page('<html><head><script src="/forever.js"></script></head><body><p>Still loading'
                           '</p><script>setInterval(() => fetch("/api/story.json?" + Math.random()), 100)</script>'
                           '</body></html>'))
    site.set("/forever.js", _never_ends)
    site.set("/endless", _never_ends)  # the page's own response never ends
    started = time.monotonic()
    code, summary, stderr = crawl(settings, site, site.url("/busy"), site.url("/endless"), url, "-c", "hostile",
                                  extra_env={"LASTSEEN_PROXY": "", "LASTSEEN_CAPTURE": "browser",
                                             "LASTSEEN_BROWSER_PAGE_SECONDS": "4", "LASTSEEN_BROWSERS": "2"})
    took = time.monotonic() - started
    assert code in (0, 1) and summary["captured"] == 2, stderr[-3000:]
    assert took < 60, took
    with session_scope(open_database(settings.database_url)) as session:
        failures = {(row.url, row.reason) for row in session.execute(select(CrawlFailure.url, CrawlFailure.reason))}
        captured = set(session.scalars(select(Capture.url)))
    assert (site.url("/busy"), "browser_timeout") in failures, failures
    assert (site.url("/endless"), "timeout") in failures, failures
    assert captured == {site.url("/busy"), url}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_browser_collections_captures_go_to_the_browser_queue(settings: Settings,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With a broker, a collection captured in a browser is queued for workers that have one (`browser`), the
    others (auto and http alike) for `capture`, each leased under its queue."""
    from archive.sources import SourceEntry, add_sources, ensure_collection
    from archive.tasks import dispatch, leases
    from archive.workspace import Workspace

    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        for name, mode in (("apps", "browser"), ("news", None), ("plain", "http")):
            collection = ensure_collection(session, name)
            collection.capture_mode = mode
            add_sources(session, collection, [SourceEntry(f"https://{name}.example/{n}") for n in range(3)])
    sent: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(dispatch, "send", lambda _settings, kind, _task_id, args: sent.append((kind, args[0])))
    result = dispatch.queue_captures(ws)
    assert result["queued"] == 9 and result["tasks"] == len(sent) == 3
    with session_scope(ws.sessions) as session:
        urls = dict(session.execute(select(Source.id, Source.url)).all())
        held = {kind: leases.held_keys(session, kind, utcnow()) for kind in ("capture", "browser")}
    queued = {kind: sorted(urls[int(key)].split("/")[2] for sent_kind, keys in sent if sent_kind == kind
                           for key in keys) for kind in ("capture", "browser")}
    assert queued == {"browser": ["apps.example"] * 3, "capture": ["news.example"] * 3 + ["plain.example"] * 3}
    assert {urls[int(key)].split("/")[2] for key in held["browser"]} == {"apps.example"}
    assert dispatch.queue_captures(ws)["tasks"] == 0, "work leased to a queue is not queued again"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_capture_mode_is_a_collection_setting_in_the_api(api) -> None:  # type: ignore[no-untyped-def]
    """PATCH sets it and the collection lists say it (null: the server's default); a mode that is none is a 422."""
    assert api.post("/api/collections/apps/sources", json={"urls": ["https://apps.example/"]}).status_code == 200
    assert [c["capture"] for c in api.get("/api/collections").json()] == [None]
    changed = api.request("PATCH", "/api/collections/apps", json={"capture": "browser"})
    assert changed.status_code == 200 and changed.json()["capture"] == "browser", changed.text
    assert [c["capture"] for c in api.get("/api/collections").json()] == ["browser"]
    refused = api.request("PATCH", "/api/collections/apps", json={"capture": "telepathy"})
    assert refused.status_code == 422, refused.text
    assert api.request("PATCH", "/api/collections/apps", role="archivist", json={"capture": "http"}).status_code \
        == 403


@pytest.mark.parametrize(("html", "shell"), [
    ('<html><head><script src="/app.js"></script></head><body><div id="root"></div></body></html>', True),
    ("<html><body><div id=app>Loading…</div><script>boot()</script></body></html>", True),
    ('<html><body><p>' + "The river rose overnight. " * 12 + '</p><script src="/a.js"></script></body></html>', False),
    ("<html><body><div id=root></div></body></html>", False),  # no script: nothing would fill it
    ('<html><body><script type="application/ld+json">{"@type": "NewsArticle"}</script></body></html>', False),
    ("<html><head><title>" + "t" * 500 + "</title><script src=/a.js></script></head><body></body></html>", True),
    ("<html><body><noscript>" + "Enable JavaScript. " * 30 + "</noscript><script src=/a.js></script></body></html>",
     True),
    ("", False),
])
def test_a_script_shell_is_told_from_a_page_with_text(html: str, shell: bool) -> None:
    from archive.extract.rendering import is_script_shell

    assert is_script_shell(html.encode(), "text/html; charset=utf-8") is shell


def test_hosts_that_render_client_side_are_named_by_their_providers() -> None:
    from archive.providers import renders_client_side

    for url in ("https://x.com/someone/status/1", "https://mobile.twitter.com/a", "https://www.instagram.com/p/x/",
                "https://www.tiktok.com/@a", "https://m.facebook.com/story.php", "https://web.telegram.org/k/"):
        assert renders_client_side(url), url
    for url in ("https://t.me/channel/5", "https://news.example/x.com", "https://notx.com/", "https://com/",
                "not a url", "https://[::1]:80/"):
        assert not renders_client_side(url), url
