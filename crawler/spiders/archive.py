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

from archive.captures import previous_capture
from archive.db import session_scope
from archive.extract.decode import decode_html
from archive.extract.pagemeta import page_links
from archive.extract.videos import find_videos
from archive.models import Source
from archive.sources import SourceEntry, add_sources, awaiting_capture, ensure_collection
from archive.urls import domain_of
from crawler.extensions import META_PREVIOUS, META_RECORDS
from crawler.items import FailedFetch, PageCapture
from crawler.middlewares import BlockedRequest
from crawler.workspace import crawler_workspace

META_SOURCE = "lastseen_source"
_BATCH = 1000


def _true(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "yes", "on"}


class ArchiveSpider(Spider):
    """Captures sources of one collection (those never captured, or the URLs given)."""

    name = "archive"

    def __init__(self, collection: str = "default", urls: str | list[str] | None = None, depth: int | str = 0,
                 media: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection_name = collection
        self.urls = urls.split() if isinstance(urls, str) else list(urls or [])
        self.depth = int(depth)
        self.media = _true(media)
        self.collection_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ArchiveSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        ws = crawler_workspace(crawler)
        with session_scope(ws.sessions) as session:
            collection = ensure_collection(session, spider.collection_name)
            spider.collection_id = collection.id
            obey = collection.obey_robots
        crawler.settings.set("ROBOTSTXT_OBEY", obey, priority="spider")
        crawler.settings.set("DEPTH_LIMIT", spider.depth, priority="spider")
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for source_id, url, kind, previous in self._sources():
            yield self.source_request(source_id, url, kind, previous)

    def _sources(self) -> Iterator[tuple[int, str, str, Any]]:
        """(id, url, kind, previous capture) of each source to capture, in batches."""
        ws = crawler_workspace(self.crawler)
        with session_scope(ws.sessions) as session:
            if self.urls:
                collection = ensure_collection(session, self.collection_name)
                result = add_sources(session, collection, [SourceEntry(u) for u in self.urls])
                for entry, reason in result.refused:
                    self.logger.warning("refused %s: %s", entry.url, reason)
                ids = [s.id for s in result.added] + [s.id for _, s in result.known]
                chosen = [session.get(Source, i) for i in dict.fromkeys(ids)]
                rows = [(s.id, s.normalized_url, s.kind, previous_capture(session, s.id)) for s in chosen if s]
                yield from rows
                return
        last_id = 0
        started = datetime.now(UTC)
        while True:
            with session_scope(ws.sessions) as session:
                batch = list(session.scalars(
                    select(Source).where(Source.collection_id == self.collection_id, Source.id > last_id,
                                         awaiting_capture(started, ws.settings.capture_retry))
                    .order_by(Source.id).limit(_BATCH)))
                rows = [(s.id, s.normalized_url, s.kind, None) for s in batch]
            if not rows:
                return
            yield from rows
            last_id = rows[-1][0]

    def source_request(self, source_id: int, url: str, kind: str = "page", previous: Any = None,
                       depth: int = 0) -> Request:
        """The request that captures one source."""
        meta: dict[str, Any] = {META_SOURCE: (source_id, kind), "depth": depth}
        proxy = crawler_workspace(self.crawler).settings.proxy
        if proxy:
            meta["proxy"] = proxy
        if previous is not None:
            meta[META_PREVIOUS] = previous
        return Request(url, callback=self.parse, errback=self.failed, meta=meta, dont_filter=depth == 0)

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
                           response=response, records=records, content_type=content_type)
        body = response.body
        html = "html" in (content_type or "").lower() or (content_type is None and body.lstrip()[:1] == b"<")
        if not body:
            item.failure = "empty_body"
        elif html and b"\x00" in body[:4096]:
            item.failure = "binary_as_html"
        elif html and 200 <= response.status < 300:
            # Only what the crawl needs now; main text and metadata are described after it, from the WARC.
            item.videos = find_videos(decode_html(body, content_type)[0], response.url)
            item.describe = True
        if item.describe and response.meta.get("depth", 0) < self.depth:
            return [item, *self._follow(response, page_links(body, response.url, content_type))]
        return [item]

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
            targets = [(s.id, s.normalized_url) for s in result.added]
        depth = response.meta.get("depth", 0) + 1
        for source_id, url in targets:
            request = self.source_request(source_id, url, "page", depth=depth)
            yield request

    def failed(self, failure: Failure) -> Iterator[FailedFetch]:
        request = failure.request  # type: ignore[attr-defined]
        source_id, _kind = request.meta[META_SOURCE]
        reason, detail = failure_reason(failure)
        yield FailedFetch(source_id, request.url, reason, detail)


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
