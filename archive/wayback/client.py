"""Wayback client: what every Wayback target shares, the protocol they speak and what their answers mean.

A lastseen capture is one copy under the archivist's control; a Wayback copy is an independent public one
that researchers can cite. Two targets speak the same small protocol (``WaybackTarget``):
``archive.wayback.ia.InternetArchive`` (Save Page Now, SPN2 with keys, the CDX API) and
``archive.wayback.pywb.Pywb`` (a self-hosted pywb in record mode and its CDX API). This module holds their
results, timestamps, what their answers mean (down to the words ``lastseen status`` shows), the HTTP base both
build on and the CDX parsing; ``archive.wayback.targets`` picks one from the settings.

Nothing here raises on a bad answer or a network failure: ``submit`` and ``status`` return a
``SubmitResult`` that says whether the failure is permanent, transient (retry later) or a quota
(pause the whole queue). Lookups raise ``WaybackUnavailable`` with a one-line message.

Pacing lives outside the targets, in ``archive.net.pacing`` (the clocks, ``RateLimiter`` for the submission
rate and queue-wide pauses, ``Backoff`` for retries); the database queue ties them together.

The client, ia, pywb and targets modules stay free of SQLAlchemy: the database queue is built on top of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import requests

from archive.net.http import default_user_agent, make_session, one_line
from archive.net.pacing import Clock, SystemClock, parse_retry_after

DEFAULT_TIMEOUT = 120.0  # an unauthenticated save captures inline and can take a minute

State = Literal["success", "pending", "failed"]
PERMANENT, TRANSIENT, QUOTA = "permanent", "transient", "quota"

TIMESTAMP = re.compile(r"^\d{14}$")


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
    """One row of a CDX answer: when, of which URL, with which HTTP status."""

    timestamp: str
    original: str
    status: str

    @property
    def ok(self) -> bool:
        """True for a 2xx capture."""
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


def utc_now(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime, as the database stores times."""
    return datetime.fromtimestamp(clock.now(), UTC)


# --- the service's answers ------------------------------------------------------------------------

def page_message(text: str) -> str:
    """The explanation in a Wayback HTML error page (the paragraph under its heading), else its title."""
    match = re.search(r"<h2[^>]*>(.*?)</h2>\s*<p[^>]*>(.*?)</p>", text, re.S | re.I)
    if match:
        return one_line(match.group(2)) or one_line(match.group(1))
    match = re.search(r"<p[^>]*>(.*?)</p>", text, re.S | re.I) or re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    if match:
        return one_line(match.group(1))
    return one_line(text, 200)


def failure(kind: str, message: str, *, code: str | None = None, http_status: int | None = None,
            retry_after: float | None = None, job_id: str | None = None) -> SubmitResult:
    """A failed SubmitResult of one kind (permanent, transient or quota)."""
    return SubmitResult("failed", job_id=job_id, transient=kind in (TRANSIENT, QUOTA), retry_after=retry_after,
                        message=message, quota_exhausted=kind == QUOTA, error_code=code, http_status=http_status)


def json_body(resp: requests.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return resp.json()
    except ValueError:
        return None


def status_message(resp: requests.Response, data: Any) -> str:
    """The service's JSON message verbatim; otherwise the HTTP status, with the page's text if it says more."""
    if isinstance(data, dict) and data.get("message"):
        return one_line(str(data["message"]))
    head = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    text = page_message(resp.text) if resp.text else ""
    if not text or text in head:
        return head
    return one_line(f"{head}: {text}")


def _network_reason(exc: BaseException) -> str:
    """The gist of a requests exception (its errno text, or the known phrase), as one line."""
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


# --- what a refusal means, in words ---------------------------------------------------------------

# Permanent refusals by the archive's code, then by its words, as `lastseen status` names them.
_REASON_BY_CODE = {
    "error:blocked": "blocked by the site",
    "error:no-access": "blocked by the site",
    "error:unauthorized": "blocked by the site",
    "error:network-authentication-required": "blocked by the site",
    "error:blocked-url": "excluded from the archive",
    "error:not-found": "not found",
    "http-404": "not found",
    "http-410": "not found",
    "error:invalid-url-syntax": "invalid URL",
    "error:bad-request": "invalid URL",
}
_REASON_BY_WORDS = (
    (("exclu",), "excluded from the archive"),
    (("blocked", "forbidden", "403", "401"), "blocked by the site"),
    (("not found", "404", "410"), "not found"),
    (("invalid url", "not a valid url", "url syntax"), "invalid URL"),
)


def refusal_reason(result: SubmitResult) -> str:
    """Why a permanent failure is permanent: blocked by the site, excluded, not found, invalid URL, refused."""
    code = (result.error_code or "").lower()
    if code in _REASON_BY_CODE:
        return _REASON_BY_CODE[code]
    words = result.message.lower()
    for needles, reason in _REASON_BY_WORDS:
        if any(needle in words for needle in needles):
            return reason
    return "refused by the archive"


def archive_said(result: SubmitResult) -> str:
    """The archive's own message, with its error code when the message does not already name it."""
    message = result.message or result.error_code or "no message"
    code = result.error_code or ""
    if code.startswith("error:") and code not in message:
        return f"{message} ({code})"
    return message



# --- the HTTP base -------------------------------------------------------------------------------

class HttpTarget:
    """The HTTP side shared by both targets: one session, a timeout, failures as one-line results."""

    def __init__(self, base_url: str, session: requests.Session | None, clock: Clock | None, timeout: float,
                 user_agent: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        # The configured endpoint is the operator's: trusted whatever its address; the guard refuses the rest.
        self.session = session or make_session(user_agent or default_user_agent(), trust=(self.base_url,))
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response | SubmitResult:
        """The answer with its body read, or a transient failure when the service cannot be reached."""
        host = urlsplit(url).netloc
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
            resp.content  # noqa: B018 - read the body inside the try: a dropped connection is a network error
            return resp
        except requests.Timeout:
            return failure(TRANSIENT, f"no answer from {host} within {self.timeout:g}s", code="timeout")
        except requests.RequestException as exc:
            return failure(TRANSIENT, f"cannot reach {host}: {_network_reason(exc)}", code="network")

    def _cdx(self, endpoint: str, params: dict[str, str]) -> list[CdxRow]:
        """Ask a CDX endpoint; its rows, or WaybackUnavailable saying why not."""
        resp = self._call("GET", endpoint, params=params, headers={"Accept": "application/json"})
        if isinstance(resp, SubmitResult):
            raise WaybackUnavailable(f"CDX lookup failed: {resp.message}")
        if resp.status_code != 200:
            data = json_body(resp)
            message = status_message(resp, data)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), self.clock.now())
            if "Blocked Site Error" in resp.text or "AdministrativeAccessControlException" in resp.text:
                raise WaybackUnavailable(f"excluded from the archive: {message}", transient=False)
            transient = resp.status_code >= 500 or resp.status_code == 429
            raise WaybackUnavailable(f"CDX lookup failed: {message}", transient, retry_after)
        try:
            return parse_cdx_json(resp.text)
        except ValueError as exc:
            raise WaybackUnavailable(f"CDX answer is not CDX JSON: {exc}") from None


# --- CDX answers ----------------------------------------------------------------------------------

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
        if not TIMESTAMP.match(timestamp) or str(record.get("is_fuzzy", "")) in {"1", "True", "true"}:
            continue  # pywb adds near matches (another query string) flagged is_fuzzy: not copies of this URL
        original = str(record.get("original") or record.get("url") or "")
        status = str(record.get("statuscode") or record.get("status") or "-")
        rows.append(CdxRow(timestamp, original, status))
    rows.sort(key=lambda row: row.timestamp)
    return rows


def summarize(rows: Iterable[CdxRow], archive_url: Callable[[str, str], str]) -> LookupResult:
    """First, last, count and newest good copy of CDX rows, with archive_url(timestamp, original) for its URL."""
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


def newest_good(rows: Iterable[CdxRow], before: datetime,
                archive_url: Callable[[str, str], str]) -> tuple[str, str] | None:
    """(timestamp, archive URL) of the newest 2xx row strictly before ``before``, or None."""
    limit = to_timestamp(before)
    good = [row for row in rows if row.ok and row.timestamp < limit]
    if not good:
        return None
    best = max(good, key=lambda row: row.timestamp)
    return best.timestamp, archive_url(best.timestamp, best.original)


def strip_fragment(url: str) -> str:
    """The URL without its #fragment, which archives neither store nor send."""
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(fragment="")) if parts.fragment else url.strip()

