"""The Wayback client against a local Internet-Archive-protocol server: saves, SPN2 jobs, errors, pacing, CDX."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from archive.config import ConfigError, load_settings
from archive.net.pacing import Backoff, Clock, RateLimiter, next_attempt_delay, parse_retry_after
from archive.wayback.client import (
    CdxRow,
    LookupResult,
    SubmitResult,
    WaybackTarget,
    WaybackUnavailable,
    parse_cdx_json,
    seconds_until_utc_midnight,
    should_skip,
)
from archive.wayback.ia import SPN2_ERRORS, InternetArchive
from archive.wayback.pywb import Pywb
from archive.wayback.targets import target_from_settings
from tests.clocks import FakeClock
from tests.servers.ia import (
    KEYS,
    HtmlJob,
    IAServer,
    Reply,
    captured,
    html_error,
    http_error,
    job_error,
    job_success,
    pending,
    slow,
    spn2_error,
    spn2_job,
)

URL = "https://news.example.com/2024/story.html"
TS = "20240315101112"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def plain(server: IAServer, clock: FakeClock, **kwargs: object) -> InternetArchive:
    return InternetArchive(server.base_url, clock=clock, timeout=5, **kwargs)  # type: ignore[arg-type]


def spn2(server: IAServer, clock: FakeClock, keys: tuple[str, str] = KEYS) -> InternetArchive:
    return InternetArchive(server.base_url, keys[0], keys[1], None, clock, timeout=5)


class Outcome(NamedTuple):
    result: SubmitResult
    attempts: int  # submissions made, the last included


def submit_and_wait(target: WaybackTarget, url: str, *, clock: Clock, limiter: RateLimiter | None = None,
                    backoff: Backoff | None = None, poll_interval: float = 5.0,
                    poll_timeout: float = 600.0) -> Outcome:
    """Submit, poll a pending job to its end, retry transient failures with backoff: the client with its pacing.

    Returns at the first success, permanent failure or quota, or when the attempts are used up.
    """
    backoff = backoff or Backoff()
    attempts = 0
    while True:
        if limiter is not None:
            limiter.acquire()
        attempts += 1
        result = target.submit(url)
        if limiter is not None:
            limiter.observe(result)
        if result.state == "pending":
            if not result.job_id:
                result = SubmitResult("failed", transient=True, message=result.message or "pending without a job",
                                      error_code="no-job")
            else:
                result = _poll(target, url, result, clock, limiter, poll_interval, poll_timeout)
        final = not result.transient or attempts >= backoff.max_attempts
        if result.state == "success" or result.quota_exhausted or final:
            return Outcome(result, attempts)
        clock.sleep(backoff.delay(attempts, result.retry_after))


def _poll(target: WaybackTarget, url: str, result: SubmitResult, clock: Clock, limiter: RateLimiter | None,
          interval: float, timeout: float) -> SubmitResult:
    job_id = result.job_id or ""
    waited = 0.0
    while result.state == "pending":
        if waited >= timeout:
            return SubmitResult("failed", job_id=job_id, transient=True, error_code="job-timeout",
                                message=f"job {job_id} still pending after {waited:g}s")
        step = max(interval, result.retry_after or 0.0)
        clock.sleep(step)
        waited += step
        result = target.status(job_id, url)
        if limiter is not None:
            limiter.observe(result)
    return result


def assert_one_line(result: SubmitResult | str) -> None:
    text = result if isinstance(result, str) else result.message
    assert text and "\n" not in text and "Traceback" not in text


# --- unauthenticated Save Page Now -----------------------------------------------------------------

@pytest.mark.parametrize("via", ["content-location", "link", "redirect", "location"])
def test_unauthenticated_save_finds_the_capture(ia: IAServer, clock: FakeClock, via: str) -> None:
    ia.script_save(URL, captured(TS, via))
    result = plain(ia, clock, user_agent="lastseen-test/1").submit(URL)
    assert result.state == "success", result
    assert result.timestamp == TS
    assert result.archive_url == f"{ia.base_url}/web/{TS}/{URL}"
    assert not result.transient and not result.quota_exhausted
    [request] = ia.received("GET", "/save/")
    assert request.path == f"/save/{URL}"
    assert request.headers["User-Agent"] == "lastseen-test/1"
    assert "Authorization" not in request.headers
    assert ia.received(prefix="/web/") == []  # a redirect to the capture is not followed


def test_unauthenticated_save_keeps_the_query_and_drops_the_fragment(ia: IAServer, clock: FakeClock) -> None:
    url = "https://example.com/a?b=1&c=2"
    ia.script_save(url, captured(TS, "link"))
    result = plain(ia, clock).submit(url + "#comments")
    assert result.state == "success", result
    assert ia.requests[0].path == f"/save/{url}"
    assert result.archive_url == f"{ia.base_url}/web/{TS}/{url}"


def test_unauthenticated_save_that_starts_a_job_is_polled(ia: IAServer, clock: FakeClock) -> None:
    job = "spn2-" + "ab" * 20
    ia.script_save(URL, HtmlJob(job, [pending(), job_success(TS, URL)]))
    target = plain(ia, clock)
    first = target.submit(URL)
    assert (first.state, first.job_id) == ("pending", job)
    assert target.status(job).state == "pending"
    done = target.status(job)
    assert done.state == "success" and done.timestamp == TS
    assert done.archive_url == f"{ia.base_url}/web/{TS}/{URL}"


# --- Save Page Now 2 --------------------------------------------------------------------------------

def test_spn2_sends_keys_and_polls_the_job_to_success(ia_keys: IAServer, clock: FakeClock) -> None:
    ia_keys.script_save(URL, spn2_job("spn2-job1", [pending(), pending(), job_success(TS, URL)]))
    target = spn2(ia_keys, clock)
    outcome = submit_and_wait(target, URL, clock=clock, poll_interval=5)
    assert outcome.attempts == 1
    result = outcome.result
    assert result.state == "success", result
    assert (result.job_id, result.timestamp) == ("spn2-job1", TS)
    assert result.archive_url == f"{ia_keys.base_url}/web/{TS}/{URL}"
    [post] = ia_keys.received("POST", "/save")
    assert post.headers["Authorization"] == "LOW acc355:s3cr3t"
    assert post.headers["Accept"] == "application/json"
    assert post.form["url"] == URL and post.form["skip_first_archive"] == "1"
    polls = ia_keys.received("GET", "/save/status/spn2-job1")
    assert len(polls) == 3 and all(p.headers["Authorization"] == "LOW acc355:s3cr3t" for p in polls)
    assert clock.sleeps == [5, 5, 5]


def test_spn2_status_returns_pending_then_success(ia_keys: IAServer, clock: FakeClock) -> None:
    ia_keys.script_save(URL, spn2_job("spn2-job2", [pending(), job_success(TS)], message="queued"))
    target = spn2(ia_keys, clock)
    submitted = target.submit(URL)
    assert (submitted.state, submitted.job_id, submitted.message) == ("pending", "spn2-job2", "queued")
    assert target.status("spn2-job2").state == "pending"
    done = target.status("spn2-job2")  # no original_url in the answer: the submitted URL is remembered
    assert done.archive_url == f"{ia_keys.base_url}/web/{TS}/{URL}"


def test_spn2_skip_window_is_passed_on(ia_keys: IAServer, clock: FakeClock) -> None:
    target = InternetArchive(ia_keys.base_url, *KEYS, clock=clock, if_not_archived_within=86400)
    assert submit_and_wait(target, URL, clock=clock).result.state == "success"
    assert ia_keys.received("POST")[0].form["if_not_archived_within"] == "86400"


def test_spn2_refused_keys_pause_the_queue(ia_keys: IAServer, clock: FakeClock) -> None:
    result = spn2(ia_keys, clock, ("acc355", "wrong")).submit(URL)
    assert result.kind == "quota" and result.http_status == 401
    assert result.message == "You need to be logged in to use Save Page Now."


def test_only_one_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        InternetArchive("http://127.0.0.1:9", "access", "")


# --- error classes ------------------------------------------------------------------------------------

DAILY_ACCOUNT = "You cannot make more than 4,000 captures per day. Please try again tomorrow."
DAILY_URL = "This URL has been captured 10 times today. We cannot make any more captures."
SESSIONS = "You have already reached the limit of active sessions. Please wait for a minute and then try again."

ERROR_CASES = [
    ("error:not-found", "Target URL not found (status=404).", "permanent", None),
    ("error:no-access", "Target URL could not be accessed (status=403).", "permanent", None),
    ("error:blocked-url", "This URL is in the block list.", "permanent", None),
    ("error:invalid-url-syntax", "Target URL syntax is not valid.", "permanent", None),
    ("error:filesize-limit", "Cannot capture web resources over 2GB.", "permanent", None),
    ("error:service-unavailable", "Service unavailable for URL (HTTP status=503).", "transient", None),
    ("error:browsing-timeout", "SPN2 back-end headless browser timeout.", "transient", None),
    ("error:too-many-requests", "The target host has received too many requests.", "transient", 60.0),
    ("error:bandwidth-limit-exceeded", "The target server has exceeded the bandwidth.", "transient", 3600.0),
    ("error:something-new", "A code this client has never seen.", "transient", None),
    ("error:user-session-limit", SESSIONS, "quota", 60.0),
    ("error:too-many-daily-captures", DAILY_ACCOUNT, "quota", "midnight"),
    ("error:too-many-daily-captures", DAILY_URL, "transient", "midnight"),
]


def _expected_wait(wait: object, clock: FakeClock) -> float | None:
    return seconds_until_utc_midnight(clock.now()) if wait == "midnight" else wait  # type: ignore[return-value]


@pytest.mark.parametrize(("status_ext", "message", "kind", "wait"), ERROR_CASES)
def test_job_errors_are_classified_and_keep_the_message(ia_keys: IAServer, clock: FakeClock, status_ext: str,
                                                        message: str, kind: str, wait: object) -> None:
    ia_keys.script_save(URL, spn2_job("spn2-e", [pending(), job_error(status_ext, message)]))
    target = spn2(ia_keys, clock)
    assert target.submit(URL).state == "pending"
    target.status("spn2-e")
    result = target.status("spn2-e")
    assert result.state == "failed"
    assert result.kind == kind
    assert result.message == message
    assert result.error_code == status_ext
    assert result.job_id == "spn2-e"
    assert result.retry_after == _expected_wait(wait, clock)
    assert result.transient == (kind != "permanent")
    assert result.quota_exhausted == (kind == "quota")


@pytest.mark.parametrize(("status_ext", "message", "kind", "wait"), ERROR_CASES)
def test_refused_submissions_are_classified_and_keep_the_message(ia_keys: IAServer, clock: FakeClock,
                                                                 status_ext: str, message: str, kind: str,
                                                                 wait: object) -> None:
    ia_keys.script_save(URL, spn2_error(status_ext, message))
    result = spn2(ia_keys, clock).submit(URL)
    assert (result.state, result.kind, result.message, result.error_code) == ("failed", kind, message, status_ext)
    assert result.retry_after == _expected_wait(wait, clock)


def test_every_documented_spn2_code_has_a_class() -> None:
    documented = """bad-gateway bad-request bandwidth-limit-exceeded blocked blocked-client-ip blocked-url
        browsing-timeout capture-location-error cannot-fetch celery filesize-limit ftp-access-denied
        gateway-timeout http-version-not-supported internal-server-error invalid-url-syntax
        invalid-server-response invalid-host-resolution job-failed method-not-allowed not-implemented
        no-browsers-available network-authentication-required no-access not-found proxy-error protocol-error
        read-timeout soft-time-limit-exceeded service-unavailable too-many-daily-captures too-many-redirects
        too-many-requests user-session-limit unauthorized""".split()
    for code in documented:
        assert f"error:{code}" in SPN2_ERRORS, code
    assert {kind for kind, _ in SPN2_ERRORS.values()} == {"permanent", "transient", "quota"}


@pytest.mark.parametrize(("page", "kind"), [
    (html_error("Sorry", DAILY_ACCOUNT), "quota"),
    (html_error("Sorry", "You have reached your daily not-logged-in captures limit of (200,) webpages."), "quota"),
    (html_error("Sorry", SESSIONS), "quota"),
    (html_error("Sorry", DAILY_URL), "transient"),
    (html_error("Job failed", "Cannot start capture: the live page is not available."), "transient"),
])
def test_unauthenticated_refusal_pages(ia: IAServer, clock: FakeClock, page: Reply, kind: str) -> None:
    ia.script_save(URL, page)
    result = plain(ia, clock).submit(URL)
    assert result.state == "failed" and result.kind == kind
    expected = page.body.split("<p>")[1].split("</p>")[0]  # type: ignore[union-attr]
    assert result.message == expected


@pytest.mark.parametrize(("reply", "kind", "retry_after"), [
    (http_error(429, retry_after=120), "transient", 120.0),
    (http_error(429), "transient", 300.0),
    (http_error(502), "transient", None),
    (http_error(503, retry_after=30), "transient", 30.0),
    (http_error(504), "transient", None),
    (http_error(520, "<h2>Job failed</h2><p>Live page is not available.</p>"), "transient", None),
    (http_error(503, "<html><body><h2>Sorry</h2><p>Save Page Now is under maintenance.</p>"), "transient", None),
    (http_error(509), "quota", 60.0),
    (http_error(404), "permanent", None),
])
def test_http_status_of_the_save_endpoint(ia: IAServer, clock: FakeClock, reply: Reply, kind: str,
                                          retry_after: float | None) -> None:
    ia.script_save(URL, reply)
    result = plain(ia, clock).submit(URL)
    assert (result.state, result.kind, result.retry_after) == ("failed", kind, retry_after)
    assert result.http_status == reply.status
    assert_one_line(result)
    assert result.message.startswith(f"HTTP {reply.status}")


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("Fri, 01 Mar 2024 12:02:00 GMT", now) == 120.0
    assert parse_retry_after("90", now) == 90.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- backoff and the rate limiter ------------------------------------------------------------------

def test_429_retry_after_is_honoured_without_sleeping(ia: IAServer, clock: FakeClock) -> None:
    ia.script_save(URL, [http_error(429, retry_after=120), captured(TS)])
    limiter = RateLimiter(0.1, clock)
    started, t0 = time.monotonic(), clock.now()
    outcome = submit_and_wait(plain(ia, clock), URL, clock=clock, limiter=limiter,
                              backoff=Backoff(base=1, cap=10, rng=random.Random(3)))
    assert outcome.result.state == "success" and outcome.attempts == 2
    assert clock.sleeps == [120.0]  # the server's wait, not the (shorter) jittered backoff
    assert limiter.paused_until == t0 + 120  # the whole queue waited too
    assert len(ia.received("GET", "/save/")) == 2
    assert time.monotonic() - started < 5


def test_502_is_retried_with_exponential_jittered_backoff(ia: IAServer, clock: FakeClock) -> None:
    ia.script_save(URL, [http_error(502)] * 4 + [captured(TS)])
    outcome = submit_and_wait(plain(ia, clock), URL, clock=clock,
                              backoff=Backoff(base=2, cap=1000, max_attempts=6, rng=random.Random(11)))
    assert outcome.result.state == "success" and outcome.attempts == 5
    assert len(ia.received("GET", "/save/")) == 5
    assert len(clock.sleeps) == 4
    for attempt, delay in enumerate(clock.sleeps, 1):
        assert 0 <= delay <= 2 * 2 ** (attempt - 1)
    assert len(set(clock.sleeps)) == 4  # jittered, not a fixed schedule


class _Top:
    """An rng at the top of its range: the delays show the bounds themselves."""

    def random(self) -> float:
        return 1.0


def test_backoff_bounds_grow_exponentially_up_to_the_cap(ia: IAServer, clock: FakeClock) -> None:
    ia.script_save(URL, http_error(502))
    outcome = submit_and_wait(plain(ia, clock), URL, clock=clock,
                              backoff=Backoff(base=2, cap=20, max_attempts=6, rng=_Top()))
    assert outcome.attempts == 6 and outcome.result.kind == "transient"
    assert clock.sleeps == [2, 4, 8, 16, 20]


def test_next_attempt_delay_is_full_jitter() -> None:
    rng = random.Random(5)
    samples = [next_attempt_delay(4, None, rng, base=1, cap=100) for _ in range(500)]
    assert all(0 <= s <= 8 for s in samples)
    assert min(samples) < 1 and max(samples) > 7
    assert next_attempt_delay(30, None, _Top(), base=1, cap=100) == 100
    assert next_attempt_delay(1, 45.0, rng, base=1, cap=10) == 45.0  # Retry-After is a floor, even over the cap
    assert next_attempt_delay(1, 0.5, _Top(), base=4, cap=10) == 4.0
    with pytest.raises(ValueError):
        next_attempt_delay(0, None, rng)


def test_permanent_failure_is_not_retried(ia_keys: IAServer, clock: FakeClock) -> None:
    ia_keys.script_save(URL, spn2_error("error:blocked-url", "Blocked."))
    outcome = submit_and_wait(spn2(ia_keys, clock), URL, clock=clock)
    assert (outcome.attempts, outcome.result.kind, clock.sleeps) == (1, "permanent", [])


def test_quota_stops_the_run_and_pauses_the_queue(ia_keys: IAServer, clock: FakeClock) -> None:
    ia_keys.script_save(URL, spn2_error("error:too-many-daily-captures", DAILY_ACCOUNT))
    limiter = RateLimiter(0.1, clock)
    outcome = submit_and_wait(spn2(ia_keys, clock), URL, clock=clock, limiter=limiter)
    assert outcome.attempts == 1 and outcome.result.quota_exhausted
    midnight = datetime.fromtimestamp(clock.now(), UTC).replace(hour=0, minute=0, second=0).timestamp() + 86400
    assert limiter.paused_until == midnight + 60
    before = clock.now()
    assert limiter.acquire() == midnight + 60 - before  # the next submission waits for the reset
    assert clock.now() == midnight + 60


def test_rate_limiter_spaces_submissions(clock: FakeClock) -> None:
    limiter = RateLimiter(0.5, clock)
    assert [limiter.reserve() for _ in range(3)] == [0, 2, 4]
    clock.advance(10)
    assert limiter.acquire() == 0
    limiter.observe(SubmitResult("failed", transient=True, retry_after=30, http_status=429))
    assert limiter.pause_remaining() == 30
    limiter.observe(SubmitResult("failed", transient=True, retry_after=5, http_status=502))  # no global pause
    assert limiter.acquire() == 30 and clock.sleeps == [30]
    assert RateLimiter(0, clock).reserve() == 0


def test_a_job_pending_too_long_is_a_transient_failure(ia_keys: IAServer, clock: FakeClock) -> None:
    ia_keys.script_save(URL, spn2_job("spn2-slow", [pending()]))
    outcome = submit_and_wait(spn2(ia_keys, clock), URL, clock=clock, poll_interval=10, poll_timeout=30,
                              backoff=Backoff(max_attempts=1))
    assert outcome.result.kind == "transient" and "still pending" in outcome.result.message
    assert ia_keys.polls("spn2-slow") == 3


def test_slow_answer_times_out_as_transient(ia: IAServer, clock: FakeClock) -> None:
    ia.script_save(URL, slow(http_error(200), 2.0))
    result = InternetArchive(ia.base_url, clock=clock, timeout=0.3).submit(URL)
    assert (result.state, result.kind, result.error_code) == ("failed", "transient", "timeout")
    assert_one_line(result)


def test_network_error_is_a_transient_result(clock: FakeClock) -> None:
    server = IAServer()
    target = plain(server, clock)
    server.stop()
    result = target.submit(URL)
    assert (result.state, result.kind, result.error_code) == ("failed", "transient", "network")
    assert_one_line(result)
    assert "127.0.0.1" in result.message
    status = target.status("spn2-x")
    assert status.kind == "transient" and status.job_id == "spn2-x"
    with pytest.raises(WaybackUnavailable) as info:
        target.lookup(URL)
    assert info.value.transient
    assert_one_line(str(info.value))


def test_dropped_connection_is_a_transient_result(ia: IAServer, clock: FakeClock) -> None:
    ia.script_save(URL, Reply(drop=True))
    result = plain(ia, clock).submit(URL)
    assert result.kind == "transient"
    assert_one_line(result)


# --- lookups ----------------------------------------------------------------------------------------

def test_cdx_lookup_full(ia: IAServer, clock: FakeClock) -> None:
    for ts, status in [("20190101000000", 200), ("20200101000000", 301), ("20220505050505", 200),
                       ("20230101000000", 404), ("20210101000000", 200)]:
        ia.add_capture(URL, ts, status)
    ia.add_capture("https://other.example.com/", "20240101000000")
    result = plain(ia, clock).lookup(URL)
    assert result == LookupResult("20190101000000", "20230101000000", 5, "20220505050505",
                                  f"{ia.base_url}/web/20220505050505/{URL}")
    [request] = ia.received("GET", "/cdx/search/cdx")
    assert request.query["output"] == ["json"] and request.query["url"] == [URL]


def test_cdx_lookup_empty(ia: IAServer, clock: FakeClock) -> None:
    assert plain(ia, clock).lookup(URL) == LookupResult(None, None, 0, None, None)


def test_cdx_errors_raise_one_line(ia: IAServer, clock: FakeClock) -> None:
    ia.script_cdx(URL, [http_error(503, retry_after=60),
                        Reply(403, body="org.archive.wayback.exception.AdministrativeAccessControlException: "
                                        "Blocked Site Error")])
    target = plain(ia, clock)
    with pytest.raises(WaybackUnavailable) as busy:
        target.lookup(URL)
    assert busy.value.transient and busy.value.retry_after == 60
    with pytest.raises(WaybackUnavailable) as blocked:
        target.lookup(URL)
    assert not blocked.value.transient and "excluded" in str(blocked.value)


def test_newest_good_before_skips_errors_and_later_captures(ia: IAServer, clock: FakeClock) -> None:
    for ts, status in [("20190101000000", 200), ("20200601000000", 200), ("20210101000000", 404),
                       ("20211231000000", 503), ("20220101000000", 200), ("20230101000000", 200)]:
        ia.add_capture(URL, ts, status)
    target = plain(ia, clock)
    found = target.newest_good_before(URL, datetime(2022, 1, 1, tzinfo=UTC))  # strictly before
    assert found == ("20200601000000", f"{ia.base_url}/web/20200601000000/{URL}")
    assert target.newest_good_before(URL, datetime(2022, 1, 1, 0, 0, 1)) == (
        "20220101000000", f"{ia.base_url}/web/20220101000000/{URL}")
    assert target.newest_good_before(URL, datetime(2019, 1, 1, tzinfo=UTC)) is None
    assert ia.received("GET", "/cdx/")[0].query["to"] == ["20220101000000"]


def test_newest_good_before_none_when_only_errors(ia: IAServer, clock: FakeClock) -> None:
    ia.add_capture(URL, "20200101000000", 404)
    ia.add_capture(URL, "20200202000000", 500)
    assert plain(ia, clock).newest_good_before(URL, datetime(2024, 1, 1)) is None


def test_availability_api(ia: IAServer, clock: FakeClock) -> None:
    target = plain(ia, clock)
    assert target.available(URL) is None
    ia.add_capture(URL, "20200101000000")
    assert target.available(URL) == ("20200101000000", f"{ia.base_url}/web/20200101000000/{URL}")


def test_cdx_plain_output_is_served_too(ia: IAServer) -> None:
    import requests

    ia.add_capture(URL, "20200101000000")
    text = requests.get(f"{ia.base_url}/cdx/search/cdx", params={"url": URL}, timeout=5).text
    assert text.split() == ["com,example,news)/2024/story.html", "20200101000000", URL, "text/html", "200",
                            "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", "1234"]


def test_parse_cdx_json_shapes() -> None:
    ia_shape = '[["timestamp","original","statuscode"],["20200101000000","http://a/","200"],["2019","x","200"]]'
    assert parse_cdx_json(ia_shape) == [CdxRow("20200101000000", "http://a/", "200")]
    assert parse_cdx_json("[]") == [] and parse_cdx_json("") == []
    pywb_shape = ('{"urlkey":"a)/","timestamp":"20210101000000","url":"http://a/","status":"302"}\n'
                  '{"urlkey":"a)/","timestamp":"20200101000000","url":"http://a/","status":"200"}\n')
    assert parse_cdx_json(pywb_shape) == [CdxRow("20200101000000", "http://a/", "200"),
                                          CdxRow("20210101000000", "http://a/", "302")]
    with pytest.raises(ValueError):
        parse_cdx_json("<html>oops</html>")


def test_should_skip_recent_good_copy() -> None:
    now = datetime(2024, 3, 15, 12, 0, tzinfo=UTC).timestamp()
    recent = LookupResult("20200101000000", "20240315100000", 3, "20240315100000", "u")
    assert should_skip(recent, 86400, now)
    assert not should_skip(recent, 3600, now)
    assert not should_skip(LookupResult(None, None, 0, None, None), 86400, now)
    assert not should_skip(None, 86400, now)


# --- pywb (against the fake's small pywb side) --------------------------------------------------------

def test_pywb_record_takes_the_timestamp_from_memento_datetime(ia: IAServer, clock: FakeClock) -> None:
    ia.script_record(URL, Reply(200, [("Memento-Datetime", "Fri, 15 Mar 2024 10:11:12 GMT")], "<html/>"))
    result = Pywb(ia.base_url, "my-coll", clock=clock).submit(URL)
    assert result.state == "success" and result.timestamp == TS
    assert result.archive_url == f"{ia.base_url}/my-coll/{TS}/{URL}"
    assert ia.requests[0].path == f"/my-coll/record/{URL}"


def test_pywb_record_falls_back_to_the_index(ia: IAServer, clock: FakeClock) -> None:
    ia.add_capture(URL, "20100101000000")  # an old capture must not be taken for the new one
    result = Pywb(ia.base_url, "my-coll", clock=clock).submit(URL)
    assert result.state == "success" and result.timestamp and result.timestamp > "20230101000000"
    assert result.archive_url == f"{ia.base_url}/my-coll/{result.timestamp}/{URL}"


def test_pywb_failures_and_lookups(ia: IAServer, clock: FakeClock) -> None:
    target = Pywb(ia.base_url, "my-coll", clock=clock)
    ia.script_record(URL, [http_error(404), http_error(502)])
    assert target.submit(URL).kind == "permanent"
    assert target.submit(URL).kind == "transient"
    ia.add_capture(URL, "20200101000000", 200)
    ia.add_capture(URL, "20210101000000", 500)
    assert target.lookup(URL) == LookupResult("20200101000000", "20210101000000", 2, "20200101000000",
                                              f"{ia.base_url}/my-coll/20200101000000/{URL}")
    assert target.newest_good_before(URL, datetime(2022, 1, 1)) == (
        "20200101000000", f"{ia.base_url}/my-coll/20200101000000/{URL}")
    assert target.status(f"{TS}/{URL}").state == "success"


# --- settings -----------------------------------------------------------------------------------------

def _settings(tmp_path: Path, **values: str):  # noqa: ANN202 - Settings
    env = {f"LASTSEEN_{key.upper()}": value for key, value in values.items()}
    env["LASTSEEN_DATA_DIR"] = str(tmp_path)
    return load_settings(environ=env)


def test_target_from_settings(tmp_path: Path) -> None:
    default = target_from_settings(_settings(tmp_path))
    assert isinstance(default, InternetArchive) and isinstance(default, WaybackTarget)
    assert default.base_url == "https://web.archive.org" and not default.authenticated
    assert default.session.headers["User-Agent"].startswith("lastseen/")
    keyed = target_from_settings(_settings(tmp_path, wayback_access_key="a", wayback_secret_key="b"))
    assert isinstance(keyed, InternetArchive) and keyed.authenticated
    pywb = target_from_settings(_settings(tmp_path, wayback_url="http://pywb:8080/", wayback_collection="news"))
    assert isinstance(pywb, Pywb) and pywb.name == "http://pywb:8080/news"
    with pytest.raises(ConfigError):
        target_from_settings(_settings(tmp_path, wayback_collection="news"))
    with pytest.raises(ConfigError):
        target_from_settings(_settings(tmp_path, wayback_access_key="a"))


def test_all_traffic_goes_through_the_proxy(ia: IAServer, tmp_path: Path, clock: FakeClock) -> None:
    settings = _settings(tmp_path, wayback_url="http://wayback.invalid", proxy=ia.base_url)
    target = target_from_settings(settings, clock=clock)
    ia.script_save(URL, captured(TS))
    assert target.submit(URL).archive_url == f"http://wayback.invalid/web/{TS}/{URL}"
    assert target.lookup(URL).count == 1
    assert [r.proxied for r in ia.requests] == [True, True]


def test_the_module_does_not_import_sqlalchemy() -> None:
    code = "import sys; sys.modules['sqlalchemy'] = None; import archive.wayback.targets"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
