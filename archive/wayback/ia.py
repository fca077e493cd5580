"""The Internet Archive as a Wayback target: Save Page Now, its SPN2 job API and error codes, the CDX API.

Without keys the plain ``GET {base}/save/<url>``; with S3-style keys Save Page Now 2 (``POST {base}/save``
then ``GET {base}/save/status/<job>``). Lookups use the CDX API, the availability API when it cannot answer.
Anything else speaking these endpoints (a test server, a mirror) works through a configurable base URL.

Why not waybackpy: waybackpy 3.0.6 hard-codes https://web.archive.org in the save endpoint *and* in the
code that finds the new capture (its archive-URL and timestamp regexes only accept that host), builds its
own ``requests`` sessions (no proxy, no timeout, hidden urllib3 retries on 5xx) and reads only the plain
CDX format. It cannot be pointed at a configurable base URL cleanly, so this module speaks the protocol
itself with ``requests``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

import requests

from archive.config import ConfigError
from archive.net.http import one_line
from archive.net.pacing import THROTTLE_PAUSE, Clock, parse_retry_after
from archive.wayback.client import (
    DEFAULT_TIMEOUT,
    PERMANENT,
    QUOTA,
    TIMESTAMP,
    TRANSIENT,
    CdxRow,
    HttpTarget,
    LookupResult,
    SubmitResult,
    WaybackUnavailable,
    failure,
    json_body,
    newest_good,
    page_message,
    seconds_until_utc_midnight,
    status_message,
    strip_fragment,
    summarize,
    to_timestamp,
)

INTERNET_ARCHIVE_URL = "https://web.archive.org"
SESSION_LIMIT_PAUSE = 60.0  # too many captures under way at once: "wait for a minute"
CREDENTIALS_PAUSE = 3600.0  # the service refuses our keys: nothing works until someone fixes them

# /web/<14 digits>[modifier like id_]/<original url>
_ARCHIVE_PATH = re.compile(r"/web/(\d{14})(?:[a-z]{2}_)?/(.+)$")
_JOB_ID = re.compile(r"\b(spn2-[0-9a-f]{8,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


# --- what Save Page Now's answers mean ------------------------------------------------------------

# Save Page Now 2's documented status_ext codes and what each means for lastseen: permanent (asking again
# gives the same answer), transient (try again later; a default wait where SPN documents one) or quota
# (the account or this host is over a limit: pause the whole queue).
SPN2_ERRORS: dict[str, tuple[str, float | None]] = {
    # the target URL itself cannot be captured
    "error:bad-request": (PERMANENT, None),
    "error:blocked": (PERMANENT, None),  # the target site blocks the Wayback Machine (HTTP 999)
    "error:blocked-url": (PERMANENT, None),  # on SPN's tracker block list
    "error:filesize-limit": (PERMANENT, None),
    "error:ftp-access-denied": (PERMANENT, None),
    "error:http-version-not-supported": (PERMANENT, None),
    "error:invalid-url-syntax": (PERMANENT, None),
    "error:invalid-server-response": (PERMANENT, None),
    "error:method-not-allowed": (PERMANENT, None),
    "error:network-authentication-required": (PERMANENT, None),
    "error:no-access": (PERMANENT, None),  # 403 from the target
    "error:not-found": (PERMANENT, None),  # 404 from the target
    "error:not-implemented": (PERMANENT, None),
    "error:too-many-redirects": (PERMANENT, None),
    "error:unauthorized": (PERMANENT, None),  # 401 from the target
    # the target or SPN had a bad moment
    "error:bad-gateway": (TRANSIENT, None),
    "error:gateway-timeout": (TRANSIENT, None),
    "error:service-unavailable": (TRANSIENT, None),
    "error:internal-server-error": (TRANSIENT, None),
    "error:browsing-timeout": (TRANSIENT, None),
    "error:capture-location-error": (TRANSIENT, None),
    "error:cannot-fetch": (TRANSIENT, None),  # SPN overloaded
    "error:celery": (TRANSIENT, None),
    "error:job-failed": (TRANSIENT, None),
    "error:no-browsers-available": (TRANSIENT, None),
    "error:proxy-error": (TRANSIENT, None),
    "error:protocol-error": (TRANSIENT, None),
    "error:read-timeout": (TRANSIENT, None),
    "error:soft-time-limit-exceeded": (TRANSIENT, None),
    "error:invalid-host-resolution": (TRANSIENT, None),  # we fetched the page a moment ago: DNS hiccup
    "error:job-not-found": (TRANSIENT, None),  # job expired or unknown: submit again
    "error:too-many-requests": (TRANSIENT, 60.0),  # the *target* said 429; SPN waits before that host
    "error:bandwidth-limit-exceeded": (TRANSIENT, 3600.0),  # the target's 509; SPN pauses it for an hour
    # limits of our account or address: the whole queue pauses
    "error:user-session-limit": (QUOTA, SESSION_LIMIT_PAUSE),
    "error:blocked-client-ip": (QUOTA, 86400.0),
    "error:too-many-daily-captures": (QUOTA, None),  # until midnight UTC; see _classify_code
}

_PER_URL_DAILY = re.compile(r"captured \d+ times today|this url has been", re.I)
_ACCOUNT_DAILY = re.compile(r"captures per day|daily[\w\s-]* captures? limit|daily captures", re.I)
_SESSION_LIMIT = re.compile(r"limit of active|concurrent (active )?capture sessions|active sessions", re.I)


def classify_spn2_error(status_ext: str | None, message: str, now: float) -> tuple[str, float | None]:
    """(permanent|transient|quota, seconds to wait or None) for an SPN error code and its message.

    ``error:too-many-daily-captures`` covers two limits: a URL captured too often today (only that URL
    waits until midnight UTC) and an account's or address's daily limit (the queue pauses until then).
    The message tells them apart; when it does not, the safe reading is the account limit.
    Unknown codes are transient, so a new code costs a few bounded retries rather than a lost capture.
    """
    code = (status_ext or "").strip().lower()
    if code == "error:too-many-daily-captures":
        if _PER_URL_DAILY.search(message) and not _ACCOUNT_DAILY.search(message):
            return TRANSIENT, seconds_until_utc_midnight(now)
        return QUOTA, seconds_until_utc_midnight(now)
    if code in SPN2_ERRORS:
        return SPN2_ERRORS[code]
    if not code:
        return classify_message(message, now)
    return TRANSIENT, None


def classify_message(message: str, now: float) -> tuple[str, float | None]:
    """Classify a refusal known only by its text (the HTML pages of unauthenticated Save Page Now)."""
    if _ACCOUNT_DAILY.search(message):
        return QUOTA, seconds_until_utc_midnight(now)
    if _PER_URL_DAILY.search(message):
        return TRANSIENT, seconds_until_utc_midnight(now)
    if _SESSION_LIMIT.search(message):
        return QUOTA, SESSION_LIMIT_PAUSE
    return TRANSIENT, None



def _service_message(resp: requests.Response, data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return one_line(str(data["message"]))
    if resp.text:
        return page_message(resp.text)
    return ""



def _http_failure(resp: requests.Response, now: float, job_id: str | None = None) -> SubmitResult:
    """A non-2xx answer from the service itself (not from the page being captured)."""
    code = resp.status_code
    data = json_body(resp)
    message = status_message(resp, data)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
    if isinstance(data, dict) and data.get("status_ext"):
        kind, wait = classify_spn2_error(str(data["status_ext"]), message, now)
        return failure(kind, message, code=str(data["status_ext"]), http_status=code,
                       retry_after=retry_after if retry_after is not None else wait, job_id=job_id)
    if code == 429:
        return failure(TRANSIENT, message, code="http-429", http_status=code,
                       retry_after=retry_after if retry_after is not None else THROTTLE_PAUSE, job_id=job_id)
    if code == 509:  # "You have probably reached the limit of active sessions"
        return failure(QUOTA, message, code="http-509", http_status=code,
                       retry_after=retry_after if retry_after is not None else SESSION_LIMIT_PAUSE, job_id=job_id)
    if code == 401:
        return failure(QUOTA, message, code="http-401", http_status=code,
                       retry_after=retry_after if retry_after is not None else CREDENTIALS_PAUSE, job_id=job_id)
    if code >= 500:
        return failure(TRANSIENT, message, code=f"http-{code}", http_status=code, retry_after=retry_after,
                       job_id=job_id)
    return failure(PERMANENT, message, code=f"http-{code}", http_status=code, job_id=job_id)


# --- the Internet Archive -------------------------------------------------------------------------

class InternetArchive(HttpTarget):
    """Save Page Now (and SPN2 with keys) and the CDX API of the Internet Archive or anything speaking them."""

    def __init__(self, base_url: str = INTERNET_ARCHIVE_URL, access_key: str = "", secret_key: str = "",
                 session: requests.Session | None = None, clock: Clock | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, user_agent: str | None = None,
                 if_not_archived_within: int | None = None, availability_url: str | None = None) -> None:
        super().__init__(base_url, session, clock, timeout, user_agent)
        if bool(access_key) != bool(secret_key):
            raise ConfigError("Save Page Now 2 needs both an access key and a secret key")
        self.access_key = access_key
        self.secret_key = secret_key
        self.name = self.base_url
        self.if_not_archived_within = if_not_archived_within
        if availability_url is None:
            availability_url = ("https://archive.org/wayback/available" if self.base_url == INTERNET_ARCHIVE_URL
                                else f"{self.base_url}/wayback/available")
        self.availability_url = availability_url
        self._job_urls: dict[str, str] = {}

    @property
    def authenticated(self) -> bool:
        """True with keys: submissions go through Save Page Now 2."""
        return bool(self.access_key)

    def _headers(self) -> dict[str, str]:
        """JSON answers, and the SPN2 authorization when keys are set."""
        headers = {"Accept": "application/json"}
        if self.authenticated:
            headers["Authorization"] = f"LOW {self.access_key}:{self.secret_key}"
        return headers

    def archive_url(self, timestamp: str, original: str) -> str:
        """Where the Wayback Machine replays the copy of ``original`` made at ``timestamp``."""
        return f"{self.base_url}/web/{timestamp}/{original}"

    # submit -----------------------------------------------------------------------------------

    def submit(self, url: str) -> SubmitResult:
        """Ask Save Page Now to capture the URL (SPN2 with keys): a capture, a job to poll, or why not."""
        url = strip_fragment(url)
        return self._submit_spn2(url) if self.authenticated else self._submit_plain(url)

    def _submit_spn2(self, url: str) -> SubmitResult:
        """POST to SPN2, which answers with a job (or an error code) in JSON."""
        form = {"url": url, "skip_first_archive": "1"}
        if self.if_not_archived_within:
            form["if_not_archived_within"] = str(int(self.if_not_archived_within))
        resp = self._call("POST", f"{self.base_url}/save", data=form, headers=self._headers())
        if isinstance(resp, SubmitResult):
            return resp
        now = self.clock.now()
        if resp.status_code >= 400:
            return _http_failure(resp, now)
        data = json_body(resp)
        if isinstance(data, dict):
            message = one_line(str(data.get("message") or ""))
            if data.get("job_id"):
                job_id = str(data["job_id"])
                self._job_urls[job_id] = url
                return SubmitResult("pending", job_id=job_id, message=message, http_status=resp.status_code)
            if data.get("status") == "error" or data.get("status_ext"):
                kind, wait = classify_spn2_error(data.get("status_ext"), message, now)
                return failure(kind, message, code=data.get("status_ext"), http_status=resp.status_code,
                               retry_after=wait)
        return self._from_page(resp, url, now)

    def _submit_plain(self, url: str) -> SubmitResult:
        """GET /save/<url>, which captures inline and answers with the capture (or an HTML page saying why not)."""
        resp = self._call("GET", f"{self.base_url}/save/{url}", allow_redirects=False,
                          headers={"Accept": "text/html,application/json;q=0.9"})
        if isinstance(resp, SubmitResult):
            return resp
        now = self.clock.now()
        if resp.status_code >= 400:
            return _http_failure(resp, now)
        return self._from_page(resp, url, now)

    def _from_page(self, resp: requests.Response, url: str, now: float) -> SubmitResult:
        """Find the new capture in a 2xx/3xx save answer, or the job it started, or why it refused."""
        found = self._announced_capture(resp)
        if found:
            timestamp, archive_url = found
            return SubmitResult("success", archive_url=archive_url, timestamp=timestamp,
                                http_status=resp.status_code)
        data = json_body(resp)
        if isinstance(data, dict) and data.get("job_id"):
            self._job_urls[str(data["job_id"])] = url
            return SubmitResult("pending", job_id=str(data["job_id"]), message=one_line(str(data.get("message", ""))),
                                http_status=resp.status_code)
        text = resp.text or ""
        watch = re.search(r"watchJob\(\s*[\"']([^\"']+)[\"']", text) or _JOB_ID.search(text)
        if watch:
            job_id = watch.group(1)
            self._job_urls[job_id] = url
            return SubmitResult("pending", job_id=job_id, http_status=resp.status_code)
        message = _service_message(resp, data)
        if not message:
            return failure(TRANSIENT, f"HTTP {resp.status_code} without a capture in the answer",
                           code="no-capture", http_status=resp.status_code)
        kind, wait = classify_message(message, now)
        return failure(kind, message, code="refused", http_status=resp.status_code, retry_after=wait)

    def _announced_capture(self, resp: requests.Response) -> tuple[str, str] | None:
        """(timestamp, archive URL) from Content-Location, a Link memento, or a redirect to the capture."""
        candidates: list[str] = []
        if resp.headers.get("Content-Location"):
            candidates.append(resp.headers["Content-Location"])
        link = resp.headers.get("Link")
        if link:
            mementos = _link_mementos(link)
            candidates.extend(url for rel, url in mementos if rel == "memento")
            candidates.extend(url for rel, url in mementos if rel == "last memento")
        if 300 <= resp.status_code < 400 and resp.headers.get("Location"):
            candidates.append(resp.headers["Location"])
        if resp.headers.get("X-Cache-Key"):  # "httpsweb.archive.org/web/<ts>/<url>US": a country code is glued on
            candidates.append(re.sub(r"[A-Z]{2}$", "", resp.headers["X-Cache-Key"]))
        for candidate in candidates:
            match = _ARCHIVE_PATH.search(candidate)
            if match:
                timestamp, original = match.group(1), match.group(2)
                return timestamp, self.archive_url(timestamp, original)
        return None

    # status -----------------------------------------------------------------------------------

    def status(self, job_id: str, url: str | None = None) -> SubmitResult:
        """Poll an SPN job: pending, success (with the capture) or failed (classified like submit)."""
        resp = self._call("GET", f"{self.base_url}/save/status/{job_id}", headers=self._headers())
        if isinstance(resp, SubmitResult):
            return _with_job(resp, job_id)
        now = self.clock.now()
        if resp.status_code >= 400:
            return _http_failure(resp, now, job_id=job_id)
        data = json_body(resp)
        if not isinstance(data, dict):
            return failure(TRANSIENT, f"status answer is not JSON: {page_message(resp.text)}",
                           code="bad-status", http_status=resp.status_code, job_id=job_id)
        state = data.get("status")
        message = one_line(str(data.get("message") or ""))
        if state == "pending":
            return SubmitResult("pending", job_id=job_id, message=message, http_status=resp.status_code)
        if state == "success":
            timestamp = str(data.get("timestamp") or "")
            original = str(data.get("original_url") or url or self._job_urls.get(job_id) or "")
            if not TIMESTAMP.match(timestamp) or not original:
                return failure(TRANSIENT, f"job succeeded without a usable timestamp/URL: {one_line(resp.text)}",
                               code="bad-status", http_status=resp.status_code, job_id=job_id)
            self._job_urls.pop(job_id, None)
            return SubmitResult("success", archive_url=self.archive_url(timestamp, original), timestamp=timestamp,
                                job_id=job_id, message=message, http_status=resp.status_code)
        if state == "error":
            self._job_urls.pop(job_id, None)
            kind, wait = classify_spn2_error(data.get("status_ext"), message, now)
            return failure(kind, message or str(data.get("status_ext") or "error"), code=data.get("status_ext"),
                           http_status=resp.status_code, retry_after=wait, job_id=job_id)
        return failure(TRANSIENT, f"unknown job status {state!r}", code="bad-status",
                       http_status=resp.status_code, job_id=job_id)

    # lookups ----------------------------------------------------------------------------------

    def cdx(self, url: str, **params: str) -> list[CdxRow]:
        """The CDX rows of the URL (timestamp, original, status), oldest first; extra CDX API parameters pass on."""
        query = {"url": strip_fragment(url), "output": "json", "fl": "timestamp,original,statuscode", **params}
        return self._cdx(f"{self.base_url}/cdx/search/cdx", query)

    def lookup(self, url: str) -> LookupResult:
        """What the archive holds of the URL, from the CDX API."""
        return summarize(self.cdx(url), self.archive_url)

    def newest_good_before(self, url: str, before: datetime) -> tuple[str, str] | None:
        """The newest 2xx capture strictly before ``before``: (timestamp, archive URL), or None."""
        rows = self.cdx(url, to=to_timestamp(before), filter="statuscode:2..")
        return newest_good(rows, before, self.archive_url)

    def available(self, url: str, timestamp: str | None = None) -> tuple[str, str] | None:
        """The availability API's closest 2xx capture: (timestamp, archive URL), or None."""
        params = {"url": strip_fragment(url)}
        if timestamp:
            params["timestamp"] = timestamp
        resp = self._call("GET", self.availability_url, params=params)
        if isinstance(resp, SubmitResult):
            raise WaybackUnavailable(f"availability lookup failed: {resp.message}")
        data = json_body(resp)
        if resp.status_code != 200 or not isinstance(data, dict):
            raise WaybackUnavailable(f"availability lookup failed (HTTP {resp.status_code})",
                                     transient=resp.status_code >= 500 or resp.status_code == 429)
        closest = (data.get("archived_snapshots") or {}).get("closest") or {}
        stamp = str(closest.get("timestamp") or "")
        good = str(closest.get("status", "")).startswith("2")
        if not closest.get("available") or not TIMESTAMP.match(stamp) or not good:
            return None
        match = _ARCHIVE_PATH.search(str(closest.get("url", "")))
        return stamp, (self.archive_url(stamp, match.group(2)) if match else str(closest["url"]))


def _link_mementos(link: str) -> list[tuple[str, str]]:
    """(rel, url) for each entry of a Link header."""
    out = []
    for match in re.finditer(r"<([^>]*)>\s*((?:;\s*[^,;<]+=\s*(?:\"[^\"]*\"|[^,;<]*))*)", link):
        url, params = match.group(1), match.group(2)
        rel = re.search(r"rel\s*=\s*\"?([^\";]+)\"?", params)
        if rel:
            out.append((rel.group(1).strip().lower(), url))
    return out


def _with_job(result: SubmitResult, job_id: str) -> SubmitResult:
    """The result, tied to the job it was about."""
    return dataclasses.replace(result, job_id=job_id)

