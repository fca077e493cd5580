"""Fetching for checks: one size-capped GET with a deadline, redirects followed by hand, and the site's probe.

A fetch never raises: what went wrong is in the Answer (error_kind names it, error_detail says it in one line).
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies

import requests
import urllib3.exceptions
from requests.utils import get_environ_proxies

from archive.net.guard import NetGuard
from archive.net.http import GuardedAdapter, make_session, request_proxies
from archive.net.pacing import HOST_PAUSE, HOST_PAUSE_CAP, MonotonicClock, RateLimiter, parse_retry_after
from archive.providers.info import ask_oembed
from archive.status import ProbeAnswer

MAX_REDIRECTS = 10
_CHUNK = 64 * 1024
_HOSTS_KEPT = 1024  # hosts whose idle connections the shared pool keeps
_TEXTUAL = re.compile(r"html|xml|json|javascript|text/", re.I)


@dataclass(frozen=True)
class Validators:
    """What a page's last alive answer said of its version (ETag, Last-Modified), sent back conditionally."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since: a server that keeps them answers 304 when nothing changed."""
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


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
    etag: str | None = None
    last_modified: str | None = None

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


class HostHeld(Exception):
    """The host is paused (it answered 429, to this worker or another): nothing was asked of it."""

    def __init__(self, host: str, seconds: float) -> None:
        super().__init__(f"{host} is paused for {seconds:.0f} s more")
        self.seconds = seconds


class Fetcher:
    """Size-capped GETs with a deadline, manual redirects, the per-host rate limit and the proxy setting.

    Thread-safe: each thread has its own requests.Session (its cookies), all sharing one connection pool that
    keeps connections to the last `hosts_kept` hosts: checks interleave hosts, so per-thread pools of a few
    hosts reconnected for nearly every check. Sessions do not read the environment on each request
    (~/.netrc was looked up on disk every time); proxy variables are read once (request_proxies' None).
    """

    def __init__(self, *, timeout: float, max_bytes: int, user_agent: str, proxy: str = "",
                 limiter: RateLimiter | None = None, max_redirects: int = MAX_REDIRECTS,
                 allow_networks: tuple[str, ...] = (), hosts_kept: int = _HOSTS_KEPT) -> None:
        self.timeout = timeout
        self.allow_networks = tuple(allow_networks)  # the net guard of archive.net.http checks every hop
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.proxies = request_proxies(proxy)
        self._environment_proxies = self.proxies is None and bool(getproxies())
        # One pool for every check thread, with the net guard on each connection it opens.
        self._adapter = GuardedAdapter(NetGuard.from_settings(self.allow_networks), pool_connections=hosts_kept,
                                       pool_maxsize=4, max_retries=0)
        self.limiter = limiter or RateLimiter(0, MonotonicClock())
        self.max_redirects = max_redirects
        self._local = threading.local()

    def session(self) -> requests.Session:
        """This thread's session, made on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = make_session(self.user_agent)  # no proxy here: fetch passes it per request
            session.trust_env = False
            session.mount("http://", self._adapter)
            session.mount("https://", self._adapter)
            self._local.session = session
        return session

    def close(self) -> None:
        """Close every connection."""
        self._adapter.close()

    def fetch(self, url: str, validators: Validators | None = None) -> Answer:
        """GET url, following redirects by hand; errors are in the answer, never raised.

        With validators the first hop is a conditional GET: a 304 answer has no body.
        """
        answer = Answer(url=url)
        session = self.session()
        session.cookies.clear()  # a cookie wall's cookie counts within one fetch only
        current, seen = url, {url}
        spent = 0.0
        try:
            for _hop in range(self.max_redirects + 1):
                answer.chain.append(current)
                self._pace(current)
                started = time.monotonic()
                conditional = validators.headers() if validators is not None and current == url else None
                try:
                    target = self._request(session, current, answer, conditional)
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

    def oembed(self, endpoint: str, url: str) -> Answer:
        """The oEmbed endpoint's answer about url, through the one oEmbed client, paced and proxied like a fetch."""
        self._pace(endpoint)
        session = self.session()
        session.cookies.clear()
        reply = ask_oembed(session, endpoint, url, timeout=self.timeout, max_bytes=self.max_bytes,
                           proxies=self._proxies(endpoint))
        return Answer(url=reply.url, status=reply.status, final_url=reply.final_url, chain=reply.chain,
                      body=reply.body, error_detail=reply.error, seconds=reply.seconds)

    def _pace(self, url: str) -> None:
        """Wait for the host's slot; HostHeld when the host is paused, rather than wait the pause out."""
        host = (urlsplit(url).hostname or "").lower()
        held = self.limiter.held_for(host)
        if held > 0:
            raise HostHeld(host, held)
        self.limiter.acquire(host)

    def _proxies(self, url: str) -> dict[str, str] | None:
        """The proxy setting, else what the environment's proxy variables (and NO_PROXY) say for url."""
        return get_environ_proxies(url) if self._environment_proxies else self.proxies

    def _request(self, session: requests.Session, url: str, answer: Answer,
                 headers: dict[str, str] | None = None) -> str | None:
        """One hop: the redirect target, or None once the answer (status, body) is in."""
        deadline = time.monotonic() + self.timeout
        response = session.get(url, allow_redirects=False, stream=True, timeout=self.timeout,
                               proxies=self._proxies(url), headers=headers)
        try:
            answer.status = response.status_code
            answer.final_url = url
            if response.status_code == 429:
                self._throttled(url, response.headers.get("Retry-After"))
            location = response.headers.get("Location")
            if 300 <= response.status_code < 400 and response.status_code != 304:
                if location and location.strip():
                    return urljoin(url, location.strip())
                answer.final_url = None  # a redirect to nowhere: classify_http calls it a server error
            answer.content_type = response.headers.get("Content-Type")
            answer.content_encoding = response.headers.get("Content-Encoding")
            answer.etag = response.headers.get("ETag")
            answer.last_modified = response.headers.get("Last-Modified")
            self._read(response, answer, deadline)  # a 304 has no body: reading it gives the connection back
            return None
        finally:
            response.close()

    def _throttled(self, url: str, retry_after: str | None) -> None:
        """The host answered 429: leave it alone (every worker, with Redis) for its Retry-After, within reason."""
        seconds = parse_retry_after(retry_after, time.time())
        self.limiter.hold((urlsplit(url).hostname or "").lower(),
                          min(HOST_PAUSE_CAP, seconds if seconds is not None else HOST_PAUSE))

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
