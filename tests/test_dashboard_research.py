"""The dashboard's research side over real HTTP: the collection's timeline chart, titles, the search box's results
page, the diff page, and bad input answered by a 4xx page with one line (never a 500); hostile titles and
snippets are escaped by the templates."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from archive.api.html import marked
from archive.db import session_scope
from archive.models import Video
from archive.research.chart import MAX_LANES
from archive.research.search import Document, index_documents
from archive.sources import ensure_collection
from tests.servers.api import ApiServer, add_capture, add_source, add_transition, at, store_exchange

HOSTILE = "<script>alert('x')</script>"
BEFORE = "<html><body><p>The river rose at dawn. The mayor closed the bridge. Schools stay open.</p></body></html>"
AFTER = "<html><body><p>The river rose at dawn. The mayor reopened the bridge. Schools stay open.</p></body></html>"


def seed(api: ApiServer) -> dict[str, Any]:
    """A public collection: an edited page captured twice (its title hostile), a video with a hostile uploader,
    and a page that vanished; the edited page and the video indexed for search."""
    ids: dict[str, Any] = {}
    stored = [store_exchange(api.workspace, "https://news.example/bridge", body.encode(), when=at(when))
              for body, when in ((BEFORE, "2026-03-01T08:00"), (AFTER, "2026-03-02T08:00"))]
    with session_scope(api.workspace.sessions) as session:
        flood = ensure_collection(session, "flood")
        flood.public_read = True
        page = add_source(session, flood, "https://news.example/bridge", status="alive")
        add_transition(session, page, at("2026-03-01T08:00"), "new", "alive")
        captures = [add_capture(session, page, record, uri) for record, uri in stored]
        for capture in captures:
            capture.page_meta = {"title": f"Bridge {HOSTILE}"}
        video = add_source(session, flood, "https://video.example/watch?v=1", kind="video", status="alive")
        session.add(Video(source_id=video.id, provider="generic", video_id="1", canonical_url=video.url,
                          title="Flood footage", uploader=f"Uploader {HOSTILE}"))
        gone = add_source(session, flood, "https://news.example/gone", status="vanished")
        add_transition(session, gone, at("2026-03-01T00:00"), "new", "alive")
        add_transition(session, gone, at("2026-03-03T00:00"), "alive", "vanished", "gone")
        session.flush()
        index_documents(session, [
            Document(f"page:{captures[1].id}", page.id, "page", title=f"Bridge {HOSTILE}", capture_id=captures[1].id,
                     body="The mayor reopened the bridge <img src=x onerror=alert(1)> over the swollen river."),
            Document(f"video:{video.id}", video.id, "video", title="Flood footage", body="drone shots of the dam")])
        ids.update(page=page.id, video=video.id, gone=gone.id, captures=[c.id for c in captures])
    return ids


def _one_line_error(text: str) -> str:
    found = re.search(r"<p class='error' id='error'>(.*?)</p>", text, re.S)
    assert found, text[:300]
    assert "\n" not in found.group(1).strip()
    return found.group(1)


def test_collection_page_has_the_timeline_chart_and_titles_escaped(api: ApiServer) -> None:
    ids = seed(api)
    page = api.get("/collections/flood", role=None)
    assert page.status_code == 200
    chart = re.search(r"<svg class='timeline-chart'.*?</svg>", page.text, re.S).group(0)
    lanes = re.findall(r"<g class='lane' data-source='(\d+)'>", chart)
    assert sorted(map(int, lanes)) == sorted([ids["page"], ids["video"], ids["gone"]]), "one lane per source"
    assert chart.count("class='vanishing'") == 1, "the one vanishing is marked"
    video_lane = re.search(rf"<g class='lane' data-source='{ids['video']}'>.*?</g>", chart).group(0)
    assert "data-state='unknown'" in video_lane, "no verdict yet: could not tell since it was added"
    assert f"href='/sources/{ids['gone']}'" in chart
    assert "<script>" not in page.text, "no hostile title reaches the page unescaped"
    assert "Bridge &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "Flood footage</a> <span class='uploader'>by Uploader &lt;script&gt;" in page.text
    source = api.get(f"/sources/{ids['page']}", role=None)
    assert source.status_code == 200 and "<script>" not in source.text
    assert "<h1>Bridge &lt;script&gt;" in source.text and f"/sources/{ids['page']}/diff" in source.text


def test_search_page_links_each_hit_to_its_capture_with_an_escaped_snippet(api: ApiServer) -> None:
    ids = seed(api)
    page = api.get("/search", params={"q": "swollen river"}, role=None)
    assert page.status_code == 200, page.text[:300]
    hits = re.findall(r"<li class='hit' data-source='(\d+)'>(.*?)</li>", page.text, re.S)
    assert [int(source) for source, _ in hits] == [ids["page"]]
    hit = hits[0][1]
    assert f"<a class='capture' href='/captures/{ids['captures'][1]}'>" in hit, "the capture the text is from"
    assert "<mark>river</mark>" in hit and "<mark>swollen</mark>" in hit
    snippet = re.search(r"<p class='snippet'>(.*?)</p>", hit).group(1)
    assert "<img" not in hit and ("&lt;img src=x onerror=alert(1)&gt;" in snippet or "img" not in snippet), \
        "the snippet is escaped (PostgreSQL's headline leaves tags out)"
    assert "<script>" not in page.text and "value='swollen river'" in page.text
    replay = api.get(f"/api/captures/{ids['captures'][1]}", role=None)
    assert replay.status_code == 200 and b"reopened the bridge" in replay.content
    video = api.get("/search", params={"q": "drone", "collection": "flood"}, role=None)
    assert re.findall(r"<li class='hit' data-source='(\d+)'>", video.text) == [str(ids["video"])]
    assert api.get("/search", params={"q": "nothingmatches"}, role=None).text.count("<li class='hit'") == 0
    assert api.get("/search", role=None).status_code == 200, "the empty search box"


def test_snippets_are_escaped_around_their_marks() -> None:
    assert marked("a <b>**river**</b> & **dam**") == \
        "a &lt;b&gt;<mark>river</mark>&lt;/b&gt; &amp; <mark>dam</mark>"
    assert marked("**<script>**x**") == "<mark>&lt;script&gt;</mark>x**", "an unpaired mark stays text"


def test_diff_page_shows_the_edited_sentence(api: ApiServer) -> None:
    ids = seed(api)
    page = api.get(f"/sources/{ids['page']}/diff", role=None)
    assert page.status_code == 200, page.text[:300]
    assert "<span class='removed'>-The mayor closed the bridge.</span>" in page.text
    assert "<span class='added'>+The mayor reopened the bridge.</span>" in page.text
    assert "<span class='same'> Schools stay open.</span>" in page.text, "with the sentence around it"
    assert f"href='/captures/{ids['captures'][0]}'" in page.text
    assert "1 sentence removed, 1 added" in page.text
    same = api.get(f"/sources/{ids['page']}/diff", params={"from": "2026-03-01T09:00", "to": "2026-03-01T10:00"},
                   role=None)
    assert same.status_code == 404 and "no earlier capture" in _one_line_error(same.text)


def test_bad_input_is_a_4xx_page_with_one_line(api: ApiServer) -> None:
    ids = seed(api)
    huge = " ".join(["river"] * 10_000)
    answer = api.get("/search", params={"q": huge}, role=None)
    assert answer.status_code == 422 and "at most 1000" in _one_line_error(answer.text)
    long_query = api.get("/search", params={"q": " ".join(["river"] * 2_000)}, role=None)
    assert long_query.status_code == 422 and "at most 1000" in _one_line_error(long_query.text)
    symbols = api.get("/search", params={"q": "%%% !!!"}, role=None)
    assert symbols.status_code == 200 and "only symbols" in symbols.text and "class='hit'" not in symbols.text
    date = api.get(f"/sources/{ids['page']}/diff", params={"from": "yesterday-ish"}, role=None)
    assert date.status_code == 422 and "not a date or time" in _one_line_error(date.text)
    assert api.get(f"/sources/{ids['page']}/diff", params={"to": "9" * 500}, role=None).status_code == 422
    missing = api.get("/sources/99999/diff", role=None)
    assert missing.status_code == 404 and "no source 99999" in _one_line_error(missing.text)
    nowhere = api.get("/search", params={"q": "river", "collection": "nowhere"}, role=None)
    assert nowhere.status_code == 404 and "no collection" in _one_line_error(nowhere.text)
    hostile_date = api.get(f"/sources/{ids['page']}/diff", params={"from": "<script>x"}, role=None)
    assert hostile_date.status_code == 422 and "&lt;script&gt;x" in _one_line_error(hostile_date.text)
    hostile_query = api.get("/search", params={"q": "<script>alert(1)</script> river"}, role=None)
    assert hostile_query.status_code == 200 and "<script>" not in hostile_query.text
    assert "value='&lt;script&gt;alert(1)&lt;/script&gt; river'" in hostile_query.text
    no_collection = api.get("/collections/<b>nowhere", role=None)
    assert no_collection.status_code == 404 and "&lt;b&gt;nowhere" in _one_line_error(no_collection.text)
    no_source = api.get("/sources/99999", role=None)
    assert no_source.status_code == 404 and "No source 99999" in _one_line_error(no_source.text)
    for page in (answer, long_query, symbols, date, missing, nowhere, hostile_date, no_collection, no_source):
        assert "script-src 'none'" in page.headers["Content-Security-Policy"]


def test_private_collections_ask_anonymous_callers_to_sign_in(api: ApiServer) -> None:
    with session_scope(api.workspace.sessions) as session:
        secret = ensure_collection(session, "secret")
        source = add_source(session, secret, "https://secret.example/1", status="alive")
        source_id = source.id
    assert api.get("/search", params={"q": "river"}, role=None).headers["Location"].startswith("/login")
    assert api.get(f"/sources/{source_id}/diff", role=None).headers["Location"].startswith("/login")
    assert api.get("/search", params={"q": "river", "collection": "secret"}).status_code == 200


def test_a_large_collection_s_chart_is_an_image_of_its_own(api: ApiServer) -> None:
    with session_scope(api.workspace.sessions) as session:
        big = ensure_collection(session, "big")
        for n in range(MAX_LANES + 5):
            source = add_source(session, big, f"https://big.example/{n}", status="alive")
            add_transition(session, source, at("2026-03-01"), "new", "alive")
            if n % 3 == 0:
                add_transition(session, source, at("2026-03-04"), "alive", "vanished", "gone")
    page = api.get("/collections/big")
    assert page.status_code == 200 and "<svg class='timeline-chart'" not in page.text
    assert "<img class='timeline-chart' src='/collections/big/timeline.svg'" in page.text
    image = api.get("/collections/big/timeline.svg")
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/svg+xml")
    assert image.headers["Content-Security-Policy"] == "default-src 'none'"
    svg = ET.fromstring(image.text)
    assert svg.get("data-grouped") == "true" and svg.get("data-sources") == str(MAX_LANES + 5)
    groups = {g.get("data-sources") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert groups == {"15", "30"}, "alive then vanished (every third), and alive"
    assert api.get("/collections/big/timeline.svg", role=None).status_code == 404, "a private collection's"
