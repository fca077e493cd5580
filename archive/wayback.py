"""Wayback Machine client: submit a URL to a Wayback archive and look up the copies it already holds.

A lastseen capture is one copy under the archivist's control; a Wayback copy is an independent public one
that researchers can cite. Two targets speak the same small protocol (``WaybackTarget``):

- ``InternetArchive``: Save Page Now. Without keys the plain ``GET {base}/save/<url>``; with S3-style keys
  Save Page Now 2 (``POST {base}/save`` then ``GET {base}/save/status/<job>``). Lookups use the CDX API.
- ``Pywb``: a self-hosted pywb in record mode (``GET {base}/{collection}/record/<url>``) and its CDX API.

Nothing here raises on a bad answer or a network failure: ``submit`` and ``status`` return a
``SubmitResult`` that says whether the failure is permanent, transient (retry later) or a quota
(pause the whole queue). Lookups raise ``WaybackUnavailable`` with a one-line message.

Pacing lives outside the targets, in ``archive.net.pacing`` (the clocks, ``RateLimiter`` for the submission
rate and queue-wide pauses, ``Backoff`` for retries); the database queue ties them together.

Why not waybackpy: waybackpy 3.0.6 hard-codes https://web.archive.org in the save endpoint *and* in the
code that finds the new capture (its archive-URL and timestamp regexes only accept that host), builds its
own ``requests`` sessions (no proxy, no timeout, hidden urllib3 retries on 5xx) and reads only the plain
CDX format. It cannot be pointed at a configurable base URL cleanly, so this module speaks the protocol
itself with ``requests``.

This module must stay free of SQLAlchemy: the database queue is built on top of it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import requests

from archive.config import ConfigError
from archive.net.http import default_user_agent, make_session, one_line
from archive.net.pacing import THROTTLE_PAUSE, Backoff, Clock, SystemClock, parse_retry_after

if TYPE_CHECKING:
    from archive.config import Settings

INTERNET_ARCHIVE_URL = "https://web.archive.org"
DEFAULT_TIMEOUT = 120.0  # an unauthenticated save captures inline and can take a minute
SESSION_LIMIT_PAUSE = 60.0  # too many captures under way at once: "wait for a minute"
CREDENTIALS_PAUSE = 3600.0  # the service refuses our keys: nothing works until someone fixes them

State = Literal["success", "pending", "failed"]
PERMANENT, TRANSIENT, QUOTA = "permanent", "transient", "quota"

_TIMESTAMP = re.compile(r"^\d{14}$")
# /web/<14 digits>[modifier like id_]/<original url>
_ARCHIVE_PATH = re.compile(r"/web/(\d{14})(?:[a-z]{2}_)?/(.+)$")
_JOB_ID = re.compile(r"\b(spn2-[0-9a-f]{8,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


# --- results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubmitResult:
    """What one submission (or one status poll) came to.

    ``transient`` failures may be retried with backoff; ``quota_exhausted`` ones mean the account or host is
    over a limit and the whole queue should pause until ``retry_after`` seconds from now (they are
    transient too, and should not count against the URL's attempts). Anything else that failed is
    permanent. ``message`` is the service's own text when it gave one, always a single line.
    """

    state: State
    archive_url: str | None = None
    timestamp: str | None = None  # 14 digits, UTC
    job_id: str | None = None
    transient: bool = False
    retry_after: float | None = None
    message: str = ""
    quota_exhausted: bool = False
    error_code: str | None = None  # SPN2 status_ext, or "http-502", "network", "timeout"...
    http_status: int | None = None

    @property
    def kind(self) -> str:
        """success, pending, permanent, transient or quota."""
        if self.state != "failed":
            return self.state
        if self.quota_exhausted:
            return QUOTA
        return TRANSIENT if self.transient else PERMANENT


@dataclass(frozen=True)
class LookupResult:
    """The copies a Wayback archive holds of one URL (field names match the wayback_lookup table)."""

    first_timestamp: str | None
    last_timestamp: str | None
    count: int
    last_ok_timestamp: str | None  # newest 2xx capture
    last_ok_url: str | None  # its archive URL


class WaybackUnavailable(Exception):
    """A lookup could not be answered; ``str()`` is one line for the user."""

    def __init__(self, message: str, transient: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class CdxRow(NamedTuple):
    timestamp: str
    original: str
    status: str

    @property
    def ok(self) -> bool:
        return self.status.isdigit() and 200 <= int(self.status) < 300


@runtime_checkable
class WaybackTarget(Protocol):
    """A Wayback-compatible archive that lastseen submits URLs to and looks copies up in."""

    name: str

    def submit(self, url: str) -> SubmitResult: ...

    def status(self, job_id: str, url: str | None = None) -> SubmitResult: ...

    def lookup(self, url: str) -> LookupResult: ...

    def newest_good_before(self, url: str, before: datetime) -> tuple[str, str] | None: ...


# --- timestamps -----------------------------------------------------------------------------------

def to_timestamp(when: datetime | float) -> str:
    """14-digit Wayback timestamp (UTC) of a datetime (naive ones are taken as UTC) or epoch seconds."""
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_timestamp(timestamp: str) -> datetime:
    """The UTC datetime of a 14-digit Wayback timestamp."""
    return datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def seconds_until_utc_midnight(now: float) -> float:
    """Daily limits reset at midnight UTC; a minute's margin so the first try lands after the reset."""
    current = datetime.fromtimestamp(now, UTC)
    midnight = (current + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - current).total_seconds() + 60.0


def should_skip(lookup: LookupResult | None, window: float, now: float) -> bool:
    """True when the archive already holds a good copy younger than ``window`` seconds."""
    if lookup is None or not lookup.last_ok_timestamp or window <= 0:
        return False
    return now - parse_timestamp(lookup.last_ok_timestamp).timestamp() < window


# --- classification of the service's answers ------------------------------------------------------

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


def _page_message(text: str) -> str:
    """The explanation in a Wayback HTML error page (the paragraph under its heading), else its title."""
    match = re.search(r"<h2[^>]*>(.*?)</h2>\s*<p[^>]*>(.*?)</p>", text, re.S | re.I)
    if match:
        return one_line(match.group(2)) or one_line(match.group(1))
    match = re.search(r"<p[^>]*>(.*?)</p>", text, re.S | re.I) or re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    if match:
        return one_line(match.group(1))
    return one_line(text, 200)


def _failure(kind: str, message: str, *, code: str | None = None, http_status: int | None = None,
             retry_after: float | None = None, job_id: str | None = None) -> SubmitResult:
    return SubmitResult("failed", job_id=job_id, transient=kind in (TRANSIENT, QUOTA), retry_after=retry_after,
                        message=message, quota_exhausted=kind == QUOTA, error_code=code, http_status=http_status)


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _service_message(resp: requests.Response, data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return one_line(str(data["message"]))
    if resp.text:
        return _page_message(resp.text)
    return ""


def _status_message(resp: requests.Response, data: Any) -> str:
    """The service's JSON message verbatim; otherwise the HTTP status, with the page's text if it says more."""
    if isinstance(data, dict) and data.get("message"):
        return one_line(str(data["message"]))
    head = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    text = _page_message(resp.text) if resp.text else ""
    if not text or text in head:
        return head
    return one_line(f"{head}: {text}")


def _http_failure(resp: requests.Response, now: float, job_id: str | None = None) -> SubmitResult:
    """A non-2xx answer from the service itself (not from the page being captured)."""
    code = resp.status_code
    data = _json(resp)
    message = _status_message(resp, data)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
    if isinstance(data, dict) and data.get("status_ext"):
        kind, wait = classify_spn2_error(str(data["status_ext"]), message, now)
        return _failure(kind, message, code=str(data["status_ext"]), http_status=code,
                        retry_after=retry_after if retry_after is not None else wait, job_id=job_id)
    if code == 429:
        return _failure(TRANSIENT, message, code="http-429", http_status=code,
                        retry_after=retry_after if retry_after is not None else THROTTLE_PAUSE, job_id=job_id)
    if code == 509:  # "You have probably reached the limit of active sessions"
        return _failure(QUOTA, message, code="http-509", http_status=code,
                        retry_after=retry_after if retry_after is not None else SESSION_LIMIT_PAUSE, job_id=job_id)
    if code == 401:
        return _failure(QUOTA, message, code="http-401", http_status=code,
                        retry_after=retry_after if retry_after is not None else CREDENTIALS_PAUSE, job_id=job_id)
    if code >= 500:
        return _failure(TRANSIENT, message, code=f"http-{code}", http_status=code, retry_after=retry_after,
                        job_id=job_id)
    return _failure(PERMANENT, message, code=f"http-{code}", http_status=code, job_id=job_id)


def _network_reason(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "Missing dependencies for SOCKS support" in text:
        return "SOCKS proxy given but PySocks is not installed (pip install 'requests[socks]')"
    for pattern in (r"(Remote end closed connection without response)", r"(Connection reset by peer)",
                    r"(Connection aborted)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return one_line(text, 200) or type(exc).__name__


class _Http:
    """The HTTP side shared by both targets: one session, a timeout, failures as one-line results."""

    def __init__(self, base_url: str, session: requests.Session | None, clock: Clock | None, timeout: float,
                 user_agent: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        # The configured endpoint is the operator's: trusted whatever its address; the guard refuses the rest.
        self.session = session or make_session(user_agent or default_user_agent(), trust=(self.base_url,))
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response | SubmitResult:
        host = urlsplit(url).netloc
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
            resp.content  # noqa: B018 - read the body inside the try: a dropped connection is a network error
            return resp
        except requests.Timeout:
            return _failure(TRANSIENT, f"no answer from {host} within {self.timeout:g}s", code="timeout")
        except requests.RequestException as exc:
            return _failure(TRANSIENT, f"cannot reach {host}: {_network_reason(exc)}", code="network")

    def _cdx(self, endpoint: str, params: dict[str, str]) -> list[CdxRow]:
        resp = self._call("GET", endpoint, params=params, headers={"Accept": "application/json"})
        if isinstance(resp, SubmitResult):
            raise WaybackUnavailable(f"CDX lookup failed: {resp.message}")
        if resp.status_code != 200:
            data = _json(resp)
            message = _status_message(resp, data)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), self.clock.now())
            if "Blocked Site Error" in resp.text or "AdministrativeAccessControlException" in resp.text:
                raise WaybackUnavailable(f"excluded from the archive: {message}", transient=False)
            transient = resp.status_code >= 500 or resp.status_code == 429
            raise WaybackUnavailable(f"CDX lookup failed: {message}", transient,
                                     retry_after)
        try:
            return parse_cdx_json(resp.text)
        except ValueError as exc:
            raise WaybackUnavailable(f"CDX answer is not CDX JSON: {exc}") from None


def parse_cdx_json(text: str) -> list[CdxRow]:
    """Rows of a CDX JSON answer, oldest first.

    Two shapes exist: the Wayback Machine's array of arrays whose first row names the fields (``[]`` when
    empty) and pywb's one JSON object per line. Field names differ too (original/url, statuscode/status).
    """
    text = text.strip()
    if not text:
        return []
    records: list[dict[str, Any]] = []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"line {number} is not JSON: {one_line(line, 80)}") from None
            if not isinstance(item, dict):
                raise ValueError(f"line {number} is not a JSON object") from None
            records.append(item)
    if isinstance(data, list) and data:
        if all(isinstance(item, dict) for item in data):
            records = data
        elif all(isinstance(item, list) for item in data):
            header = [str(name) for name in data[0]]
            records = [dict(zip(header, row, strict=False)) for row in data[1:]]
        else:
            raise ValueError("mixed rows")
    elif isinstance(data, dict):
        records = [data]
    rows = []
    for record in records:
        timestamp = str(record.get("timestamp", ""))
        if not _TIMESTAMP.match(timestamp) or str(record.get("is_fuzzy", "")) in {"1", "True", "true"}:
            continue  # pywb adds near matches (another query string) flagged is_fuzzy: not copies of this URL
        original = str(record.get("original") or record.get("url") or "")
        status = str(record.get("statuscode") or record.get("status") or "-")
        rows.append(CdxRow(timestamp, original, status))
    rows.sort(key=lambda row: row.timestamp)
    return rows


def summarize(rows: Iterable[CdxRow], archive_url: Callable[[str, str], str]) -> LookupResult:
    rows = sorted(rows, key=lambda row: row.timestamp)
    if not rows:
        return LookupResult(None, None, 0, None, None)
    good = [row for row in rows if row.ok]
    last_ok = good[-1] if good else None
    return LookupResult(
        first_timestamp=rows[0].timestamp,
        last_timestamp=rows[-1].timestamp,
        count=len(rows),
        last_ok_timestamp=last_ok.timestamp if last_ok else None,
        last_ok_url=archive_url(last_ok.timestamp, last_ok.original) if last_ok else None,
    )


def _newest_good_before(rows: Iterable[CdxRow], before: datetime,
                        archive_url: Callable[[str, str], str]) -> tuple[str, str] | None:
    limit = to_timestamp(before)
    good = [row for row in rows if row.ok and row.timestamp < limit]
    if not good:
        return None
    best = max(good, key=lambda row: row.timestamp)
    return best.timestamp, archive_url(best.timestamp, best.original)


def _strip_fragment(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(fragment="")) if parts.fragment else url.strip()


# --- the Internet Archive -------------------------------------------------------------------------

class InternetArchive(_Http):
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
        return bool(self.access_key)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.authenticated:
            headers["Authorization"] = f"LOW {self.access_key}:{self.secret_key}"
        return headers

    def archive_url(self, timestamp: str, original: str) -> str:
        return f"{self.base_url}/web/{timestamp}/{original}"

    # submit -----------------------------------------------------------------------------------

    def submit(self, url: str) -> SubmitResult:
        url = _strip_fragment(url)
        return self._submit_spn2(url) if self.authenticated else self._submit_plain(url)

    def _submit_spn2(self, url: str) -> SubmitResult:
        form = {"url": url, "skip_first_archive": "1"}
        if self.if_not_archived_within:
            form["if_not_archived_within"] = str(int(self.if_not_archived_within))
        resp = self._call("POST", f"{self.base_url}/save", data=form, headers=self._headers())
        if isinstance(resp, SubmitResult):
            return resp
        now = self.clock.now()
        if resp.status_code >= 400:
            return _http_failure(resp, now)
        data = _json(resp)
        if isinstance(data, dict):
            message = one_line(str(data.get("message") or ""))
            if data.get("job_id"):
                job_id = str(data["job_id"])
                self._job_urls[job_id] = url
                return SubmitResult("pending", job_id=job_id, message=message, http_status=resp.status_code)
            if data.get("status") == "error" or data.get("status_ext"):
                kind, wait = classify_spn2_error(data.get("status_ext"), message, now)
                return _failure(kind, message, code=data.get("status_ext"), http_status=resp.status_code,
                                retry_after=wait)
        return self._from_page(resp, url, now)

    def _submit_plain(self, url: str) -> SubmitResult:
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
        data = _json(resp)
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
            return _failure(TRANSIENT, f"HTTP {resp.status_code} without a capture in the answer",
                            code="no-capture", http_status=resp.status_code)
        kind, wait = classify_message(message, now)
        return _failure(kind, message, code="refused", http_status=resp.status_code, retry_after=wait)

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
        data = _json(resp)
        if not isinstance(data, dict):
            return _failure(TRANSIENT, f"status answer is not JSON: {_page_message(resp.text)}",
                            code="bad-status", http_status=resp.status_code, job_id=job_id)
        state = data.get("status")
        message = one_line(str(data.get("message") or ""))
        if state == "pending":
            return SubmitResult("pending", job_id=job_id, message=message, http_status=resp.status_code)
        if state == "success":
            timestamp = str(data.get("timestamp") or "")
            original = str(data.get("original_url") or url or self._job_urls.get(job_id) or "")
            if not _TIMESTAMP.match(timestamp) or not original:
                return _failure(TRANSIENT, f"job succeeded without a usable timestamp/URL: {one_line(resp.text)}",
                                code="bad-status", http_status=resp.status_code, job_id=job_id)
            self._job_urls.pop(job_id, None)
            return SubmitResult("success", archive_url=self.archive_url(timestamp, original), timestamp=timestamp,
                                job_id=job_id, message=message, http_status=resp.status_code)
        if state == "error":
            self._job_urls.pop(job_id, None)
            kind, wait = classify_spn2_error(data.get("status_ext"), message, now)
            return _failure(kind, message or str(data.get("status_ext") or "error"), code=data.get("status_ext"),
                            http_status=resp.status_code, retry_after=wait, job_id=job_id)
        return _failure(TRANSIENT, f"unknown job status {state!r}", code="bad-status",
                        http_status=resp.status_code, job_id=job_id)

    # lookups ----------------------------------------------------------------------------------

    def cdx(self, url: str, **params: str) -> list[CdxRow]:
        query = {"url": _strip_fragment(url), "output": "json", "fl": "timestamp,original,statuscode", **params}
        return self._cdx(f"{self.base_url}/cdx/search/cdx", query)

    def lookup(self, url: str) -> LookupResult:
        return summarize(self.cdx(url), self.archive_url)

    def newest_good_before(self, url: str, before: datetime) -> tuple[str, str] | None:
        """The newest 2xx capture strictly before ``before``: (timestamp, archive URL), or None."""
        rows = self.cdx(url, to=to_timestamp(before), filter="statuscode:2..")
        return _newest_good_before(rows, before, self.archive_url)

    def available(self, url: str, timestamp: str | None = None) -> tuple[str, str] | None:
        """The availability API's closest 2xx capture: (timestamp, archive URL), or None."""
        params = {"url": _strip_fragment(url)}
        if timestamp:
            params["timestamp"] = timestamp
        resp = self._call("GET", self.availability_url, params=params)
        if isinstance(resp, SubmitResult):
            raise WaybackUnavailable(f"availability lookup failed: {resp.message}")
        data = _json(resp)
        if resp.status_code != 200 or not isinstance(data, dict):
            raise WaybackUnavailable(f"availability lookup failed (HTTP {resp.status_code})",
                                     transient=resp.status_code >= 500 or resp.status_code == 429)
        closest = (data.get("archived_snapshots") or {}).get("closest") or {}
        stamp = str(closest.get("timestamp") or "")
        good = str(closest.get("status", "")).startswith("2")
        if not closest.get("available") or not _TIMESTAMP.match(stamp) or not good:
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
    return dataclasses.replace(result, job_id=job_id)


# --- pywb -----------------------------------------------------------------------------------------

class Pywb(_Http):
    """A self-hosted pywb collection in record mode (``wayback --live --record``)."""

    def __init__(self, base_url: str, collection: str, session: requests.Session | None = None,
                 clock: Clock | None = None, *, timeout: float = DEFAULT_TIMEOUT, user_agent: str | None = None,
                 index_lag: float = 120.0) -> None:
        super().__init__(base_url, session, clock, timeout, user_agent)
        if not collection or "/" in collection:
            raise ConfigError(f"not a pywb collection name: {collection!r}")
        self.collection = collection
        self.name = f"{self.base_url}/{collection}"
        self.index_lag = index_lag

    def archive_url(self, timestamp: str, original: str) -> str:
        return f"{self.base_url}/{self.collection}/{timestamp}/{original}"

    def submit(self, url: str) -> SubmitResult:
        """Record the page now; pywb answers when the record is written, so success is immediate.

        The timestamp comes from the answer's Memento-Datetime, else from the newest index entry since the
        request (pywb's auto-indexing may lag), else from the request time, which the replay URL still
        resolves to the nearest capture.
        """
        url = _strip_fragment(url)
        started = self.clock.now()
        resp = self._call("GET", f"{self.base_url}/{self.collection}/record/{url}", allow_redirects=False)
        if isinstance(resp, SubmitResult):
            return resp
        now = self.clock.now()
        if resp.status_code >= 400:  # pywb has no accounts or quotas: these are the origin's or pywb's errors
            code = resp.status_code
            message = _status_message(resp, _json(resp))
            if code in (408, 425, 429, 509) or code >= 500:
                return _failure(TRANSIENT, message, code=f"http-{code}", http_status=code,
                                retry_after=parse_retry_after(resp.headers.get("Retry-After"), now))
            return _failure(PERMANENT, message, code=f"http-{code}", http_status=code)
        refusal = _pywb_refusal(resp)
        if refusal:  # e.g. recording into a collection defined in config.yaml: pywb says so with a 200
            return _failure(PERMANENT, refusal, code="pywb-error", http_status=resp.status_code)
        timestamp = _memento_timestamp(resp.headers.get("Memento-Datetime"))
        message = ""
        if timestamp is None:
            try:
                since = to_timestamp(started - self.index_lag)
                newer = [row for row in self.cdx(url) if row.timestamp >= since]
            except WaybackUnavailable:
                newer = []
            if newer:
                timestamp = newer[-1].timestamp
            else:
                timestamp = to_timestamp(started)
                message = "recorded; timestamp taken from the request time (not in the index yet)"
        return SubmitResult("success", archive_url=self.archive_url(timestamp, url), timestamp=timestamp,
                            job_id=None, message=message, http_status=resp.status_code)

    def status(self, job_id: str, url: str | None = None) -> SubmitResult:
        """pywb records synchronously: a job id of the form ``<timestamp>/<url>`` is already a success."""
        timestamp, _, original = job_id.partition("/")
        original = original or (url or "")
        if _TIMESTAMP.match(timestamp) and original:
            return SubmitResult("success", archive_url=self.archive_url(timestamp, original), timestamp=timestamp,
                                job_id=job_id)
        return _failure(PERMANENT, f"pywb has no capture jobs ({job_id!r})", code="no-job", job_id=job_id)

    def cdx(self, url: str, **params: str) -> list[CdxRow]:
        query = {"url": _strip_fragment(url), "output": "json", **params}
        return self._cdx(f"{self.base_url}/{self.collection}/cdx", query)

    def lookup(self, url: str) -> LookupResult:
        return summarize(self.cdx(url), self.archive_url)

    def newest_good_before(self, url: str, before: datetime) -> tuple[str, str] | None:
        return _newest_good_before(self.cdx(url, to=to_timestamp(before)), before, self.archive_url)


def _pywb_refusal(resp: requests.Response) -> str | None:
    """pywb's plain-text 'Error: ...' answer, which it sends with a 2xx status, as one line; else None."""
    if not resp.headers.get("Content-Type", "").startswith("text/plain") or resp.headers.get("Memento-Datetime"):
        return None
    text = resp.text.strip()
    return one_line(text) if text.startswith("Error:") else None


def _memento_timestamp(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return to_timestamp(when)


# --- from settings --------------------------------------------------------------------------------

def target_from_settings(settings: Settings, *, session: requests.Session | None = None,
                         clock: Clock | None = None) -> WaybackTarget:
    """pywb when a collection is named, else the Internet Archive (SPN2 when both keys are set)."""
    session = session or make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks,
                                      trust=(settings.wayback_url,))
    timeout = max(float(settings.download_timeout), DEFAULT_TIMEOUT)
    if settings.wayback_collection:
        if settings.wayback_url.rstrip("/") == INTERNET_ARCHIVE_URL:
            raise ConfigError("LASTSEEN_WAYBACK_COLLECTION names a pywb collection: "
                              "set LASTSEEN_WAYBACK_URL to that pywb's address")
        return Pywb(settings.wayback_url, settings.wayback_collection, session, clock, timeout=timeout)
    if bool(settings.wayback_access_key) != bool(settings.wayback_secret_key):
        raise ConfigError("LASTSEEN_WAYBACK_ACCESS_KEY and LASTSEEN_WAYBACK_SECRET_KEY go together: "
                          "set both or neither")
    return InternetArchive(settings.wayback_url, settings.wayback_access_key, settings.wayback_secret_key, session,
                           clock, timeout=timeout, if_not_archived_within=settings.wayback_skip_window or None)


def backoff_from_settings(settings: Settings, rng: Any = None) -> Backoff:
    """The retry policy of the Wayback queue: full-jitter backoff, wayback_max_attempts tries."""
    return Backoff(max_attempts=settings.wayback_max_attempts, rng=rng or random.Random())
