"""Availability checks against a local site whose pages change state, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from archive.cli import main
from archive.config import Settings
from archive.db import session_scope
from archive.due import changed_captures, checks_due
from archive.extract.pagemeta import extract_page_metadata
from archive.models import Capture, Check, Collection, Source, StatusTransition, Video
from archive.net.pacing import RateLimiter
from archive.providers.info import fetch_oembed
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.sources.limits import MAX_INTERVAL
from archive.watch.check import VideoEndpoints, check_sources
from archive.watch.fetch import Fetcher, error_kind
from archive.workspace import Workspace
from tests.clocks import FakeClock
from tests.conftest import TEST_ALLOW_NETWORKS
from tests.servers.site import Page, Site

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TIMEOUT = 0.5  # seconds per request in these tests; local answers take milliseconds


def article(title: str, *paragraphs: str, extra: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>{extra}</head>"
            f"<body><nav>Home | World | Politics</nav><article><h1>{title}</h1>{body}</article>"
            f"<footer>(c) Valley News</footer></body></html>")


STORY = article("Flood in the valley",
                "The river rose three metres overnight and the old bridge was closed by the police on Tuesday.",
                "Residents filmed the water reaching the market square; the mayor asked people to stay home.",
                "Volunteers filled sandbags at the school until the early morning, the fire brigade said.")


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings.replace(host_rate=1000.0, provider_rate=1000.0, check_concurrency=8))
    yield workspace
    workspace.close()


def track(ws: Workspace, *urls: str, kind: str = "page", collection: str = "default",
          every: int | None = None) -> list[int]:
    with session_scope(ws.sessions) as session:
        coll = ensure_collection(session, collection)
        result = add_sources(session, coll, [SourceEntry(u) for u in urls], kind=kind, recheck_interval=every)
        return [s.id for s in result.added]


def check(ws: Workspace, ids: list[int], at: datetime, **kwargs: Any) -> Any:
    return check_sources(ws, ids, now=at, timeout=TIMEOUT, rng=random.Random(7), **kwargs)


def source(ws: Workspace, source_id: int) -> Source:
    with session_scope(ws.sessions) as session:
        return session.get(Source, source_id)


def checks(ws: Workspace, source_id: int) -> list[Check]:
    with session_scope(ws.sessions) as session:
        return list(session.scalars(select(Check).where(Check.source_id == source_id).order_by(Check.id)))


def transitions(ws: Workspace, source_id: int) -> list[StatusTransition]:
    with session_scope(ws.sessions) as session:
        return list(session.scalars(select(StatusTransition).where(StatusTransition.source_id == source_id)
                                    .order_by(StatusTransition.id)))


def outcomes(ws: Workspace, source_id: int) -> list[str]:
    return [c.outcome for c in checks(ws, source_id)]


# --------------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------------

def test_alive_then_404_then_back(ws: Workspace, site: Site) -> None:
    site.set("/story", Page(STORY))
    [sid] = track(ws, site.url("/story"))

    summary = check(ws, [sid], T0)
    assert summary.checked == 1 and dict(summary.outcomes) == {"ok": 1}
    s = source(ws, sid)
    assert (s.status, s.last_checked_at, s.last_seen_alive_at, s.first_seen_at) == ("alive", T0, T0, T0)
    assert T0 + DAY * 0.9 <= s.next_check_at <= T0 + DAY * 1.1, "the regular interval, with jitter"

    site.set("/story", Page("<html><body>gone</body></html>", status=404))
    check(ws, [sid], T0 + DAY)
    s = source(ws, sid)
    assert s.status == "alive" and s.streak_outcome == "gone" and s.streak_count == 1
    assert s.next_check_at == T0 + DAY + HOUR, "one 404 brings the confirming check forward to confirm_delay"

    summary = check(ws, [sid], T0 + DAY + HOUR)
    s = source(ws, sid)
    assert (s.status, s.status_reason, s.vanished_at, s.last_seen_alive_at) == ("vanished", "gone", T0 + DAY + HOUR,
                                                                               T0)
    assert [t["kind"] for t in summary.transitions] == ["vanished"] and summary.transitions[0]["alerts"]

    check(ws, [sid], T0 + DAY + 2 * HOUR)  # more of the same: no second transition
    site.set("/story", Page(STORY))
    summary = check(ws, [sid], T0 + 2 * DAY)
    assert source(ws, sid).status == "returned"
    assert [t["kind"] for t in summary.transitions] == ["returned"]

    rows = checks(ws, sid)
    assert [c.outcome for c in rows] == ["ok", "gone", "gone", "gone", "ok"]
    assert [c.http_status for c in rows] == [200, 404, 404, 404, 200]
    assert all(c.latency_ms is not None and c.latency_ms >= 0 for c in rows)
    stored = transitions(ws, sid)
    assert [(t.kind, t.from_status, t.to_status, t.reason) for t in stored] == [
        ("alive", "new", "alive", "ok"), ("vanished", "alive", "vanished", "gone"),
        ("returned", "vanished", "returned", "ok")]
    assert [e["check_id"] for e in stored[1].evidence] == [rows[1].id, rows[2].id]
    assert [e["outcome"] for e in stored[1].evidence] == ["gone", "gone"]
    assert stored[1].at == T0 + DAY + HOUR
    assert [e["check_id"] for e in stored[2].evidence] == [rows[4].id]


def test_soft_404_by_wording_and_by_the_probe(ws: Workspace, site: Site) -> None:
    not_found = article("Valley News", "We looked everywhere for this but it is not here.",
                        "Try the links below or search the site for what you wanted to read.")
    site.fallback = Page(not_found)  # the site answers 200 for any URL it does not have
    site.set("/a", Page(STORY))
    site.set("/b", Page(STORY.replace("Flood", "Storm")))
    ids = track(ws, site.url("/a"), site.url("/b"))
    check(ws, ids, T0)
    assert [outcomes(ws, i) for i in ids] == [["ok"], ["ok"]]

    site.set("/a", Page(article("Page not found | Valley News", "Try the search box.")))
    site.set("/b", Page(not_found))
    check(ws, ids, T0 + DAY)
    a, b = (checks(ws, i)[-1] for i in ids)
    assert a.outcome == "soft_404" and "the page says" in a.detail
    assert b.outcome == "soft_404" and "nonexistent URL" in b.detail
    probes = [path for _, path, _ in site.requests if path.startswith("/lastseen-probe-")]
    assert len(probes) == 2, "one probe per host per run"
    assert probes[0] != probes[1], "each run probes a new random URL"


def test_redirects_to_the_home_page_a_slug_and_a_loop(ws: Workspace, site: Site) -> None:
    site.set("/", Page(article("Valley News", "Top stories of the day.")))
    site.set("/old", Page("", status=301, headers=[("Location", "/")], content_type=None))
    site.set("/2024/123-old-title", Page("", status=301, headers=[("Location", "/2024/123-new-title")]))
    site.set("/2024/123-new-title", Page(STORY))
    site.set("/loop", Page("", status=302, headers=[("Location", "/loop2")], content_type=None))
    site.set("/loop2", Page("", status=302, headers=[("Location", "/loop")], content_type=None))
    home, slug, loop = track(ws, site.url("/old"), site.url("/2024/123-old-title"), site.url("/loop"))
    check(ws, [home, slug, loop], T0)

    [away] = checks(ws, home)
    assert away.outcome == "redirected_away" and away.final_url == site.url("/")
    assert f"redirects: {site.url('/old')} -> {site.url('/')}" in away.detail
    [moved] = checks(ws, slug)
    assert moved.outcome == "ok" and moved.final_url == site.url("/2024/123-new-title")
    [looped] = checks(ws, loop)
    assert looped.outcome == "server_error" and "loop" in looped.detail
    assert site.hits("/loop") == 1 and site.hits("/loop2") == 1, "a loop is stopped the first time round"
    assert source(ws, loop).status == "unreachable", "a loop is not proof of removal"


def test_transient_failures_never_vanish(ws: Workspace, site: Site) -> None:
    served: Counter[str] = Counter()

    def once(path: str, bad: Page) -> Any:
        def handler(_request: BaseHTTPRequestHandler) -> Page:
            served[path] += 1
            return bad if served[path] == 1 else Page(STORY)
        return handler

    site.set("/slow", once("/slow", Page(STORY, hang=TIMEOUT * 4)))
    site.set("/flaky", once("/flaky", Page("busy", status=503, content_type="text/plain")))
    site.set("/story", Page(STORY))
    dead = "http://nothing-here.lastseen-test.invalid/story"
    slow, flaky, ok, dns = track(ws, site.url("/slow"), site.url("/flaky"), site.url("/story"), dead)
    check(ws, [ok], T0)  # one source already alive before its host misbehaves
    site.set("/story", once("/story", Page("", drop=True)))
    with session_scope(ws.sessions) as session:  # ...and one whose host answered until its name stopped resolving
        session.get(Source, dns).status = "alive"
        session.get(Source, dns).last_seen_alive_at = T0

    started = time.monotonic()
    check(ws, [slow, flaky, ok, dns], T0 + DAY)
    assert time.monotonic() - started < TIMEOUT * 3, "a DNS failure and a timeout fail fast"
    assert [checks(ws, i)[-1].outcome for i in (slow, flaky, ok, dns)] == [
        "timeout", "server_error", "connection_error", "dns_error"]
    assert "Failed to resolve" in checks(ws, dns)[-1].detail
    for sid in (slow, flaky, ok, dns):
        assert source(ws, sid).status == "unreachable"
        assert source(ws, sid).next_check_at == T0 + DAY + 12 * HOUR, "the remaining checks spread over the span"

    check(ws, [slow, flaky, ok, dns], T0 + DAY + 12 * HOUR)
    check(ws, [dns], T0 + DAY + 20 * HOUR)
    for sid in (slow, flaky, ok):
        assert source(ws, sid).status == "alive"
        assert [t.kind for t in transitions(ws, sid)][-2:] == ["unreachable", "alive"]
    assert outcomes(ws, dns) == ["dns_error"] * 3
    assert source(ws, dns).status == "unreachable", "three failures spanning less than a day do not vanish"
    [went] = transitions(ws, dns)
    assert (went.kind, went.from_status, went.to_status, went.reason) == ("unreachable", "alive", "unreachable",
                                                                          "dns_error")
    assert source(ws, dns).last_seen_alive_at == T0
    assert [e["outcome"] for e in went.evidence] == ["dns_error"]
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(StatusTransition).where(StatusTransition.kind == "vanished")) is None


def test_edited_text_is_changed_and_asks_for_a_capture(ws: Workspace, site: Site) -> None:
    site.set("/story", Page(STORY))
    [sid] = track(ws, site.url("/story"))
    meta = extract_page_metadata(STORY.encode(), site.url("/story"), "text/html; charset=utf-8")
    assert meta.text
    with session_scope(ws.sessions) as session:  # the row the crawl's CaptureRowPipeline writes
        session.add(Capture(source_id=sid, captured_at=T0 - HOUR, url=site.url("/story"), http_status=200,
                            content_type="text/html; charset=utf-8",
                            payload_sha256=hashlib.sha256(STORY.encode()).hexdigest(), payload_digest=None,
                            size=len(STORY), warc_uri="file:///x.warc.gz", warc_offset=0, warc_length=1,
                            page_meta={"title": meta.title,
                                       "text_sha256": hashlib.sha256(meta.text.encode()).hexdigest()}))

    check(ws, [sid], T0)
    assert checks(ws, sid)[-1].outcome == "ok" and "same bytes" in checks(ws, sid)[-1].detail
    site.set("/story", Page(STORY.replace("</head>", "<script>var served = 1767614400;</script></head>")))
    check(ws, [sid], T0 + DAY)
    assert checks(ws, sid)[-1].outcome == "ok" and "same main text" in checks(ws, sid)[-1].detail

    edited = STORY.replace("three metres", "four metres")
    site.set("/story", Page(edited))
    summary = check(ws, [sid], T0 + 2 * DAY)
    last = checks(ws, sid)[-1]
    assert last.outcome == "changed" and "main text differs from the capture of" in last.detail
    assert summary.to_capture == [sid]
    assert [(t["kind"], t["from"], t["to"]) for t in summary.transitions] == [("changed", "alive", "alive")]
    with session_scope(ws.sessions) as session:
        wanted = changed_captures(session)
    assert [(w.source_id, w.collection, w.url, w.why) for w in wanted] == [
        (sid, "default", site.url("/story"), "changed")]

    check(ws, [sid], T0 + 3 * DAY)  # not captured yet, not edited again: no second alert
    assert checks(ws, sid)[-1].outcome == "ok" and "the change seen at" in checks(ws, sid)[-1].detail
    site.set("/story", Page(edited.replace("sandbags", "bags of sand")))
    check(ws, [sid], T0 + 4 * DAY)
    assert checks(ws, sid)[-1].outcome == "changed"
    assert [t.kind for t in transitions(ws, sid)] == ["alive", "changed", "changed"]
    assert source(ws, sid).status == "alive"

    with session_scope(ws.sessions) as session:  # the crawl captured it again
        session.add(Capture(source_id=sid, captured_at=T0 + 4 * DAY + HOUR, url=site.url("/story"), http_status=200,
                            content_type="text/html", payload_sha256="0" * 64, payload_digest=None, size=1,
                            warc_uri="file:///y.warc.gz", warc_offset=0, warc_length=1, page_meta=None))
    with session_scope(ws.sessions) as session:
        assert changed_captures(session) == []


def test_a_page_is_asked_conditionally_and_the_same_bytes_are_not_parsed_again(ws: Workspace, site: Site) -> None:
    """The last alive answer's ETag and Last-Modified go back as If-None-Match / If-Modified-Since; a 304 is
    alive and unchanged. A server without validators sends the page: the same bytes need no parsing."""
    etag, modified = '"v1"', "Wed, 21 Oct 2026 07:28:00 GMT"

    def story(handler: BaseHTTPRequestHandler) -> Page:
        if handler.headers.get("If-None-Match") == etag:
            return Page(b"", status=304, content_type=None, headers=[("ETag", etag)])
        return Page(STORY, headers=[("ETag", etag), ("Last-Modified", modified)])

    site.set("/story", story)
    site.set("/plain", Page(STORY))
    sid, plain = track(ws, site.url("/story"), site.url("/plain"))
    check(ws, [sid, plain], T0)
    check(ws, [sid, plain], T0 + DAY)
    sent = [headers for _method, path, headers in site.requests if path == "/story"]
    assert "If-None-Match" not in sent[0], "the first check has nothing to ask conditionally"
    assert (sent[1].get("If-None-Match"), sent[1].get("If-Modified-Since")) == (etag, modified)
    last = checks(ws, sid)[-1]
    assert (last.outcome, last.http_status) == ("ok", 304) and "not modified since the last check" in last.detail
    assert source(ws, sid).status == "alive" and source(ws, sid).last_seen_alive_at == T0 + DAY
    assert [t.kind for t in transitions(ws, sid)] == ["alive"], "a 304 moves nothing"
    assert "same bytes as the last check" in checks(ws, plain)[-1].detail

    site.set("/plain", Page(STORY.replace("three metres", "four metres")))
    check(ws, [plain], T0 + 2 * DAY)
    last = checks(ws, plain)[-1]
    assert last.outcome == "ok" and "same bytes" not in last.detail, "new bytes are read and classified again"
    site.set("/story", Page("<html><head><title>Not Found</title></head><body>gone</body></html>", status=404))
    check(ws, [sid], T0 + 3 * DAY)
    assert checks(ws, sid)[-1].outcome == "gone" and source(ws, sid).check_etag is None


# --------------------------------------------------------------------------------------------------
# Videos: what the provider says
# --------------------------------------------------------------------------------------------------

def watch_page(status: str, reason: str = "") -> Page:
    playability = {"status": status, **({"reason": reason} if reason else {})}
    player = json.dumps({"playabilityStatus": playability, "videoDetails": {"title": "clip"}})
    return Page(f"<html><head><title>clip - YouTube</title></head><body><script>var ytInitialPlayerResponse = "
                f"{player};</script><div id='player'></div></body></html>")


def test_providers_answers_for_videos(ws: Workspace, site: Site) -> None:
    pages = {
        "removed1": (watch_page("ERROR", "This video has been removed by the uploader"), 404, "removed"),
        "private1": (watch_page("LOGIN_REQUIRED", "This video is private"), 401, "private"),
        "closed01": (watch_page("ERROR", "This video is no longer available because the YouTube account "
                                         "associated with this video has been terminated."), 404,
                     "account_terminated"),
        "geo00001": (watch_page("UNPLAYABLE", "The uploader has not made this video available in your country"),
                     200, "geo_blocked"),
        "age00001": (watch_page("LOGIN_REQUIRED", "Sign in to confirm your age"), 200, "age_restricted"),
        "nosign01": (Page("<html><head><title>YouTube</title></head><body>app shell</body></html>"), 404, "gone"),
        "alive001": (watch_page("OK"), 200, "ok"),
    }
    asked: list[str] = []

    def oembed(request: BaseHTTPRequestHandler) -> Page:
        url = parse_qs(urlsplit(request.path).query)["url"][0]
        asked.append(url)
        video = parse_qs(urlsplit(url).query).get("v", [urlsplit(url).path.rsplit("/", 1)[-1]])[0]
        status = pages[video][1] if video in pages else 404
        body = json.dumps({"title": "clip", "author_name": "someone"}) if status == 200 else "Not Found"
        return Page(body, status=status, content_type="application/json")

    site.set("/oembed", oembed)
    ids: dict[str, int] = {}
    for video_id, (page, _, _) in pages.items():
        site.set(f"/watch?v={video_id}", page)
        ids[video_id] = track(ws, site.url(f"/watch?v={video_id}"), kind="video")[0]
    site.set("/vimeo/76979871", Page("<html><body>Sorry, this page is not here</body></html>", status=404))
    ids["vimeo"] = track(ws, site.url("/vimeo/76979871"), kind="video")[0]
    site.set("/dm/x8abcd", Page(json.dumps({"error": {"code": "DM007", "title": "geo-restricted"}}),
                                content_type="application/json"))
    ids["dm"] = track(ws, site.url("/video/x8abcd"), kind="video")[0]
    with session_scope(ws.sessions) as session:
        for video_id, sid in ids.items():
            provider = {"vimeo": "vimeo", "dm": "dailymotion"}.get(video_id, "youtube")
            real_id = {"vimeo": "76979871", "dm": "x8abcd"}.get(video_id, video_id)
            session.add(Video(source_id=sid, provider=provider, video_id=real_id,
                              canonical_url=session.get(Source, sid).normalized_url))

    endpoints = VideoEndpoints(oembed={"youtube": site.url("/oembed"), "vimeo": site.url("/oembed")},
                               pages={"dailymotion": site.url("/dm/{id}")})
    summary = check(ws, list(ids.values()), T0, endpoints=endpoints)
    found = {video_id: checks(ws, sid)[-1] for video_id, sid in ids.items()}
    expected = {video_id: outcome for video_id, (_, _, outcome) in pages.items()} | {"vimeo": "gone",
                                                                                     "dm": "geo_blocked"}
    assert {video_id: c.outcome for video_id, c in found.items()} == expected
    assert "removed by the uploader" in found["removed1"].detail and "video page" in found["removed1"].detail
    assert "oEmbed" in found["nosign01"].detail and found["nosign01"].http_status == 404
    assert summary.checked == len(ids)
    assert sorted(asked) == sorted([site.url(f"/watch?v={v}") for v in pages] + [site.url("/vimeo/76979871")])
    assert not [p for _, p, _ in site.requests if "lastseen-probe" in p], "provider pages need no probe"
    assert source(ws, ids["age00001"]).status == "alive", "age-restricted videos are still there"
    assert source(ws, ids["age00001"]).status_reason == "age_restricted"
    with session_scope(ws.sessions) as session:
        availability = {video_id: session.scalar(select(Video.availability).where(Video.source_id == sid))
                        for video_id, sid in ids.items()}
    assert availability == {**{v: o for v, o in expected.items() if o != "ok"}, "alive001": None}, \
        "the provider's verdict is kept on the video"
    pages["removed1"] = (watch_page("OK"), 200, "ok")
    site.set("/watch?v=removed1", pages["removed1"][0])
    check(ws, [ids["removed1"]], T0 + timedelta(hours=1), endpoints=endpoints)
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(Video.availability).where(Video.source_id == ids["removed1"])) == "public"


# --------------------------------------------------------------------------------------------------
# Proxy, scheduling, due sources
# --------------------------------------------------------------------------------------------------

def test_proxy_setting_carries_every_check(settings: Settings, site: Site) -> None:
    site.foreign["http://news.example.test/story"] = Page(STORY)
    ws = Workspace(settings.replace(host_rate=1000.0, proxy=site.url("/")))
    try:
        [sid] = track(ws, "http://news.example.test/story")
        check(ws, [sid], T0)
        assert outcomes(ws, sid) == ["ok"]
        asked = [path for _, path, _ in site.requests]
        assert "http://news.example.test/story" in asked
        assert any(p.startswith("http://news.example.test/lastseen-probe-") for p in asked)
    finally:
        ws.close()


def test_schedule_follows_source_then_collection_then_setting(ws: Workspace, site: Site) -> None:
    site.set("/story", Page(STORY))
    [own] = track(ws, site.url("/story"), every=3600)
    [by_collection] = track(ws, site.url("/story"), collection="hourly")
    [by_setting] = track(ws, site.url("/story"), collection="daily")
    with session_scope(ws.sessions) as session:
        session.scalar(select(Collection).where(Collection.name == "hourly")).recheck_interval = 2 * 3600
    check(ws, [own, by_collection, by_setting], T0)
    for sid, interval in ((own, HOUR), (by_collection, 2 * HOUR), (by_setting, DAY)):
        assert T0 + interval * 0.9 <= source(ws, sid).next_check_at <= T0 + interval * 1.1
    assert source(ws, own).next_check_at != T0 + HOUR, "jitter moves the next check off the exact interval"


def test_checks_due(ws: Workspace) -> None:
    never, overdue, late, future = track(ws, *(f"https://a.example/{n}" for n in range(4)))
    [other] = track(ws, "https://a.example/x", collection="other")
    with session_scope(ws.sessions) as session:
        for sid, when in ((overdue, T0 - DAY), (late, T0 - HOUR), (future, T0 + HOUR), (other, T0 - 2 * DAY)):
            session.get(Source, sid).next_check_at = when
    with session_scope(ws.sessions) as session:
        assert checks_due(session, T0) == [never, other, overdue, late]
        assert checks_due(session, T0, 2) == [never, other]
        default = session.scalar(select(Collection.id).where(Collection.name == "default"))
        assert checks_due(session, T0, collection_id=default) == [never, overdue, late]
        assert checks_due(session, T0 + 2 * HOUR, 10) == [never, other, overdue, late, future]


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------

def test_check_command(settings: Settings, site: Site, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in (("DATA_DIR", str(settings.data_dir)), ("DATABASE_URL", settings.database_url),
                        ("STORAGE_URL", settings.storage_url), ("HOST_RATE", "1000"), ("CHECK_TIMEOUT", "5"),
                        ("ALLOW_NETWORKS", ",".join(settings.allow_networks))):
        monkeypatch.setenv(f"LASTSEEN_{name}", value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    site.set("/story", Page(STORY))
    assert run("add", site.url("/story"), site.url("/gone"))[0] == 0
    code, out, err = run("check", "--json")
    data = json.loads(out)
    assert code == 0 and data["checked"] == 2 and data["outcomes"] == {"ok": 1, "gone": 1}
    assert [(t["kind"], t["to"]) for t in data["transitions"]] == [("alive", "alive")]
    assert data["transition_counts"] == {"alive": 1} and data["statuses"] == {"alive": 1, "new": 1}
    assert data["to_capture"] == [] and data["errors"] == []
    assert "checked 2/2" in err, "plain progress lines when not on a terminal"

    code, out, _ = run("check")
    assert code == 0 and "nothing to check" in out, "both were checked; none is due yet"

    code, out, _ = run("check", "--all", "-c", "default")
    assert code == 0 and "checked 2 source(s)" in out and "gone 1, ok 1" in out
    assert "transitions: vanished 1" in out
    assert f"vanished  {site.url('/gone')}  new -> vanished (gone)" in out, "the second 404 in a row confirms"

    code, _, err = run("check", site.url("/story"), "https://untracked.example/x")
    assert code == 1 and "https://untracked.example/x is not tracked" in err
    code, _, _ = run("check", "https://untracked.example/x")
    assert code == 3
    code, _, err = run("check", "--all", site.url("/story"))
    assert code == 2 and "not both" in err
    code, _, err = run("check", "-c", "nope")
    assert code == 3 and "no collection named 'nope'" in err


def test_an_absurd_stored_interval_does_not_stop_a_round(ws: Workspace, settings: Settings, site: Site,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An interval stored before inputs were bounded (99999999 days) counts as MAX_INTERVAL, not an overflow."""
    for name, value in (("DATA_DIR", str(settings.data_dir)), ("DATABASE_URL", settings.database_url),
                        ("STORAGE_URL", settings.storage_url), ("HOST_RATE", "1000"), ("CHECK_TIMEOUT", "5")):
        monkeypatch.setenv(f"LASTSEEN_{name}", value)
    site.set("/story", Page(STORY))
    absurd, fine = track(ws, site.url("/story"), site.url("/story?again"))
    with session_scope(ws.sessions) as session:
        sqlite = session.get_bind().dialect.name == "sqlite"  # PostgreSQL's INTEGER holds 68 years at most
        session.get(Source, absurd).recheck_interval = 99_999_999 * 86400 if sqlite else 2**31 - 1
    before = datetime.now(UTC)
    assert main(["check", "--all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["checked"] == 2 and data["errors"] == []
    assert source(ws, absurd).next_check_at <= before + timedelta(seconds=MAX_INTERVAL * 1.1) + HOUR
    assert source(ws, fine).next_check_at <= before + DAY * 1.1 + HOUR


# --------------------------------------------------------------------------------------------------
# Parts without a database
# --------------------------------------------------------------------------------------------------

def test_rate_limiter_spaces_requests_per_host() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock)
    assert [limiter.reserve("a.example") for _ in range(3)] == [0.0, 0.5, 1.0], "reservations queue up"
    assert limiter.reserve("b.example") == 0.0, "hosts are independent"
    clock.advance(10)
    assert limiter.acquire("a.example") == 0.0 and clock.sleeps == []
    assert limiter.acquire("a.example") == 0.5 and clock.sleeps == [0.5]
    burst = RateLimiter(1.0, clock, burst=3)
    assert [burst.reserve("c.example") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    assert RateLimiter(0).reserve("c.example") == 0.0, "0 means no limit"


def test_fetcher_caps_bodies_and_tells_failures_apart(site: Site) -> None:
    site.set("/big", Page("<html><body>" + "x" * 300_000 + "</body></html>"))
    site.set("/gz", Page("<html><body>" + "y" * 5000 + "</body></html>", encoding="gzip"))
    fetcher = Fetcher(timeout=TIMEOUT, max_bytes=64 * 1024, user_agent="lastseen-test",
                      allow_networks=(TEST_ALLOW_NETWORKS,))
    big = fetcher.fetch(site.url("/big"))
    assert big.status == 200 and big.truncated and len(big.body) == 64 * 1024
    gz = fetcher.fetch(site.url("/gz"))
    assert not gz.truncated and gz.body.endswith(b"y</body></html>"), "bodies are decoded"
    assert site.requests[-1][2]["User-Agent"] == "lastseen-test"
    assert fetcher.fetch("http://127.0.0.1:1/").error == "connect"
    started = time.monotonic()
    assert fetcher.fetch("http://nothing.lastseen-test.invalid/").error == "dns"
    assert time.monotonic() - started < TIMEOUT, "a name that does not resolve fails at once, not at the timeout"
    too_many = Fetcher(timeout=TIMEOUT, max_bytes=1024, user_agent="t", max_redirects=2,
                        allow_networks=(TEST_ALLOW_NETWORKS,))
    for n in range(4):
        site.set(f"/hop{n}", Page("", status=302, headers=[("Location", f"/hop{n + 1}")], content_type=None))
    chain = too_many.fetch(site.url("/hop0"))
    assert chain.error == "too_many_redirects" and len(chain.chain) == 3
    assert error_kind(TimeoutError("slow")) == "timeout"
    fetcher.close()


def test_the_crawls_oembed_fallback_uses_the_one_client(site: Site) -> None:
    """providers.info.fetch_oembed: the provider's JSON is the video's info; a 404 there says it is gone."""
    site.set("/oembed", lambda request: Page(json.dumps({"title": "clip"}), content_type="application/json")
             if "alive" in request.path else Page("Not Found", status=404, content_type="text/plain"))
    endpoints = {"youtube": site.url("/oembed")}
    alive = fetch_oembed("youtube", "https://www.youtube.com/watch?v=alive", timeout=5, endpoints=endpoints,
                         allow_networks=(TEST_ALLOW_NETWORKS,))
    assert (alive.info, alive.source, alive.availability) == ({"title": "clip"}, "oembed", "public")
    gone = fetch_oembed("youtube", "https://www.youtube.com/watch?v=gone", timeout=5, endpoints=endpoints,
                        allow_networks=(TEST_ALLOW_NETWORKS,))
    assert (gone.info, gone.availability, gone.message) == (None, "gone", "oEmbed answered 404")
    assert site.requests[-1][2]["Accept"] == "application/json"
    assert site.requests[-1][2]["User-Agent"].startswith("lastseen/"), "a session of archive.net.http"
    down = fetch_oembed("youtube", "https://www.youtube.com/watch?v=x", timeout=5,
                        endpoints={"youtube": "http://127.0.0.1:1/oembed"}, allow_networks=(TEST_ALLOW_NETWORKS,))
    assert down.info is None and down.availability is None and down.message.startswith("oEmbed: ")


def test_ytdlp_is_asked_only_when_enabled(ws: Workspace, site: Site) -> None:
    site.set("/clip/abc", Page("<html><head><title>Nope</title></head><body>no such clip</body></html>", status=404))
    [sid] = track(ws, site.url("/clip/abc"), kind="video")
    with session_scope(ws.sessions) as session:
        session.add(Video(source_id=sid, provider="youtube", video_id="abc", canonical_url=site.url("/clip/abc")))
    silent = VideoEndpoints(oembed={}, pages={})
    check(ws, [sid], T0, endpoints=silent)
    assert checks(ws, sid)[-1].outcome == "gone" and checks(ws, sid)[-1].detail.startswith("youtube: HTTP 404")
    hits = site.hits("/clip/abc")
    check(ws, [sid], T0 + HOUR, endpoints=silent, use_ytdlp=True)  # yt-dlp's generic extractor, on this site
    last = checks(ws, sid)[-1]
    assert last.outcome == "gone" and last.detail.startswith("youtube: yt-dlp:") and "404" in last.detail
    assert site.hits("/clip/abc") > hits + 1, "yt-dlp asked the page itself"
