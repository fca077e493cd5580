"""WarcCapture: every response, as received on the wire, becomes WARC records; rows follow the upload.

A stored capture with new content is queued for the Wayback Machine in the same transaction.

Records are written at the `response_downloaded` signal, before any middleware decompresses the body,
so gzip/br payloads stay as the server sent them. Closed WARC files go to storage from one background
thread; capture rows for a file are inserted only after that file (and its CDXJ index) is stored, so a
row never points at bytes that are not durably kept.
"""

from __future__ import annotations

import logging
import queue
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from sqlalchemy import select
from twisted.internet import task

from archive import __version__
from archive.captures import enqueue_captures
from archive.db import session_scope
from archive.models import Capture, Source
from archive.sources.state import seen_alive
from archive.storage import StorageError, warc_key
from archive.timefmt import iso
from archive.warc import ClosedWarc, ExchangeRecords, RevisitTarget, RollingWarcWriter, salvage, write_index
from crawler.workspace import crawler_workspace

logger = logging.getLogger(__name__)

META_RECORDS = "lastseen_warc"
META_PREVIOUS = "lastseen_previous"
_ID_BATCH = 500  # ids per IN (...) query: well inside every database's parameter limit


@dataclass
class PendingCapture:
    """A capture row waiting for its WARC file to be stored."""

    source_id: int
    file_name: str
    row: dict[str, Any]
    unchanged: bool
    alive: bool
    failure: str | None = None


@dataclass
class CrawlSummary:
    """What a crawl did: captured, unchanged (revisits), failed by reason."""

    captured: int = 0
    unchanged: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    storage_error: str | None = None
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"captured": self.captured, "unchanged": self.unchanged, "failed": dict(sorted(self.failed.items())),
                "storage_error": self.storage_error, "warc_files": list(self.files)}


class WarcCapture:
    """Owns the crawl's WARC writer, its uploads, and the capture rows that depend on them."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ws = crawler_workspace(crawler)
        self.summary = CrawlSummary()
        self._lock = threading.Lock()
        self._pending: dict[str, list[PendingCapture]] = {}
        self._stored: dict[str, str] = {}
        self._failed_files: dict[str, str] = {}
        self._uploads: queue.Queue[ClosedWarc | Path | None] = queue.Queue()
        self._uploader: threading.Thread | None = None
        self.writer: RollingWarcWriter | None = None
        self._roller: task.LoopingCall | None = None

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
        settings = self.ws.settings
        collection = getattr(spider, "collection_name", "default")
        prefix = "lastseen-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in collection)
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        warcinfo = {
            "software": f"lastseen/{__version__} (Scrapy)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "operator": settings.operator or "unknown",
            "isPartOf": collection,
            "hostname": socket.gethostname(),
            "http-header-user-agent": settings.user_agent,
            "robots": "obey" if self.crawler.settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        }
        self.writer = RollingWarcWriter(settings.spool_dir, prefix=prefix, max_size=settings.warc_max_size,
                                        warcinfo=warcinfo, on_close=self._queue_upload,
                                        max_age=float(settings.warc_max_age))
        self._roller = task.LoopingCall(self.writer.roll_if_old)
        self._roller.start(min(30.0, max(1.0, settings.warc_max_age / 4)), now=False)
        self._uploader = threading.Thread(target=self._upload_loop, name="warc-upload", daemon=True)
        self._uploader.start()
        self._salvage(settings.spool_dir, prefix)

    def _salvage(self, spool: Path, prefix: str) -> None:
        """Store WARC files an earlier crawl of this collection left in the spool (its upload failed, or it
        died): their bytes are evidence. No other crawl of the collection runs now (the crawl lock)."""
        # Exactly this collection's names: "lastseen-a-..." must not take "lastseen-a-b-..." files of a
        # crawl of collection "a-b" that may be running now.
        ours = re.compile(re.escape(prefix) + r"-\d{20}-\d{5}-[0-9a-f]{8}\.warc\.gz(\.open)?")
        for path in sorted(spool.iterdir()):
            if ours.fullmatch(path.name):
                self._uploads.put(path)  # cut back and stored on the upload thread, not at start-up

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
            revisit_of=previous if isinstance(previous, RevisitTarget) else None,
        )
        request.meta[META_RECORDS] = records

    def add_capture(self, pending: PendingCapture) -> None:
        """A capture row to insert once its file is stored (at once if it already is)."""
        with self._lock:
            if pending.file_name in self._failed_files:
                self.summary.failed["storage"] += 1
                return
            if pending.file_name not in self._stored:
                self._pending.setdefault(pending.file_name, []).append(pending)
                return
            uri = self._stored[pending.file_name]
        self._insert([pending], uri)

    def record_failure(self, reason: str) -> None:
        """Count a fetch that gave nothing worth keeping as a capture."""
        with self._lock:
            self.summary.failed[reason] += 1

    def _queue_upload(self, closed: ClosedWarc) -> None:
        self._uploads.put(closed)

    def _upload_loop(self) -> None:
        while True:
            item = self._uploads.get()
            if item is None:
                return
            if isinstance(item, Path):
                closed = salvage(item)
                if closed is None:
                    continue
                logger.warning("storing %s, left in the spool by an earlier crawl (%d bytes; its captures have "
                               "no rows: recrawl the sources to record them)", closed.path.name, closed.size)
                item = closed
            self._upload(item)

    def _upload(self, closed: ClosedWarc) -> None:
        name = closed.path.name
        now = datetime.now(UTC)
        try:
            cdxj = write_index(closed)
            stored = self.ws.storage.put_file(warc_key(name, now), closed.path, "application/warc")
            self.ws.storage.put_file(warc_key(cdxj.name, now), cdxj, "application/x-cdxj")
        except (StorageError, OSError) as exc:
            logger.error("WARC file %s stays in the spool: %s", closed.path, exc)
            with self._lock:
                self._failed_files[name] = str(exc)
                self.summary.storage_error = str(exc)
                lost = self._pending.pop(name, [])
                self.summary.failed["storage"] += len(lost)
            return
        with self._lock:
            self._stored[name] = stored.uri
            self.summary.files.append(stored.uri)
            waiting = self._pending.pop(name, [])
        self._insert(waiting, stored.uri)
        closed.path.unlink(missing_ok=True)
        cdxj.unlink(missing_ok=True)

    def _insert(self, pending: list[PendingCapture], uri: str) -> None:
        """Capture rows for a stored file, and what they tell of their sources, in one transaction."""
        if not pending:
            return
        with session_scope(self.ws.sessions) as session:
            rows = [Capture(**item.row, warc_uri=uri) for item in pending]
            session.add_all(rows)
            session.flush()
            enqueue_captures(session, [(item.source_id, row.id) for item, row in zip(pending, rows, strict=True)
                                       if item.alive and not item.failure])
            alive: dict[int, Capture] = {}
            for item, row in zip(pending, rows, strict=True):
                if item.alive and (item.source_id not in alive or alive[item.source_id].captured_at < row.captured_at):
                    alive[item.source_id] = row
            ids = list(alive)
            for start in range(0, len(ids), _ID_BATCH):
                for source in session.scalars(select(Source).where(Source.id.in_(ids[start:start + _ID_BATCH]))):
                    row = alive[source.id]
                    seen_alive(session, source, row.captured_at, [{"capture_id": row.id, "at": iso(row.captured_at),
                                                                   "http_status": row.http_status}])
        with self._lock:
            for item in pending:
                if item.failure:
                    self.summary.failed[item.failure] += 1
                elif item.unchanged:
                    self.summary.unchanged += 1
                else:
                    self.summary.captured += 1

    def spider_closed(self, spider: Spider) -> None:
        """Close the last file, wait for every upload, and publish the summary in the crawl stats."""
        if self._roller is not None and self._roller.running:
            self._roller.stop()
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self._uploads.put(None)
                if self._uploader is not None:
                    self._uploader.join()
        with self._lock:
            for name, waiting in self._pending.items():
                logger.error("WARC file %s was never stored; %d capture(s) not recorded", name, len(waiting))
                self.summary.failed["storage"] += len(waiting)
            self._pending.clear()
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("lastseen/summary", self.summary.as_dict())
        self.ws.close()


def previous_capture(session: Any, source_id: int) -> RevisitTarget | None:
    """The newest full capture of a source, for writing a revisit record when nothing changed."""
    capture = session.scalar(select(Capture).where(Capture.source_id == source_id,
                                                   Capture.record_type == "response",
                                                   Capture.payload_digest.is_not(None))
                             .order_by(Capture.captured_at.desc()).limit(1))
    if capture is None:
        return None
    date = capture.captured_at.isoformat().replace("+00:00", "Z")
    return RevisitTarget(uri=capture.url, date=date, payload_digest=capture.payload_digest)


def capture_row(source_id: int, records: ExchangeRecords, response: Response, content_type: str | None,
                page_meta: dict[str, Any] | None) -> dict[str, Any]:
    """Columns of a Capture row (all but the file's URI) for a response whose records were written."""
    record = records.response
    return {
        "source_id": source_id,
        "captured_at": datetime.fromisoformat(record.date.replace("Z", "+00:00")),
        "url": response.url,
        "http_status": response.status,
        "content_type": content_type,
        "payload_sha256": record.payload_sha256,
        "payload_digest": record.payload_digest,
        "size": record.payload_size,
        "record_type": record.record_type,
        "warc_offset": record.offset,
        "warc_length": record.length,
        "record_id": record.record_id,
        "page_meta": page_meta,
    }


def _headers(headers: Any) -> list[tuple[str, str]]:
    """All header lines, repeated ones kept (Set-Cookie, Link), as text."""
    out = []
    for name, values in headers.items():
        for value in values:
            out.append((name.decode("latin-1"), value.decode("latin-1")))
    return out


def _request_headers(request: Request) -> list[tuple[str, str]]:
    host = urlsplit(request.url).netloc
    return [("Host", host), *_headers(request.headers)]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
