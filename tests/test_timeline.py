"""What was online when: a collection of pages and a video checked against a local site through vanishing,
returning and an edit, then asked `lastseen timeline --as-of` (and the API) at three moments."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from archive.config import Settings
from archive.db import session_scope
from archive.extract.pagemeta import extract_page_metadata
from archive.models import Source, Video, WaybackLookup
from archive.research.facts import CheckFact, SourceFacts, TransitionFact
from archive.research.loading import collection_facts
from archive.research.records import CHECKS_FILE, RECORD_FILES, facts_from_wacz
from archive.research.timeline import collection_timeline, parse_moment, region_intervals, source_timeline
from archive.sources import SourceEntry, add_sources, ensure_collection, get_collection
from archive.watch.check import VideoEndpoints, check_sources
from archive.workspace import Workspace
from tests.servers.api import add_capture, store_exchange
from tests.servers.site import Page, Site
from tests.test_checker import article, watch_page
from tests.test_wacz import pywacz_bin, tool_cache  # noqa: F401 - fixtures: py-wacz in its own venv

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
STORY = article("Flood in the valley", "The river rose three metres overnight and the old bridge was closed.",
                "Residents filmed the water reaching the market square; the mayor asked people to stay home.")
GONE = Page("<html><body>Not found</body></html>", status=404)
# The moments asked about, and what the collection looked like then (short names of the sources below).
MOMENTS = {
    "before": (T0 + 12 * HOUR, {"online": ["a", "b", "c", "v"], "vanished": [], "unknown": ["d"],
                                "not_yet_known": []}),
    "vanishing": (T0 + DAY + 2 * HOUR, {"online": ["a"], "vanished": ["b", "c", "v"], "unknown": ["d"],
                                        "not_yet_known": []}),
    "after": (T0 + 2 * DAY + 2 * HOUR, {"online": ["a", "c", "d"], "vanished": ["b", "v"], "unknown": [],
                                        "not_yet_known": []}),
}


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings.replace(host_rate=1000.0, provider_rate=1000.0, check_concurrency=8))
    yield workspace
    workspace.close()


def _capture(ws: Workspace, source_id: int, url: str, at: datetime, html: str, published: str | None = None) -> None:
    """A page captured into a real stored WARC, with the row the crawl writes and what describing it found."""
    meta = extract_page_metadata(html.encode(), url, "text/html; charset=utf-8")
    record, uri = store_exchange(ws, url, html.encode(), when=at)
    with session_scope(ws.sessions) as session:
        capture = add_capture(session, session.get(Source, source_id), record, uri)
        capture.page_meta = {"title": meta.title, "published": published,
                             "text_sha256": hashlib.sha256((meta.text or "").encode()).hexdigest()}


def build_history(ws: Workspace, site: Site) -> dict[str, int]:
    """Pages a (edited), b (vanishes), c (vanishes, returns), d (first checked late) and video v (removed)."""
    playable = {"vid00001": True}

    def oembed(request: BaseHTTPRequestHandler) -> Page:
        ok = playable["vid00001"]
        return Page(json.dumps({"title": "clip"}) if ok else "Not Found", status=200 if ok else 404,
                    content_type="application/json")

    site.set("/oembed", oembed)
    for path in ("/a", "/b", "/c", "/d"):
        site.set(path, Page(STORY.replace("Flood in the valley", f"Story {path[1:]}")))
    site.set("/watch?v=vid00001", watch_page("OK"))
    with session_scope(ws.sessions) as session:
        coll = ensure_collection(session, "flood")
        pages = add_sources(session, coll, [SourceEntry(site.url(p)) for p in ("/a", "/b", "/c", "/d")]).added
        [video] = add_sources(session, coll, [SourceEntry(site.url("/watch?v=vid00001"))], kind="video").added
        ids = {name: source.id for name, source in zip("abcd", pages, strict=True)} | {"v": video.id}
        session.add(Video(source_id=video.id, provider="youtube", video_id="vid00001", title="Water in the square",
                          canonical_url=video.normalized_url, upload_date="2025-12-20"))
        session.add(WaybackLookup(source_id=ids["b"], looked_up_at=T0, target="https://web.archive.org",
                                  first_timestamp="20251230100000", last_timestamp="20251230100000", count=1))
    _capture(ws, ids["a"], site.url("/a"), T0 - HOUR, STORY.replace("Flood in the valley", "Story a"))
    _capture(ws, ids["d"], site.url("/d"), T0 + 2 * DAY, STORY.replace("Flood in the valley", "Story d"),
             published="2026-01-01T08:30:00+02:00")
    endpoints = VideoEndpoints(oembed={"youtube": site.url("/oembed")})

    def check(names: str, at: datetime) -> None:
        check_sources(ws, [ids[n] for n in names], now=at, timeout=0.5, rng=random.Random(7), endpoints=endpoints)

    check("abcv", T0)
    site.set("/b", GONE)
    site.set("/c", GONE)
    site.set("/watch?v=vid00001", watch_page("ERROR", "This video has been removed by the uploader"))
    playable["vid00001"] = False
    check("abcv", T0 + DAY)
    check("bcv", T0 + DAY + HOUR)  # the confirming checks: vanished
    site.set("/c", Page(STORY.replace("Flood in the valley", "Story c")))
    site.set("/a", Page(STORY.replace("Flood in the valley", "Story a").replace("three metres", "four metres")))
    check("abcdv", T0 + 2 * DAY)
    return ids


def _names(ids: dict[str, int], site: Site, urls: list[str]) -> list[str]:
    by_url = {site.url(p): n for n, p in (("a", "/a"), ("b", "/b"), ("c", "/c"), ("d", "/d"))}
    by_url[site.url("/watch?v=vid00001")] = "v"
    return sorted(by_url[url] for url in urls)


def test_timeline_as_of_three_moments(ws: Workspace, site: Site, run: Any) -> None:
    ids = build_history(ws, site)
    for label, (moment, expected) in MOMENTS.items():
        code, out, err = run("timeline", "-c", "flood", "--as-of", moment.isoformat(), "--json")
        assert code == 0, err
        answer = json.loads(out)
        got = {group: _names(ids, site, answer[group]) for group in expected}
        assert got == expected, label
        assert answer["counts"] == {group: len(names) for group, names in expected.items()}

    code, out, _ = run("timeline", "-c", "flood", "--as-of", (T0 + 2 * DAY + 2 * HOUR).isoformat(), "--json")
    by_name = {_names(ids, site, [s["url"]])[0]: s for s in json.loads(out)["sources"]}
    a, b, c, d, v = (by_name[n] for n in "abcdv")
    assert [e["kind"] for e in a["events"]] == ["alive", "changed"], "the edit is on a's timeline"
    assert a["title"] == "Story a" and v["title"] == "Water in the square"
    assert [(i["state"], i["start"], i["end"]) for i in c["intervals"]] == [
        ("alive", "2026-01-05T12:00:00Z", "2026-01-06T13:00:00Z"),
        ("vanished", "2026-01-06T13:00:00Z", "2026-01-07T12:00:00Z"),
        ("returned", "2026-01-07T12:00:00Z", None)]
    assert c["state"] == "returned" and b["state"] == "vanished" and b["reason"] == "gone"
    assert (v["state"], v["reason"]) == ("vanished", "removed")
    assert v["first_known"] == {"at": "2025-12-20T00:00:00Z", "from": "upload_date", "value": "2025-12-20",
                                "day_only": True}
    assert d["first_known"]["from"] == "published" and d["first_known"]["at"] == "2026-01-01T06:30:00Z"
    assert b["first_known"]["from"] == "wayback" and b["first_known"]["at"] == "2025-12-30T10:00:00Z"
    assert b["copies"]["wayback"] == [{"at": "2025-12-30T10:00:00Z", "url": "https://web.archive.org/web/"
                                       f"20251230100000/{site.url('/b')}"}]
    assert a["first_known"]["from"] == "capture" and a["copies"]["captures"] == 1
    assert d["copies"]["captures"] == 1
    code, out, _ = run("timeline", "-c", "flood", "--as-of", "2026-01-06", "--json")
    assert json.loads(out)["sources"][3]["copies"]["captures"] == 0, "d's capture was made after that day"


def test_timeline_csv_text_and_bad_input(ws: Workspace, site: Site, run: Any) -> None:
    build_history(ws, site)
    code, out, _ = run("timeline", "-c", "flood", "--as-of", "20260106140000", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["state"] for r in rows] == ["alive", "vanished", "vanished", "unknown", "vanished"]
    assert rows[3]["first_known_from"] == "published" and rows[4]["title"] == "Water in the square"
    code, out, _ = run("timeline", "-c", "flood", "--as-of", "2026-01-07T14:00Z")
    assert code == 0 and out.startswith("flood as of 2026-01-07T14:00:00Z: 3 online, 2 vanished, 0 could not tell")
    assert "returned since 2026-01-07T12:00:00Z" in out
    for bad in ("yesterday", "2026-13-01", "2026-01-05T25:00", "9" * 30):
        code, out, err = run("timeline", "-c", "flood", "--as-of", bad)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--as-of" in err, bad
    code, _, err = run("timeline", "-c", "nope")
    assert code == 3 and "no collection named 'nope'" in err
    assert run("timeline", "-c", "flood", "--json", "--csv")[0] == 2


def test_regions_have_their_own_lanes() -> None:
    checks = [CheckFact(T0, "ok", "default"), CheckFact(T0, "ok", "kz"), CheckFact(T0 + HOUR, "geo_blocked", "kz"),
              CheckFact(T0 + 2 * HOUR, "timeout", "default"), CheckFact(T0 + 3 * HOUR, "ok", "kz"),
              CheckFact(T0 + 4 * HOUR, "ok", "kz")]
    lanes = region_intervals(checks, T0 + 5 * HOUR)
    assert [(i.state, i.start, i.end) for i in lanes["kz"]] == [
        ("alive", T0, T0 + HOUR), ("vanished", T0 + HOUR, T0 + 3 * HOUR), ("returned", T0 + 3 * HOUR, None)]
    assert [(i.state, i.reason) for i in lanes["default"]] == [("alive", "ok"), ("unknown", "timeout")]
    facts = SourceFacts(1, "https://x.example/", "page", None, T0 - DAY, checks=checks,
                        transitions=[TransitionFact(T0, "alive", "new", "alive"),
                                     TransitionFact(T0 + 2 * HOUR, "unreachable", "alive", "unreachable")])
    early = source_timeline(facts, T0 + 1.5 * HOUR)
    assert early["state"] == "alive" and early["regions"] == {"default": "alive", "kz": "vanished"}
    assert source_timeline(facts, T0 + 5 * HOUR)["state"] == "unknown", "unreachable: could not tell"
    assert source_timeline(facts, T0 - 2 * DAY)["state"] == "not_yet_known"
    assert source_timeline(facts, T0 - HOUR)["state"] == "unknown", "added, not checked yet"


def test_moments_people_write() -> None:
    assert parse_moment("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert parse_moment(" 2026-01-05T14:00+02:00 ") == datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert parse_moment("20260105120000") == T0 and parse_moment("2026-01-05T12:00") == T0
    for bad in ("", "soon", "2026-02-30", "20261305000000"):
        with pytest.raises(ValueError, match="not a date or time"):
            parse_moment(bad)


def test_the_api_answers_as_the_command_line(ws: Workspace, site: Site, run: Any, api: Any) -> None:
    build_history(ws, site)
    moment = "2026-01-06T14:00:00Z"
    response = api.get(f"/api/collections/flood/timeline?as_of={moment}")
    assert response.status_code == 200
    answer = response.json()
    assert answer.pop("next_cursor") is None
    assert answer == json.loads(run("timeline", "-c", "flood", "--as-of", moment, "--json")[1])
    first = api.get(f"/api/collections/flood/timeline?as_of={moment}&limit=2").json()
    rest = api.get(f"/api/collections/flood/timeline?as_of={moment}&cursor={first['next_cursor']}").json()
    assert [s["url"] for s in first["sources"] + rest["sources"]] == [s["url"] for s in answer["sources"]]
    for bad in ("yesterday", "2026-02-30", "x" * 41):
        response = api.get(f"/api/collections/flood/timeline?as_of={bad}")
        assert response.status_code == 422 and response.json()["error"], bad
    assert api.get("/api/collections/flood/timeline", role=None).status_code == 401, "a private collection"
    assert api.get("/api/collections/nope/timeline").status_code == 404
    assert api.get("/api/collections/flood").json()["name"] == "flood", "the collection route is still there"


def test_the_wacz_carries_the_record_and_rebuilds_the_same_timeline(ws: Workspace, site: Site, run: Any,
                                                                    tmp_path: Path, request: Any) -> None:
    build_history(ws, site)
    target = tmp_path / "flood.wacz"
    code, _, err = run("export", "-c", "flood", str(target))
    assert code == 0, err
    pywacz = request.getfixturevalue("pywacz_bin")
    checked = subprocess.run([str(pywacz / "wacz"), "validate", "-f", str(target)], capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with zipfile.ZipFile(target) as package:
        listed = {r["path"]: r["hash"] for r in json.loads(package.read("datapackage.json"))["resources"]}
        for name in RECORD_FILES:
            assert listed[name] == "sha256:" + hashlib.sha256(package.read(name)).hexdigest(), name
        checks = [json.loads(line) for line in package.read(CHECKS_FILE).splitlines()]
    assert {c["outcome"] for c in checks} >= {"ok", "gone", "removed", "changed"}
    assert all(c["url"] and c["at"] and c["region"] == "default" for c in checks)

    from_wacz = facts_from_wacz(target)
    with session_scope(ws.sessions) as session:
        [from_db] = list(collection_facts(session, get_collection(session, "flood").id))
    assert from_wacz == from_db
    for moment, _ in MOMENTS.values():
        assert collection_timeline("flood", from_wacz, moment) == collection_timeline("flood", from_db, moment)
    code, out, _ = run("timeline", "-c", "flood", "--as-of", "2026-01-06T14:00Z", "--json")
    assert collection_timeline("flood", from_wacz, parse_moment("2026-01-06T14:00Z")) == json.loads(out)
