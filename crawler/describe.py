"""Describing captured pages (main text, JSON-LD, OpenGraph, authors) after the crawl, from the stored WARC records.

Describing a page costs more CPU than fetching it: done during the crawl, on the cores the downloads use, it
held the crawl at about half of plain Scrapy's speed (issue #14). The crawl therefore records its captures
first and describes them when the downloads are done, in worker processes at lower priority, reading each
response record back from storage. The metadata record goes into a WARC file of its own
(WARC-Concurrent-To: the response record), kept as every WARC file is (stored with its CDXJ index, named in the
custody record for each collection it describes, timestamped); only then is Capture.page_meta filled.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import __version__
from archive.db import session_scope
from archive.evidence.keeping import Timestamper, WarcStore
from archive.models import Capture, Collection, Source, Video
from archive.storage import StorageError
from archive.warc import ClosedWarc, PreparedRecord, RollingWarcWriter, prepare_metadata, salvage
from archive.workspace import Workspace
from crawler.background import worker_start
from crawler.upload import spool_prefix

logger = logging.getLogger(__name__)
_BATCH = 200  # captures loaded, read and described at a time
_READ_SPAN = 8 * 1024**2  # one ranged read covers neighbouring records of a file up to this many bytes
# Page metadata kept in the database; the full record (text, structured data, links) is in the WARC.
EXCERPT = 280  # characters of the main text kept in the database, for `lastseen status`
DB_META_FIELDS = ("title", "canonical_url", "authors", "published", "modified", "language", "site_name",
                  "description", "charset", "charset_source")


@dataclass
class PageDescription:
    """What a worker found on a page (the database's share) and the WARC metadata record that says all of it."""

    page_meta: dict[str, Any]
    record: PreparedRecord | None = None
    text: str | None = None  # the main text, for the search index (archive.research.search)


def describe_page(data: bytes, content_type: str | None, fetched_at: datetime,
                  rendered_for: tuple[str, str] | None = None) -> PageDescription:
    """Describe the page in one stored response record (its bytes as read from the WARC file).

    rendered_for: (page URL, its response record's id) when data is the record of the DOM a browser rendered
    (crawler.browser): the description is of what the browser saw, and says so of the page's response record.
    """
    from archive.extract.pagemeta import extract_page_metadata, text_sha256
    from archive.extract.videos import find_videos
    from archive.warc import WarcError, decoded_body, read_record

    try:
        stored = read_record(data)
        body = decoded_body(stored)
    except WarcError as exc:
        logger.warning("capture unreadable for its description: %s", exc)
        return PageDescription({})
    url, record_id = rendered_for or (stored.target_uri, stored.record_id)
    meta = extract_page_metadata(body, url, content_type)
    found = meta.as_dict()
    if rendered_for is not None:
        found["rendered"] = True
    videos = find_videos(body, url, encoding=meta.charset)
    fields = {**found, "videos": [{"provider": v.provider, "video_id": v.video_id, "url": v.canonical_url,
                                   "found_as": v.found_as} for v in videos]}
    record = prepare_metadata(url=url, concurrent_to=record_id, fields=fields, fetched_at=fetched_at)
    page_meta = {key: found.get(key) for key in DB_META_FIELDS}
    if meta.text:
        page_meta["text_sha256"] = text_sha256(meta.text)
        page_meta["excerpt"] = " ".join(meta.text[:EXCERPT * 2].split())[:EXCERPT]
    if rendered_for is not None:
        page_meta["rendered"] = True
    return PageDescription(page_meta, record, meta.text)


def _ready() -> None:
    """A no-op a worker runs first: unpickling it imports this module, at the worker's lowered priority."""


def worker_count(configured: int) -> int:
    """Workers to start: the setting, or with 0 one per core (the crawl's downloads are over by then)."""
    if configured > 0:
        return configured
    return max(1, os.cpu_count() or 1)


class PageDescriber:
    """A pool of worker processes describing pages; a crashed worker costs one page's metadata, not the crawl."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn, not fork: the crawl process has threads (uploads) and open database connections.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=worker_start,
                                             initargs=(os.getpid(),))
        return self._pool

    def start(self) -> None:
        """Start the workers now (they import while the crawl downloads, then wait at low priority)."""
        self._executor().submit(_ready)

    def describe(self, jobs: Iterator[_Job]) -> Iterator[tuple[int, PageDescription]]:
        """(capture id, description) for each (capture id, record bytes, content type, rendered_for), in order."""
        window: deque[tuple[int, Future[PageDescription]]] = deque()
        for capture_id, data, content_type, rendered_for in jobs:
            window.append((capture_id, self._submit(data, content_type, rendered_for)))
            if len(window) >= self.workers * 4:
                yield self._result(*window.popleft())
        while window:
            yield self._result(*window.popleft())

    def _submit(self, data: bytes, content_type: str | None,
                rendered_for: tuple[str, str] | None) -> Future[PageDescription]:
        try:
            return self._executor().submit(describe_page, data, content_type, datetime.now(UTC), rendered_for)
        except BrokenProcessPool:
            self._pool = None
            return self._executor().submit(describe_page, data, content_type, datetime.now(UTC), rendered_for)

    def _result(self, capture_id: int, future: Future[PageDescription]) -> tuple[int, PageDescription]:
        try:
            return capture_id, future.result()
        except BrokenProcessPool:
            logger.error("a page description worker died on capture %d; it stays without metadata", capture_id)
            self._pool = None
            return capture_id, PageDescription({})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@dataclass(frozen=True)
class _Stored:
    """What describing a capture needs from its row."""

    id: int
    source_id: int
    kind: str
    record_type: str
    payload_sha256: str | None
    content_type: str | None
    warc_uri: str
    offset: int
    length: int
    url: str = ""
    record_id: str | None = None
    rendered_offset: int | None = None  # the browser's rendered DOM, described instead of the response's body
    rendered_length: int | None = None

    @property
    def span(self) -> tuple[int, int]:
        """Where the record to describe sits: the rendered DOM's when the page was captured in a browser."""
        if self.rendered_offset is not None and self.rendered_length is not None:
            return self.rendered_offset, self.rendered_length
        return self.offset, self.length


RENDERED_TYPE = "text/html; charset=utf-8"  # the rendered DOM is written as UTF-8, whatever the page declared
_Job = tuple[int, bytes, str | None, tuple[str, str] | None]


def _load(session: Session, ids: Sequence[int]) -> list[_Stored]:
    rows = session.execute(
        select(Capture.id, Capture.source_id, Source.kind, Capture.record_type, Capture.payload_sha256,
               Capture.content_type, Capture.warc_uri, Capture.warc_offset, Capture.warc_length, Capture.url,
               Capture.record_id, Capture.rendered_offset, Capture.rendered_length)
        .join(Source, Source.id == Capture.source_id).where(Capture.id.in_(list(ids))))
    return sorted((_Stored(*row) for row in rows), key=lambda c: (c.warc_uri, c.span[0]))


def _read(ws: Workspace, captures: Sequence[_Stored]) -> Iterator[_Job]:
    """Each capture's record bytes (its rendered DOM's, for a page captured in a browser), neighbours of one file
    fetched by one ranged read."""
    start = 0
    while start < len(captures):
        first, end = captures[start], start + 1
        begin = first.span[0]
        while (end < len(captures) and captures[end].warc_uri == first.warc_uri
               and sum(captures[end].span) - begin <= _READ_SPAN):
            end += 1
        group = captures[start:end]
        span = max(sum(c.span) for c in group) - begin
        try:
            data = ws.storage.read(ws.storage.key_of(first.warc_uri), begin, span)
        except StorageError as exc:
            logger.error("captures in %s stay without metadata for now: %s", first.warc_uri, exc)
            data = b""
        for capture in group if data else ():
            offset, length = capture.span
            rendered = (capture.url, capture.record_id or "") if capture.rendered_offset is not None else None
            content_type = RENDERED_TYPE if rendered else capture.content_type
            yield capture.id, data[offset - begin:][:length], content_type, rendered
        start = end


def _copy_from_originals(session: Session, revisits: Sequence[_Stored]) -> int:
    """A revisit says the page is the same as before: it gets its original capture's description."""
    copied = 0
    for capture in revisits:
        meta = session.scalar(select(Capture.page_meta).where(
            Capture.source_id == capture.source_id, Capture.record_type == "response",
            Capture.payload_sha256 == capture.payload_sha256, Capture.page_meta.is_not(None))
            .order_by(Capture.captured_at.desc()).limit(1))
        session.execute(update(Capture).where(Capture.id == capture.id).values(page_meta=meta or {}))
        copied += 1
    return copied


class _MetadataFiles:
    """The rolling WARC file of metadata records, kept the one way every WARC file is
    (archive.evidence.keeping.WarcStore: stored, in the custody record, timestamped); when one is stored, its
    captures' page_meta is filled."""

    def __init__(self, ws: Workspace, collection: str | None, actor: str) -> None:
        self.ws, self.collection = ws, collection
        self.stamper = Timestamper(ws, actor)
        self.stamper.start()
        self.store = WarcStore(ws, actor, self.stamper)
        named = collection or "describe"
        prefix = spool_prefix(named) + ".meta"  # a '.' no collection's prefix has: salvage keeps them apart
        settings = ws.settings
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        for left in (salvage(path) for path in sorted(settings.spool_dir.glob(prefix + "-*.warc.gz*"))):
            if left is not None:
                self._store(left, [])
        # (file, capture id, page_meta, a video, main text)
        self.waiting: list[tuple[str, int, dict[str, Any], bool, str | None]] = []
        self.described = 0
        warcinfo = {"software": f"lastseen/{__version__}", "format": "WARC File Format 1.1",
                    "operator": settings.operator or "unknown", "isPartOf": named,
                    "hostname": socket.gethostname(), "description": "page metadata, described after the crawl"}
        self.writer = RollingWarcWriter(settings.spool_dir, prefix=prefix, max_size=settings.warc_max_size,
                                        warcinfo=warcinfo, on_close=self._closed)

    def add(self, capture: _Stored, found: PageDescription) -> None:
        """Append the description's record; its row waits for the file."""
        if found.record is None:
            with session_scope(self.ws.sessions) as session:
                session.execute(update(Capture).where(Capture.id == capture.id).values(page_meta=found.page_meta))
            return
        info = self.writer.append(found.record)
        self.waiting.append((info.file_name, capture.id, found.page_meta, capture.kind == "video", found.text))

    def close(self) -> None:
        """Store the last file and wait for the timestamps of all."""
        try:
            self.writer.close()
        finally:
            self.stamper.finish()

    def _closed(self, closed: ClosedWarc) -> None:
        rows = [item[1:] for item in self.waiting if item[0] == closed.path.name]
        self.waiting = [item for item in self.waiting if item[0] != closed.path.name]
        self._store(closed, rows)

    def _store(self, closed: ClosedWarc, rows: list[tuple[int, dict[str, Any], bool, str | None]]) -> None:
        """Keep the file, then fill its captures' page_meta (and a video's missing title)."""
        try:
            self.store.keep(closed, self._collections(rows), lambda uri: self._fill(rows))
        except (StorageError, OSError) as exc:
            logger.error("metadata file %s stays in the spool: %s", closed.path, exc)

    def _collections(self, rows: list[tuple[int, dict[str, Any], bool, str | None]]) -> list[str | None]:
        """The collections whose captures the file describes (the custody record names the file for each)."""
        if not rows:
            return [self.collection]
        with session_scope(self.ws.sessions) as session:
            return sorted(session.scalars(
                select(Collection.name).distinct().join(Source, Source.collection_id == Collection.id)
                .join(Capture, Capture.source_id == Source.id).where(Capture.id.in_([row[0] for row in rows]))))

    def _fill(self, rows: list[tuple[int, dict[str, Any], bool, str | None]]) -> None:
        from archive.research.search import index_documents, page_document

        with session_scope(self.ws.sessions) as session:
            sources = dict(session.execute(select(Capture.id, Capture.source_id)
                                           .where(Capture.id.in_([row[0] for row in rows]))).all())
            documents = (page_document(capture_id, sources[capture_id], {**meta, "text": text})
                         for capture_id, meta, _video, text in rows if capture_id in sources)
            index_documents(session, [doc for doc in documents if doc is not None])
            for capture_id, meta, video, _text in rows:
                session.execute(update(Capture).where(Capture.id == capture_id).values(page_meta=meta))
                if video and meta.get("title"):
                    source_id = select(Capture.source_id).where(Capture.id == capture_id).scalar_subquery()
                    session.execute(update(Video).where(Video.source_id == source_id, Video.title.is_(None))
                                    .values(title=meta["title"]))
        self.described += len(rows)


def describe_captures(ws: Workspace, capture_ids: Sequence[int], describer: PageDescriber,
                      collection: str | None, actor: str = "lastseen describe") -> int:
    """Describe these captures from their stored records and fill their page_meta; how many were described.

    collection: the crawl's (None: captures of any collection); actor: who the custody record names."""
    files = _MetadataFiles(ws, collection, actor)
    copied = 0
    try:
        for start in range(0, len(capture_ids), _BATCH):
            with session_scope(ws.sessions) as session:
                captures = _load(session, capture_ids[start:start + _BATCH])
                # a revisit's page is its original's, unless a browser rendered it (its scripts' data may differ)
                copied += _copy_from_originals(session, [c for c in captures if c.record_type == "revisit"
                                                         and c.rendered_offset is None])
            responses = {c.id: c for c in captures if c.record_type == "response" or c.rendered_offset is not None}
            for capture_id, found in describer.describe(_read(ws, list(responses.values()))):
                files.add(responses[capture_id], found)
    finally:
        files.close()
    return files.described + copied


def undescribed(session: Session, collection_id: int | None, after: int, limit: int) -> list[int]:
    """Ids of HTML 2xx captures (after id `after`) that a crawl stopped before describing, up to limit.

    A keyset scan over the captures: `lastseen describe` runs it to catch up after a crawl was killed.
    """
    found: list[int] = []
    while len(found) < limit:
        stmt = (select(Capture.id, Capture.page_meta).join(Source, Source.id == Capture.source_id)
                .where(Capture.id > after, Capture.http_status >= 200, Capture.http_status < 300,
                       Capture.record_type.in_(("response", "revisit")),
                       Capture.content_type.is_(None) | Capture.content_type.ilike("%html%"))
                .order_by(Capture.id).limit(limit * 4))
        if collection_id is not None:
            stmt = stmt.where(Source.collection_id == collection_id)
        rows = session.execute(stmt).all()
        if not rows:
            break
        found += [capture_id for capture_id, meta in rows if meta is None]
        after = rows[-1][0]
    return found[:limit]
