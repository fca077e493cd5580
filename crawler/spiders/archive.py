"""The archive spider: fetches a collection's sources, and what they link to within --depth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy import select
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefused
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure
from w3lib.url import safe_url_string

from archive.captures import previous_captures
from archive.db import session_scope
from archive.due import awaiting_capture, still_to_capture
from archive.extract.decode import decode_html
from archive.extract.pagemeta import page_links
from archive.extract.rendering import is_script_shell
from archive.extract.videos import find_videos
from archive.models import Source
from archive.providers import renders_client_side
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.urls import InvalidURL, domain_of, without_userinfo
from archive.vocab import CaptureMode, SourceKind, capture_mode
from crawler.extensions import META_BROWSER, META_PREVIOUS, META_RECORDS, META_RENDERED
from crawler.items import FailedFetch, PageCapture
from crawler.middlewares import BlockedRequest
from crawler.screenshots import chromium_found
from crawler.workspace import crawler_workspace

META_SOURCE = "lastseen_source"
META_CHAIN = "lastseen_redirected_from"  # the URLs that redirected to this request, first first
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BATCH = 1000


def _true(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "yes", "on"}


class ArchiveSpider(Spider):
    """Captures sources of one collection (those never captured, or the URLs given)."""

    name = "archive"

    def __init__(self, collection: str = "default", urls: str | list[str] | None = None, depth: int | str = 0,
                 media: bool | str = False, only_due: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection_name = collection
        # Only given URLs still owed a capture (judged under the crawl's lock): a worker's task asks for it, so
        # work handed out twice (a lease that ran out during a slow crawl) is captured once.
        self.only_due = _true(only_due)
        self.urls = urls.split() if isinstance(urls, str) else list(urls or [])
        self.depth = int(depth)
        self.media = _true(media)
        self.collection_id: int | None = None
        self.capture_mode = CaptureMode.AUTO
        self.browser = False  # whether a capture browser can run here (Chromium and Playwright installed)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ArchiveSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        ws = crawler_workspace(crawler)
        with session_scope(ws.sessions) as session:
            collection = ensure_collection(session, spider.collection_name)
            spider.collection_id = collection.id
            spider.capture_mode = capture_mode(collection.capture_mode, ws.settings.capture)
            obey = collection.obey_robots
        spider.browser = chromium_found(ws.settings) is not None
        if spider.capture_mode == CaptureMode.BROWSER and not spider.browser:
            spider.logger.warning("collection %s captures in a browser, but Chromium or Playwright is not installed "
                                  "(LASTSEEN_CHROMIUM_PATH): its pages are fetched over HTTP", spider.collection_name)
        crawler.settings.set("ROBOTSTXT_OBEY", obey, priority="spider")
        crawler.settings.set("DEPTH_LIMIT", spider.depth, priority="spider")
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for source_id, url, kind, previous in self._sources():
            yield self.source_request(source_id, url, kind, previous)

    def _sources(self) -> Iterator[tuple[int, str, str, Any]]:
        """(id, URL to fetch, kind, previous capture) of each source to capture, in batches.

        The URL fetched is the one given (less userinfo), never the normalized one: normalization only tells
        sources apart, so `a.html?x=1&utm_source=news` is fetched and archived as written.
        """
        ws = crawler_workspace(self.crawler)
        with session_scope(ws.sessions) as session:
            if self.urls:
                collection = ensure_collection(session, self.collection_name)
                result = add_sources(session, collection, [SourceEntry(u) for u in self.urls])
                for entry, reason in result.refused:
                    self.logger.warning("refused %s: %s", entry.url, reason)
                chosen: dict[int, str] = {}
                for tracked in result.added:
                    chosen.setdefault(tracked.id, tracked.url)
                for entry, tracked in result.known:
                    chosen.setdefault(tracked.id, entry.url)
                if self.only_due:
                    due = set(still_to_capture(session, list(chosen)))
                    chosen = {source_id: url for source_id, url in chosen.items() if source_id in due}
                kinds = dict(session.execute(select(Source.id, Source.kind).where(Source.id.in_(list(chosen)))).all())
                previous = previous_captures(session, list(chosen.values()), collection.id)
                yield from [(source_id, url, kinds.get(source_id, "page"), previous.get(url))
                            for source_id, url in chosen.items()]
                return
        last_id = 0
        started = datetime.now(UTC)
        while True:
            with session_scope(ws.sessions) as session:
                batch = session.execute(  # columns, not ORM objects (and their tags): thousands at a time
                    select(Source.id, Source.url, Source.normalized_url, Source.kind)
                    .where(Source.collection_id == self.collection_id, Source.id > last_id,
                           awaiting_capture(started))
                    .order_by(Source.id).limit(_BATCH)).all()
                urls = [(s.id, _fetchable(s.url, s.normalized_url), s.kind) for s in batch]
                previous = previous_captures(session, [url for _, url, _ in urls], self.collection_id or 0)
            if not urls:
                return
            rows = [(source_id, url, kind, previous.get(url)) for source_id, url, kind in urls]
            yield from rows
            last_id = rows[-1][0]

    def source_request(self, source_id: int, url: str, kind: str = "page", previous: Any = None,
                       depth: int = 0, chain: tuple[str, ...] = ()) -> Request:
        """The request that captures one source (or the next hop of its redirects, after `chain`).

        Scrapy's duplicate filter sees every request: within one crawl a URL is fetched (and stored) once,
        whether it is reached as a source, a link or a redirect's target.
        """
        # dont_redirect: the spider follows redirects itself, a request per hop, so each hop is archived under
        # its own URL, looked up for a revisit and seen by the duplicate filter (robots.txt is still redirected).
        meta: dict[str, Any] = {META_SOURCE: (source_id, kind), "depth": depth, "dont_redirect": True}
        if chain:
            meta[META_CHAIN] = chain
        proxy = crawler_workspace(self.crawler).settings.proxy
        if proxy:
            meta["proxy"] = proxy
        if previous is not None:
            meta[META_PREVIOUS] = previous
        if kind == SourceKind.PAGE and self._in_browser(url):
            meta[META_BROWSER] = True
        return Request(url, callback=self.parse, errback=self.failed, meta=meta)

    def _in_browser(self, url: str) -> bool:
        """Whether a page is captured in a browser: its collection says so, or (auto) its host renders client-side."""
        if not self.browser or self.capture_mode == CaptureMode.HTTP:
            return False
        return self.capture_mode == CaptureMode.BROWSER or renders_client_side(url)

    def _shell(self, response: Response, content_type: str | None) -> Request | None:
        """In auto mode, a page fetched over HTTP whose HTML is a script-loading shell: the request that captures it
        again in a browser (the shell stays in the WARC, the browser's capture is the page's)."""
        if (self.capture_mode != CaptureMode.AUTO or not self.browser or response.meta.get(META_BROWSER)
                or response.meta[META_SOURCE][1] != SourceKind.PAGE
                or not is_script_shell(response.body, content_type)):
            return None
        meta = {key: value for key, value in response.meta.items() if key.startswith("lastseen_")
                and key not in {META_RECORDS, META_PREVIOUS}}
        meta.update({"depth": response.meta.get("depth", 0), "dont_redirect": True, META_BROWSER: True})
        if response.meta.get("proxy"):
            meta["proxy"] = response.meta["proxy"]
        return Request(response.url, callback=self.parse, errback=self.failed, meta=meta, dont_filter=True)

    def parse(self, response: Response) -> list[Any]:
        """The capture's item, and the links to follow within --depth.

        A list, not a generator: Scrapy parses a generator callback's source (ast) on every response to warn
        about `return` values, which cost about a tenth of the crawl's CPU.
        """
        source_id, kind = response.meta[META_SOURCE]
        records = response.meta.get(META_RECORDS)
        if records is None:
            return [FailedFetch(source_id, response.url, "not_recorded", "response reached the spider unrecorded")]
        content_type = response.headers.get("Content-Type", b"").decode("latin-1") or None
        item = PageCapture(source_id=source_id, collection_id=self.collection_id or 0, kind=kind,
                           requested_url=response.request.url if response.request else response.url,
                           response=response, records=records, content_type=content_type,
                           rendered=response.meta.get(META_RENDERED))
        target = redirect_target(response)
        if target is not None:
            item.redirect_to = target
            return [item, *self._redirect(response, target)]
        body = response.body
        html = "html" in (content_type or "").lower() or (content_type is None and body.lstrip()[:1] == b"<")
        if not body:
            item.failure = "empty_body"
        elif html and b"\x00" in body[:4096]:
            item.failure = "binary_as_html"
        elif html and 200 <= response.status < 300:
            again = self._shell(response, content_type)
            if again is not None:
                return [again]
            # Only what the crawl needs now; main text and metadata are described after it, from the WARC.
            item.videos = find_videos(decode_html(body, content_type)[0], response.url)
            item.describe = True
        if item.describe and response.meta.get("depth", 0) < self.depth:
            return [item, *self._follow(response, page_links(body, response.url, content_type))]
        return [item]

    def _redirect(self, response: Response, target: str) -> Iterator[FailedFetch]:
        """Follow a redirect as a request of its own, so that each hop is archived under its own URL; the hop
        is sent straight to the engine, keeping its page's depth (a redirect is no step deeper)."""
        source_id, kind = response.meta[META_SOURCE]
        chain = (*response.meta.get(META_CHAIN, ()), response.url)
        limit = self.crawler.settings.getint("REDIRECT_MAX_TIMES", 10)
        if target in chain or len(chain) > limit:
            why = "redirects back to " + target if target in chain else f"more than {limit} redirects"
            yield FailedFetch(source_id, chain[0], "redirect_loop", f"{chain[0]}: {why}")
            return
        if urlsplit(target).scheme not in {"http", "https"}:
            yield FailedFetch(source_id, chain[0], "fetch_error", f"redirect to a URL that is not http(s): {target}")
            return
        ws = crawler_workspace(self.crawler)
        with session_scope(ws.sessions) as session:
            previous = previous_captures(session, [target], self.collection_id or 0).get(target)
        self.crawler.engine.crawl(self.source_request(source_id, target, kind, previous,
                                                      depth=response.meta.get("depth", 0), chain=chain))

    def _follow(self, response: Response, links: list[str]) -> Iterator[Request]:
        """Same-site links within --depth become sources of the collection and get captured."""
        site = domain_of(response.url)
        wanted = [link for link in links if domain_of(link) == site and urlsplit(link).scheme in {"http", "https"}]
        if not wanted:
            return
        ws = crawler_workspace(self.crawler)
        with session_scope(ws.sessions) as session:
            collection = ensure_collection(session, self.collection_name)
            result = add_sources(session, collection, [SourceEntry(link) for link in wanted], tags=("crawl:followed",))
            targets = [(s.id, s.url) for s in result.added]
            previous = previous_captures(session, [url for _, url in targets], collection.id)
        depth = response.meta.get("depth", 0) + 1
        for source_id, url in targets:
            yield self.source_request(source_id, url, "page", previous.get(url), depth=depth)

    def failed(self, failure: Failure) -> Iterator[FailedFetch]:
        request = failure.request  # type: ignore[attr-defined]
        source_id, _kind = request.meta[META_SOURCE]
        reason, detail = failure_reason(failure)
        yield FailedFetch(source_id, request.url, reason, detail)


def redirect_target(response: Response) -> str | None:
    """The absolute URL a redirect (301, 302, 303, 307, 308 with a Location) points to, else None."""
    location = response.headers.get("Location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    return response.urljoin(safe_url_string(location))


def _fetchable(url: str, normalized: str) -> str:
    """A stored source URL as it is fetched: userinfo dropped (rows from before it was dropped on adding)."""
    try:
        return without_userinfo(url)
    except InvalidURL:
        return normalized


def failure_reason(failure: Failure) -> tuple[str, str]:
    """A short reason and a one-line detail for a failed fetch."""
    error = failure.value
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, DNSLookupError) or type(error).__name__ == "CannotResolveHostError":
        return "dns_error", text
    if isinstance(error, TimeoutError | TCPTimedOutError):
        return "timeout", text
    if isinstance(error, TxConnectionRefused):
        return "connection_error", text
    if isinstance(error, HttpError):
        return f"http_{error.response.status}", text
    if isinstance(error, BlockedRequest):
        return "blocked_address", text
    name = type(error).__name__
    lowered = text.lower()
    if "robots.txt" in lowered:
        return "robots_txt", text
    if "max redirections" in lowered or "redirect" in lowered:
        return "redirect_loop", text
    if "max size" in lowered or "maxsize" in lowered or name == "DownloadCancelledError":
        return "too_large", text
    if "timeout" in name.lower() or "timed out" in lowered:
        return "timeout", text
    if "connection" in name.lower() or "connection" in lowered:
        return "connection_error", text
    return "fetch_error", f"{name}: {text}"
