"""The dashboard in a real headless Chromium: counts, the vanishings chart, the sources table, a source's timeline,
the sign-in form; and the chart's bucketing on its own."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import png
import pytest
import requests
from sqlalchemy import select

from archive.api.charts import bar_chart, time_buckets
from archive.db import session_scope
from archive.models import Collection, Source
from archive.sources import ensure_collection
from archive.storage import warc_key
from archive.warc import ClosedWarc, RollingWarcWriter, prepare_screenshot, write_index
from tests.conftest import _need
from tests.servers.api import ApiServer, add_capture, add_check, add_source, add_transition, at, store_exchange

CHROMIUM = Path(os.environ.get("LASTSEEN_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VANISHED_ON = ["2026-03-01T08:00", "2026-03-01T17:00", "2026-03-03T09:00", "2026-03-10T12:00"]
RED = (0xC6, 0x28, 0x28)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, from Debian's package (never a downloaded build)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _need(f"Playwright is not installed: {exc}")
        raise
    if not CHROMIUM.exists():
        _need(f"{CHROMIUM} is missing (apt-get install -y chromium chromium-driver)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def seed(api: ApiServer) -> dict[str, Any]:
    """A private collection with sources in every status, four vanishings over ten days and a checked story."""
    with session_scope(api.workspace.sessions) as session:
        flood = ensure_collection(session, "flood")
        flood.description = "River flood, March 2026"
        quake = ensure_collection(session, "quake")
        quake.public_read = True
        add_source(session, quake, "https://quake.example/1", status="alive")
        statuses = ["alive", "alive", "alive", "unreachable", "returned", "new"]
        sources = [add_source(session, flood, f"https://news.example/{i}", status=s,
                              last_seen_alive_at=at("2026-02-20")) for i, s in enumerate(statuses)]
        for index, when in enumerate(VANISHED_ON):
            gone = add_source(session, flood, f"https://gone.example/{index}", status="vanished",
                              last_seen_alive_at=at(when) - timedelta(days=1), vanished_at=at(when))
            add_transition(session, gone, at(when), "alive", "vanished", "gone")
        story = sources[0]
        outcomes = [("2026-03-01T00:00", "ok"), ("2026-03-02T00:00", "ok"), ("2026-03-03T00:00", "timeout"),
                    ("2026-03-04T00:00", "gone"), ("2026-03-05T00:00", "gone"), ("2026-03-06T00:00", "ok")]
        for when, outcome in outcomes:
            add_check(session, story, at(when), outcome, None if outcome == "timeout" else 200)
        add_transition(session, story, at("2026-03-05T00:00"), "alive", "vanished", "gone")
        add_transition(session, story, at("2026-03-06T00:00"), "vanished", "returned")
        story_id = story.id
    record, uri = store_exchange(api.workspace, "https://news.example/0", b"<html><body>archived</body></html>",
                                 when=at("2026-03-01T00:00"))
    with session_scope(api.workspace.sessions) as session:
        capture = add_capture(session, session.get(Source, story_id), record, uri)
        return {"story": story_id, "capture": capture.id, "checks": len(outcomes), "sources": 10}


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and RGB(A) pixels of an 8-bit PNG (what Chromium writes), unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width = 8, b"", 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        offset += length + 12
    raw, stride, pixels, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                best = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[i] = (line[i] + best) & 255
        pixels += [tuple(line[i:i + channels]) for i in range(0, stride, channels)]
        previous = line
    return width, height, pixels


def test_collection_page_in_chromium(api: ApiServer, browser: Any, tmp_path: Path) -> None:
    data = seed(api)
    context = browser.new_context(extra_http_headers=api.headers("reader"), viewport={"width": 1200, "height": 900})
    page = context.new_page()
    response = page.goto(api.url("/collections/flood"))
    assert response.status == 200
    assert page.locator("h1").inner_text().startswith("flood")
    counts = {s: page.locator(f"#count-{s} b").inner_text() for s in ("alive", "unreachable", "vanished",
                                                                       "returned", "new", "total")}
    assert counts == {"alive": "3", "unreachable": "1", "vanished": "4", "returned": "1", "new": "1", "total": "10"}
    bars = page.locator("svg.chart rect.bar")
    assert bars.count() == 10, "one bar a day from the first vanishing to the last, empty days included"
    heights = [int(bars.nth(i).get_attribute("data-count")) for i in range(bars.count())]
    assert heights == [2, 0, 1, 0, 1, 0, 0, 0, 0, 1], "every vanishing counts, also of the story that came back"
    assert page.locator("svg.chart rect.bar").first.bounding_box()["height"] > 50
    lanes = page.locator("svg.timeline-chart g.lane")
    assert lanes.count() == data["sources"], "the timeline chart: one lane per source"
    assert page.locator("svg.timeline-chart path.vanishing").count() == 5, "every vanishing marked"
    assert page.locator("svg.timeline-chart").bounding_box()["width"] > 600
    rows = page.locator("#sources tbody tr.source")
    assert rows.count() == data["sources"]
    assert page.locator("#sources .badge.status-vanished").count() == 4
    first = rows.first
    assert first.locator("td.url a").inner_text() == "https://news.example/0"
    assert first.locator("a", has_text="archived copy").get_attribute("href") == f"/captures/{data['capture']}"
    assert "2026-02-20" in first.locator("time").first.inner_text()

    shot = page.screenshot(full_page=True, path=str(tmp_path / "collection.png"))
    width, height, pixels = png_pixels(shot)
    assert width == 1200 and height >= 900 and len(set(pixels)) > 50, "a real page, not a blank one"
    chart = page.locator("svg.chart").screenshot()
    _, _, chart_pixels = png_pixels(chart)
    red = sum(1 for p in chart_pixels if all(abs(a - b) <= 12 for a, b in zip(p[:3], RED, strict=True)))
    assert red > 500, "the bars are drawn in red"

    page.locator("nav.filters a", has_text="vanished").click()
    page.wait_for_url("**status=vanished")
    assert page.locator("#sources tbody tr.source").count() == 4
    context.close()


def test_source_page_timeline_in_chromium(api: ApiServer, browser: Any) -> None:
    data = seed(api)
    context = browser.new_context(extra_http_headers=api.headers("reader"))
    page = context.new_page()
    assert page.goto(api.url(f"/sources/{data['story']}")).status == 200
    assert page.locator("h1").inner_text() == "https://news.example/0"
    assert page.locator("svg.timeline circle.check").count() == data["checks"]
    assert page.locator("svg.timeline circle.check-alive").count() == 3
    assert page.locator("svg.timeline circle.check-transient").count() == 1
    assert page.locator("svg.timeline circle.check-definitive").count() == 2
    assert page.locator("svg.timeline line.transition").count() == 2
    xs = [float(page.locator("svg.timeline circle.check").nth(i).get_attribute("cx")) for i in range(data["checks"])]
    assert xs == sorted(xs) and xs[0] < xs[-1], "checks are placed along time"
    assert page.locator("#checks tbody tr").count() == data["checks"]
    assert page.locator("#transitions tbody tr").count() == 2
    assert page.locator("#captures a").get_attribute("href") == f"/captures/{data['capture']}"
    assert page.locator("svg.timeline").screenshot()[:8] == b"\x89PNG\r\n\x1a\n"
    context.close()


def test_sign_in_with_a_token(api: ApiServer, browser: Any) -> None:
    seed(api)
    context = browser.new_context()
    page = context.new_page()
    page.goto(api.url("/"))
    assert [a.inner_text() for a in page.locator("#collections tbody a").all()] == ["quake"], "anonymous: public only"
    page.goto(api.url("/collections/flood"))
    assert "/login" in page.url
    page.fill("#token", "lst_wrong")
    page.click("button[type=submit]")
    assert "not valid" in page.content()
    page.fill("#token", api.tokens["reader"])
    page.click("button[type=submit]")
    page.wait_for_url("**/collections/flood")
    assert page.locator("#count-total b").inner_text() == "10"
    cookie = next(c for c in context.cookies() if c["name"] == "lastseen_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.goto(api.url("/"))
    assert [a.inner_text() for a in page.locator("#collections tbody a").all()] == ["flood", "quake"]
    page.click("text=sign out")
    page.wait_for_url(api.url("/"))
    assert [a.inner_text() for a in page.locator("#collections tbody a").all()] == ["quake"]
    context.close()


def test_login_redirect_stays_on_this_server(api: ApiServer) -> None:
    response = api.http.post(api.url("/login"), data={"token": api.tokens["reader"], "next": "//evil.example/x"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert api.http.get(api.url("/collections/nowhere"), timeout=10).status_code == 404


def test_time_buckets_choose_day_week_or_month() -> None:
    days = time_buckets([at("2026-03-01T10:00"), at("2026-03-01T23:00"), at("2026-03-04")])
    assert [(b.label, b.count) for b in days] == [("2026-03-01", 2), ("2026-03-02", 0), ("2026-03-03", 0),
                                                 ("2026-03-04", 1)]
    weeks = time_buckets([at("2026-01-01"), at("2026-06-30"), at("2026-06-29")])
    assert weeks[0].label == "week of 2025-12-29" and weeks[-1].count == 2 and len(weeks) == 27
    months = time_buckets([at("2020-01-15"), at("2026-03-02")])
    assert months[0].label == "2020-01" and months[-1].label == "2026-03" and len(months) == 75
    assert sum(b.count for b in months) == 2
    assert time_buckets([]) == []
    assert "no source has vanished yet" in bar_chart([], title="t", empty="no source has vanished yet")


def test_source_page_shows_the_latest_screenshot(api: ApiServer, browser: Any) -> None:
    """The screenshot the crawl wrote into the page's WARC file is found through its CDXJ and shown."""
    data = seed(api)
    spool = api.workspace.settings.spool_dir
    closed: list[ClosedWarc] = []
    writer = RollingWarcWriter(spool, prefix="shot", max_size=1 << 30, warcinfo={}, on_close=closed.append)
    when = at("2026-03-07T00:00")
    records = writer.write_exchange(url="https://news.example/0", method="GET", request_headers=[],
                                    http_version="HTTP/1.1", status=200, reason="OK",
                                    response_headers=[("Content-Type", "text/html")], body=b"<p>again</p>",
                                    ip_address=None, fetched_at=when)
    out = io.BytesIO()
    png.from_array([[0x33, 0x66, 0xCC] * 3] * 2, "RGB").write(out)
    image = out.getvalue()
    writer.append(prepare_screenshot(url="https://news.example/0", concurrent_to=records.response.record_id,
                                     png=image, taken_at=when))
    writer.close()
    index = write_index(closed[0])
    uri = api.workspace.storage.put_file(warc_key(closed[0].path.name, when), closed[0].path).uri
    api.workspace.storage.put_file(warc_key(index.name, when), index)
    with session_scope(api.workspace.sessions) as session:
        add_capture(session, session.get(Source, data["story"]), records.response, uri)
    context = browser.new_context(extra_http_headers=api.headers("reader"))
    page = context.new_page()
    assert page.goto(api.url(f"/sources/{data['story']}")).status == 200
    shot = page.locator(".beside img.screenshot")
    assert shot.get_attribute("src") == f"/sources/{data['story']}/screenshot.png"
    assert shot.evaluate("img => img.complete && img.naturalWidth") == 3
    assert page.request.get(api.url(f"/sources/{data['story']}/screenshot.png")).body() == image
    context.close()
    assert requests.get(api.url(f"/sources/{data['story']}/screenshot.png"), timeout=10).status_code == 404, \
        "a private collection's screenshot is not shown to anyone"
    other = browser.new_context(extra_http_headers=api.headers("reader"))
    quake = other.new_page()
    assert quake.goto(api.url("/sources/1")).status == 200 and quake.locator("img.screenshot").count() == 0
    other.close()


def test_pages_send_security_headers_and_slash_names_are_reachable(api: ApiServer) -> None:
    """Every dashboard page forbids framing, scripts and foreign resources; a collection whose name holds a '/'
    (made before names were limited) is reachable in the API and the dashboard, as written or percent-encoded."""
    with session_scope(api.workspace.sessions) as session:
        odd = Collection(name="news/2026", public_read=True)
        session.add(odd)
        session.flush()
        add_source(session, odd, "https://news.example/slash", status="alive")
        source_id = session.scalar(select(Source.id).where(Source.url == "https://news.example/slash"))
    for path in ("/", "/login", "/collections/news/2026", f"/sources/{source_id}"):
        page = api.get(path)
        assert page.status_code == 200, (path, page.text[:200])
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'none'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy and page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] in {"same-origin", "no-referrer"}
        assert re.search(r"<style>(.*?)</style>", page.text, re.S), "the one inline style sheet, allowed by its hash"
        style = re.search(r"<style>(.*?)</style>", page.text, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "news%2F2026" in api.get("/").text
    for spelling in ("news/2026", "news%2F2026"):
        assert api.get(f"/collections/{spelling}").status_code == 200, spelling
        counts = api.get(f"/api/collections/{spelling}")
        assert counts.status_code == 200 and counts.json()["name"] == "news/2026", spelling
        assert api.get(f"/api/collections/{spelling}/feed.atom").status_code == 200, spelling
        added = api.post(f"/api/collections/{spelling}/sources", json={"urls": ["https://news.example/more"]})
        assert added.status_code in {200, 201}, added.text
    patched = api.request("PATCH", "/api/collections/news%2F2026", json={"description": "slashed"})
    assert patched.status_code == 200 and patched.json()["description"] == "slashed"
    assert api.get("/api/collections/no/such").status_code == 404
