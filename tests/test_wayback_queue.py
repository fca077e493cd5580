"""The Wayback queue and worker on SQLite and PostgreSQL, against the local IA-protocol server and a real pywb."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from archive.captures import enqueue_capture, enqueue_captures, enqueue_source
from archive.cli import main
from archive.config import Settings
from archive.db import session_scope
from archive.models import Capture, Source, WaybackLookup, WaybackSubmission
from archive.net.pacing import Backoff
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.wayback.client import (
    SubmitResult,
    parse_cdx_json,
    refusal_reason,
    seconds_until_utc_midnight,
    to_timestamp,
)
from archive.wayback.ia import InternetArchive
from archive.wayback.lookups import find_recovery_copy, lookup_sources
from archive.wayback.pywb import Pywb
from archive.wayback.queue import DrainSummary, drain
from archive.workspace import Workspace
from tests.clocks import FakeClock
from tests.servers.ia import (
    KEYS,
    IAServer,
    Reply,
    captured,
    http_error,
    job_error,
    job_success,
    pending,
    slow,
    spn2_error,
    spn2_job,
)
from tests.servers.pywb import PywbServer
from tests.servers.site import Page, Site

URL = "https://news.example.com/2024/story.html"
OTHER = "https://news.example.com/2024/other.html"
T0 = datetime(2024, 3, 15, 12, 0, 0, tzinfo=UTC).timestamp()  # the fake clock starts here
TS = "20240315120005"  # a capture made just after T0
JOB = "spn2-" + "0123456789abcdef" * 2
DAILY_ACCOUNT = "You cannot make more than 4,000 captures per day. Please try again tomorrow."
DAILY_URL = "This URL has been captured 10 times today. We cannot make any more captures."


class Half:
    """A 'random' source that always says 0.5: full jitter then waits exactly half its bound."""

    def random(self) -> float:
        return 0.5


@pytest.fixture
def ia_timestamp() -> str:
    """Unscripted saves capture just after the fake clock's start (overrides conftest's)."""
    return TS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Callable[..., Workspace]]:
    """Workspaces on the test database with Wayback settings changed; closed afterwards."""
    opened: list[Workspace] = []

    def _make(server: IAServer | None = None, **changes: object) -> Workspace:
        values: dict[str, object] = {"wayback_rate": 0.0}
        if server is not None:
            values["wayback_url"] = server.base_url
            if server.keys:
                values["wayback_access_key"], values["wayback_secret_key"] = server.keys
        ws = Workspace(settings.replace(**{**values, **changes}))
        opened.append(ws)
        return ws

    yield _make
    for ws in opened:
        ws.close()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `lastseen ARGS` in-process with a workspace's settings; gives (exit code, stdout, stderr)."""

    def _run(ws: Workspace, *args: str) -> tuple[int, str, str]:
        s = ws.settings
        for name in ("data_dir", "database_url", "storage_url", "wayback_url", "wayback_collection",
                     "wayback_access_key", "wayback_secret_key", "wayback_rate", "wayback_skip_window",
                     "wayback_max_attempts", "wayback_concurrency"):
            monkeypatch.setenv(f"LASTSEEN_{name.upper()}", str(getattr(s, name)))
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def add_source(ws: Workspace, url: str, collection: str = "default") -> int:
    with session_scope(ws.sessions) as session:
        result = add_sources(session, ensure_collection(session, collection), [SourceEntry(url)])
        return (result.added or [source for _, source in result.known])[0].id


def add_capture(ws: Workspace, source_id: int, sha: str = "a", status: int = 200, record_type: str = "response",
                at: datetime | None = None) -> int:
    with session_scope(ws.sessions) as session:
        capture = Capture(source_id=source_id, captured_at=at or datetime.now(UTC), url="https://x.example/",
                          http_status=status, content_type="text/html", payload_sha256=sha * 64, size=10,
                          record_type=record_type, warc_uri="file:///w.warc.gz", warc_offset=0, warc_length=10)
        session.add(capture)
        session.flush()
        return capture.id


def queue(ws: Workspace, url: str, collection: str = "default") -> int:
    """Track a URL, capture it and queue it the way the crawl does; the submission id."""
    source_id = add_source(ws, url, collection)
    capture_id = add_capture(ws, source_id)
    with session_scope(ws.sessions) as session:
        submission = enqueue_capture(session, source_id, capture_id)
        assert submission is not None
        return submission.id


def row(ws: Workspace, submission_id: int) -> WaybackSubmission:
    with session_scope(ws.sessions) as session:
        found = session.get(WaybackSubmission, submission_id)
        assert found is not None
        return found


def run(ws: Workspace, clock: FakeClock, **kwargs: object) -> DrainSummary:
    """One drain on the fake clock with deterministic jitter (half the bound)."""
    kwargs.setdefault("backoff", Backoff(max_attempts=ws.settings.wayback_max_attempts, rng=Half()))
    return drain(ws, clock=clock, **kwargs)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- queueing -------------------------------------------------------------------------------------

def test_a_crawls_batch_queues_like_one_at_a_time(workspace) -> None:
    ws = workspace()
    fresh, known, twice, revisited, busy = (add_source(ws, f"https://b.example/{n}") for n in range(5))
    old = add_capture(ws, known, "a", at=at(T0))
    pairs = [(fresh, add_capture(ws, fresh, "a", at=at(T0 + 10))),
             (known, add_capture(ws, known, "a", at=at(T0 + 10))),
             (twice, add_capture(ws, twice, "a", at=at(T0 + 10))),
             (twice, add_capture(ws, twice, "b", at=at(T0 + 11))),
             (revisited, add_capture(ws, revisited, "a", record_type="revisit", at=at(T0 + 10))),
             (busy, add_capture(ws, busy, "a", at=at(T0 + 10)))]
    with session_scope(ws.sessions) as session:
        open_row = enqueue_source(session, busy)
        open_id = open_row.id
    with session_scope(ws.sessions) as session:
        enqueue_captures(session, pairs, batch=4)
    with session_scope(ws.sessions) as session:
        rows = list(session.scalars(select(WaybackSubmission).order_by(WaybackSubmission.id)))
        by_source: dict[int, list[WaybackSubmission]] = {}
        for sub in rows:
            by_source.setdefault(sub.source_id, []).append(sub)
    assert [s.capture_id for s in by_source[fresh]] == [pairs[0][1]]
    assert known not in by_source, "the same content as before is not queued"
    assert len(by_source[twice]) == 1 and by_source[twice][0].capture_id == pairs[3][1], "one row, newest content"
    assert revisited not in by_source
    assert [(s.id, s.capture_id) for s in by_source[busy]] == [(open_id, pairs[5][1])], "joins the open row"
    assert old


def test_captures_queue_new_content_once(workspace) -> None:
    ws = workspace()
    source_id = add_source(ws, URL)
    first = add_capture(ws, source_id, "a", at=at(T0))
    with session_scope(ws.sessions) as session:
        sub = enqueue_capture(session, source_id, first)
        assert sub is not None and (sub.state, sub.capture_id, sub.attempts) == ("queued", first, 0)
        sub_id = sub.id
    same = add_capture(ws, source_id, "a", at=at(T0 + 10))
    revisit = add_capture(ws, source_id, "b", record_type="revisit", at=at(T0 + 20))
    error_page = add_capture(ws, source_id, "c", status=404, at=at(T0 + 30))
    changed = add_capture(ws, source_id, "d", at=at(T0 + 40))
    with session_scope(ws.sessions) as session:
        assert enqueue_capture(session, source_id, same) is None, "unchanged content is not queued again"
        assert enqueue_capture(session, source_id, revisit) is None
        assert enqueue_capture(session, source_id, error_page) is None, "an error page is no copy worth asking for"
        again = enqueue_capture(session, source_id, changed)
        assert again is not None and again.id == sub_id and again.capture_id == changed, \
            "new content joins the row that has not been sent yet"
        again.state = "done"
    back = add_capture(ws, source_id, "a", at=at(T0 + 50))
    other = add_source(ws, OTHER)
    with session_scope(ws.sessions) as session:
        newer = enqueue_capture(session, source_id, back)
        assert newer is not None and newer.id != sub_id, "content changed after the last submission: queued anew"
        assert enqueue_source(session, source_id).id == newer.id
        with pytest.raises(ValueError):
            enqueue_capture(session, other, back)


# --- Save Page Now without keys ---------------------------------------------------------------------

def test_plain_save_is_done_and_shown_in_status(workspace, ia: IAServer, clock: FakeClock, cli) -> None:
    ws = workspace(ia)
    sub_id = queue(ws, URL)
    ia.script_save(URL, captured(TS))
    summary = run(ws, clock)
    [item] = summary.items
    archive_url = f"{ia.base_url}/web/{TS}/{URL}"
    assert (item.state, item.archive_url, item.timestamp, item.attempts) == ("done", archive_url, TS, 1)
    sub = row(ws, sub_id)
    assert (sub.state, sub.target, sub.error, sub.next_attempt_at) == ("done", ia.base_url, None, None)
    assert sub.finished_at == at(T0)
    assert [r.path for r in ia.requests][-1] == f"/save/{URL}"
    assert len(ia.received("GET", "/cdx/")) == 1, "the archive is asked first whether it has a recent copy"
    code, out, _ = cli(ws, "status", URL, "--json")
    [detail] = json.loads(out)["sources"]
    [shown] = detail["wayback"]["submissions"]
    assert code == 0
    assert (shown["state"], shown["archive_url"], shown["timestamp"], shown["failure"]) == \
        ("done", archive_url, TS, None)
    assert detail["wayback"]["lookup"]["count"] == 0 and detail["wayback"]["lookup"]["target"] == ia.base_url
    code, out, _ = cli(ws, "status", URL)
    assert f"done  {archive_url}" in out
    assert run(ws, clock).items == [], "a done submission is not sent again"


# --- Save Page Now 2 with keys ----------------------------------------------------------------------

def test_spn2_job_is_polled_to_success_without_sleeping(workspace, ia_keys: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia_keys)
    sub_id = queue(ws, URL)
    ia_keys.script_save(URL, spn2_job(JOB, [pending(), pending(), job_success(TS, URL)]))
    started = time.monotonic()
    [item] = run(ws, clock, poll_interval=5.0).items
    assert (item.state, item.job_id, item.timestamp) == ("done", JOB, TS)
    assert item.archive_url == f"{ia_keys.base_url}/web/{TS}/{URL}"
    assert clock.sleeps == [5.0, 5.0, 5.0] and ia_keys.polls(JOB) == 3
    assert time.monotonic() - started < 5
    [post] = ia_keys.received("POST", "/save")
    assert post.headers["Authorization"] == f"LOW {KEYS[0]}:{KEYS[1]}"
    assert post.form["if_not_archived_within"] == "86400", "SPN2 applies the skip window itself"
    assert ia_keys.received("GET", "/cdx/") == []
    assert row(ws, sub_id).attempts == 1


def test_spn2_job_error_is_permanent_with_the_archive_message(workspace, ia_keys: IAServer, clock: FakeClock,
                                                              cli) -> None:
    ws = workspace(ia_keys)
    sub_id = queue(ws, URL)
    message = "This host has been blocked by the site owner."
    ia_keys.script_save(URL, spn2_job(JOB, [pending(), job_error("error:blocked", message)]))
    [item] = run(ws, clock).items
    assert item.state == "failed" and item.attempts == 1
    assert item.error == f"permanent, blocked by the site: {message} (error:blocked)"
    assert row(ws, sub_id).next_attempt_at is None
    assert run(ws, clock).items == [], "a permanent failure is not retried"
    code, out, _ = cli(ws, "status", URL, "--json")
    [shown] = json.loads(out)["sources"][0]["wayback"]["submissions"]
    assert (shown["state"], shown["failure"], shown["job_id"]) == ("failed", "permanent", JOB)
    _, out, _ = cli(ws, "status", URL)
    assert f"failed  permanent, blocked by the site: {message}" in out


@pytest.mark.parametrize(("code", "message", "reason"), [
    ("error:blocked", "", "blocked by the site"),
    ("error:no-access", "Target URL could not be accessed (status=403).", "blocked by the site"),
    ("error:blocked-url", "This URL is in the block list.", "excluded from the archive"),
    ("error:not-found", "Target URL not found (status=404).", "not found"),
    ("http-404", "HTTP 404 Not Found", "not found"),
    ("error:invalid-url-syntax", "Target URL syntax is not valid.", "invalid URL"),
    ("refused", "Sorry. This URL has been excluded from the Wayback Machine.", "excluded from the archive"),
    ("error:filesize-limit", "Cannot capture web resources over 2GB.", "refused by the archive"),
])
def test_refusal_reasons(code: str, message: str, reason: str) -> None:
    assert refusal_reason(SubmitResult("failed", message=message, error_code=code)) == reason


# --- backoff, throttling and quotas -----------------------------------------------------------------

def test_502_backs_off_exponentially_then_gives_up(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia, wayback_max_attempts=3)
    sub_id = queue(ws, URL)
    ia.script_save(URL, http_error(502))
    [item] = run(ws, clock).items
    assert (item.state, item.attempts, item.next_attempt_at) == ("retrying", 1, at(T0 + 15))  # half of 30 s
    assert item.error == "transient, will retry at 2024-03-15T12:00:15Z (attempt 1 of 3): HTTP 502 Bad Gateway"
    assert run(ws, clock).items == [], "not due yet"
    clock.advance(15)
    [item] = run(ws, clock).items
    assert (item.state, item.attempts, item.next_attempt_at) == ("retrying", 2, at(T0 + 15 + 30))  # half of 60 s
    clock.advance(30)
    [item] = run(ws, clock).items
    assert (item.state, item.attempts, item.next_attempt_at) == ("failed", 3, None)
    assert item.error == "gave up after 3 attempts: HTTP 502 Bad Gateway"
    assert row(ws, sub_id).finished_at == at(T0 + 45)
    assert len(ia.received("GET", "/save/")) == 3
    assert clock.sleeps == [], "backoff is a time in the queue, never a sleep"


def test_429_with_retry_after_pauses_the_whole_queue(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia, wayback_max_attempts=1)  # the archive throttling us is no reason to give a URL up
    first, second = queue(ws, URL), queue(ws, OTHER)
    ia.script_save(URL, [http_error(429, retry_after=120), captured(TS)])
    ia.script_save(OTHER, captured(TS))
    summary = run(ws, clock)
    [item] = summary.items
    assert (item.submission_id, item.state, item.attempts) == (first, "paused", 1)
    assert item.next_attempt_at == at(T0 + 120) == summary.paused_until, "Retry-After beats the 15 s jitter"
    assert item.error.startswith("archive throttling us, queue paused until 2024-03-15T12:02:00Z (attempt 1): "
                                 "HTTP 429")
    assert row(ws, second).state == "queued" and len(ia.received("GET", "/save/")) == 1
    clock.advance(60)
    later = run(ws, clock)  # a new drain (a new limiter, as in another process) finds the pause in the database
    assert later.items == [] and later.paused_until == at(T0 + 120)
    assert len(ia.received("GET", "/save/")) == 1
    clock.advance(61)
    assert [(i.submission_id, i.state) for i in run(ws, clock).items] == [(first, "done"), (second, "done")]


def test_daily_account_limit_pauses_until_midnight_without_costing_an_attempt(workspace, ia_keys: IAServer,
                                                                               clock: FakeClock) -> None:
    ws = workspace(ia_keys)
    first, second = queue(ws, URL), queue(ws, OTHER)
    ia_keys.script_save(URL, spn2_error("error:too-many-daily-captures", DAILY_ACCOUNT))
    summary = run(ws, clock)
    [item] = summary.items
    assert item.submission_id == first
    midnight = at(T0 + seconds_until_utc_midnight(T0))
    assert midnight == datetime(2024, 3, 16, 0, 1, tzinfo=UTC)
    assert (item.state, item.attempts, item.next_attempt_at) == ("paused", 0, midnight)
    assert item.error == ("archive over its limit, queue paused until 2024-03-16T00:01:00Z: "
                          f"{DAILY_ACCOUNT} (error:too-many-daily-captures)")
    assert summary.paused_until == midnight
    assert (row(ws, second).state, row(ws, second).attempts) == ("queued", 0)
    assert len(ia_keys.received("POST", "/save")) == 1


def test_daily_limit_of_one_url_delays_only_that_url(workspace, ia_keys: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia_keys)
    first, second = queue(ws, URL), queue(ws, OTHER)
    ia_keys.script_save(URL, spn2_error("error:too-many-daily-captures", DAILY_URL))
    summary = run(ws, clock)
    assert [(i.submission_id, i.state) for i in summary.items] == [(first, "retrying"), (second, "done")]
    assert summary.items[0].next_attempt_at == datetime(2024, 3, 16, 0, 1, tzinfo=UTC)
    assert summary.paused_until is None


def test_rate_limit_spaces_submissions_on_the_fake_clock(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia, wayback_rate=0.1)
    ids = [queue(ws, f"https://news.example.com/{n}") for n in range(3)]
    summary = run(ws, clock)
    assert [i.state for i in summary.items] == ["done"] * 3 and [i.submission_id for i in summary.items] == ids
    assert clock.sleeps == [10.0, 10.0]


def test_concurrency_limit_holds_submissions_under_way(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia, wayback_concurrency=2)
    urls = [f"https://news.example.com/{n}" for n in range(4)]
    for url in urls:
        queue(ws, url)
        ia.script_save(url, Reply(200, [("Content-Location", f"/web/{TS}/{url}")], "<html>saved</html>", delay=0.3))

    class Counting(InternetArchive):
        """The real client, counting the submissions under way at once."""

        def __init__(self) -> None:
            super().__init__(ia.base_url, clock=clock, timeout=10)
            self.now = self.most = 0
            self.lock = threading.Lock()

        def submit(self, url: str) -> SubmitResult:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                return super().submit(url)
            finally:
                with self.lock:
                    self.now -= 1

    client = Counting()
    summary = run(ws, clock, client=client)
    assert sorted(i.url for i in summary.items) == urls and {i.state for i in summary.items} == {"done"}
    assert client.most == 2


# --- skipping recent copies, slow jobs and slow answers ----------------------------------------------

def test_a_recent_copy_is_skipped(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia)
    fresh, old = queue(ws, URL), queue(ws, OTHER)
    ia.add_capture(URL, to_timestamp(T0 - 3600))
    ia.add_capture(OTHER, to_timestamp(T0 - 3 * 86400))
    ia.script_save(OTHER, captured(TS))
    summary = run(ws, clock)
    assert [(i.submission_id, i.state) for i in summary.items] == [(fresh, "skipped"), (old, "done")]
    assert summary.items[0].archive_url == f"{ia.base_url}/web/{to_timestamp(T0 - 3600)}/{URL}"
    assert [r.path for r in ia.received("GET", "/save/")] == [f"/save/{OTHER}"]
    requests_before = len(ia.requests)
    source_id = row(ws, old).source_id
    capture_id = add_capture(ws, source_id, "e")
    with session_scope(ws.sessions) as session:
        again = enqueue_capture(session, source_id, capture_id).id
    clock.advance(3600)
    [item] = run(ws, clock).items
    assert (item.submission_id, item.state, item.timestamp) == (again, "skipped", TS)
    assert len(ia.requests) == requests_before, "our own copy from an hour ago answers without asking the archive"


def test_an_answer_predating_the_request_is_a_skip(workspace, ia_keys: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia_keys)
    queue(ws, URL)
    earlier = to_timestamp(T0 - 7200)
    ia_keys.script_save(URL, spn2_job(JOB, [job_success(earlier, URL, "The same snapshot had been made 2 hours ago.")]))
    [item] = run(ws, clock).items
    assert (item.state, item.timestamp) == ("skipped", earlier)


def test_a_slow_job_stays_pending_and_the_next_drain_polls_it(workspace, ia_keys: IAServer,
                                                              clock: FakeClock) -> None:
    ws = workspace(ia_keys)
    sub_id = queue(ws, URL)
    ia_keys.script_save(URL, spn2_job(JOB, [pending()] * 6 + [job_success(TS, URL)]))
    [item] = run(ws, clock, poll_interval=5.0, poll_timeout=20.0).items
    assert (item.state, item.job_id, item.attempts) == ("pending", JOB, 1)
    assert item.next_attempt_at == at(T0 + 20 + 300) and ia_keys.polls(JOB) == 4
    assert run(ws, clock).items == []
    clock.advance(300)
    [item] = run(ws, clock, poll_interval=5.0, poll_timeout=20.0).items
    assert (item.state, item.timestamp, item.attempts) == ("done", TS, 1)
    assert len(ia_keys.received("POST", "/save")) == 1, "the job is followed, not submitted again"
    assert ia_keys.polls(JOB) == 7 and row(ws, sub_id).job_id == JOB


def test_a_slow_answer_times_out_as_transient(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia)
    queue(ws, URL)
    ia.script_save(URL, slow(Reply(200, body="<html>late</html>"), 1.5))
    client = InternetArchive(ia.base_url, clock=clock, timeout=0.3)
    [item] = run(ws, clock, client=client).items
    assert item.state == "retrying"
    assert f"no answer from 127.0.0.1:{ia.port} within 0.3s" in (item.error or "")


def test_a_crashed_worker_leaves_a_lease_that_expires(workspace, ia: IAServer, clock: FakeClock) -> None:
    ws = workspace(ia)
    sub_id = queue(ws, URL)
    ia.script_save(URL, captured(to_timestamp(T0 + 3605)))
    with session_scope(ws.sessions) as session:  # as a worker that died after claiming it leaves it
        sub = session.get(WaybackSubmission, sub_id)
        sub.state, sub.next_attempt_at = "pending", at(T0 + 3600)
    assert run(ws, clock).items == []
    clock.advance(3600)
    assert [i.state for i in run(ws, clock).items] == ["done"]


# --- lookups and recovery copies --------------------------------------------------------------------

def test_lookup_command_stores_full_and_empty_answers(workspace, ia: IAServer, cli) -> None:
    ws = workspace(ia)
    broken = "https://news.example.com/broken"
    for url in (URL, OTHER, broken):
        add_source(ws, url)
    ia.add_capture(URL, "20200101000000", 200)
    ia.add_capture(URL, "20210101000000", 404)
    ia.add_capture(URL, "20220101000000", 301)
    ia.add_capture(URL, "20230101000000", 200)
    ia.add_capture(URL, "20240101000000", 503)
    ia.script_cdx(broken, http_error(503))
    code, out, _ = cli(ws, "wayback", "--lookup", "--json")
    data = json.loads(out)
    by_url = {item["url"]: item for item in data["lookups"]}
    assert code == 1, "one lookup failed"
    assert data["target"] == ia.base_url
    assert by_url[URL] == {"source_id": by_url[URL]["source_id"], "url": URL, "error": None, "count": 5,
                           "first_timestamp": "20200101000000", "last_timestamp": "20240101000000",
                           "last_ok_timestamp": "20230101000000",
                           "last_ok_url": f"{ia.base_url}/web/20230101000000/{URL}"}
    assert by_url[OTHER]["count"] == 0 and by_url[OTHER]["last_ok_url"] is None
    assert by_url[broken]["count"] is None and by_url[broken]["error"].startswith("CDX lookup failed: HTTP 503")
    with session_scope(ws.sessions) as session:
        assert session.scalar(select(func.count()).select_from(WaybackLookup)) == 2
    _, out, _ = cli(ws, "status", URL, "--json")
    lookup = json.loads(out)["sources"][0]["wayback"]["lookup"]
    assert (lookup["count"], lookup["last_ok_timestamp"]) == (5, "20230101000000")
    code, out, err = cli(ws, "wayback", "--lookup", URL, OTHER)
    assert code == 0
    assert f"{URL}  5 copies (20200101000000 .. 20240101000000), last good 20230101000000" in out
    assert f"{OTHER}  no copies" in out


def test_recovery_copy_is_the_newest_good_one_before_the_source_vanished(workspace, ia: IAServer,
                                                                         clock: FakeClock, cli) -> None:
    ws = workspace(ia)
    source_id = add_source(ws, URL)
    with session_scope(ws.sessions) as session:
        source = session.get(Source, source_id)
        source.status, source.vanished_at = "vanished", datetime(2023, 10, 1, tzinfo=UTC)
        source.streak_started_at = datetime(2023, 9, 20, tzinfo=UTC)  # first seen gone
    for stamp, status in (("20230101000000", 200), ("20230601000000", 200), ("20230801000000", 404),
                          ("20230921000000", 200), ("20231101000000", 200)):
        ia.add_capture(URL, stamp, status)
    found = find_recovery_copy(ws, source_id, clock=clock)
    assert found is not None and (found.timestamp, found.found_by) == ("20230601000000", "cdx")
    assert found.archive_url == f"{ia.base_url}/web/20230601000000/{URL}"
    code, out, _ = cli(ws, "status", URL, "--json")
    assert json.loads(out)["sources"][0]["wayback"]["recovery"] == {"archive_url": found.archive_url,
                                                                      "timestamp": "20230601000000"}
    _, out, _ = cli(ws, "status", URL)
    assert f"recovery copy     {found.archive_url}" in out


def test_recovery_falls_back_to_our_own_copy_when_the_index_cannot_answer(workspace, ia: IAServer,
                                                                          clock: FakeClock) -> None:
    ws = workspace(ia)
    source_id = add_source(ws, URL)
    with session_scope(ws.sessions) as session:
        source = session.get(Source, source_id)
        source.status, source.vanished_at = "vanished", datetime(2023, 10, 1, tzinfo=UTC)
        session.add(WaybackSubmission(source_id=source_id, state="done", target=ia.base_url,
                                      archive_url=f"{ia.base_url}/web/20230801000000/{URL}",
                                      archive_timestamp="20230801000000"))
    ia.add_capture(URL, "20230930000000", 200)  # only the availability API can tell, the CDX API fails
    ia.script_cdx(URL, http_error(503))
    client = InternetArchive(ia.base_url, clock=clock, timeout=5)
    with session_scope(ws.sessions) as session:  # as the checker calls it, inside its own transaction
        found = find_recovery_copy(session, source_id, client=client, clock=clock)
        assert found is not None and (found.timestamp, found.found_by) == ("20230930000000", "availability")
    ia.rows.clear()
    with session_scope(ws.sessions) as session:
        found = find_recovery_copy(session, source_id, client=client, clock=clock)
        assert found is not None and (found.timestamp, found.found_by) == ("20230801000000", "submission")
    with session_scope(ws.sessions) as session:
        assert session.get(Source, source_id).recovery_timestamp == "20230801000000"


def test_no_good_copy_leaves_the_source_as_it_was(workspace, ia: IAServer, clock: FakeClock, cli) -> None:
    ws = workspace(ia)
    gone_at_once = add_source(ws, URL)
    never = add_source(ws, OTHER)
    with session_scope(ws.sessions) as session:
        for source_id in (gone_at_once, never):
            source = session.get(Source, source_id)
            source.status, source.vanished_at = "vanished", at(T0 - 60)
    ia.add_capture(URL, "20190101000000", 200)
    ia.add_capture(OTHER, "20190101000000", 404)
    code, out, _ = cli(ws, "wayback", "--recover", "--json")
    recovered = {item["url"]: item["copy"] for item in json.loads(out)["recovered"]}
    assert code == 0
    assert recovered[URL]["timestamp"] == "20190101000000", "gone at its first check: the copy before that"
    assert recovered[OTHER] is None
    with session_scope(ws.sessions) as session:
        assert session.get(Source, never).recovery_archive_url is None


# --- the command ------------------------------------------------------------------------------------

def test_wayback_command_drains_and_reports(workspace, ia: IAServer, cli) -> None:
    ws = workspace(ia)
    stamp = to_timestamp(time.time())  # the command runs on the real clock
    queue(ws, URL)
    missing = "https://news.example.com/missing"
    queue(ws, missing)
    backfilled = add_source(ws, OTHER, "other")
    add_capture(ws, backfilled)
    add_source(ws, "https://news.example.com/never-captured")
    ia.script_save(URL, captured(stamp))
    ia.script_save(missing, http_error(404))
    ia.script_save(OTHER, captured(stamp))
    code, out, err = cli(ws, "wayback", "-c", "default")
    assert code == 1, "a permanent failure makes the exit code 1"
    assert f"done      {URL}  {ia.base_url}/web/{stamp}/{URL}" in out
    assert f"failed    {missing}  permanent, not found: HTTP 404 Not Found" in out
    assert f"2 submission(s) to {ia.base_url}: 1 done, 1 failed" in out
    code, out, _ = cli(ws, "wayback", "--backfill", "--json")
    data = json.loads(out)
    assert code == 0 and data["processed"] == 1 and data["items"][0]["url"] == OTHER
    assert data["done"] == 1 and data["paused_until"] is None
    code, out, err = cli(ws, "wayback", "https://news.example.com/not-tracked")
    assert code == 3 and "not tracked" in err
    code, _, err = cli(ws, "wayback", "-c", "nosuch")
    assert code == 3 and "no collection named 'nosuch'" in err
    code, out, _ = cli(ws, "wayback", URL, "--json")  # asked again by hand: our copy is recent, so skipped
    assert code == 0 and [i["state"] for i in json.loads(out)["items"]] == ["skipped"]


# --- small fixes to the client, seen against a real pywb ---------------------------------------------

def test_fuzzy_cdx_matches_are_not_copies() -> None:
    near = '{"timestamp": "20240102000000", "url": "http://a/p?x=1", "status": "200", "is_fuzzy": "1"}'
    text = '{"timestamp": "20240101000000", "url": "http://a/p", "status": "200"}\n' + near + "\n"
    assert [r.timestamp for r in parse_cdx_json(text)] == ["20240101000000"]


def test_pywb_error_text_with_200_is_a_refusal(ia: IAServer, clock: FakeClock) -> None:
    ia.script_record(URL, Reply(200, [("Content-Type", "text/plain; charset=utf-8")],
                                b'Error: Can Not Record Into Custom Collection "coll"'))
    result = Pywb(ia.base_url, "coll", clock=clock).submit(URL)
    assert (result.state, result.kind) == ("failed", "permanent")
    assert result.message == 'Error: Can Not Record Into Custom Collection "coll"'


# --- a real pywb ------------------------------------------------------------------------------------



def _lookup(ws: Workspace, url: str) -> dict:
    with session_scope(ws.sessions) as session:
        source_id = session.scalar(select(Source.id).where(Source.normalized_url == url))
    [item] = lookup_sources(ws, [source_id])
    return item.as_dict()


def _wait_for_index(ws: Workspace, url: str, seconds: float = 15.0) -> dict:
    """pywb indexes new WARC files every second: ask until the copy shows up (an external process, not timing)."""
    deadline = time.monotonic() + seconds
    while True:
        found = _lookup(ws, url)
        if found["count"] or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_real_pywb_records_answers_cdx_and_gives_a_recovery_copy(workspace, pywb: PywbServer, site: Site) -> None:
    site.set("/story", Page("<html><head><title>Story</title></head><body>the original words</body></html>"))
    site.set("/gone", Page("not here", status=404))
    ws = workspace(wayback_url=pywb.base_url, wayback_collection=pywb.collection)
    story, gone = site.url("/story"), site.url("/gone")
    queue(ws, story)
    queue(ws, gone)
    summary = drain(ws)
    by_url = {item.url: item for item in summary.items}
    done = by_url[story]
    assert done.state == "done" and done.timestamp and len(done.timestamp) == 14
    assert done.archive_url == f"{pywb.base_url}/{pywb.collection}/{done.timestamp}/{story}"
    assert by_url[gone].state == "failed" and by_url[gone].error.startswith("permanent, not found: HTTP 404")
    found = _wait_for_index(ws, story)
    assert (found["count"], found["last_ok_timestamp"]) == (1, done.timestamp)
    replay = requests.get(done.archive_url, timeout=10)
    assert replay.status_code == 200 and "the original words" in replay.text
    assert _lookup(ws, gone)["last_ok_timestamp"] is None
    add_source(ws, story + "?page=2")
    assert _lookup(ws, story + "?page=2")["count"] == 0, "pywb's fuzzy match of another query is not a copy"
    with session_scope(ws.sessions) as session:
        source = session.scalar(select(Source).where(Source.normalized_url == story))
        source.status, source.vanished_at = "vanished", datetime.now(UTC) + timedelta(seconds=5)
        source_id = source.id
    copy = find_recovery_copy(ws, source_id, clock=FakeClock(time.time() + 5))
    assert copy is not None and (copy.archive_url, copy.found_by) == (done.archive_url, "cdx")
