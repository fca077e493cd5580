"""Managing the watch list: pause, resume, delete and purge (CLI and API), intervals that apply at once, check
and capture now, and a scheduler that checks a collection within two minutes of its interval becoming a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.captures import enqueue_capture
from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture, Check, CustodyEvent, Source, Subscription, WaybackSubmission
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.watch.check import check_sources
from archive.wayback.lookups import lookup_sources
from archive.wayback.queue import drain
from archive.workspace import Workspace
from tests.clocks import FakeClock
from tests.servers.api import ApiServer, add_capture, running_api, store_exchange
from tests.servers.ia import IAServer
from tests.servers.site import Page, Site

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _pages(site: Site, *names: str) -> list[str]:
    for name in names:
        site.set(f"/{name}", Page(f"<html><head><title>{name}</title></head><body><p>{name} story</p></body></html>"))
    return [site.url(f"/{name}") for name in names]


def _checked(ws: Workspace) -> dict[str, int]:
    with session_scope(ws.sessions) as session:
        return dict(session.execute(select(Source.normalized_url, func.count(Check.id))
                                    .outerjoin(Check, Check.source_id == Source.id)
                                    .group_by(Source.normalized_url)).all())


def _custody(ws: Workspace) -> list[tuple[str, str, dict]]:
    with session_scope(ws.sessions) as session:
        return [(e.action, e.subject, e.detail) for e in session.scalars(
            select(CustodyEvent).where(CustodyEvent.action != "added").order_by(CustodyEvent.id))]


def test_paused_and_deleted_sources_are_never_checked_and_deletes_keep_captures(settings: Settings, site: Site,
                                                                                run) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _pages(site, "a", "b", "c")
    settings = settings.replace(allow_networks=("127.0.0.1/32",))
    ws = Workspace(settings)
    assert run("add", a, b, c, "-c", "flood")[0] == 0
    record, uri = store_exchange(ws, b, b"<html><body>b story</body></html>", when=T0)
    with session_scope(ws.sessions) as session:
        add_capture(session, session.scalar(select(Source).where(Source.normalized_url == b)), record, uri)

    code, out, err = run("pause", a)
    assert code == 0 and "paused 1 source(s)" in out, err
    code, out, _ = run("delete", b, "-c", "flood")
    assert code == 0 and "deleted 1 source(s)" in out and "kept" in out
    code, _, err = run("pause", "http://127.0.0.1:9/nothing")
    assert code == 3 and "is not tracked" in err
    assert run("pause", "-c", "nosuch")[0] == 2

    assert run("check", "-c", "flood")[0] == 0
    assert _checked(ws) == {a: 0, b: 0, c: 1}, "a paused and a deleted source are not checked"
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Capture)) == 1, "a delete keeps the captures"
    assert ws.storage.exists(ws.storage.key_of(uri)), "...and the WARC file"
    assert [(action, subject, detail["purged"]) for action, subject, detail in _custody(ws)] == [("deleted", b, False)]
    assert b not in run("list", "-c", "flood")[1] and b in run("list", "-c", "flood", "--deleted")[1]

    code, out, _ = run("--json", "resume", a, b)
    assert code == 0 and '"resumed": 1' in out and '"restored": 1' in out
    assert run("check", "-c", "flood")[0] == 0
    assert _checked(ws) == {a: 1, b: 1, c: 1}, "resumed and restored sources are due again"

    code, out, _ = run("pause", "-c", "flood")
    assert code == 0 and "paused: collection 'flood'" in out
    assert run("check", "-c", "flood", "--all")[0] == 0
    assert _checked(ws) == {a: 1, b: 1, c: 1}, "no source of a paused collection is checked"
    assert run("resume", "-c", "flood")[0] == 0

    code, out, _ = run("delete", b, "--purge")
    assert code == 0 and "1 source(s), 1 capture(s), 1 WARC file(s) deleted" in out
    assert not ws.storage.exists(ws.storage.key_of(uri))
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Capture)) == 0
        assert session.scalar(select(func.count()).select_from(Source)) == 2
    purged = [(action, subject, detail.get("kind")) for action, subject, detail in _custody(ws)
              if detail.get("purged")]
    assert purged == [("deleted", b, "source"), ("deleted", uri, "warc_file")]
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_new_interval_moves_next_checks_at_once(settings: Settings, site: Site, run) -> None:  # type: ignore[no-untyped-def]
    a, b = _pages(site, "a", "b")
    ws = Workspace(settings.replace(allow_networks=("127.0.0.1/32",)))
    assert run("add", a, b, "-c", "flood")[0] == 0
    with session_scope(ws.sessions) as session:
        ids = list(session.scalars(select(Source.id).order_by(Source.id)))
    check_sources(ws, ids, now=T0)

    def next_checks() -> list[datetime]:
        with session_scope(ws.sessions) as session:
            return list(session.scalars(select(Source.next_check_at).order_by(Source.id)))

    assert all(when > T0 + timedelta(hours=20) for when in next_checks())
    code, out, _ = run("collection", "flood", "--every", "1m")
    assert code == 0 and "recheck_interval   60" in out
    assert next_checks() == [T0 + timedelta(minutes=1)] * 2, "the collection's new interval applies at once"

    code, out, _ = run("add", a, "-c", "flood", "--every", "2h")
    assert code == 0 and f"updated  {a}: recheck every 7200 s" in out, out
    assert next_checks() == [T0 + timedelta(hours=2), T0 + timedelta(minutes=1)]
    code, out, _ = run("add", a, "-c", "flood", "--every", "2h")
    assert "updated" not in out, "the same interval again changes nothing"
    ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_scheduler_checks_a_collection_within_two_minutes_of_its_interval_becoming_a_minute(
        settings: Settings, site: Site, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import scheduler

    a, b = _pages(site, "a", "b")
    ws = Workspace(settings.replace(allow_networks=("127.0.0.1/32",)))
    with session_scope(ws.sessions) as session:
        add_sources(session, ensure_collection(session, "flood"), [SourceEntry(a), SourceEntry(b)])
    clock = [T0]
    monkeypatch.setattr(scheduler, "_ws", ws)
    monkeypatch.setattr(scheduler, "_now", lambda: clock[0])
    assert scheduler.recheck_round()["checked"] == 2
    with session_scope(ws.sessions) as session:  # the checks were stored at wall time: put them at the test clock
        session.execute(Source.__table__.update().values(last_checked_at=T0, next_check_at=T0 + timedelta(hours=24)))
    clock[0] = T0 + timedelta(seconds=30)
    assert scheduler.recheck_round() == {"checked": 0}
    assert run("collection", "flood", "--every", "1m")[0] == 0
    checked = []
    for tick in range(1, 5):  # ticks of 30 s: within two minutes
        clock[0] = T0 + timedelta(seconds=30 + 30 * tick)
        checked.append(scheduler.recheck_round()["checked"])
    assert sum(checked) >= 2 and checked[0] == 2, checked
    assert _checked(ws) == {a: 2, b: 2}
    ws.close()


def test_watch_list_over_the_api(api: ApiServer, site: Site, tmp_path: Path) -> None:
    ws = api.workspace
    record, uri = store_exchange(ws, "https://news.example/x", b"<html>x</html>", when=T0)
    with session_scope(ws.sessions) as session:
        flood = ensure_collection(session, "flood")
        added = add_sources(session, flood, [SourceEntry("https://news.example/x"),
                                             SourceEntry("https://news.example/y")]).added
        x, y = (s.id for s in added)
        add_capture(session, session.get(Source, x), record, uri)

    assert api.post(f"/api/sources/{x}/pause", role="reader").status_code == 403
    paused = api.post(f"/api/sources/{x}/pause")
    assert paused.status_code == 200 and paused.json()["action"] == "paused" and paused.json()["paused_at"]
    assert api.post(f"/api/sources/{x}/pause").json()["action"] == "unchanged"
    assert api.post(f"/api/sources/{x}/resume").json()["action"] == "resumed"
    assert api.post("/api/sources/999999/pause").status_code == 404

    moved = api.request("PATCH", f"/api/sources/{y}", role="archivist", json={"every": "1m"})
    assert moved.status_code == 200 and moved.json()["action"] == "rescheduled"
    assert api.request("PATCH", f"/api/sources/{y}", role="archivist", json={"every": "1s"}).status_code == 422

    collection = api.request("PATCH", "/api/collections/flood", json={"wayback": False, "every": "2h"})
    assert collection.status_code == 200, collection.text
    assert collection.json()["wayback"] is False and collection.json()["recheck_interval"] == 7200
    assert api.post("/api/collections/flood/pause").json()["action"] == "paused"
    assert api.get("/api/collections/flood").json()["paused_at"]
    assert api.post("/api/collections/flood/resume").json()["action"] == "resumed"

    deleted = api.request("DELETE", f"/api/sources/{x}", role="archivist")
    assert deleted.status_code == 200 and deleted.json()["action"] == "deleted"
    assert [s["id"] for s in api.get("/api/sources?collection=flood").json()["items"]] == [y], "off the list"
    assert api.request("DELETE", f"/api/sources/{x}?purge=true", role="archivist").status_code == 403
    purged = api.request("DELETE", f"/api/sources/{x}?purge=true", role="admin")
    assert purged.status_code == 200 and purged.json()["purged"]["captures"] == 1
    assert purged.json()["purged"]["files"] == [uri]
    assert api.get(f"/api/sources/{x}").status_code == 404
    with session_scope(ws.sessions) as session:
        actions = [(e.action, e.actor) for e in session.scalars(
            select(CustodyEvent).where(CustodyEvent.action == "deleted").order_by(CustodyEvent.id))]
    assert actions[0] == ("deleted", "API token test-archivist") and ("deleted", "API token test-admin") in actions

    assert api.request("DELETE", "/api/collections/flood", role="archivist").json()["action"] == "deleted"
    assert api.post(f"/api/sources/{y}/check").status_code == 409, "a deleted collection's source is not checked"


def test_check_and_capture_now_are_jobs(settings: Settings, site: Site) -> None:
    (story,) = _pages(site, "story")
    with running_api(settings.replace(allow_networks=("127.0.0.1/32",))) as api:
        added = api.post("/api/collections/flood/sources", json={"urls": [story]}).json()
        assert added["added"] == [story]
        source_id = api.get("/api/sources?collection=flood").json()["items"][0]["id"]
        for kind, path in (("check", "check"), ("crawl", "capture")):
            started = api.post(f"/api/sources/{source_id}/{path}")
            assert started.status_code == 202 and started.json()["kind"] == kind, started.text
            done = _wait(api, started.json()["id"])
            assert done["state"] == "succeeded", done["log_tail"]
        detail = api.get(f"/api/sources/{source_id}").json()
        assert len(detail["checks"]) == 1 and len(detail["captures"]) == 1


def _wait(api: ApiServer, job_id: str) -> dict:
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job_id}", role="archivist").json()
        if job["state"] != "running":
            return job
        time.sleep(0.3)
    raise AssertionError("job did not finish")


def test_wayback_opt_out_and_private_addresses_never_reach_the_public_archive(
        settings: Settings, ia: IAServer, run) -> None:  # type: ignore[no-untyped-def]
    public, private, quiet = ("https://news.example.com/story", "http://127.0.0.1:9/intranet",
                              "https://news.example.com/quiet")
    assert settings.allow_networks, "the tests let the net guard through to 127.0.0.1"
    assert run("add", public, private, "-c", "flood")[0] == 0
    assert run("add", quiet, "-c", "hush")[0] == 0
    code, out, _ = run("collection", "hush", "--wayback", "no")
    assert code == 0 and "wayback            False" in out
    ws = Workspace(settings.replace(wayback_url=ia.base_url, wayback_rate=0.0, wayback_skip_window=0))
    with session_scope(ws.sessions) as session:
        ids = dict(session.execute(select(Source.normalized_url, Source.id)).all())
        for url, source_id in ids.items():
            capture = Capture(source_id=source_id, captured_at=T0, url=url, http_status=200, content_type="text/html",
                              payload_sha256="a" * 64, size=10, warc_uri="file:///w.warc.gz", warc_offset=0,
                              warc_length=10)
            session.add(capture)
            session.flush()
            assert enqueue_capture(session, source_id, capture.id) is not None
    summary = drain(ws, clock=FakeClock(T0))
    assert sorted((item.url, item.state, bool(item.archive_url)) for item in summary.items) == [
        (private, "skipped", False), (quiet, "skipped", False), (public, "skipped", True)], \
        "the public URL is saved (its copy older than the fake clock, so 'skipped' with the archive's URL)"
    sent = " ".join(r.path for r in ia.requests)
    assert "/save/" + public in sent and "127.0.0.1:9" not in sent and "quiet" not in sent
    with session_scope(ws.sessions) as session:
        errors = dict(session.execute(select(Source.normalized_url, WaybackSubmission.error)
                                      .join(WaybackSubmission, WaybackSubmission.source_id == Source.id)).all())
    assert "LASTSEEN_ALLOW_NETWORKS" in errors[private] and "--wayback no" in errors[quiet] and errors[public] is None
    before = len(ia.requests)
    [item] = lookup_sources(ws, [ids[private]], clock=FakeClock(T0))
    assert item.error and "never sent to a public archive" in item.error and len(ia.requests) == before
    ws.close()


def _lastseen(settings: Settings, *args: str, allow: str = "") -> subprocess.CompletedProcess[str]:
    """`lastseen ARGS` as a child process on the test database, the net guard allowing `allow`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTSEEN_") and not k.endswith("_PROXY")}
    env.update({"LASTSEEN_DATA_DIR": str(settings.data_dir), "LASTSEEN_DATABASE_URL": settings.database_url,
                "LASTSEEN_STORAGE_URL": settings.storage_url, "LASTSEEN_ALLOW_NETWORKS": allow,
                "LASTSEEN_DESCRIBE_WORKERS": "1", "LASTSEEN_CRAWL_RETRIES": "0", "PYTHONPATH": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "archive.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_capture_is_retried_with_backoff_and_never_skipped_in_silence(settings: Settings, site: Site,
                                                                              run) -> None:  # type: ignore[no-untyped-def]
    (story,) = _pages(site, "story")
    assert run("add", story, "-c", "ev")[0] == 0
    first = _lastseen(settings, "crawl", "-c", "ev")
    assert first.returncode == 0 and "failed 1 (blocked_address 1)" in first.stdout, first.stderr[-2000:]
    again = _lastseen(settings, "crawl", "-c", "ev")
    assert "captured 0, unchanged 0, failed 0" in again.stdout
    assert "1 source(s) wait to retry a failed capture, the next at 20" in again.stdout, again.stdout
    retry = json.loads(run("status", story, "--json")[1])["sources"][0]["capture_retry"]
    assert retry["failures"] == 1 and retry["last_failure"]["reason"] == "blocked_address"
    failed_at = datetime.fromisoformat(retry["last_failure"]["at"].replace("Z", "+00:00"))
    next_at = datetime.fromisoformat(retry["next_attempt_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=299) <= next_at - failed_at <= timedelta(seconds=301), "the formula's first step"
    shown = run("status", story)[1]
    assert "capture failed    1 time(s)" in shown and "next attempt      20" in shown

    fixed = _lastseen(settings, "crawl", "-c", "ev", "--retry", allow="127.0.0.1/32")
    assert "captured 1" in fixed.stdout, fixed.stdout + fixed.stderr[-2000:]
    status = json.loads(run("status", story, "--json")[1])["sources"][0]
    assert status["capture_retry"] is None and len(status["captures"]) == 1


def test_failed_captures_back_off_by_the_one_formula(settings: Settings) -> None:
    from archive.captures import capture_failed
    from archive.due import new_captures

    ws = Workspace(settings.replace(capture_retry=3600))
    with session_scope(ws.sessions) as session:
        [source] = add_sources(session, ensure_collection(session, "ev"), [SourceEntry("https://x.example/")]).added
        steps = []
        for _ in range(6):
            when = capture_failed(session, source.id, T0, ws.settings.capture_retry)
            steps.append((when - T0).total_seconds())
        assert steps == [300, 600, 1200, 2400, 3600, 3600], "doubling from 5 minutes, up to LASTSEEN_CAPTURE_RETRY"
        assert new_captures(session, T0 + timedelta(seconds=3599)) == []
        assert [w.source_id for w in new_captures(session, T0 + timedelta(seconds=3600))] == [source.id]
    ws.close()


READ_FEED = """
import resource, sys
from pathlib import Path
from archive.sources.importers import read_entries
if sys.argv[1] != "-":
    fmt, entries = read_entries(Path(sys.argv[1]))
    print(fmt, sum(1 for _ in entries), file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.parametrize("bare_ampersand", [False, True])
def test_a_feed_of_300k_items_is_read_in_bounded_memory(tmp_path: Path, bare_ampersand: bool) -> None:
    """Issue 22: a 300k-item RSS took 464 MB, a malformed one 906 MB and 195 s; both now stream."""
    feed = tmp_path / "feed.xml"
    title = "Tom & Jerry" if bare_ampersand else "Tom and Jerry"
    with feed.open("w") as f:
        f.write("<?xml version='1.0'?><rss version='2.0'><channel><title>News</title>")
        f.writelines(f"<item><title>{title} {n}</title><link>https://e.example/{n}</link></item>\n"
                     for n in range(300_000))
        f.write("</channel></rss>")

    def max_rss_kib(arg: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", READ_FEED, arg], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
        return int(done.stdout.strip()), done.stderr.strip()

    baseline, _ = max_rss_kib("-")
    used, said = max_rss_kib(str(feed))
    assert said == "rss 300000"
    assert used - baseline < 40 * 1024, f"reading the feed took {(used - baseline) // 1024} MiB more than starting"


RSS = ("<?xml version='1.0'?><rss version='2.0'><channel><title>News & views</title>{}</channel></rss>")
GOOGLE_NEWS = ("<?xml version='1.0' encoding='UTF-8'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9' "
               "xmlns:news='http://www.google.com/schemas/sitemap-news/0.9'><url><loc>{}</loc><news:news>"
               "<news:publication><news:name>Daily</news:name><news:language>en</news:language></news:publication>"
               "<news:publication_date>2026-12-01</news:publication_date><news:title>Flood</news:title></news:news>"
               "</url></urlset>")


def _items(*urls: str) -> str:
    return "".join(f"<item><title>Tom & Jerry</title><link>{url}</link></item>" for url in urls)


def test_feed_and_sitemap_subscriptions_are_read_now_and_on_the_collections_schedule(
        settings: Settings, site: Site, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import gzip

    import scheduler

    news = "https://news.example/"
    site.set("/feed.xml", Page(RSS.format(_items(news + "a", news + "b")), content_type="application/rss+xml"))
    gz = gzip.compress(b"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                       b"<url><loc>https://news.example/c</loc></url><url><loc>https://news.example/d</loc></url>"
                       b"</urlset>")
    site.set("/old.xml.gz", Page(gz, content_type="application/x-gzip"))
    site.set("/news.xml", Page(GOOGLE_NEWS.format(news + "e"), content_type="application/xml"))
    site.set("/index.xml", Page("<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                                f"<sitemap><loc>{site.url('/old.xml.gz')}</loc></sitemap>"
                                f"<sitemap><loc>{site.url('/news.xml')}</loc></sitemap></sitemapindex>",
                                content_type="application/xml"))
    code, _, err = run("import", site.url("/feed.xml"), "-c", "news")
    assert code == 2 and f"lastseen subscribe -c news {site.url('/feed.xml')}" in err and "no such file" not in err

    code, out, err = run("subscribe", "-c", "news", site.url("/feed.xml"), site.url("/index.xml"))
    assert code == 0, err
    assert f"subscribed {site.url('/feed.xml')} (rss): 2 added" in out
    assert f"subscribed {site.url('/index.xml')} (sitemapindex): 3 added" in out

    ws = Workspace(settings)
    monkeypatch.setattr(scheduler, "_ws", ws)
    site.set("/feed.xml", Page(RSS.format(_items(news + "f", news + "a")), content_type="application/rss+xml"))
    assert scheduler.feeds_round()["polled"] == 0, "not due before the collection's interval has passed"
    later = datetime.now(UTC) + timedelta(seconds=settings.recheck_interval + 1)
    monkeypatch.setattr(scheduler, "_now", lambda: later)
    assert run("pause", "-c", "news")[0] == 0
    assert scheduler.feeds_round()["polled"] == 0, "a paused collection's feeds are not read"
    assert run("resume", "-c", "news")[0] == 0
    assert scheduler.feeds_round() == {"polled": 2, "added": 1, "failed": 0}
    with session_scope(ws.sessions) as session:
        urls = sorted(session.scalars(select(Source.normalized_url)))
    assert urls == [news + name for name in "abcdef"]
    code, out, _ = run("subscribe", "--list", "-c", "news", "--json")
    assert code == 0 and [row["total_added"] for row in json.loads(out)] == [3, 3]

    from archive.tasks import leases, work  # a worker's lastseen.feeds task reads them just the same

    site.set("/feed.xml", Page(RSS.format(_items(news + "g")), content_type="application/rss+xml"))
    with session_scope(ws.sessions) as session:
        session.execute(Subscription.__table__.update().values(next_poll_at=T0))
        leases.grant(session, "feeds", ["poll"], "task-feeds", T0, 60)
    assert work.feeds_round(work.Run(ws, "task-feeds", "worker-1")) == {"polled": 2, "added": 1}
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Source)) == 7

    guarded = Workspace(settings.replace(allow_networks=()))
    from archive.sources.subscriptions import poll

    with session_scope(guarded.sessions) as session:
        feed_id = session.scalar(select(Subscription.id).where(Subscription.url == site.url("/feed.xml")))
    result = poll(guarded, feed_id)
    assert result.error and "LASTSEEN_ALLOW_NETWORKS" in result.error, result.error
    guarded.close()
    ws.close()


def test_dashboard_buttons_for_archivists_behind_a_form_token(api: ApiServer) -> None:
    import re

    import requests

    with session_scope(api.workspace.sessions) as session:
        [added] = add_sources(session, ensure_collection(session, "flood"),
                              [SourceEntry("https://news.example/x")]).added
        source = session.get(Source, added.id)
        source.capture_failures, source.capture_retry_at = 2, T0
    page = f"/sources/{added.id}"

    def signed_in(role: str) -> requests.Session:
        browser = requests.Session()
        assert browser.post(api.url("/login"), data={"token": api.tokens[role], "next": page}).status_code == 200
        return browser

    reader = signed_in("reader").get(api.url(page)).text
    assert "capture failed 2 time(s)" in reader and "next attempt 2026-12-01T12:00:00Z" in reader
    assert "form_token" not in reader, "a reader sees no buttons"
    archivist = signed_in("archivist")
    html = archivist.get(api.url(page)).text
    token = re.search(r"name='form_token' value='([0-9a-f]+)'", html).group(1)
    assert "check now" in html and "capture now" in html
    post = api.url(f"{page}/manage")
    assert archivist.post(post, data={"action": "pause", "form_token": "0" * 64}).status_code == 403
    assert archivist.post(post, data={"action": "pause", "form_token": token},
                          headers={"Origin": "https://evil.example"}).status_code == 403
    assert requests.post(post, data={"action": "pause", "form_token": token}).status_code == 403, "no cookie"
    done = archivist.post(post, data={"action": "pause", "form_token": token}, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == page
    assert api.get(f"/api/sources/{added.id}").json()["paused_at"]
    html = archivist.get(api.url(page)).text
    assert "paused 20" in html and "value='resume'" in html and "value='pause'" not in html
