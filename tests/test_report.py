"""The evidence dossier: `lastseen report` of a collection that went through vanishing, returning and an edit holds
each source's title, status history, SHA-256s, trusted time, screenshot, Wayback copy, where its video was found
and what the video says; it opens in Chromium with no request but itself, and its PDF has a page per source."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import png
import pytest
from sqlalchemy import insert, select

from archive.config import Settings
from archive.db import session_scope
from archive.evidence import CAPTURED, record
from archive.models import Capture, Collection, CustodyEvent, PageVideo, Source, TimestampToken, Video
from archive.research.dossier import screenshot
from archive.storage import warc_key
from archive.warc import ClosedWarc, RollingWarcWriter, prepare_screenshot, write_index
from archive.words.tables import CAPTION, SPEECH, TextLine, WordsRun
from archive.workspace import Workspace
from tests.conftest import _need
from tests.servers.site import Site
from tests.test_dashboard import CHROMIUM, RED, browser, png_pixels  # noqa: F401 - browser: a module fixture
from tests.test_timeline import DAY, T0, build_history

TSA_TIME = datetime(2026, 1, 5, 11, 0, 5, tzinfo=UTC)
QUOTES = [(1.5, 3.0, CAPTION, "The water reached the market square"), (4.0, 6.2, SPEECH, "Stay at home tonight")]
TITLES = {"a": "Story a", "b": "Story b", "d": "Story d", "v": "Water in the square"}  # c was never captured


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings.replace(host_rate=1000.0, provider_rate=1000.0, check_concurrency=8))
    yield workspace
    workspace.close()


def _screenshot(ws: Workspace, url: str, when: datetime) -> tuple[Any, str, bytes]:
    """A page and its screenshot in one stored WARC file with its CDXJ index, as a crawl with Chromium keeps them."""
    closed: list[ClosedWarc] = []
    writer = RollingWarcWriter(ws.settings.spool_dir, prefix="shot", max_size=1 << 30, warcinfo={},
                               on_close=closed.append)
    records = writer.write_exchange(url=url, method="GET", request_headers=[], http_version="HTTP/1.1", status=200,
                                    reason="OK", response_headers=[("Content-Type", "text/html")],
                                    body=b"<html><title>Story b</title><p>the river</p></html>", ip_address=None,
                                    fetched_at=when)
    out = io.BytesIO()
    png.from_array([[0xC6, 0x28, 0x28] * 4] * 3, "RGB").write(out)
    writer.append(prepare_screenshot(url=url, concurrent_to=records.response.record_id, png=out.getvalue(),
                                     taken_at=when))
    writer.close()
    index = write_index(closed[0])
    stored = ws.storage.put_file(warc_key(closed[0].path.name, when), closed[0].path)
    ws.storage.put_file(warc_key(index.name, when), index)
    return records.response, stored.uri, out.getvalue()


def build(ws: Workspace, site: Site) -> dict[str, Any]:
    """timeline's history (a edited, b vanished, c vanished and returned, d late, video v removed), and b's
    screenshot, a's WARC file's custody event and trusted time, v found on a, v's caption and speech."""
    ids = build_history(ws, site)
    record_b, uri_b, image = _screenshot(ws, site.url("/b"), T0 - DAY)
    with session_scope(ws.sessions) as session:
        from tests.servers.api import add_capture

        add_capture(session, session.get(Source, ids["b"]), record_b, uri_b).page_meta = {"title": "Story b"}
        capture_a = session.scalar(select(Capture).where(Capture.source_id == ids["a"]))
        file_sha256 = hashlib.sha256(ws.storage.read(ws.storage.key_of(capture_a.warc_uri))).hexdigest()
        record(session, CAPTURED, "tester@host: lastseen crawl", [capture_a.warc_uri], collection="flood",
               detail={"sha256": file_sha256, "size": 1, "records": 2})
        session.add(TimestampToken(file_uri=capture_a.warc_uri, file_sha256=file_sha256, tsa_url="https://tsa.test/",
                                   token_uri=capture_a.warc_uri + ".tsr", token_sha256="0" * 64, token_size=10,
                                   gen_time=TSA_TIME))
        video = session.scalar(select(Video).where(Video.source_id == ids["v"]))
        video.uploader = f'<img src="{site.url("/canary")}"><script>fetch("{site.url("/canary")}")</script>'
        session.add(PageVideo(page_source_id=ids["a"], video_id=video.id, found_as="embed", first_seen_at=T0))
        for source in (CAPTION, SPEECH):
            session.add(WordsRun(video_id=video.id, source=source, state="done", language="en", lines=1))
        session.add_all(TextLine(video_id=video.id, start=start, end=end, source=source, text=text, language="en")
                        for start, end, source, text in QUOTES)
        hashes = {c.source_id: c.payload_sha256 for c in session.scalars(select(Capture))}
        urls = {name: session.get(Source, source_id).url for name, source_id in ids.items()}
    return {"ids": ids, "hashes": hashes, "file_sha256": file_sha256, "image": image, "urls": urls}


def _section(html: str, source_id: int) -> str:
    start = html.index(f'id="source-{source_id}"')
    return html[start:html.index("</section>", start)]


def test_the_dossier_holds_each_sources_record(ws: Workspace, site: Site, run: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = build(ws, site)
    ids = data["ids"]
    target = tmp_path / "flood.html"
    code, out, err = run("report", "-c", "flood", str(target))
    assert code == 0 and err == "" and out.startswith(f"wrote {target}: 5 source(s)")
    html = target.read_text(encoding="utf-8")
    assert "Berkeley Protocol" in html and "chain of custody" in html
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html), "nothing to load"
    assert "&lt;img src=&#34;http://" in html, "an uploader's markup is shown as text"
    assert "default-src 'none'" in html
    for name, source_id in ids.items():
        section = _section(html, source_id)
        assert f". {TITLES.get(name, data['urls'][name])}</h2>" in section, name
        for sha256 in [h for s, h in data["hashes"].items() if s == source_id]:
            assert sha256 in section, name
    c = _section(html, ids["c"])
    assert c.index("vanished: alive &rarr; vanished") < c.index("returned: vanished &rarr; returned"), "in order"
    assert "gone" in c and "2026-01-07T12:00:00Z" in c
    assert "alive: new &rarr; alive" in _section(html, ids["a"]) and "changed: alive &rarr; alive" in _section(
        html, ids["a"]), "a's edit is in its history"
    a = _section(html, ids["a"])
    assert data["file_sha256"] in a and "2026-01-05T11:00:05Z by https://tsa.test/" in a
    assert "by tester@host: lastseen crawl" in a, "who stored the WARC file"
    with session_scope(ws.sessions) as session:
        adder = session.scalar(select(CustodyEvent.actor).where(CustodyEvent.action == "added"))
    assert re.search(r"Added to the watch list</th><td>[0-9T:.Z-]+ by " + re.escape(adder) + "<", a), "who added it"
    b = _section(html, ids["b"])
    assert "data:image/png;base64," + base64.b64encode(data["image"]).decode() in b
    assert f"https://web.archive.org/web/20251230100000/{data['urls']['b']}" in b
    v = _section(html, ids["v"])
    assert data["urls"]["a"] in v and "embed" in v, "where the video was found"
    assert "<b>removed</b> HTTP 200: <q>youtube: video page: playabilityStatus ERROR: This video has been removed by " \
        "the uploader</q>" in v, "the provider's own words, on the check the vanishing rests on"
    assert "<b>[0:01.5&ndash;0:03.0]</b> caption: &ldquo;The water reached the market square&rdquo;" in v
    assert "[0:04.0&ndash;0:06.2]</b> speech: &ldquo;Stay at home tonight" in v
    custody = html[html.index('id="custody"'):]
    assert "tester@host: lastseen crawl" in custody and "added" in custody
    code, out, _ = run("report", "-c", "flood", "--status", "vanished", "--json", str(tmp_path / "gone.html"))
    assert code == 0 and '"sources": 2' in out, "b and v are vanished now"
    with session_scope(ws.sessions) as session:
        made = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "exported")).all()
        assert [event.detail["kind"] for event in made] == ["dossier (html)"] * 2, "making a dossier is in custody"
        spent = screenshot(session, ws.storage, ids["b"], budget=len(data["image"]) - 1)
        assert spent["data_uri"] is None and "room for images is spent" in spent["note"], "images are bounded too"
    monkeypatch.setattr("archive.research.dossier.MAX_LINES", 1)
    assert run("report", "-c", "flood", str(target))[0] == 0
    v = _section(target.read_text(encoding="utf-8"), ids["v"])
    assert "market square" in v and "Stay at home" not in v and "1 more line(s)" in v, "quotes are bounded"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_input_and_a_huge_collection(ws: Workspace, run: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run("report", "-c", "nope", str(tmp_path / "x.html"))
    assert code == 3 and "no collection named 'nope'" in err
    for bad in (tmp_path / "missing" / "x.html", tmp_path / "x.docx", tmp_path):
        code, out, err = run("report", "-c", "default", str(bad))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, bad
    many = 20_000
    with session_scope(ws.sessions) as session:
        collection = Collection(name="huge")
        session.add(collection)
        session.flush()
        session.execute(insert(Source), [
            {"collection_id": collection.id, "url": f"https://x.test/{i}", "normalized_url": f"https://x.test/{i}",
             "url_hash": hashlib.sha256(str(i).encode()).hexdigest(), "domain": "x.test", "kind": "page",
             "status": "alive"} for i in range(many)])
    monkeypatch.setenv("LASTSEEN_REPORT_SOURCES", "50")
    target = tmp_path / "huge.html"
    code, out, err = run("report", "-c", "huge", str(target))
    assert code == 0 and "cut" in err and f"first 50 of {many}" in err and len(err.strip().splitlines()) == 1
    html = target.read_text(encoding="utf-8")
    assert "Cut: this dossier holds the first 50 of 20000" in html
    assert html.count('<section class="source" id="source-') == 50
    assert target.stat().st_size < 2_000_000


@pytest.fixture
def chromium_ready() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError as exc:
        _need(f"Playwright is not installed: {exc}")
    if not CHROMIUM.exists():
        _need(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_dossier_opens_in_chromium_with_no_request(ws: Workspace, site: Site, run: Any, tmp_path: Path,
                                                       chromium_ready: None, browser: Any) -> None:  # noqa: F811
    data = build(ws, site)
    target = tmp_path / "flood.html"
    assert run("report", "-c", "flood", str(target))[0] == 0
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(target.as_uri(), wait_until="load")
    assert [url for url in requests if not url.startswith("data:")] == [target.as_uri()], "nothing but the file"
    chart = page.locator("svg.timeline-chart")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 5 * 12
    assert chart.locator("g.lane").count() == 5 and chart.locator("g.lane path.vanishing").count() == 3
    assert chart.locator("g.lane a").first.get_attribute("href") == f"#source-{data['ids']['a']}", "to its section"
    _, _, pixels = png_pixels(chart.screenshot())
    assert any(pixel[:3] == RED for pixel in pixels), "the vanishings are drawn in red"
    text = page.inner_text("body")
    assert all(title in text for title in TITLES.values()) and "Stay at home tonight" in text
    shot = page.locator(f"#source-{data['ids']['b']} img.screenshot")
    assert shot.evaluate("img => img.complete && img.naturalWidth") == 4, "the embedded screenshot shows"
    assert '<img src="http' in text and site.hits("/canary") == 0, "the uploader's markup is text, never loaded"
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pdf_has_a_page_per_source(ws: Workspace, site: Site, run: Any, tmp_path: Path,
                                       chromium_ready: None) -> None:
    from pypdf import PdfReader

    data = build(ws, site)
    hits = {path: site.hits(path) for path in ("/a", "/b", "/c", "/d", "/canary")}
    target = tmp_path / "flood.pdf"
    code, out, err = run("report", "-c", "flood", str(target))
    assert code == 0, err
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(target).pages]
    starts = {}
    for number, name in enumerate(sorted(data["ids"], key=data["ids"].get), start=1):
        heading = f"{number}. {TITLES.get(name, data['urls'][name])}"
        found = [index for index, text in enumerate(pages) if text.startswith(heading)]
        assert len(found) == 1, (heading, pages)
        starts[name] = found[0]
    assert len(set(starts.values())) == 5 and len(pages) >= 5 + 2, "a page per source, custody and verifying"
    assert all(text.endswith(f"Evidence dossier: flood - page {n} of {len(pages)}") for n, text in
               enumerate(pages, start=1)), "each page placed in the dossier"
    assert {path: site.hits(path) for path in hits} == hits, "printing fetched nothing"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_serves_the_dossier(ws: Workspace, site: Site, run: Any, api: Any, tmp_path: Path) -> None:
    data = build(ws, site)
    response = api.get("/api/collections/flood/report")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert all(f". {title}</h2>" in response.text for title in TITLES.values())
    assert data["file_sha256"] in response.text and "<td>API token test-reader</td>" in response.text, "who made it"
    gone = api.get("/api/collections/flood/report?status=vanished").text
    assert gone.count('<section class="source" id="source-') == 2 and "Story a</h2>" not in gone
    assert api.get("/api/collections/flood/report", role=None).status_code == 401, "a private collection"
    assert api.get("/api/collections/nope/report").status_code == 404
    assert api.get("/api/collections/flood/report?status=bogus").status_code == 422
    assert api.get("/api/collections/flood").status_code == 200, "the collection's own route still answers"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_printing_fetches_nothing_the_document_asks_for(settings: Settings, site: Site, chromium_ready: None) -> None:
    """Without the dossier's own policy, the printer itself lets nothing out: the route refuses, the proxy too."""
    from pypdf import PdfReader

    from crawler.browser.printing import print_pdf

    canary = site.url("/canary")
    page = (f'<html><head><link rel="stylesheet" href="{canary}?css"><link rel="prefetch" href="{canary}?pre">'
            f'</head><body><h1>Only this</h1><img src="{canary}?img"><iframe src="{canary}?frame"></iframe>'
            f'<script>fetch("{canary}?fetch")</script></body></html>')
    pdf = print_pdf(settings, str(CHROMIUM), page.encode())
    assert "Only this" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert [path for _, path, _ in site.requests if "canary" in path] == []
