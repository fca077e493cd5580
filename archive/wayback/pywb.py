"""A self-hosted pywb as a Wayback target: record mode (``GET {base}/{collection}/record/<url>``) and its CDX API.

pywb records synchronously and has no accounts or quotas, so a submission is a capture at once or an error of
the origin's or pywb's own.
"""

from __future__ import annotations

import email.utils
from datetime import datetime

import requests

from archive.config import ConfigError
from archive.net.http import one_line
from archive.net.pacing import Clock, parse_retry_after
from archive.wayback.client import (
    DEFAULT_TIMEOUT,
    PERMANENT,
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
    status_message,
    strip_fragment,
    summarize,
    to_timestamp,
)


class Pywb(HttpTarget):
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
        """Where the collection replays the copy of ``original`` made at ``timestamp``."""
        return f"{self.base_url}/{self.collection}/{timestamp}/{original}"

    def submit(self, url: str) -> SubmitResult:
        """Record the page now; pywb answers when the record is written, so success is immediate.

        The timestamp comes from the answer's Memento-Datetime, else from the newest index entry since the
        request (pywb's auto-indexing may lag), else from the request time, which the replay URL still
        resolves to the nearest capture.
        """
        url = strip_fragment(url)
        started = self.clock.now()
        resp = self._call("GET", f"{self.base_url}/{self.collection}/record/{url}", allow_redirects=False)
        if isinstance(resp, SubmitResult):
            return resp
        now = self.clock.now()
        if resp.status_code >= 400:  # pywb has no accounts or quotas: these are the origin's or pywb's errors
            code = resp.status_code
            message = status_message(resp, json_body(resp))
            if code in (408, 425, 429, 509) or code >= 500:
                return failure(TRANSIENT, message, code=f"http-{code}", http_status=code,
                               retry_after=parse_retry_after(resp.headers.get("Retry-After"), now))
            return failure(PERMANENT, message, code=f"http-{code}", http_status=code)
        refusal = _pywb_refusal(resp)
        if refusal:  # e.g. recording into a collection defined in config.yaml: pywb says so with a 200
            return failure(PERMANENT, refusal, code="pywb-error", http_status=resp.status_code)
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
        if TIMESTAMP.match(timestamp) and original:
            return SubmitResult("success", archive_url=self.archive_url(timestamp, original), timestamp=timestamp,
                                job_id=job_id)
        return failure(PERMANENT, f"pywb has no capture jobs ({job_id!r})", code="no-job", job_id=job_id)

    def cdx(self, url: str, **params: str) -> list[CdxRow]:
        """The collection's CDX rows of the URL, oldest first (near matches left out)."""
        query = {"url": strip_fragment(url), "output": "json", **params}
        return self._cdx(f"{self.base_url}/{self.collection}/cdx", query)

    def lookup(self, url: str) -> LookupResult:
        """What the collection holds of the URL, from its CDX API."""
        return summarize(self.cdx(url), self.archive_url)

    def newest_good_before(self, url: str, before: datetime) -> tuple[str, str] | None:
        """The newest 2xx capture strictly before ``before``: (timestamp, archive URL), or None."""
        return newest_good(self.cdx(url, to=to_timestamp(before)), before, self.archive_url)


def _pywb_refusal(resp: requests.Response) -> str | None:
    """pywb's plain-text 'Error: ...' answer, which it sends with a 2xx status, as one line; else None."""
    if not resp.headers.get("Content-Type", "").startswith("text/plain") or resp.headers.get("Memento-Datetime"):
        return None
    text = resp.text.strip()
    return one_line(text) if text.startswith("Error:") else None


def _memento_timestamp(value: str | None) -> str | None:
    """The 14-digit timestamp of a Memento-Datetime header, or None when absent or unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return to_timestamp(when)
