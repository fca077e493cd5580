"""Page requisites in the crawl: each captured page's images, styles, fonts, scripts, icons and frames.

What a page needs is found by archive.extract.requisites; here it is fetched as ordinary Scrapy requests of the
same crawl, so the net guard, robots.txt and politeness apply to each, and WarcCapture writes each exchange as
received under its own URL (an unchanged one as a revisit of its last copy). A page's requisites are bounded in
count and bytes (LASTSEEN_REQUISITE_COUNT, LASTSEEN_REQUISITE_BYTES); within a crawl a URL is fetched once.
Stylesheets' imports and `url()`s are followed (an import loop or chain deeper than _MAX_IMPORTS stops), a
frame's document is fetched with its own requisites but not its frames. Requisites are not sources: their
copies are Requisite rows, a failure is the page's CrawlFailure with reason `requisite_<why>`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from sqlalchemy import insert, select
from twisted.python.failure import Failure

from archive.db import session_scope
from archive.extract.requisites import Requisite as Found
from archive.extract.requisites import css_requisites, html_requisites
from archive.models import CrawlFailure, Requisite
from archive.urls import url_key
from archive.warc import ExchangeRecords, RevisitTarget
from crawler.extensions import META_PREVIOUS, META_RECORDS
from crawler.items import PageCapture
from crawler.pipelines import CrawlPipeline
from crawler.spiders.archive import failure_reason
from crawler.workspace import lastseen_settings

logger = logging.getLogger(__name__)
META_NEED = "lastseen_requisite"
_MAX_IMPORTS = 5  # stylesheets importing stylesheets: deeper chains are not followed
_CSS_KINDS = {"stylesheet", "import"}
_ID_BATCH = 500


@dataclass
class PageBudget:
    """What one page's requisites may still take: shared by all of them (a frame's and imports' included)."""

    source_id: int
    url: str
    count: int
    size: int
    refused: int = 0


@dataclass(frozen=True)
class Need:
    """Why a request was made: for which page, as what, imported through which stylesheets."""

    page: PageBudget
    kind: str
    chain: tuple[str, ...] = ()
    in_frame: bool = False


@dataclass
class _Rows:
    """Requisite rows waiting for their WARC files to be stored, by file name."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_file: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class RequisitePipeline(CrawlPipeline):
    """Fetches the requisites of each captured HTML page into the crawl's WARC files."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = self.ws.settings
        self.enabled = settings.requisites
        self.count, self.size = settings.requisite_count, settings.requisite_bytes
        self._seen: set[str] = set()
        self._rows = _Rows()
        self._earlier: bool | None = None  # whether the collection held requisites when the crawl began

    def process_item(self, item: Any) -> Any:
        """Pass the item on; for a captured HTML page, queue what it needs."""
        if self.enabled and isinstance(item, PageCapture):
            self._seen.update({item.requested_url, item.response.url})
            # a page captured in a browser: its recorder wrote everything the page loaded
            if item.describe and item.redirect_to is None and item.rendered is None:
                page = PageBudget(item.source_id, item.response.url, self.count, self.size)
                found = html_requisites(item.response.body, item.response.url, item.content_type)
                self._queue(page, found, item.response.url)
        return item

    def _queue(self, page: PageBudget, found: list[Found], referer: str, chain: tuple[str, ...] = (),
               in_frame: bool = False) -> None:
        """Requests for what was found that this crawl has not fetched, within the page's count."""
        wanted = [requisite for requisite in found if requisite.url not in self._seen]
        over = 0
        chosen = []
        for requisite in wanted:
            if page.count <= 0:
                over += 1
                continue
            page.count -= 1
            self._seen.add(requisite.url)
            chosen.append(requisite)
        if over:
            self._fail(page, page.url, "cap", f"{over} requisite(s) of {page.url} not fetched: over the cap of "
                                               f"{self.count} per page (LASTSEEN_REQUISITE_COUNT)")
        if not chosen:
            return
        previous = self._previous([requisite.url for requisite in chosen])
        proxy = self.ws.settings.proxy
        for requisite in chosen:
            meta: dict[str, Any] = {META_NEED: Need(page, requisite.kind, chain, in_frame)}
            if requisite.url in previous:
                meta[META_PREVIOUS] = previous[requisite.url]
            if proxy:
                meta["proxy"] = proxy
            # dont_filter: the crawl's own set above dedupes; Scrapy's filter would drop a source's later request
            # for a URL first fetched as a requisite.
            self.crawler.engine.crawl(Request(requisite.url, callback=self._fetched, errback=self._failed,
                                              headers={"Referer": referer}, meta=meta, priority=1, dont_filter=True))

    def _previous(self, urls: list[str]) -> dict[str, RevisitTarget]:
        """The newest full copy of each URL in this collection (for a revisit record when unchanged); no query
        in a collection's first crawl with requisites (a URL is fetched once within a crawl)."""
        collection_id = getattr(self.crawler.spider, "collection_id", None) or 0
        wanted: set[str] = set(urls)
        found: dict[str, RevisitTarget] = {}
        if self._earlier is None:
            with session_scope(self.ws.sessions) as session:
                self._earlier = session.scalar(select(Requisite.id).where(Requisite.collection_id == collection_id)
                                               .limit(1)) is not None
        if not self._earlier:
            return found
        keys = sorted({url_key(url) for url in urls})
        with session_scope(self.ws.sessions) as session:
            for start in range(0, len(keys), _ID_BATCH):
                rows = session.execute(
                    select(Requisite.url, Requisite.captured_at, Requisite.payload_digest)
                    .where(Requisite.collection_id == collection_id,
                           Requisite.url_hash.in_(keys[start:start + _ID_BATCH]),
                           Requisite.record_type == "response", Requisite.payload_digest.is_not(None))
                    .order_by(Requisite.captured_at))
                for url, captured_at, digest in rows:
                    if url in wanted:
                        found[url] = RevisitTarget(uri=url, date=captured_at.isoformat().replace("+00:00", "Z"),
                                                   payload_digest=digest)
        return found

    def _fetched(self, response: Response) -> list[Any]:
        """Note the requisite's copy; follow a stylesheet's imports and urls, a frame's own requisites."""
        need: Need = response.meta[META_NEED]
        records: ExchangeRecords | None = response.meta.get(META_RECORDS)
        if records is None:
            self._fail(need.page, response.url, "not_recorded", "response reached the crawl unrecorded")
            return []
        need.page.size -= len(response.body)
        content_type = response.headers.get("Content-Type", b"").decode("latin-1") or None
        self._row(need, response, records.response, content_type)
        if not 200 <= response.status < 300 or not response.body:
            return []
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        if need.kind in _CSS_KINDS or mime == "text/css":
            self._stylesheet(need, response)
        elif need.kind == "frame" and "html" in mime:
            found = html_requisites(response.body, response.url, content_type, frames=False)
            self._queue(need.page, found, response.url, in_frame=True)
        return []

    def _stylesheet(self, need: Need, response: Response) -> None:
        """Queue what a stylesheet names; an import of a stylesheet on its own chain is a loop, not followed."""
        chain = (*need.chain, response.url)
        found = []
        for requisite in css_requisites(response.body, response.url):
            if requisite.kind == "import" and requisite.url in chain:
                self._fail(need.page, requisite.url, "loop", f"{response.url} imports {requisite.url}, which "
                                                             "imports it: not followed again")
            elif requisite.kind == "import" and len(chain) >= _MAX_IMPORTS:
                self._fail(need.page, requisite.url, "imports", f"{response.url} imports {requisite.url}: more "
                                                                f"than {_MAX_IMPORTS} stylesheets deep")
            else:
                found.append(requisite)
        self._queue(need.page, found, response.url, chain, need.in_frame)

    def _failed(self, failure: Failure) -> None:
        """A requisite that could not be fetched: the page's failure with its reason; the crawl goes on."""
        request = failure.request  # type: ignore[attr-defined]
        reason, detail = failure_reason(failure)
        self._fail(request.meta[META_NEED].page, request.url, reason, detail)

    def _fail(self, page: PageBudget, url: str, reason: str, detail: str) -> None:
        logger.info("requisite %s of %s: %s (%s)", url, page.url, reason, detail)
        reason = f"requisite_{reason}"[:32]
        with session_scope(self.ws.sessions) as session:
            session.add(CrawlFailure(source_id=page.source_id, url=url, reason=reason, detail=detail[:2000]))
        self.capture.summary.count_failure(reason)

    def _row(self, need: Need, response: Response, record: Any, content_type: str | None) -> None:
        """The requisite's row, inserted once its WARC file is stored (with the other rows of that file)."""
        row = {"collection_id": getattr(self.crawler.spider, "collection_id", None) or 0,
               "page_source_id": need.page.source_id, "url": response.url,
               "kind": need.kind, "http_status": response.status, "content_type": (content_type or "")[:255] or None,
               "payload_sha256": record.payload_sha256, "payload_digest": record.payload_digest,
               "size": record.payload_size, "record_type": record.record_type, "warc_offset": record.offset,
               "warc_length": record.length, "record_id": record.record_id,
               "captured_at": datetime.fromisoformat(record.date.replace("Z", "+00:00"))}
        with self._rows.lock:
            waiting = self._rows.by_file.setdefault(record.file_name, [])
            waiting.append(row)
            first = len(waiting) == 1
        if first:
            self.capture.captures.when_stored(record.file_name, lambda uri: self._insert(record.file_name, uri))

    def _insert(self, file_name: str, uri: str) -> None:
        with self._rows.lock:
            rows = self._rows.by_file.pop(file_name, [])
        if rows:
            with session_scope(self.ws.sessions) as session:
                session.execute(insert(Requisite), [{**row, "warc_uri": uri, "url_hash": url_key(row["url"])}
                                                    for row in rows])


class RequisiteBudgetMiddleware:
    """Downloader middleware: a requisite may take no more than its page's bytes left (Scrapy's per-request
    download_maxsize cancels a larger one, whatever its Content-Length claims); a page whose budget is spent
    gets no more requisites."""

    def __init__(self, page_cap: int) -> None:
        self.page_cap = page_cap

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequisiteBudgetMiddleware:
        return cls(lastseen_settings(crawler).page_size_cap)

    def process_request(self, request: Request) -> None:
        need = request.meta.get(META_NEED)
        if need is None:
            return
        if need.page.size <= 0:
            raise IgnoreRequest(f"max size: the requisites of {need.page.url} reached their byte cap "
                                "(LASTSEEN_REQUISITE_BYTES)")
        request.meta["download_maxsize"] = min(self.page_cap, need.page.size)
