"""Availability checks: fetch each source lightly, classify what came back, store it, move its status on evidence.

A check is light: one size-capped GET per source (redirects followed by hand, so the chain is known and loops
stop), a probe per host and run (the site's answer for a random nonexistent URL, for soft 404s), and for videos
what the provider's module (archive.providers) says is worth asking: its oEmbed endpoint and the page that says
most (YouTube's watch page, Telegram's embed widget, Dailymotion's player metadata...), optionally yt-dlp.
Videos of one provider are paced together (provider_rate); a provider that answers with a bot check or a rate
limit is paused (provider_pause, kept in the database) and its videos are not checked until the pause ends;
a host that answers 429 is left alone for its Retry-After (by every worker, with redis_url), its sources due
again when that pause ends.
Nothing is captured here: a page whose main text changed is recorded as a `changed` check, and
`archive.due.changed_captures` lists such sources for the crawl. Status changes only through `archive.status.decide`;
every check and every transition is stored.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from urllib.parse import urlsplit

from archive.db import session_scope
from archive.models import utcnow
from archive.net.pacing import MonotonicClock, RateLimiter
from archive.net.shared_pacing import host_limiter
from archive.providers import OEMBED_ENDPOINTS, PAGES, page_url, read_oembed, read_page, read_redirect
from archive.status import (
    DEFINITIVE,
    Classification,
    Outcome,
    WatchPolicy,
    classify_http,
    classify_ytdlp_error,
)
from archive.timefmt import iso
from archive.watch.fetch import Answer, Fetcher, HostHeld, ProbeCache, Validators
from archive.watch.pauses import ProviderPauses, defer_sources
from archive.watch.record import CheckResult, CheckSummary, ResultWriter
from archive.watch.select import Baseline, Target, attach_baselines, chunks, interleave, load_targets
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.check")

_WINDOW = 1000  # sources loaded (with what to compare them to) and handed to the workers at a time
_WRITE_BATCH = 200  # checks stored per transaction

_UNPAUSED = "direct"  # media files on any host: paced per host, never paused as a provider


@dataclass(frozen=True)
class VideoEndpoints:
    """Where providers are asked: their oEmbed endpoints and the pages that say most (each module's PAGE).

    Tests (and mirrors) point these at other servers. pages maps a provider to a URL template ({id}, {url},
    {query}, {token}: see archive.providers.base.fill); a provider not in it is asked on its video's URL.
    """

    oembed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(OEMBED_ENDPOINTS))
    pages: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(PAGES))

    def page_url(self, provider: str, video_id: str, video_url: str) -> str:
        """The page the provider's module reads for this video."""
        return page_url(provider, self.pages.get(provider, "{url}"), video_id, video_url)


def _hops(answer: Answer) -> str:
    """' (redirects: a -> b -> c)' when the fetch was redirected, else ''."""
    hops = list(dict.fromkeys(answer.chain))
    return f" (redirects: {' -> '.join(hops)})" if len(hops) > 1 else ""


def _needs_probe(answer: Answer) -> bool:
    """Only an answer that could be a soft 404 or a redirect away needs the site's probe."""
    return answer.error is None and answer.status is not None and 200 <= answer.status < 400


@dataclass(frozen=True)
class Comparison:
    """A live page against its baseline: changed or not, the human why, and the new hash when it changed."""

    changed: bool
    why: str
    text_sha256: str | None = None
    payload_sha256: str | None = None


def compare_content(baseline: Baseline, answer: Answer) -> Comparison:
    """Whether a live page differs from what its content was last known to be, and what shows it.

    Same bytes: unchanged. Otherwise the main text (as the crawl extracts it: trafilatura via pagemeta) is
    compared with the capture's text_sha256; non-HTML captures compare their bytes when the server sent them
    unencoded. A body cut at check_max_bytes is not compared.
    """
    if answer.truncated:
        return Comparison(False, "too large to compare with the capture")
    payload = hashlib.sha256(answer.body).hexdigest()
    if baseline.payload_sha256 == payload:
        return Comparison(False, f"same bytes as {baseline.what}")
    if baseline.text_sha256:
        return _compare_text(baseline, answer)
    if baseline.compare_payload and not answer.content_encoding:
        return Comparison(True, f"content differs from {baseline.what}", payload_sha256=payload)
    return Comparison(False, "nothing to compare with")


def _compare_text(baseline: Baseline, answer: Answer) -> Comparison:
    """The page's main text against the baseline's text hash (a new title is named)."""
    from archive.extract.pagemeta import extract_page_metadata, text_sha256

    meta = extract_page_metadata(answer.body, answer.final_url or answer.url, answer.content_type)
    if not meta.text:
        return Comparison(False, "no main text to compare")
    text = text_sha256(meta.text)
    if text == baseline.text_sha256:
        return Comparison(False, f"same main text as {baseline.what}")
    retitled = ""
    if baseline.title and meta.title and meta.title != baseline.title:
        retitled = f"; title {baseline.title[:80]!r} is now {meta.title[:80]!r}"
    return Comparison(True, f"main text differs from {baseline.what}{retitled}", text_sha256=text)


def combine_video_verdicts(page: Classification | None, oembed: Classification | None, http: Classification,
                           ytdlp: Classification | None = None) -> Classification:
    """One outcome from what the provider's page, oEmbed, yt-dlp and the page's HTTP answer say.

    The provider's own words win (its page naming removed, private, terminated, geo-blocked, age-restricted,
    or a bot check or rate limit: blocked, which no other answer turns into alive; then yt-dlp's error), then
    oEmbed's gone or geo_blocked, then a definitive HTTP answer (404 on Vimeo), then the page's own sign of
    life; a page that refused us (403, 429) is blocked even when oEmbed answers; then oEmbed's ok, then
    oEmbed's rate limit when the page said nothing, then the page's HTTP answer.
    """
    if page is not None and page.outcome is not Outcome.OK:
        return Classification(page.outcome, f"video page: {page.detail}")
    if ytdlp is not None:
        return Classification(ytdlp.outcome, f"yt-dlp: {ytdlp.detail}")
    if oembed is not None and oembed.outcome in DEFINITIVE:
        return oembed
    if http.outcome in DEFINITIVE:
        return http
    if page is not None:
        return Classification(Outcome.OK, f"video page: {page.detail}")
    if http.outcome is Outcome.BLOCKED:
        return http
    if oembed is not None and oembed.outcome in (Outcome.OK, Outcome.BLOCKED):
        return oembed
    return http


class SourceChecker:
    """Checks one source at a time (thread-safe): pages by HTTP and content, videos by what the provider says."""

    def __init__(self, fetcher: Fetcher, *, endpoints: VideoEndpoints | None = None, use_ytdlp: bool = False,
                 proxy: str = "", providers: RateLimiter | None = None, pauses: ProviderPauses | None = None,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.fetcher = fetcher
        self.probes = ProbeCache(fetcher)
        self.endpoints = endpoints or VideoEndpoints()
        self.use_ytdlp = use_ytdlp
        self.proxy = proxy
        self.providers = providers or RateLimiter(0, MonotonicClock())
        self.pauses = pauses
        self.now = now

    def check(self, target: Target) -> CheckResult | None:
        """Fetch and classify one source; None when its host or provider is paused (nothing asked, nothing to
        store)."""
        if self.paused_until(target) is not None:
            return None
        if target.kind == "video" and target.provider:
            return self._check_video(target)
        return self._check_page(target)

    def paused_until(self, target: Target) -> datetime | None:
        """When the pause of the target's host (it answered 429) or of its provider ends, if one holds."""
        now = self.now()
        held = self.fetcher.limiter.held_for((urlsplit(target.url).hostname or "").lower())
        host = now + timedelta(seconds=held) if held > 0 else None
        if self.pauses is None or target.kind != "video" or target.provider in (None, _UNPAUSED):
            return host
        provider = self.pauses.until(target.provider or "", now)
        return max(provider, host) if provider and host else provider or host

    def _classify(self, url: str, answer: Answer, probe: bool) -> Classification:
        """classify_http on an answer, with the host's probe when asked for and useful."""
        return classify_http(url=url, status=answer.status, final_url=answer.final_url,
                             redirect_chain=answer.chain, body_text=answer.text, error=answer.error,
                             probe=self.probes.get(url) if probe and _needs_probe(answer) else None)

    def _check_page(self, target: Target) -> CheckResult:
        """A page: its HTTP answer, then, when alive, its content against the last capture.

        Asked conditionally when the last alive answer had validators (a 304 is unchanged and alive), and
        compared by hash before anything is parsed: the same bytes as the last alive check are alive again.
        """
        baseline = target.baseline
        # A capture newer than the last check is compared with the body: no conditional GET then.
        validators = target.validators if baseline is None or target.seen_since(baseline) else None
        answer = self.fetcher.fetch(target.url, validators)
        plain = answer.error is None and len(answer.chain) == 1 and not answer.truncated
        if plain and validators is not None and answer.status == 304:
            return self._unchanged(target, answer, "not modified since the last check (HTTP 304)",
                                   target.seen_sha256)
        payload = hashlib.sha256(answer.body).hexdigest() if plain and answer.body else None
        if payload is not None and payload == target.seen_sha256 and answer.status == 200:
            return self._unchanged(target, answer, "same bytes as the last check", payload)
        verdict = self._classify(target.url, answer, probe=True)
        detail = verdict.detail + (f": {answer.error_detail}" if answer.error_detail else "")
        result = CheckResult(target.source_id, verdict.outcome, detail, answer.status, answer.final_url,
                             round(answer.seconds * 1000, 1))
        alive = verdict.outcome is Outcome.OK and answer.status is not None and 200 <= answer.status < 300
        if alive and target.baseline is not None and target.kind == "page":
            seen = compare_content(target.baseline, answer)
            result.outcome = Outcome.CHANGED if seen.changed else Outcome.OK
            result.detail = seen.why if seen.changed else f"{detail}; {seen.why}"
            result.text_sha256, result.payload_sha256 = seen.text_sha256, seen.payload_sha256
        if alive and payload is not None:
            result.validators = Validators(answer.etag, answer.last_modified)
            result.seen_sha256 = payload
        result.detail += _hops(answer)
        return result

    def _unchanged(self, target: Target, answer: Answer, why: str, seen: str | None) -> CheckResult:
        """Alive and as the last check saw it: the content compared then still stands, unless a newer
        baseline (a capture since) asks for a comparison, which needs the body."""
        baseline = target.baseline
        result = CheckResult(target.source_id, Outcome.OK, f"HTTP {answer.status}; {why}", answer.status,
                             answer.final_url, round(answer.seconds * 1000, 1), seen_sha256=seen,
                             validators=Validators(answer.etag or (target.validators and target.validators.etag),
                                                   answer.last_modified
                                                   or (target.validators and target.validators.last_modified)))
        if baseline is None or target.kind != "page":
            return result
        if target.seen_since(baseline):
            result.detail += f", so the same content as {baseline.what}"
            return result
        compared = compare_content(baseline, answer)
        result.outcome = Outcome.CHANGED if compared.changed else Outcome.OK
        result.detail = compared.why if compared.changed else f"{result.detail}; {compared.why}"
        result.text_sha256, result.payload_sha256 = compared.text_sha256, compared.payload_sha256
        return result

    def _oembed(self, target: Target) -> tuple[Classification | None, Answer | None]:
        """What the provider's oEmbed endpoint says (None when it has none, or says nothing)."""
        endpoint = self.endpoints.oembed.get(target.provider or "")
        if not endpoint:
            return None, None
        answer = self.fetcher.oembed(endpoint, target.video_url or target.url)
        if answer.status is None:
            return None, answer
        verdict = read_oembed(target.provider or "", answer.status, answer.body or None)
        if verdict is not None:
            verdict = Classification(verdict.outcome, f"oEmbed: {verdict.detail}")
        return verdict, answer

    def _ytdlp(self, target: Target) -> Classification | None:
        """The availability named by yt-dlp's error, if it fails with one."""
        from archive.providers.info import fetch_ytdlp

        self.fetcher.limiter.acquire((urlsplit(target.url).hostname or "").lower())
        info = fetch_ytdlp(target.video_url or target.url, proxy=target.proxy or self.proxy or None,
                           timeout=max(1, int(self.fetcher.timeout)), cookies=target.cookies,
                           allow_networks=self.fetcher.allow_networks)
        if info.info is None and info.message:
            return classify_ytdlp_error(info.message, include_transient=True)
        return None

    def _check_video(self, target: Target) -> CheckResult | None:
        """A video: what its provider's module says to ask (oEmbed, its page), optionally yt-dlp, combined.

        A bot check or rate limit (blocked) pauses the provider; its other videos wait for the pause to end.
        """
        provider = target.provider or ""
        if provider != _UNPAUSED:
            self.providers.acquire(provider)
        oembed, oembed_answer = self._oembed(target)
        page_url = self.endpoints.page_url(provider, target.video_id or "", target.video_url or target.url)
        answer = self.fetcher.fetch(page_url)
        http = self._classify(page_url, answer, probe=False)
        if answer.error_detail:
            http = Classification(http.outcome, f"{http.detail}: {answer.error_detail}")
        page = read_redirect(provider, page_url, answer.final_url) if answer.status else None
        page = page or (read_page(provider, answer.status, answer.text or "") if answer.status else None)
        ytdlp = self._ytdlp(target) if self.use_ytdlp and page is None and oembed is None else None
        verdict = combine_video_verdicts(page, oembed, http, ytdlp)
        used = oembed_answer if verdict is oembed and oembed_answer is not None else answer
        seconds = answer.seconds + (oembed_answer.seconds if oembed_answer else 0.0)
        detail = f"{provider}: {verdict.detail}{_hops(used)}"
        if verdict.outcome is Outcome.BLOCKED and provider != _UNPAUSED and self.pauses is not None:
            until = self.pauses.pause(provider, self.now(), detail)
            detail += f"; {provider} paused until {iso(until)}" if until is not None else ""
        return CheckResult(target.source_id, verdict.outcome, detail, used.status, used.final_url,
                           round(seconds * 1000, 1))


def check_sources(ws: Workspace, source_ids: Sequence[int], *, now: datetime | None = None,
                  endpoints: VideoEndpoints | None = None, use_ytdlp: bool = False, timeout: float | None = None,
                  concurrency: int | None = None, rng: random.Random | None = None,
                  progress: Callable[[CheckResult], None] | None = None) -> CheckSummary:
    """Check these sources now, store every check and transition, and say what was found.

    now: the time recorded for every check (default: the wall clock when each check ends); timeout: seconds
    per request (default check_timeout); the rest of the behaviour comes from the settings (host_rate,
    check_max_bytes, check_concurrency, proxy, recheck_interval and the confirmation policy; with redis_url the
    per-host rate is shared by every process checking, through Redis).
    """
    settings = ws.settings
    policy = WatchPolicy.from_settings(settings)
    summary = CheckSummary(started_at=now or utcnow())
    with session_scope(ws.sessions) as session:
        targets = interleave(load_targets(session, source_ids, settings.recheck_interval))
    if not targets:
        summary.finished_at = now or utcnow()
        return summary
    fetcher = Fetcher(timeout=float(timeout if timeout is not None else settings.check_timeout),
                      max_bytes=settings.check_max_bytes, user_agent=settings.user_agent, proxy=settings.proxy,
                      limiter=host_limiter(settings.redis_url, settings.host_rate),
                      allow_networks=settings.allow_networks)
    pauses = ProviderPauses(ws, settings.provider_pause)
    pauses.load(now or utcnow())
    checker = SourceChecker(fetcher, endpoints=endpoints, use_ytdlp=use_ytdlp, proxy=settings.proxy,
                            providers=RateLimiter(settings.provider_rate, MonotonicClock()), pauses=pauses,
                            now=(lambda: now) if now is not None else utcnow)
    writer = ResultWriter(ws, policy, summary, {t.source_id: t for t in targets}, rng or random.Random())
    workers = max(1, min(concurrency or settings.check_concurrency, len(targets)))
    buffer: list[tuple[CheckResult, datetime]] = []
    waiting: dict[int, datetime] = {}  # sources of a paused host or provider: due again when the pause ends
    held: dict[int, datetime] = {}  # sources that met a host paused along the way (a redirect, the probe)

    def check_one(target: Target) -> tuple[Target, CheckResult | None]:
        """The target and its check (None: its host or provider is paused)."""
        try:
            return target, checker.check(target)
        except HostHeld as pause:
            held[target.source_id] = (now or utcnow()) + timedelta(seconds=pause.seconds)
            return target, None

    def collect(done: Iterable[Future[tuple[Target, CheckResult | None]]]) -> None:
        """Buffer finished checks (with their time) and store them a batch at a time."""
        for future in done:
            try:
                target, result = future.result()
            except Exception as exc:  # a bug in a classifier must not lose the other checks
                logger.exception("check failed")
                summary.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if result is None:
                waiting[target.source_id] = (held.get(target.source_id) or checker.paused_until(target)
                                             or now or utcnow())
                continue
            buffer.append((result, now or utcnow()))
            if progress is not None:
                progress(result)
        if len(buffer) >= _WRITE_BATCH:
            writer.store(buffer)
            buffer.clear()

    try:
        # Finished checks come back through a queue: wait(FIRST_COMPLETED) on the whole pending set cost
        # a waiter on every pending future for each check that ended.
        finished: queue.SimpleQueue[Future[tuple[Target, CheckResult | None]]] = queue.SimpleQueue()
        under_way = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            for window in chunks(targets, _WINDOW):
                with session_scope(ws.sessions) as session:
                    attach_baselines(session, window)
                for target in window:
                    if under_way >= workers * 2:
                        collect([finished.get()])
                        under_way -= 1
                    pool.submit(check_one, target).add_done_callback(finished.put)
                    under_way += 1
            for _ in range(under_way):
                collect([finished.get()])
        writer.store(buffer)
    finally:
        fetcher.close()
    defer_sources(ws, waiting)
    summary.paused = len(waiting)
    summary.finished_at = now or utcnow()
    return summary
