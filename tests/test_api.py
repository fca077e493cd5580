"""The HTTP API over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL: access, reads, archived copies,
Memento, writes with the SSRF guard, jobs, webhooks, tokens, errors, health, metrics, and a schemathesis run."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import select

import archive.api
import archive.api.read
from archive.config import Settings
from archive.db import session_scope
from archive.models import (
    Alert,
    AlertDelivery,
    Collection,
    CrawlFailure,
    PageVideo,
    Source,
    Video,
    WaybackLookup,
    WaybackSubmission,
    Webhook,
)
from archive.report import SUMMARY_FIELDS, source_detail
from archive.sources import ensure_collection
from archive.warc import RevisitTarget
from tests.servers.api import (
    ApiServer,
    add_capture,
    add_check,
    add_source,
    add_transition,
    at,
    running_api,
    store_exchange,
)
from tests.servers.site import Page, Site

STORY = "https://www.news.example/flood/story"
PAGE = (b"<!doctype html><html><head><title>Flood</title><script>document.cookie='x=1'</script></head>"
        b"<body><p>The river rose three metres overnight.</p></body></html>")


def seed_sources(api: ApiServer) -> dict[str, int]:
    """Two collections (flood private, quake public) and five sources with known fields; ids by short name."""
    with session_scope(api.workspace.sessions) as session:
        flood = ensure_collection(session, "flood")
        quake = ensure_collection(session, "quake")
        quake.public_read = True
        ids = {
            "a": add_source(session, flood, "https://www.news.example/a", tags=("x",), status="alive",
                            added_at=at("2026-01-01")),
            "b": add_source(session, flood, "https://news.example/b", tags=("x", "y"), status="vanished",
                            added_at=at("2026-01-05"), vanished_at=at("2026-02-10")),
            "v": add_source(session, flood, "https://other.example/v", kind="video", status="vanished",
                            added_at=at("2026-01-10"), vanished_at=at("2026-03-01")),
            "c": add_source(session, quake, "https://news.example/c", status="unreachable",
                            added_at=at("2026-02-01")),
            "d": add_source(session, quake, "https://quake.example/d", status="returned",
                            added_at=at("2026-02-15")),
        }
        return {name: source.id for name, source in ids.items()}


def seed_story(api: ApiServer, collection: str = "flood", public: bool = False) -> dict[str, Any]:
    """One story captured three times into real WARC files: gzip body, a revisit of it, then a 404 page."""
    gz = gzip.compress(PAGE, mtime=0)
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
               ("Set-Cookie", "session=secret; Path=/"), ("Server", "news-cms")]
    first, first_uri = store_exchange(api.workspace, STORY, gz, when=at("2026-03-01T10:00"), headers=headers)
    revisit, revisit_uri = store_exchange(
        api.workspace, STORY, gz, when=at("2026-03-05T10:00"), headers=headers,
        revisit_of=RevisitTarget(uri=STORY, date=first.date, payload_digest=first.payload_digest))
    gone, gone_uri = store_exchange(api.workspace, STORY, b"<html><body>Page not found</body></html>",
                                    when=at("2026-03-09T10:00"), status=404)
    with session_scope(api.workspace.sessions) as session:
        coll = ensure_collection(session, collection)
        coll.public_read = public
        source = add_source(session, coll, STORY, status="vanished", reason=None,
                            last_seen_alive_at=at("2026-03-05T10:00"), vanished_at=at("2026-03-09T10:00"))
        captures = [add_capture(session, source, first, first_uri),
                    add_capture(session, source, revisit, revisit_uri),
                    add_capture(session, source, gone, gone_uri, status=404)]
        return {"source": source.id, "captures": [c.id for c in captures], "gz": gz,
                "records": [first, revisit, gone]}


# ---------------------------------------------------------------------------------------------- access


def test_tokens_roles_and_public_collections(api: ApiServer) -> None:
    ids = seed_sources(api)
    with session_scope(api.workspace.sessions) as session:
        session.scalar(select(Collection).where(Collection.name == "quake")).public_read = False
    response = api.get("/api/collections", role=None)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/sources", role=None).status_code == 401, "anonymous access is off by default"
    bad = api.get("/api/collections", role=None, headers={"Authorization": "Bearer lst_nope"})
    assert bad.status_code == 401 and "invalid or revoked" in bad.json()["message"]
    assert api.get("/api/collections", role=None, headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    assert [c["name"] for c in api.get("/api/collections").json()] == ["flood", "quake"]

    refused = api.post("/api/collections/flood/sources", role="reader", json={"urls": ["https://x.example/"]})
    assert refused.status_code == 403 and "archivist" in refused.json()["message"]
    assert api.request("PATCH", "/api/collections/quake", role="archivist", json={"public_read": True}).status_code \
        == 403
    made_public = api.request("PATCH", "/api/collections/quake", json={"public_read": True, "description": "2026"})
    assert made_public.status_code == 200 and made_public.json()["public_read"] is True

    anonymous = api.get("/api/collections", role=None).json()
    assert [(c["name"], c["description"], c["sources"]) for c in anonymous] == [("quake", "2026", 2)]
    assert {s["id"] for s in api.get("/api/sources", role=None).json()["items"]} == {ids["c"], ids["d"]}
    assert api.get("/api/sources?collection=flood", role=None).status_code == 401
    assert api.get(f"/api/sources/{ids['a']}", role=None).status_code == 401
    assert api.get(f"/api/sources/{ids['c']}", role=None).status_code == 200
    assert api.get("/api/collections/flood", role=None).status_code == 401


# ---------------------------------------------------------------------------------------------- reads


def test_source_filters_and_cursor_pages(api: ApiServer) -> None:
    ids = seed_sources(api)

    def listed(query: str) -> list[int]:
        response = api.get(f"/api/sources?{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert listed("") == [ids[k] for k in "abvcd"]
    assert listed("collection=quake") == [ids["c"], ids["d"]]
    assert listed("status=vanished") == [ids["b"], ids["v"]]
    assert listed("kind=video") == [ids["v"]]
    assert listed("domain=news.example") == [ids["a"], ids["b"], ids["c"]], "www. is not part of a domain"
    assert listed("domain=WWW.News.Example") == [ids["a"], ids["b"], ids["c"]]
    assert listed("tag=x") == [ids["a"], ids["b"]] and listed("tag=y") == [ids["b"]]
    assert listed("added_after=2026-01-05T00:00:00Z&added_before=2026-02-01T00:00:00Z") == [ids["b"], ids["v"]]
    assert listed("added_after=2026-01-05T01:00:00%2B01:00&added_before=2026-02-01") == [ids["b"], ids["v"]]
    assert listed("vanished_after=2026-02-15T00:00:00") == [ids["v"]]
    assert listed("vanished_before=2026-02-15T00:00:00") == [ids["b"]]
    assert listed("collection=flood&status=vanished&domain=news.example") == [ids["b"]]
    assert listed("collection=nothing") == []

    seen, cursor, pages = [], None, 0
    while True:
        page = api.get("/api/sources?limit=2" + (f"&cursor={cursor}" if cursor else "")).json()
        pages += 1
        assert page["limit"] == 2 and len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[k] for k in "abvcd"] and pages == 3
    item = api.get("/api/sources?collection=flood&tag=y").json()["items"][0]
    assert list(item) == SUMMARY_FIELDS and item["tags"] == ["x", "y"] and item["vanished_at"] == "2026-02-10T00:00:00Z"
    for bad in ("limit=0", "limit=1001", "cursor=abc", "status=lost", "added_after=yesterday", "kind=movie"):
        response = api.get(f"/api/sources?{bad}")
        assert response.status_code == 422, bad
        assert response.json()["error"] == "invalid_request" and response.json()["details"], bad


def test_exports_stream_every_filtered_row(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_sources(api)
    monkeypatch.setattr(archive.api.read, "EXPORT_BATCH", 2)
    listed = api.get("/api/sources?domain=news.example&limit=1000").json()["items"]
    assert len(listed) == 3
    response = api.get("/api/sources/export?format=csv&domain=news.example")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == SUMMARY_FIELDS
    assert rows == [{k: ("" if v is None else ";".join(v) if k == "tags" else str(v)) for k, v in item.items()}
                    for item in listed]
    everything = api.get("/api/sources/export?format=json").json()
    assert [row["id"] for row in everything] == [row["id"] for row in api.get("/api/sources").json()["items"]]
    assert api.get("/api/sources/export?format=json&domain=news.example").json() == listed
    assert api.get("/api/sources/export?format=json&collection=none").json() == []
    assert api.get("/api/sources/export?format=xml").status_code == 422
    public = api.get("/api/sources/export?format=json", role=None).json()
    assert {row["collection"] for row in public} == {"quake"}


def test_source_detail_says_what_the_cli_says(api: ApiServer) -> None:
    story = seed_story(api)
    with session_scope(api.workspace.sessions) as session:
        source = session.get(Source, story["source"])
        add_check(session, source, at("2026-03-05T10:00"), "ok")
        add_check(session, source, at("2026-03-09T10:00"), "gone", 404)
        add_transition(session, source, at("2026-03-09T10:00"), "alive", "vanished", "gone")
        video_source = add_source(session, source.collection, "https://www.youtube.com/watch?v=abc123", kind="video")
        video = Video(source_id=video_source.id, provider="youtube", video_id="abc123",
                      canonical_url="https://www.youtube.com/watch?v=abc123", title="Flood video")
        session.add(video)
        session.flush()
        session.add(PageVideo(page_source_id=source.id, video_id=video.id))
        session.add(WaybackSubmission(source_id=source.id, state="done", archive_url="https://web.archive.org/web/"
                                      "20260301/" + STORY, archive_timestamp="20260301100000"))
        session.add(WaybackLookup(source_id=source.id, count=4, first_timestamp="20250101000000",
                                  last_timestamp="20260301100000"))
        session.flush()
        expected = source_detail(session, source)
    response = api.get(f"/api/sources/{story['source']}")
    assert response.status_code == 200
    detail = response.json()
    links = detail.pop("links")
    for capture in detail["captures"]:
        assert capture.pop("archived_copy") == api.url(f"/api/captures/{capture['id']}")
    assert detail == expected
    assert [t["to"] for t in detail["transitions"]] == ["vanished"]
    assert [c["outcome"] for c in detail["checks"]] == ["ok", "gone"]
    assert detail["videos"][0]["title"] == "Flood video"
    assert detail["wayback"]["submissions"][0]["state"] == "done" and detail["wayback"]["lookup"]["count"] == 4
    assert [c["record_type"] for c in detail["captures"]] == ["response", "revisit", "response"]
    assert links["timemap"] == api.url("/api/timemap/link/https://www.news.example/flood/story")
    assert links["dashboard"] == api.url(f"/sources/{story['source']}")
    missing = api.get("/api/sources/999999")
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "message": "no source 999999"}


def test_capture_is_served_from_the_warc_as_an_archived_copy(api: ApiServer, storage_url: str) -> None:
    """On a folder and on SeaweedFS: the ranged read gives the body as received, marked as an archived copy."""
    story = seed_story(api)
    first, revisit, gone = story["captures"]
    assert story["records"][0].offset > 0, "the record is not at the start of its file: the read is ranged"
    assert story["records"][1].record_type == "revisit"
    response = api.get(f"/api/captures/{first}", stream=True)
    raw = response.raw.read(decode_content=False)
    assert response.status_code == 200
    assert raw == story["gz"], "the body is sent as stored, still gzip-compressed"
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Memento-Datetime"] == "Sun, 01 Mar 2026 10:00:00 GMT"
    assert f'<{STORY}>; rel="original"' in response.headers["Link"]
    assert 'rel="timemap"' in response.headers["Link"] and 'rel="timegate"' in response.headers["Link"]
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Archive-Orig-Status"] == "200"
    assert "set-cookie" not in {name.lower() for name in response.headers}, "cookies of the site never pass"
    assert "Server" not in response.headers or response.headers["Server"] != "news-cms"
    assert api.get(f"/api/captures/{first}").content == PAGE, "a client that decodes gets the page"

    again = api.get(f"/api/captures/{revisit}", stream=True)
    assert again.status_code == 200 and again.raw.read(decode_content=False) == story["gz"]
    assert again.headers["Memento-Datetime"] == "Thu, 05 Mar 2026 10:00:00 GMT"
    not_found = api.get(f"/api/captures/{gone}")
    assert not_found.status_code == 404, "a captured 404 is replayed as the 404 it was"
    assert not_found.headers["X-Archive-Orig-Status"] == "404"
    assert not_found.headers["Memento-Datetime"] == "Mon, 09 Mar 2026 10:00:00 GMT"
    assert not_found.content == b"<html><body>Page not found</body></html>"
    assert "Content-Encoding" not in not_found.headers

    # Content-Encoding against Accept-Encoding: decoded for a client that does not take gzip, both ways on HEAD.
    for accept, coded in ((None, False), ("identity", False), ("br, gzip;q=0", False), ("gzip", True),
                          ("deflate, *;q=0.5", True)):
        plain = api.get(f"/api/captures/{first}", stream=True, headers={"Accept-Encoding": accept})
        assert plain.raw.read(decode_content=False) == (story["gz"] if coded else PAGE), accept
        assert (plain.headers.get("Content-Encoding") == "gzip") is coded and plain.headers["Vary"] == "Accept-Encoding"
        head = api.request("HEAD", f"/api/captures/{first}", role="reader", headers={"Accept-Encoding": accept})
        assert head.status_code == 200 and head.content == b"", accept
        assert head.headers["Content-Length"] == plain.headers["Content-Length"]
        assert head.headers["Memento-Datetime"] == plain.headers["Memento-Datetime"]
    assert api.request("HEAD", f"/api/captures/{gone}", role="reader").status_code == 404

    assert api.get(f"/api/captures/{first}", role=None).status_code == 401
    assert api.get("/api/captures/424242").json()["message"] == "no capture 424242"


def test_memento_timemap_and_timegate(api: ApiServer) -> None:
    story = seed_story(api)
    first, revisit, gone = story["captures"]
    response = api.get("/api/timemap/link/https://www.news.example/flood/story?utm_source=feed")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/link-format")
    lines = response.text.strip().split(",\n")
    assert lines[0] == '<https://www.news.example/flood/story>; rel="original"'
    assert lines[1] == f'<{api.url("/api/timegate/https://www.news.example/flood/story")}>; rel="timegate"'
    assert 'rel="self"' in lines[2] and 'from="Sun, 01 Mar 2026 10:00:00 GMT"' in lines[2]
    assert 'until="Mon, 09 Mar 2026 10:00:00 GMT"' in lines[2]
    assert lines[3:] == [
        f'<{api.url(f"/api/captures/{first}")}>; rel="first memento"; datetime="Sun, 01 Mar 2026 10:00:00 GMT"',
        f'<{api.url(f"/api/captures/{revisit}")}>; rel="memento"; datetime="Thu, 05 Mar 2026 10:00:00 GMT"',
        f'<{api.url(f"/api/captures/{gone}")}>; rel="last memento"; datetime="Mon, 09 Mar 2026 10:00:00 GMT"']

    def gate(when: str | None) -> str:
        headers = {"Accept-Datetime": when} if when else {}
        answer = api.get("/api/timegate/https://www.news.example/flood/story", headers=headers)
        assert answer.status_code == 302, answer.text
        assert answer.headers["Vary"] == "accept-datetime" and 'rel="original"' in answer.headers["Link"]
        return answer.headers["Location"]

    assert gate(None) == api.url(f"/api/captures/{gone}"), "without Accept-Datetime: the newest"
    assert gate("Mon, 02 Mar 2026 00:00:00 GMT") == api.url(f"/api/captures/{first}")
    assert gate("Wed, 04 Mar 2026 00:00:00 GMT") == api.url(f"/api/captures/{revisit}")
    assert gate(format_datetime(at("2030-01-01"), usegmt=True)) == api.url(f"/api/captures/{gone}")
    assert gate("Thu, 01 Jan 1998 00:00:00 GMT") == api.url(f"/api/captures/{first}")
    for spelling in ("https%3A%2F%2Fwww.news.example%2Fflood%2Fstory", "https:/www.news.example/flood/story",
                     "https://WWW.NEWS.EXAMPLE:443/flood/story?utm_campaign=x"):
        assert api.get(f"/api/timemap/link/{spelling}").text == response.text, spelling
    with session_scope(api.workspace.sessions) as session:
        spaced = add_source(session, ensure_collection(session, "flood"), "https://news.example/a%20b?id=1")
        add_capture(session, spaced, replace(story["records"][0], target_uri="https://news.example/a%20b?id=1"),
                    "file:///nowhere.warc.gz")
    assert "a%20b?id=1" in api.get("/api/timemap/link/https://news.example/a%20b?id=1").text.split(",\n")[0]
    bad = api.get("/api/timegate/https://www.news.example/flood/story", headers={"Accept-Datetime": "last week"})
    assert bad.status_code == 400 and "Accept-Datetime" in bad.json()["message"]
    assert api.get("/api/timemap/link/https://never.example/").status_code == 404
    assert api.get("/api/timegate/ftp://news.example/x").status_code == 400
    assert api.get("/api/timemap/link/https://www.news.example/flood/story", role=None).status_code == 401


def test_atom_feed_of_a_collection(api: ApiServer) -> None:
    seed_sources(api)
    response = api.get("/api/collections/quake/feed.atom", role=None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert b"<feed" in response.content
    private = api.get("/api/collections/flood/feed.atom", role=None)
    assert (private.status_code, private.json()) == (401, {
        "error": "unauthorized", "message": "collection 'flood' is not public: this needs an API token"})
    missing = api.get("/api/collections/nowhere/feed.atom")
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found",
                                                           "message": "no collection named 'nowhere'"})


# ---------------------------------------------------------------------------------------------- writes


def test_adding_sources_refuses_private_addresses(api: ApiServer) -> None:
    urls = ["https://news.example/story?utm_source=x", "http://127.0.0.1:8080/admin", "http://localhost/",
            "http://vm:5432/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/",
            "http://2130706433/", "http://intranet/", "ftp://files.example/x", "not a url"]
    response = api.post("/api/collections/flood/sources", json={"urls": urls, "tags": ["river"], "kind": "page",
                                                                "every": "12h"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["collection"] == "flood" and data["added"] == ["https://news.example/story"]
    reasons = {item["url"]: item["reason"] for item in data["refused"]}
    assert set(reasons) == set(urls[1:])
    assert "loopback" in reasons["http://localhost/"] and "loopback" in reasons["http://vm:5432/"]
    assert "metadata" in reasons["http://169.254.169.254/latest/meta-data/"]
    assert "private" in reasons["http://10.1.2.3/"] and "loopback" in reasons["http://2130706433/"]
    assert "only http and https" in reasons["ftp://files.example/x"]
    again = api.post("/api/collections/flood/sources", json={"urls": ["https://news.example/story"]}).json()
    assert again["added"] == [] and again["known"][0]["normalized_url"] == "https://news.example/story"
    with session_scope(api.workspace.sessions) as session:
        source = session.scalar(select(Source))
        assert source.tag_names == ["river"] and source.recheck_interval == 12 * 3600
        assert session.scalar(select(Source).where(Source.domain == "vm")) is None
    for body, why in (({"urls": []}, "urls"), ({"urls": ["https://a.example/"] * 1001}, "urls"),
                      ({"urls": ["https://a.example/"], "every": "often"}, "every"),
                      ({"urls": ["https://a.example/"], "every": "10s"}, "every"),
                      ({"urls": ["https://a.example/\u0000"]}, "urls"),
                      ({"urls": ["https://a.example/"], "colour": "red"}, "colour")):
        refused = api.post("/api/collections/flood/sources", json=body)
        assert refused.status_code == 422 and why in refused.json()["message"], (body, refused.text)


def test_allowed_networks_and_a_resolver_we_control(settings: Settings) -> None:
    def resolve(host: str) -> list[str]:
        return {"intranet.example.org": ["192.168.1.10"], "press.example.org": ["93.184.216.34"],
                "cam.example.org": ["93.184.216.35", "10.9.9.9"]}.get(host, [])

    with running_api(settings.replace(allow_networks=("127.0.0.0/8",)), resolve) as api:
        response = api.post("/api/collections/lab/sources", json={"urls": [
            "http://localhost:8000/page", "https://press.example.org/a", "http://intranet.example.org/",
            "http://cam.example.org/live"]})
        data = response.json()
        assert data["added"] == ["http://localhost:8000/page", "https://press.example.org/a"]
        assert {item["url"] for item in data["refused"]} == {"http://intranet.example.org/",
                                                             "http://cam.example.org/live"}
        assert "192.168.1.10" in str(data["refused"]) and "10.9.9.9" in str(data["refused"])


def wait_for_job(api: ApiServer, job_id: str, limit: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job_id}", role="archivist").json()
        if job["state"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {limit}s")


def test_crawl_runs_in_the_background_and_its_capture_is_served(settings: Settings, site: Site) -> None:
    site.set("/report", Page("<html><head><title>Report</title></head><body><p>Water everywhere.</p></body></html>",
                             hang=2.5))
    with running_api(settings.replace(allow_networks=("127.0.0.1/32",), screenshots=False)) as api:
        added = api.post("/api/collections/flood/sources", json={"urls": [site.url("/report")]}).json()
        assert added["added"] == [site.url("/report")]
        assert api.post("/api/collections/flood/crawl", role="reader").status_code == 403
        assert api.post("/api/collections/nowhere/crawl").status_code == 404
        started = api.post("/api/collections/flood/crawl")
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["state"] == "running" and job["kind"] == "crawl" and job["collection"] == "flood"
        assert started.headers["Location"] == f"/api/jobs/{job['id']}"
        twice = api.post("/api/collections/flood/crawl")
        assert twice.status_code == 409 and job["id"] in twice.json()["message"]
        assert [j["id"] for j in api.get("/api/jobs", role="archivist").json()] == [job["id"]]
        done = wait_for_job(api, job["id"])
        assert done["state"] == "succeeded", (done["result"], done["log_tail"])
        assert done["exit_code"] == 0 and done["result"]["captured"] == 1 and done["finished_at"]
        assert "lastseen_api_jobs{kind=\"crawl\",state=\"succeeded\"} 1" in api.get("/metrics", role=None).text
        source_id = api.get("/api/sources?collection=flood").json()["items"][0]["id"]
        capture = api.get(f"/api/sources/{source_id}").json()["captures"][0]
        archived = api.get(f"/api/captures/{capture['id']}")
        assert archived.status_code == 200 and b"Water everywhere." in archived.content
        assert archived.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
        assert api.get("/api/jobs/unknown", role="archivist").status_code == 404


def test_webhooks_are_for_admins_and_guarded(api: ApiServer) -> None:
    seed_sources(api)
    hook = {"url": "https://hooks.example.org/lastseen", "collection": "flood"}
    assert api.post("/api/webhooks", role="archivist", json=hook).status_code == 403
    assert api.get("/api/webhooks", role="reader").status_code == 403
    private = api.request("POST", "/api/webhooks", json={"url": "http://169.254.169.254/latest"})
    assert private.status_code == 422 and "metadata" in private.json()["message"]
    assert api.request("POST", "/api/webhooks", json={"url": "http://localhost:9000/"}).status_code == 422
    assert api.request("POST", "/api/webhooks", json={**hook, "collection": "nowhere"}).status_code == 404
    made = api.request("POST", "/api/webhooks", json=hook)
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["collection"] == "flood" and len(created["secret"]) >= 32
    everywhere = api.request("POST", "/api/webhooks", json={"url": "https://all.example.org/", "secret": "s" * 20})
    assert everywhere.json()["secret"] == "s" * 20 and everywhere.json()["collection"] is None
    listed = api.request("GET", "/api/webhooks").json()
    assert [(h["url"], h["collection"], h["secret"]) for h in listed] == [
        ("https://hooks.example.org/lastseen", "flood", None), ("https://all.example.org/", None, None)]
    with session_scope(api.workspace.sessions) as session:
        assert session.get(Webhook, created["id"]).secret == created["secret"]
    assert api.request("DELETE", f"/api/webhooks/{created['id']}").status_code == 204
    assert api.request("DELETE", f"/api/webhooks/{created['id']}").status_code == 404
    assert len(api.request("GET", "/api/webhooks").json()) == 1


def test_tokens_through_the_api(api: ApiServer) -> None:
    assert api.request("POST", "/api/tokens", role="archivist", json={"name": "x"}).status_code == 403
    made = api.request("POST", "/api/tokens", json={"name": "newsroom", "role": "archivist"})
    assert made.status_code == 201 and made.json()["token"].startswith("lst_")
    token = made.json()["token"]
    assert api.request("POST", "/api/tokens", json={"name": "newsroom"}).status_code == 409
    headers = {"Authorization": f"Bearer {token}"}
    assert api.post("/api/collections/c/sources", role=None, headers=headers,
                    json={"urls": ["https://a.example/"]}).status_code == 200
    listed = {t["name"]: t for t in api.request("GET", "/api/tokens").json()}
    assert listed["newsroom"]["role"] == "archivist" and "token" not in json.dumps(listed["newsroom"]).replace(
        '"token": null', "")
    assert api.request("DELETE", "/api/tokens/newsroom").status_code == 204
    assert api.get("/api/collections", role=None, headers=headers).status_code == 401
    assert api.request("DELETE", "/api/tokens/newsroom").status_code == 404
    assert "newsroom" in {t["name"] for t in api.request("GET", "/api/tokens?include_revoked=true").json()}


def test_token_commands(settings: Settings, run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("token", "create", "alice", "--role", "admin")
    token = out.strip()
    assert code == 0 and token.startswith("lst_") and "not shown again" in err
    code, out, _ = run("token", "create", "bob", "--json")
    assert code == 0 and json.loads(out)["role"] == "reader"
    assert run("token", "create", "alice")[0] == 2, "one live token per name"
    with pytest.raises(SystemExit) as bad_role:
        run("token", "create", "carol", "--role", "boss")
    assert bad_role.value.code == 2
    code, out, _ = run("token", "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["role"]) for r in rows] == [("alice", "admin"), ("bob", "reader")]
    assert token not in out
    with running_api(settings) as api:
        assert api.request("GET", "/api/tokens", role=None, headers={"Authorization": f"Bearer {token}"}) \
            .status_code == 200
        assert run("token", "revoke", "alice")[0] == 0
        assert api.get("/api/collections", role=None, headers={"Authorization": f"Bearer {token}"}).status_code \
            == 401
    assert run("token", "revoke", "alice")[0] == 3
    code, out, _ = run("token", "list")
    assert code == 0 and "bob" in out and "alice" not in out
    assert "alice" in run("token", "list", "--all")[1]


# ---------------------------------------------------------------------------------------------- errors, operations


def test_every_error_is_json(api: ApiServer) -> None:
    cases = [
        (api.get("/no/such/page"), 404, "not_found"),
        (api.request("PUT", "/api/collections"), 405, "method_not_allowed"),
        (api.post("/api/collections/flood/sources", data=b"{not json", headers={"Content-Type": "application/json"}),
         422, "invalid_request"),
        (api.post("/api/collections/flood/sources", data=b"x" * (archive.api.MAX_BODY + 1),
                  headers={"Content-Type": "application/json"}), 413, "body_too_large"),
        (api.post("/api/collections/flood/sources", data=iter([b'{"urls": ["', b"a" * archive.api.MAX_BODY, b'"]}']),
                  headers={"Content-Type": "application/json"}), 413, "body_too_large"),
        (api.get("/api/sources/0"), 422, "invalid_request"),
        (api.get(f"/api/sources/{2**70}"), 422, "invalid_request"),
        (api.get("/api/collections/%00"), 422, "invalid_request"),
    ]
    for response, status, error in cases:
        assert response.status_code == status, (status, response.text)
        assert response.headers["content-type"] == "application/json", response.text
        assert response.json()["error"] == error and response.json()["message"]


def test_internal_errors_are_logged_json(api: ApiServer, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:

    def broken(*args: object, **kwargs: object) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(archive.api.read, "collection_counts", broken)
    response = api.get("/api/collections")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error (logged on the server)"}
    assert "boom" not in response.text
    assert any("internal error on GET /api/collections" in r.getMessage() for r in caplog.records)


def test_health_and_metrics(api: ApiServer) -> None:
    ids = seed_sources(api)
    with session_scope(api.workspace.sessions) as session:
        a = session.get(Source, ids["a"])
        add_check(session, a, at("2026-03-01"), "ok")
        add_check(session, a, at("2026-03-02"), "ok")
        add_check(session, a, at("2026-03-03"), "timeout", None)
        transition = add_transition(session, a, at("2026-03-03"), "alive", "vanished", "gone")
        alert = Alert(source_id=a.id, transition_id=transition.id, kind="vanished")
        session.add(alert)
        session.flush()
        session.add_all([AlertDelivery(alert_id=alert.id, channel="webhook", state="pending"),
                         AlertDelivery(alert_id=alert.id, channel="mailto://x", state="delivered"),
                         WaybackSubmission(source_id=a.id, state="queued"),
                         WaybackSubmission(source_id=a.id, state="queued"),
                         WaybackSubmission(source_id=a.id, state="done"),
                         CrawlFailure(source_id=a.id, url="https://www.news.example/a", reason="timeout")])
    story = seed_story(api)
    assert len(story["captures"]) == 3
    health = api.get("/healthz", role=None)
    assert health.status_code == 200 and health.json()["database"] == "ok" and health.json()["storage"] == "ok"
    metrics = api.get("/metrics", role=None)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(metrics.text.splitlines())
    for line in ('lastseen_sources{status="vanished"} 3', 'lastseen_sources{status="alive"} 1',
                 'lastseen_sources{status="new"} 0', 'lastseen_checks_total{outcome="ok"} 2',
                 'lastseen_checks_total{outcome="timeout"} 1',
                 'lastseen_captures_total{record_type="response",status="2xx"} 1',
                 'lastseen_captures_total{record_type="revisit",status="2xx"} 1',
                 'lastseen_captures_total{record_type="response",status="4xx"} 1',
                 'lastseen_crawl_failures_total{reason="timeout"} 1',
                 'lastseen_wayback_submissions{state="queued"} 2', 'lastseen_wayback_submissions{state="done"} 1',
                 'lastseen_alert_deliveries{state="pending"} 1', 'lastseen_alert_deliveries{state="delivered"} 1',
                 "# TYPE lastseen_sources gauge", "# TYPE lastseen_checks_total counter"):
        assert line in lines, line


def test_openapi_document_and_schemathesis_finds_no_server_errors(api: ApiServer) -> None:
    """Generated requests against every operation (but those that start processes) never get a 5xx."""
    seed_sources(api)
    seed_story(api, "quake", public=True)
    document = api.get("/openapi.json", role=None).json()
    assert {"/api/sources", "/api/captures/{capture_id}", "/api/timegate/{url}", "/metrics"} <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    schema = schemathesis.openapi.from_url(api.url("/openapi.json"))
    headers = api.headers("admin")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith(("/crawl", "/check")):
            continue

        @hypothesis_settings(max_examples=30, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(base_url=api.base_url, headers=headers, checks=[not_a_server_error], timeout=30)

        run()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 18, checked


def test_serve_command(settings: Settings) -> None:
    """`lastseen serve` answers on the port it names, stops on SIGTERM, and says so when the port is taken."""
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("LASTSEEN_")},
           "LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
           "LASTSEEN_STORAGE_URL": settings.storage_url}
    command = [sys.executable, "-c", "from archive.cli import run; run()", "serve"]
    server = subprocess.Popen([*command, "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stderr.readline()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        health = requests.get(f"http://127.0.0.1:{found.group(1)}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        server.terminate()
        assert server.wait(timeout=20) in (0, -signal.SIGTERM), "uvicorn stops gracefully, then re-raises SIGTERM"
        server.stderr.close()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        busy = subprocess.run([*command, "--port", str(taken.getsockname()[1])], capture_output=True, text=True,
                              env=env, timeout=60)
    finally:
        taken.close()
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines()[-1].startswith("lastseen: error: cannot listen on 127.0.0.1:")
