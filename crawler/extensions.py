"""WarcCapture: every response, as received on the wire, becomes WARC records.

The extension owns the crawl's WARC writer and its lifecycle, driven by Scrapy's signals. Records are
written at the `response_downloaded` signal, before any middleware decompresses the body, so gzip/br
payloads stay as the server sent them. The crawl's parts hang off it, one concept each: closed files go to
its WarcUploader (crawler.upload), which stores them; its CaptureRecorder (crawler.recording) records the
capture rows the pipelines hand over once their file is stored; its Timestamper (archive.evidence.keeping) stamps
each stored file; its CrawlSummary (crawler.summary) counts what happened.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from twisted.internet import task

from archive import __version__
from archive.evidence.keeping import Timestamper, WarcStore
from archive.warc import RevisitTarget, RollingWarcWriter, custody_warcinfo
from crawler.recording import CaptureRecorder
from crawler.summary import CrawlSummary
from crawler.upload import WarcUploader, spool_prefix
from crawler.workspace import crawler_workspace

META_RECORDS = "lastseen_warc"
META_PREVIOUS = "lastseen_previous"
META_BROWSER = "lastseen_browser"  # capture this request in a browser (crawler.browser.middleware)
META_RENDERED = "lastseen_rendered"  # the record of the DOM the browser rendered (WarcRecordInfo)


class WarcCapture:
    """Owns the crawl's WARC writer and the parts that store, record, stamp and count what it writes."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ws = crawler_workspace(crawler)
        self.summary = CrawlSummary()
        self.captures = CaptureRecorder(self.ws, self.summary)
        self.stamper = Timestamper(self.ws, self._started_by(), self.summary.stamped)
        self.uploads = WarcUploader(WarcStore(self.ws, self._started_by(), self.stamper), self.captures, self.summary)
        self.writer: RollingWarcWriter | None = None
        self._roller: task.LoopingCall | None = None
        # Called before the last file closes, for records still to come (screenshots being taken).
        self.before_close: list[Callable[[], None]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCapture:
        if not crawler.settings.getbool("LASTSEEN_WARC_ENABLED", True):
            raise NotConfigured
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        """Open the rolling writer in the spool, start the uploader and stamper, and salvage what earlier crawls
        left."""
        settings = self.ws.settings
        collection = getattr(spider, "collection_name", "default")
        prefix = spool_prefix(collection)
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self.writer = RollingWarcWriter(settings.spool_dir, prefix=prefix, max_size=settings.warc_max_size,
                                        warcinfo=self._warcinfo(collection), on_close=self.uploads.put,
                                        max_age=float(settings.warc_max_age))
        self._roller = task.LoopingCall(self.writer.roll_if_old)
        self._roller.start(min(30.0, max(1.0, settings.warc_max_age / 4)), now=False)
        self.stamper.start()
        self.uploads.start(collection)
        self.uploads.salvage(settings.spool_dir, prefix)

    def _started_by(self) -> str:
        """The command, API token or scheduler that started this crawl (LASTSEEN_STARTED_BY from run_crawl)."""
        return self.crawler.settings.get("LASTSEEN_STARTED_BY") or "scrapy crawl archive"

    def _warcinfo(self, collection: str) -> dict[str, str]:
        """The warcinfo record's fields: who made the files, with what, from where, why, for which collection."""
        settings = self.ws.settings
        return {
            **custody_warcinfo(software=f"lastseen/{__version__} (Scrapy)", operator=settings.operator,
                               hostname=socket.gethostname(), proxy=settings.proxy, region=settings.egress_region,
                               started_by=self._started_by(), collection=collection),
            "http-header-user-agent": settings.user_agent,
            "robots": "obey" if self.crawler.settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        }

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Write the exchange as it came off the wire and note its records on the request."""
        if self.writer is None:
            return
        previous = request.meta.get(META_PREVIOUS)
        records = self.writer.write_exchange(
            url=response.url,
            method=request.method,
            request_headers=_request_headers(request),
            http_version=response.protocol or "HTTP/1.1",
            status=response.status,
            reason=_reason(response.status),
            response_headers=_headers(response.headers),
            body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
            fetched_at=datetime.now(UTC),
            # Only the URL's own copy: a request Scrapy redirected keeps the meta of the URL it was sent to.
            revisit_of=previous if isinstance(previous, RevisitTarget) and previous.uri == response.url else None,
        )
        request.meta[META_RECORDS] = records

    def spider_closed(self, spider: Spider) -> None:
        """Close the last file, wait for every upload, and publish the summary in the crawl stats."""
        if self._roller is not None and self._roller.running:
            self._roller.stop()
        try:
            for finish in self.before_close:
                finish()
            if self.writer is not None:
                self.writer.close()
        finally:
            self.uploads.finish()
            self.stamper.finish()
            self.captures.finish()
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("lastseen/summary", self.summary.as_dict())
            self.crawler.stats.set_value("lastseen/to_describe", list(self.captures.to_describe))
        self.ws.close()


def _headers(headers: Any) -> list[tuple[str, str]]:
    """All header lines, repeated ones kept (Set-Cookie, Link), as text."""
    out = []
    for name, values in headers.items():
        for value in values:
            out.append((name.decode("latin-1"), value.decode("latin-1")))
    return out


def _request_headers(request: Request) -> list[tuple[str, str]]:
    """The request's header lines, with the Host header that Scrapy's download handler adds itself."""
    host = urlsplit(request.url).netloc
    return [("Host", host), *_headers(request.headers)]


def _reason(status: int) -> str:
    """The standard reason phrase of a status (Twisted does not keep the server's)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
