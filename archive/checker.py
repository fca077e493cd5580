"""Availability checks: fetch each source lightly, classify what came back, store it, move its status on evidence.

A check is light: one size-capped GET per source (redirects followed by hand, so the chain is known and loops
stop), a probe per host and run (the site's answer for a random nonexistent URL, for soft 404s), and for videos
what the provider says (oEmbed, the watch page's playability, optionally yt-dlp). Nothing is captured here: a
page whose main text changed is recorded as a `changed` check, and `sources_to_capture` lists such sources for
the crawl. Status changes only through `archive.status.decide`; every check and every transition is stored.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import re
import secrets
import socket
import ssl
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3.exceptions
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, lazyload

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.models import Capture, Check, Collection, Source, Video, utcnow
from archive.net.http import make_session, request_proxies
from archive.net.pacing import MonotonicClock, RateLimiter
from archive.providers.info import OEMBED_ENDPOINTS
from archive.sources import find_sources, get_collection
from archive.sources.state import apply_decision, state_of, transition_row
from archive.status import (
    DEFINITIVE,
    Classification,
    Decision,
    Outcome,
    ProbeAnswer,
    SourceState,
    WatchPolicy,
    classify_http,
    classify_oembed,
    classify_video_page,
    decide,
)
from archive.timefmt import iso
from archive.vocab import TransitionKind
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.check")

JITTER = 0.1  # the regular next check falls within +-10% of the interval, so checks of a batch spread out
MAX_REDIRECTS = 10
_CHUNK = 64 * 1024
_WINDOW = 1000  # sources loaded (with what to compare them to) and handed to the workers at a time
_WRITE_BATCH = 200  # checks stored per transaction
_IN_BATCH = 1000  # ids per IN (...) list
_TEXTUAL = re.compile(r"html|xml|json|javascript|text/", re.I)
_HASH_MARK = re.compile(r"\b(text|payload)_sha256=([0-9a-f]{64})\b")

# Pages that say more than the video's public page: Dailymotion's player metadata (what yt-dlp reads).
VIDEO_PAGES = MappingProxyType({"dailymotion": "https://www.dailymotion.com/player/metadata/video/{id}"})


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """What one fetch got: the last status, the URLs passed through, the body (capped) or the error."""

    url: str
    status: int | None = None
    final_url: str | None = None
    chain: list[str] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    content_type: str | None = None
    content_encoding: str | None = None
    error: str | None = None  # dns, connect, timeout, tls, too_many_redirects
    error_detail: str = ""
    seconds: float = 0.0

    @cached_property
    def text(self) -> str | None:
        """The body as text when it is text (HTML, XML, JSON, plain), else None."""
        if not self.body:
            return None
        if self.content_type and not _TEXTUAL.search(self.content_type):
            return None
        if not self.content_type and self.body.lstrip()[:1] != b"<":
            return None
        from archive.extract.decode import decode_html

        return decode_html(self.body, self.content_type)[0]


class _Deadline(Exception):
    """The whole answer did not arrive in time (a server dripping bytes)."""


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """exc and every exception it wraps (args, reason, cause, context)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current in found or len(found) > 20:
            continue
        found.append(current)
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        todo.extend(item for item in linked if isinstance(item, BaseException))
    return found


def error_kind(exc: BaseException) -> str:
    """dns, connect, tls or timeout for a failed fetch (what classify_http calls `error`)."""
    chain = _exception_chain(exc)
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return "dns"
    if any(isinstance(e, urllib3.exceptions.NewConnectionError | ConnectionRefusedError) for e in chain):
        return "connect"
    if any(isinstance(e, requests.exceptions.SSLError | ssl.SSLError | urllib3.exceptions.SSLError) for e in chain):
        return "tls"
    if any(isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError | _Deadline)
           for e in chain):
        return "timeout"
    return "connect"


_CAUSED_BY = re.compile(r"\(Caused by \w+\((.*)\)\)\s*$")
_CONNECTION_PREFIX = re.compile(r"^['\"]?(?:<[^>]*>|HTTPS?Connection(?:Pool)?\([^)]*\)):\s*")


def error_detail(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 error message, one line."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    caused = _CAUSED_BY.search(text)
    if caused:
        text = caused.group(1)
    return _CONNECTION_PREFIX.sub("", text).strip("'\" ")[:300] or type(exc).__name__


class Fetcher:
    """Size-capped GETs with a deadline, manual redirects, the per-host rate limit and the proxy setting.

    Thread-safe: each thread has its own requests.Session (connection pool).
    """

    def __init__(self, *, timeout: float, max_bytes: int, user_agent: str, proxy: str = "",
                 limiter: RateLimiter | None = None, max_redirects: int = MAX_REDIRECTS,
                 allow_networks: tuple[str, ...] = ()) -> None:
        self.timeout = timeout
        self.allow_networks = tuple(allow_networks)  # the net guard of archive.net.http checks every hop
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.proxies = request_proxies(proxy)
        self.limiter = limiter or RateLimiter(0, MonotonicClock())
        self.max_redirects = max_redirects
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def _session(self) -> requests.Session:
        """This thread's session, made on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            # no proxy here: fetch passes it per request
            session = make_session(self.user_agent, allow_networks=self.allow_networks, pool_connections=16,
                                   pool_maxsize=4, max_retries=0)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's connections."""
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def fetch(self, url: str, *, accept: str | None = None) -> Answer:
        """GET url, following redirects by hand; errors are in the answer, never raised."""
        answer = Answer(url=url)
        session = self._session()
        session.cookies.clear()  # a cookie wall's cookie counts within one fetch only
        headers = {"Accept": accept} if accept else {}
        current, seen = url, {url}
        spent = 0.0
        try:
            for _hop in range(self.max_redirects + 1):
                answer.chain.append(current)
                self.limiter.acquire((urlsplit(current).hostname or "").lower())
                started = time.monotonic()
                try:
                    target = self._request(session, current, headers, answer)
                finally:
                    spent += time.monotonic() - started
                if target is None:
                    return answer
                if target in seen or urlsplit(target).scheme.lower() not in {"http", "https"}:
                    answer.final_url = target  # a loop, or a redirect out of the web: classify_http decides
                    answer.chain.append(target)
                    return answer
                seen.add(target)
                current = target
            answer.status, answer.error = None, "too_many_redirects"
            answer.error_detail = f"more than {self.max_redirects} redirects"
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, _Deadline) as exc:
            answer.status, answer.body = None, b""
            answer.error, answer.error_detail = error_kind(exc), error_detail(exc)
        finally:
            answer.seconds = spent
        return answer

    def _request(self, session: requests.Session, url: str, headers: dict[str, str], answer: Answer) -> str | None:
        """One hop: the redirect target, or None once the answer (status, body) is in."""
        deadline = time.monotonic() + self.timeout
        response = session.get(url, headers=headers, allow_redirects=False, stream=True, timeout=self.timeout,
                               proxies=self.proxies)
        try:
            answer.status = response.status_code
            answer.final_url = url
            location = response.headers.get("Location")
            if 300 <= response.status_code < 400:
                if location and location.strip():
                    return urljoin(url, location.strip())
                answer.final_url = None  # a redirect to nowhere: classify_http calls it a server error
            answer.content_type = response.headers.get("Content-Type")
            answer.content_encoding = response.headers.get("Content-Encoding")
            self._read(response, answer, deadline)
            return None
        finally:
            response.close()

    def _read(self, response: requests.Response, answer: Answer, deadline: float) -> None:
        """Read the (decoded) body up to max_bytes, within the deadline."""
        limit = self.max_bytes + 1
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            chunks.append(chunk[:limit - size])
            size += len(chunks[-1])
            if size >= limit:
                break
            if time.monotonic() > deadline:
                raise _Deadline(f"the answer took longer than {self.timeout:g} s")
        body = b"".join(chunks)
        answer.truncated = len(body) > self.max_bytes
        answer.body = body[:self.max_bytes]


class ProbeCache:
    """The site's answer for a random nonexistent URL, asked once per host (scheme and port) per run."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self.token = secrets.token_hex(6)
        self._answers: dict[str, ProbeAnswer | None] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()

    def get(self, url: str) -> ProbeAnswer | None:
        """The probe for url's host; None when the probe itself failed."""
        parts = urlsplit(url)
        key = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            host_lock = self._locks[key]
        with host_lock:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            probe_url = f"{key}/lastseen-probe-{self.token}"
            answer = self.fetcher.fetch(probe_url)
            probe = None
            if answer.error is None:
                probe = ProbeAnswer.from_response(answer.status, answer.final_url, answer.text, url=probe_url)
            with self._lock:
                self._answers[key] = probe
            return probe


# --------------------------------------------------------------------------------------------------
# One check
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoEndpoints:
    """Where providers are asked: oEmbed endpoints and pages that say more than the video's page.

    Tests (and mirrors) point these at other servers. pages maps a provider to a URL template with {id};
    providers not in it are asked on the source's own URL (the watch page).
    """

    oembed: Mapping[str, str] = field(default_factory=lambda: dict(OEMBED_ENDPOINTS))
    pages: Mapping[str, str] = field(default_factory=lambda: dict(VIDEO_PAGES))

    def page_url(self, provider: str, video_id: str, source_url: str) -> str:
        """The page classify_video_page reads for this video."""
        template = self.pages.get(provider)
        return template.format(id=video_id) if template else source_url


@dataclass(frozen=True)
class Baseline:
    """What a page's content was last known to be: its newest capture, or a later check that saw it change."""

    what: str
    payload_sha256: str | None = None
    text_sha256: str | None = None
    title: str | None = None
    compare_payload: bool = False


@dataclass
class Target:
    """A source to check, with what the check needs to know of it."""

    source_id: int
    url: str
    kind: str
    domain: str
    interval: int
    provider: str | None = None
    video_id: str | None = None
    video_url: str | None = None
    baseline: Baseline | None = None


@dataclass
class CheckResult:
    """One check's outcome, before it is stored."""

    source_id: int
    outcome: Outcome
    detail: str
    http_status: int | None = None
    final_url: str | None = None
    latency_ms: float | None = None


def _hops(answer: Answer) -> str:
    """' (redirects: a -> b -> c)' when the fetch was redirected, else ''."""
    hops = list(dict.fromkeys(answer.chain))
    return f" (redirects: {' -> '.join(hops)})" if len(hops) > 1 else ""


def _needs_probe(answer: Answer) -> bool:
    """Only an answer that could be a soft 404 or a redirect away needs the site's probe."""
    return answer.error is None and answer.status is not None and 200 <= answer.status < 400


def compare_content(baseline: Baseline, answer: Answer) -> tuple[bool, str]:
    """(changed, what shows it) for a live page against what its content was last known to be.

    Same bytes: unchanged. Otherwise the main text (as the crawl extracts it: trafilatura via pagemeta) is
    compared with the capture's text_sha256; non-HTML captures compare their bytes when the server sent them
    unencoded. A body cut at check_max_bytes is not compared.
    """
    if answer.truncated:
        return False, "too large to compare with the capture"
    payload = hashlib.sha256(answer.body).hexdigest()
    if baseline.payload_sha256 == payload:
        return False, f"same bytes as {baseline.what}"
    if baseline.text_sha256:
        from archive.extract.pagemeta import extract_page_metadata, text_sha256

        meta = extract_page_metadata(answer.body, answer.final_url or answer.url, answer.content_type)
        if not meta.text:
            return False, "no main text to compare"
        text = text_sha256(meta.text)
        if text == baseline.text_sha256:
            return False, f"same main text as {baseline.what}"
        retitled = ""
        if baseline.title and meta.title and meta.title != baseline.title:
            retitled = f"; title {baseline.title[:80]!r} is now {meta.title[:80]!r}"
        return True, f"main text differs from {baseline.what}{retitled}; text_sha256={text}"
    if baseline.compare_payload and not answer.content_encoding:
        return True, f"content differs from {baseline.what}; payload_sha256={payload}"
    return False, "nothing to compare with"


def combine_video_verdicts(page: Classification | None, oembed: Classification | None, http: Classification,
                           ytdlp: Classification | None = None) -> Classification:
    """One outcome from what the provider's page, oEmbed, yt-dlp and the page's HTTP answer say.

    The provider's own words win (the watch page naming removed, private, terminated, geo-blocked or
    age-restricted; then yt-dlp's error), then oEmbed's gone or geo_blocked, then a definitive HTTP answer
    (404 on Vimeo or Rutube), then any sign of life (page or oEmbed ok), then the page's own answer.
    """
    if page is not None and page.outcome not in (Outcome.OK, Outcome.BLOCKED):
        return Classification(page.outcome, f"video page: {page.detail}")
    if ytdlp is not None:
        return Classification(ytdlp.outcome, f"yt-dlp: {ytdlp.detail}")
    if oembed is not None and oembed.outcome in DEFINITIVE:
        return oembed
    if http.outcome in DEFINITIVE:
        return http
    if page is not None and page.outcome is Outcome.OK:
        return Classification(Outcome.OK, f"video page: {page.detail}")
    if oembed is not None and oembed.outcome is Outcome.OK:
        return oembed
    if page is not None:
        return Classification(page.outcome, f"video page: {page.detail}")
    return http


class SourceChecker:
    """Checks one source at a time (thread-safe): pages by HTTP and content, videos by what the provider says."""

    def __init__(self, fetcher: Fetcher, *, endpoints: VideoEndpoints | None = None, use_ytdlp: bool = False,
                 proxy: str = "") -> None:
        self.fetcher = fetcher
        self.probes = ProbeCache(fetcher)
        self.endpoints = endpoints or VideoEndpoints()
        self.use_ytdlp = use_ytdlp
        self.proxy = proxy

    def check(self, target: Target) -> CheckResult:
        """Fetch and classify one source."""
        if target.kind == "video" and target.provider:
            return self._check_video(target)
        return self._check_page(target)

    def _classify(self, url: str, answer: Answer, probe: bool) -> Classification:
        """classify_http on an answer, with the host's probe when asked for and useful."""
        return classify_http(url=url, status=answer.status, final_url=answer.final_url,
                             redirect_chain=answer.chain, body_text=answer.text, error=answer.error,
                             probe=self.probes.get(url) if probe and _needs_probe(answer) else None)

    def _check_page(self, target: Target) -> CheckResult:
        """A page: its HTTP answer, then, when alive, its content against the last capture."""
        answer = self.fetcher.fetch(target.url)
        verdict = self._classify(target.url, answer, probe=True)
        detail = verdict.detail + (f": {answer.error_detail}" if answer.error_detail else "")
        outcome = verdict.outcome
        if (outcome is Outcome.OK and target.baseline is not None and target.kind == "page"
                and answer.status is not None and 200 <= answer.status < 300):
            changed, why = compare_content(target.baseline, answer)
            outcome = Outcome.CHANGED if changed else Outcome.OK
            detail = why if changed else f"{detail}; {why}"
        return CheckResult(target.source_id, outcome, detail + _hops(answer), answer.status,
                           answer.final_url, round(answer.seconds * 1000, 1))

    def _oembed(self, target: Target) -> tuple[Classification | None, Answer | None]:
        """What the provider's oEmbed endpoint says (None when it has none, or says nothing)."""
        endpoint = self.endpoints.oembed.get(target.provider or "")
        if not endpoint:
            return None, None
        query = urlencode({"url": target.video_url or target.url, "format": "json"})
        answer = self.fetcher.fetch(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}",
                                    accept="application/json")
        if answer.status is None:
            return None, answer
        verdict = classify_oembed(answer.status, answer.body or None, provider=target.provider)
        if verdict is not None:
            verdict = Classification(verdict.outcome, f"oEmbed: {verdict.detail}")
        return verdict, answer

    def _ytdlp(self, target: Target) -> Classification | None:
        """The availability named by yt-dlp's error, if it fails with one."""
        from archive.providers.info import fetch_ytdlp

        self.fetcher.limiter.acquire((urlsplit(target.url).hostname or "").lower())
        info = fetch_ytdlp(target.video_url or target.url, proxy=self.proxy or None,
                           timeout=max(1, int(self.fetcher.timeout)), allow_networks=self.fetcher.allow_networks)
        if info.info is None and info.availability in {o.value for o in Outcome}:
            return Classification(Outcome(info.availability), info.message)
        return None

    def _check_video(self, target: Target) -> CheckResult:
        """A video: oEmbed, the provider's page, optionally yt-dlp, combined."""
        provider = target.provider or ""
        oembed, oembed_answer = self._oembed(target)
        page_url = self.endpoints.page_url(provider, target.video_id or "", target.url)
        answer = self.fetcher.fetch(page_url)
        http = self._classify(page_url, answer, probe=False)
        if answer.error_detail:
            http = Classification(http.outcome, f"{http.detail}: {answer.error_detail}")
        page = classify_video_page(provider, answer.status or 0, answer.text or "") if answer.status else None
        ytdlp = self._ytdlp(target) if self.use_ytdlp and page is None and oembed is None else None
        verdict = combine_video_verdicts(page, oembed, http, ytdlp)
        used = oembed_answer if verdict is oembed and oembed_answer is not None else answer
        seconds = answer.seconds + (oembed_answer.seconds if oembed_answer else 0.0)
        return CheckResult(target.source_id, verdict.outcome, verdict.detail + _hops(used), used.status,
                           used.final_url, round(seconds * 1000, 1))


# --------------------------------------------------------------------------------------------------
# Which sources, and what to compare them with
# --------------------------------------------------------------------------------------------------

def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most size items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def due_sources(session: Session, now: datetime, limit: int | None = None, *,
                collection_id: int | None = None) -> list[int]:
    """Ids of sources to check now: never checked first, then by how overdue (both use ix_source_next_check)."""
    def query(condition: Any) -> Any:
        """Source ids meeting condition, in the collection when one is given."""
        stmt = select(Source.id).where(condition)
        return stmt.where(Source.collection_id == collection_id) if collection_id is not None else stmt

    ids = list(session.scalars(query(Source.next_check_at.is_(None)).order_by(Source.id).limit(limit)))
    if limit is None or len(ids) < limit:
        rest = None if limit is None else limit - len(ids)
        ids += session.scalars(query(Source.next_check_at <= now).order_by(Source.next_check_at, Source.id)
                               .limit(rest))
    return ids


@dataclass(frozen=True)
class CaptureRequest:
    """A source whose content changed since its newest capture: the crawl should capture it again."""

    source_id: int
    collection: str
    url: str
    changed_at: datetime


def sources_to_capture(session: Session, *, collection_id: int | None = None,
                       limit: int | None = None) -> list[CaptureRequest]:
    """Sources with a `changed` check newer than their newest capture, oldest change first.

    The scheduler passes their URLs to the crawl (`run_crawl(ws, collection=..., urls=[...])`); once a capture
    newer than the change is stored they drop out of this list.
    """
    last = (select(Check.source_id, func.max(Check.checked_at).label("changed_at"))
            .where(Check.outcome == Outcome.CHANGED.value).group_by(Check.source_id).subquery())
    stmt = (select(last.c.source_id, last.c.changed_at, Collection.name, Source.normalized_url)
            .join(Source, Source.id == last.c.source_id).join(Collection, Collection.id == Source.collection_id)
            .where(~exists().where(Capture.source_id == last.c.source_id, Capture.captured_at >= last.c.changed_at))
            .order_by(last.c.changed_at, last.c.source_id).limit(limit))
    if collection_id is not None:
        stmt = stmt.where(Source.collection_id == collection_id)
    return [CaptureRequest(source_id, name, url, at) for source_id, at, name, url in session.execute(stmt)]


def _load_targets(session: Session, source_ids: Sequence[int], default_interval: int) -> list[Target]:
    """The sources of these ids (unknown ids skipped), with their interval and, for videos, provider and id."""
    targets: list[Target] = []
    for chunk in _chunks(list(dict.fromkeys(source_ids)), _IN_BATCH):
        rows = session.execute(
            select(Source.id, Source.normalized_url, Source.kind, Source.domain, Source.recheck_interval,
                   Collection.recheck_interval, Video.provider, Video.video_id, Video.canonical_url)
            .join(Collection, Collection.id == Source.collection_id)
            .outerjoin(Video, Video.source_id == Source.id)
            .where(Source.id.in_(chunk)))
        for sid, url, kind, domain, own, collection, provider, video_id, video_url in rows:
            interval = own or collection or default_interval
            if kind == "video" and provider is None:
                from archive.providers import video_from_url

                ref = video_from_url(url)
                if ref is not None:
                    provider, video_id, video_url = ref.provider, ref.video_id, ref.canonical_url
            targets.append(Target(sid, url, kind, domain, interval, provider, video_id, video_url))
    return targets


def _interleave(targets: Iterable[Target]) -> list[Target]:
    """Round-robin over hosts, so the workers spread over many hosts instead of queueing on one."""
    by_host: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        by_host[target.domain].append(target)
    queues = [iter(queue) for queue in by_host.values()]
    ordered: list[Target] = []
    while queues:
        alive = []
        for queue in queues:
            item = next(queue, None)
            if item is not None:
                ordered.append(item)
                alive.append(queue)
        queues = alive
    return ordered


def _attach_baselines(session: Session, targets: Sequence[Target]) -> None:
    """Each page's newest 2xx capture, or a later `changed` check's hash (what the crawl has not captured yet)."""
    pages = {t.source_id: t for t in targets if t.kind == "page"}
    if not pages:
        return
    ids = list(pages)
    newest = func.row_number().over(partition_by=Capture.source_id, order_by=Capture.captured_at.desc()).label("n")
    inner = (select(Capture.source_id, Capture.captured_at, Capture.payload_sha256, Capture.page_meta,
                    Capture.content_type, newest)
             .where(Capture.source_id.in_(ids), Capture.http_status >= 200, Capture.http_status < 300).subquery())
    captured: dict[int, datetime] = {}
    for sid, at, payload, meta, content_type, _ in session.execute(select(inner).where(inner.c.n == 1)):
        meta = meta or {}
        html = bool(meta) or "html" in (content_type or "").lower()
        pages[sid].baseline = Baseline(f"the capture of {iso(at)}", payload, meta.get("text_sha256"),
                                       meta.get("title"), compare_payload=not html)
        captured[sid] = at
    if not captured:
        return
    latest = func.row_number().over(partition_by=Check.source_id, order_by=Check.checked_at.desc()).label("n")
    inner = (select(Check.source_id, Check.checked_at, Check.detail, latest)
             .where(Check.source_id.in_(list(captured)), Check.outcome == Outcome.CHANGED.value).subquery())
    for sid, at, detail, _ in session.execute(select(inner).where(inner.c.n == 1)):
        mark = _HASH_MARK.search(detail or "")
        if mark is None or at <= captured[sid]:
            continue
        what, (kind, digest) = f"the change seen at {iso(at)}", mark.groups()
        title = pages[sid].baseline.title if pages[sid].baseline else None
        if kind == "text":
            pages[sid].baseline = Baseline(what, None, digest, title)
        else:
            pages[sid].baseline = Baseline(what, digest, None, None, compare_payload=True)


# --------------------------------------------------------------------------------------------------
# Storing checks and transitions
# --------------------------------------------------------------------------------------------------

@dataclass
class CheckSummary:
    """What a run of checks found."""

    started_at: datetime
    finished_at: datetime | None = None
    checked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    to_capture: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `lastseen check --json`."""
        seconds = (self.finished_at - self.started_at).total_seconds() if self.finished_at else None
        return {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "seconds": round(seconds, 3) if seconds is not None else None,
            "checked": self.checked,
            "outcomes": _by_count(self.outcomes),
            "statuses": _by_count(self.statuses),
            "transition_counts": _by_count(Counter(t["kind"] for t in self.transitions)),
            "transitions": self.transitions,
            "to_capture": self.to_capture,
            "errors": self.errors,
        }


def _by_count(counts: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name: the same run prints the same way."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _evidence(session: Session, source_id: int, state: SourceState, check: Check) -> list[dict[str, Any]]:
    """The checks a transition rests on: the whole run of definitive or transient outcomes, else this check."""
    checks = [check]
    if state.streak_started_at is not None and state.streak_count > 1:
        checks = list(session.scalars(select(Check).where(Check.source_id == source_id,
                                                          Check.checked_at >= state.streak_started_at)
                                      .order_by(Check.checked_at, Check.id)))
    return [{"check_id": c.id, "outcome": c.outcome, "at": iso(c.checked_at), "http_status": c.http_status}
            for c in checks]


# What a video's provider said at its last check, kept in Video.availability beside yt-dlp's own words.
_VIDEO_VERDICTS = frozenset({Outcome.GONE, Outcome.REMOVED, Outcome.PRIVATE, Outcome.ACCOUNT_TERMINATED,
                             Outcome.GEO_BLOCKED, Outcome.AGE_RESTRICTED})


def _note_availability(session: Session, source_id: int, outcome: Outcome) -> None:
    """A verdict replaces the video's availability; an ok after a verdict makes it public again."""
    if outcome in _VIDEO_VERDICTS:
        session.execute(update(Video).where(Video.source_id == source_id).values(availability=outcome.value))
    elif outcome in (Outcome.OK, Outcome.CHANGED):
        session.execute(update(Video).where(Video.source_id == source_id,
                                            Video.availability.in_([v.value for v in _VIDEO_VERDICTS]))
                        .values(availability="public"))


class ResultWriter:
    """Stores checks in batches: the Check row, decide(), the source's new state and any transition."""

    def __init__(self, ws: Workspace, policy: WatchPolicy, summary: CheckSummary, targets: Mapping[int, Target],
                 rng: random.Random) -> None:
        self.ws = ws
        self.policy = policy
        self.summary = summary
        self.targets = targets
        self.rng = rng

    def next_check(self, target: Target, at: datetime, bring_forward: timedelta | None) -> datetime:
        """The regular interval with jitter, or sooner when a confirming check is due."""
        regular = timedelta(seconds=target.interval * (1 + self.rng.uniform(-JITTER, JITTER)))
        return at + (min(bring_forward, regular) if bring_forward is not None else regular)

    def store(self, results: Sequence[tuple[CheckResult, datetime]]) -> None:
        """Store one batch in one transaction: checks and source states first, then the transitions."""
        if not results:
            return
        with session_scope(self.ws.sessions) as session:
            ids = [result.source_id for result, _ in results]
            sources = {s.id: s for s in session.scalars(select(Source).options(lazyload(Source.tags))
                                                        .where(Source.id.in_(ids)))}
            moved: list[tuple[Source, Check, Decision]] = []
            for result, at in results:
                source = sources.get(result.source_id)
                if source is None:
                    continue  # deleted while it was being checked
                check, decision = self._apply(session, source, result, at)
                if decision.transition is not None:
                    moved.append((source, check, decision))
            if moved:
                session.flush()  # the checks' ids, for the evidence
                self._record_transitions(session, moved)

    def _apply(self, session: Session, source: Source, result: CheckResult, at: datetime) -> tuple[Check, Decision]:
        """Add the check and move the source's state by decide(); returns both."""
        decision = decide(state_of(source), result.outcome, at, self.policy)
        check = Check(source_id=source.id, checked_at=at, outcome=result.outcome.value,
                      http_status=result.http_status, final_url=result.final_url, detail=result.detail[:4000],
                      latency_ms=result.latency_ms)
        session.add(check)
        apply_decision(source, decision, at)
        source.last_checked_at = at
        source.next_check_at = self.next_check(self.targets[source.id], at, decision.next_check_in)
        self.summary.checked += 1
        self.summary.outcomes[result.outcome.value] += 1
        self.summary.statuses[source.status] += 1
        if result.outcome is Outcome.CHANGED:
            self.summary.to_capture.append(source.id)
        if source.kind == "video":
            _note_availability(session, source.id, result.outcome)
        return check, decision

    def _record_transitions(self, session: Session, moved: Sequence[tuple[Source, Check, Decision]]) -> None:
        """One StatusTransition row per transition, with its evidence, listed in the summary."""
        rows = []
        for source, check, decision in moved:
            row = transition_row(source, decision, _evidence(session, source.id, decision.new_state, check))
            session.add(row)
            rows.append((row, source, check, decision.transition is not None and decision.transition.alerts))
        session.flush()
        for row, source, check, alerts in rows:
            self.summary.transitions.append({
                "id": row.id, "source_id": source.id, "url": source.normalized_url, "kind": row.kind,
                "from": row.from_status, "to": row.to_status, "reason": row.reason, "at": iso(row.at),
                "alerts": alerts, "check_id": check.id,
            })


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------

def check_sources(ws: Workspace, source_ids: Sequence[int], *, now: datetime | None = None,
                  endpoints: VideoEndpoints | None = None, use_ytdlp: bool = False, timeout: float | None = None,
                  concurrency: int | None = None, rng: random.Random | None = None,
                  progress: Callable[[CheckResult], None] | None = None) -> CheckSummary:
    """Check these sources now, store every check and transition, and say what was found.

    now: the time recorded for every check (default: the wall clock when each check ends); timeout: seconds
    per request (default check_timeout); the rest of the behaviour comes from the settings (host_rate,
    check_max_bytes, check_concurrency, proxy, recheck_interval and the confirmation policy).
    """
    settings = ws.settings
    policy = WatchPolicy.from_settings(settings)
    summary = CheckSummary(started_at=now or utcnow())
    with session_scope(ws.sessions) as session:
        targets = _interleave(_load_targets(session, source_ids, settings.recheck_interval))
    if not targets:
        summary.finished_at = now or utcnow()
        return summary
    fetcher = Fetcher(timeout=float(timeout if timeout is not None else settings.check_timeout),
                      max_bytes=settings.check_max_bytes, user_agent=settings.user_agent, proxy=settings.proxy,
                      limiter=RateLimiter(settings.host_rate, MonotonicClock()), allow_networks=settings.allow_networks)
    checker = SourceChecker(fetcher, endpoints=endpoints, use_ytdlp=use_ytdlp, proxy=settings.proxy)
    writer = ResultWriter(ws, policy, summary, {t.source_id: t for t in targets}, rng or random.Random())
    workers = max(1, min(concurrency or settings.check_concurrency, len(targets)))
    buffer: list[tuple[CheckResult, datetime]] = []

    def collect(done: Iterable[Future[CheckResult]]) -> None:
        """Buffer finished checks (with their time) and store them a batch at a time."""
        for future in done:
            try:
                result = future.result()
            except Exception as exc:  # a bug in a classifier must not lose the other checks
                logger.exception("check failed")
                summary.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            buffer.append((result, now or utcnow()))
            if progress is not None:
                progress(result)
        if len(buffer) >= _WRITE_BATCH:
            writer.store(buffer)
            buffer.clear()

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            pending: set[Future[CheckResult]] = set()
            for window in _chunks(targets, _WINDOW):
                with session_scope(ws.sessions) as session:
                    _attach_baselines(session, window)
                for target in window:
                    while len(pending) >= workers * 2:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        collect(done)
                    pending.add(pool.submit(checker.check, target))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
        writer.store(buffer)
    finally:
        fetcher.close()
    summary.finished_at = now or utcnow()
    return summary


# --------------------------------------------------------------------------------------------------
# `lastseen check`
# --------------------------------------------------------------------------------------------------

class CheckProgress:
    """A rich progress bar on a terminal; plain log lines (every 100 checks, and at the end) otherwise."""

    def __init__(self, total: int, interactive: bool, out: Output) -> None:
        self.total = total
        self.done = 0
        self.counts: Counter[str] = Counter()
        self.out = out
        self.progress: Any = None
        if interactive and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=out.errors, transient=True)
            self.task = self.progress.add_task("check", total=total)
            self.progress.start()

    def advance(self, result: CheckResult) -> None:
        """Count one finished check."""
        self.done += 1
        self.counts[result.outcome.value] += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done)
        elif self.done % 100 == 0 or self.done == self.total:
            counts = ", ".join(f"{name} {n}" for name, n in _by_count(self.counts).items())
            self.out.warn(f"lastseen: checked {self.done}/{self.total} ({counts})")

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.progress is not None:
            self.progress.stop()


def _chosen_sources(session: Session, args: argparse.Namespace, now: datetime) -> tuple[list[int], list[str]]:
    """(source ids to check, URLs given that are not tracked)."""
    collection_id = None
    if args.collection:
        collection = get_collection(session, args.collection)
        if collection is None:
            raise UsageError(f"no collection named {args.collection!r}")
        collection_id = collection.id
    if args.urls:
        ids: list[int] = []
        missing = []
        for url in args.urls:
            found = find_sources(session, url, args.collection)
            ids += [s.id for s in found]
            if not found:
                missing.append(url)
        return ids, missing
    if args.all:
        stmt = select(Source.id).order_by(Source.id)
        if collection_id is not None:
            stmt = stmt.where(Source.collection_id == collection_id)
        return list(session.scalars(stmt)), []
    return due_sources(session, now, args.limit, collection_id=collection_id), []


def cmd_check(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Check sources now: the due ones, all of them, or the URLs given."""
    if args.urls and args.all:
        raise UsageError("give URLs or --all, not both")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    now = utcnow()
    with session_scope(ws.sessions) as session:
        ids, missing = _chosen_sources(session, args, now)
    for url in missing:
        out.warn(f"lastseen: {url} is not tracked" + (f" in {args.collection!r}" if args.collection else ""))
    progress = CheckProgress(len(ids), sys.stderr.isatty() and not args.json, out)
    try:
        summary = check_sources(ws, ids, use_ytdlp=args.ytdlp, progress=progress.advance)
    finally:
        progress.close()
    if out.as_json:
        out.json(summary.as_dict())
    else:
        _print_summary(out, summary)
    if missing and not ids:
        return EXIT_NOT_FOUND
    return EXIT_PARTIAL if missing or summary.errors else EXIT_OK


_SHOWN_TRANSITIONS = 50


def _print_summary(out: Output, summary: CheckSummary) -> None:
    """The human summary: counts, then the transitions that raise alerts."""
    data = summary.as_dict()
    if not summary.checked and not summary.errors:
        out.line("nothing to check")
        return
    counts = ", ".join(f"{name} {n}" for name, n in data["outcomes"].items())
    out.line(f"checked {summary.checked} source(s) in {data['seconds']:.1f} s: {counts}")
    if data["transition_counts"]:
        out.line("transitions: " + ", ".join(f"{kind} {n}" for kind, n in data["transition_counts"].items()))
    alerting = [t for t in summary.transitions if t["alerts"]]
    for t in alerting[:_SHOWN_TRANSITIONS]:
        reason = f" ({t['reason']})" if t["reason"] and t["kind"] != TransitionKind.CHANGED else ""
        out.line(f"  {t['kind']:<9} {t['url']}  {t['from']} -> {t['to']}{reason}")
    if len(alerting) > _SHOWN_TRANSITIONS:
        out.line(f"  ... and {len(alerting) - _SHOWN_TRANSITIONS} more (--json lists them all)")
    if summary.to_capture:
        out.line(f"{len(summary.to_capture)} changed source(s) need a new capture (`lastseen crawl URL...`, "
                 "or the scheduler's next crawl)")
    for error in summary.errors:
        out.warn(f"lastseen: check failed: {error}")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `check` to the command line."""
    p = sub.add_parser("check", parents=[common], help="check sources now (the due ones, --all, or the URLs given)")
    p.add_argument("urls", nargs="*", metavar="URL", help="check these tracked URLs")
    p.add_argument("-c", "--collection", default=None, help="only this collection")
    p.add_argument("--all", action="store_true", help="every source, due or not")
    p.add_argument("--limit", type=int, default=None, help="at most this many due sources")
    p.add_argument("--ytdlp", action="store_true", help="also ask yt-dlp about videos the provider's pages "
                                                         "say nothing of (slower)")
    p.set_defaults(handler=cmd_check)
