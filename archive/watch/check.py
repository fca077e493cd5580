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
from collections.abc import Callable, Mapping, Sequence
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
from archive.watch.compare import compare_content
from archive.watch.fetch import Answer, Fetcher, HostHeld, ProbeCache, Validators
from archive.watch.pauses import ANSWERS, ProviderPauses, defer_sources
from archive.watch.record import CheckRecorder, CheckResult, CheckSummary
from archive.watch.select import Target, attach_baselines, chunks, interleave, load_targets
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
            if self.pauses is not None and target.provider != _UNPAUSED and not self.pauses.reopen(
                    target.provider, self.now(), target.source_id, self._probe):
                return None
            return self._check_video(target)
        return self._check_page(target)

    def _probe(self, source_id: int) -> bool:
        """Whether this video of a provider answers (anything but a bot check or rate limit); not stored."""
        with session_scope(self.pauses.ws.sessions) as session:  # type: ignore[union-attr]
            found = load_targets(session, [source_id], 0)
        result = self._check_video(found[0], probe=True) if found else None
        return result is not None and result.outcome in ANSWERS

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
            result.text, result.title = seen.text, seen.title
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
        result.text, result.title = compared.text, compared.title
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

    def _check_video(self, target: Target, probe: bool = False) -> CheckResult | None:
        """A video: what its provider's module says to ask (oEmbed, its page), optionally yt-dlp, combined.

        A bot check or rate limit (blocked) pauses the provider, its other videos waiting for the pause to end,
        unless another of its videos answers (archive.watch.pauses): then this one is blocked alone. A probe
        (asked to see whether the provider answers) pauses nothing.
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
        if provider != _UNPAUSED and self.pauses is not None:
            detail += self.pauses.after(provider, verdict.outcome, self.now(), detail, target.source_id,
                                        None if probe else self._probe)
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
    recorder = CheckRecorder(ws, WatchPolicy.from_settings(settings), summary, {t.source_id: t for t in targets},
                            rng or random.Random())
    check_round = CheckRound(ws, checker, recorder, summary, checker.now, progress)
    try:
        check_round.run(targets, max(1, min(concurrency or settings.check_concurrency, len(targets))))
    finally:
        fetcher.close()
    return check_round.finish()


class CheckRound:
    """One round of checks: targets handed to a pool of workers a window at a time, results stored a batch at a
    time, and sources met by a paused host or provider set aside to be due again when the pause ends."""

    def __init__(self, ws: Workspace, checker: SourceChecker, recorder: CheckRecorder, summary: CheckSummary,
                 clock: Callable[[], datetime], progress: Callable[[CheckResult], None] | None) -> None:
        self.ws, self.checker, self.recorder, self.summary = ws, checker, recorder, summary
        self.clock, self.progress = clock, progress  # clock: the time a check is recorded at
        self.buffer: list[tuple[CheckResult, datetime]] = []
        self.waiting: dict[int, datetime] = {}  # sources of a paused host or provider: due again when it ends
        self.held: dict[int, datetime] = {}  # sources that met a host paused along the way (a redirect, the probe)

    def run(self, targets: Sequence[Target], workers: int) -> None:
        """Check every target on `workers` threads, with at most twice as many checks under way."""
        # Finished checks come back through a queue: wait(FIRST_COMPLETED) on the whole pending set cost
        # a waiter on every pending future for each check that ended.
        finished: queue.SimpleQueue[Future[tuple[Target, CheckResult | None]]] = queue.SimpleQueue()
        under_way = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            for window in chunks(targets, _WINDOW):
                with session_scope(self.ws.sessions) as session:
                    attach_baselines(session, window)
                for target in window:
                    if under_way >= workers * 2:
                        self.collect(finished.get())
                        under_way -= 1
                    pool.submit(self.check_one, target).add_done_callback(finished.put)
                    under_way += 1
            for _ in range(under_way):
                self.collect(finished.get())
        self.recorder.store(self.buffer)

    def check_one(self, target: Target) -> tuple[Target, CheckResult | None]:
        """The target and its check (None: its host or provider is paused); on a worker thread."""
        try:
            return target, self.checker.check(target)
        except HostHeld as pause:
            self.held[target.source_id] = self.clock() + timedelta(seconds=pause.seconds)
            return target, None

    def collect(self, future: Future[tuple[Target, CheckResult | None]]) -> None:
        """Buffer a finished check (with its time) and store the buffer once a batch is full."""
        try:
            target, result = future.result()
        except Exception as exc:  # a bug in a classifier must not lose the other checks
            logger.exception("check failed")
            self.summary.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if result is None:
            self.waiting[target.source_id] = (self.held.get(target.source_id) or self.checker.paused_until(target)
                                              or self.clock())
            return
        self.buffer.append((result, self.clock()))
        if self.progress is not None:
            self.progress(result)
        if len(self.buffer) >= _WRITE_BATCH:
            self.recorder.store(self.buffer)
            self.buffer.clear()

    def finish(self) -> CheckSummary:
        """Set the paused sources' next check and close the summary."""
        defer_sources(self.ws, self.waiting)
        self.summary.paused = len(self.waiting)
        self.summary.finished_at = self.clock()
        return self.summary
