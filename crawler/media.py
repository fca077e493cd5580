"""The video itself, in the WARC: each captured video source's media, kept in the crawl's WARC files.

Two ways in, so replay tools play what they find:
- a direct media URL (a `<video src=...mp4>` found on a page, or added as is) is already in the WARC as the
  `response` record of its capture, under its own URL: that record is the media;
- anything else (a YouTube or Vimeo page, a page with an HTML5 player) is downloaded by yt-dlp (crawler.download)
  and written as a `resource` record under the media's own URL (the file yt-dlp fetched), or
  `urn:lastseen:media:<page URL>` when no one URL served it (merged formats, HLS/DASH fragments), tied to the
  page's response record by WARC-Concurrent-To, with its thumbnail and captions (the provider's subtitles and
  automatic captions in every language offered, and the page's own `<track>` files: crawler.captions), each a
  resource record under its own URL (or urn:lastseen:captions:<language>:<media URI>) WARC-Concurrent-To the
  media record, its language in `Lastseen-Language`. Never under the page's URL: replay tools would then serve
  the MP4 as the page's newest capture.
Each gets a `metadata` record holding yt-dlp's info JSON without cookies or credentials, tied to the media
record by WARC-Concurrent-To; its `lastseen` field names the page and the media record's URI. The video row
points at the capture row of the media record, written once its WARC file is stored.

Downloads run in a pool of LASTSEEN_MEDIA_WORKERS threads, off the reactor: the page capture never waits for
them. A failed download is a crawl failure of the source (`media_error`, `media_too_large`) and is tried again
by a later crawl of the collection (archive.due.media_due), which also picks up videos an earlier
crawl left without media. Whether a crawl keeps media is the collection's switch (`lastseen collection NAME
--media yes|no`) unless the crawl says (`crawl --media` / `--no-media`: the LASTSEEN_MEDIA Scrapy setting).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals
from sqlalchemy import select

from archive.captures import capture_row
from archive.db import session_scope
from archive.due import awaiting_media
from archive.extract.tracks import Track, page_tracks
from archive.models import Capture, Collection, CrawlFailure, Source, Video
from archive.providers.info import fetch_ytdlp
from archive.storage import sha256_file
from archive.warc import PreparedFile, PreparedRecord, WarcRecordInfo, prepare_metadata, prepare_resource
from crawler.captions import fetch_tracks
from crawler.download import Download, Extra, MediaError, clean_info, content_type, download_media, media_url
from crawler.items import PageCapture
from crawler.pipelines import CrawlPipeline

logger = logging.getLogger(__name__)
MEDIA_SETTING = "LASTSEEN_MEDIA"  # Scrapy setting: True/False forces media on or off; None: the collection's switch
_MEDIA_TYPES = ("video/", "audio/")
MEDIA_URI_PREFIX = "urn:lastseen:media:"  # a download no one URL served, named after its page
CAPTIONS_URI_PREFIX = "urn:lastseen:captions:"  # a caption track no one URL served: + language + ":" + media URI
LANGUAGE_HEADER, CAPTION_HEADER = "Lastseen-Language", "Lastseen-Caption"  # a track's language; its kind


@dataclass(frozen=True)
class MediaJob:
    """One video source's media to keep: its URL, what its provider said, and its capture when that is the media."""

    source_id: int
    url: str
    info: dict[str, Any] | None = None
    capture: WarcRecordInfo | None = None
    page_record: str | None = None  # the record id of the page's response, when this crawl captured it
    tracks: tuple[Track, ...] = ()  # the caption tracks the page gives its player


def media_capture(item: PageCapture) -> WarcRecordInfo | None:
    """The capture's response record when the fetched body is the media itself (a direct link), else None."""
    record = item.records.response
    kind = (item.content_type or "").split(";", 1)[0].strip().lower()
    if item.failure or record.record_type != "response" or not 200 <= item.response.status < 300:
        return None
    return record if kind.startswith(_MEDIA_TYPES) else None


class MediaPipeline(CrawlPipeline):
    """Keeps each captured video source's media in the WARC, through a pool of download threads."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.forced: bool | None = crawler.settings.get(MEDIA_SETTING)
        self.enabled = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.ws.settings.media_workers),
                                        thread_name_prefix="media")
        self._futures: list[Future[None]] = []
        self._queued: set[int] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> MediaPipeline:
        pipeline = cls(crawler)
        # At spider_opened, after WarcCapture's own handler (extensions connect first) has opened the writer.
        crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
        return pipeline

    def spider_opened(self) -> None:
        """Decide whether this crawl keeps media; queue the collection's videos still without it."""
        collection_id = getattr(self.crawler.spider, "collection_id", None)
        with session_scope(self.ws.sessions) as session:
            collection = session.get(Collection, collection_id) if collection_id else None
            self.enabled = self.forced if self.forced is not None else bool(collection and collection.media)
            if not self.enabled or collection is None:
                return
            now, retry = datetime.now(UTC), self.ws.settings.capture_retry
            waiting = session.execute(select(Video.source_id, Source.normalized_url)
                                      .join(Source, Source.id == Video.source_id)
                                      .where(Source.collection_id == collection.id, awaiting_media(now, retry))
                                      .order_by(Video.id)).all()
        for source_id, url in waiting:
            self._submit(MediaJob(source_id, url))

    def process_item(self, item: Any) -> Any:
        """Hand a captured video source to the pool and pass the item on at once."""
        if self.enabled and isinstance(item, PageCapture) and item.kind == "video" and item.redirect_to is None:
            direct = media_capture(item)
            tracks = () if direct or item.failure else tuple(page_tracks(item.response.body, item.requested_url,
                                                                         item.content_type))
            self._submit(MediaJob(item.source_id, item.requested_url, item.video_info, direct,
                                  item.records.response.record_id, tracks))
        return item

    async def close_spider(self) -> None:
        """Wait for the downloads (before WarcCapture closes the last WARC file), without blocking the reactor."""
        await asyncio.gather(*(asyncio.wrap_future(future) for future in self._futures), return_exceptions=True)
        self._pool.shutdown(wait=False)

    def _submit(self, job: MediaJob) -> None:
        if job.source_id in self._queued:
            return
        self._queued.add(job.source_id)
        self._futures.append(self._pool.submit(self._run, job))

    def _run(self, job: MediaJob) -> None:
        """Keep one job's media; a failure becomes the source's crawl failure, never an exception."""
        try:
            self.keep(job)
        except MediaError as exc:
            logger.warning("media of %s not kept: %s", job.url, exc)
            self._fail(job, exc.reason, str(exc))
        except Exception as exc:  # a bug here must cost one video, not the crawl
            logger.exception("media of %s not kept", job.url)
            self._fail(job, "media_error", f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _fail(self, job: MediaJob, reason: str, detail: str) -> None:
        """Store the source's crawl failure and count it in the crawl's summary, as a failed fetch is."""
        self.capture.summary.count_failure(reason)
        with session_scope(self.ws.sessions) as session:
            session.add(CrawlFailure(source_id=job.source_id, url=job.url, reason=reason, detail=detail[:2000]))

    def keep(self, job: MediaJob) -> None:
        """Write the job's media records into the crawl's WARC; link the video once the file is stored."""
        writer = self.capture.writer
        if writer is None:
            raise MediaError("media_error", "the crawl's WARC writer is closed")
        settings = self.ws.settings
        if job.capture is not None:
            if job.capture.payload_size > settings.media_size_cap:
                raise MediaError("media_too_large", f"{job.capture.payload_size} bytes is over the cap of "
                                                    f"{settings.media_size_cap}")
            info = job.info if job.info is not None else self._info(job.url)
            if info:
                writer.append(self._metadata(job.url, job.capture.record_id, info))
            record = job.capture
            self.capture.captures.when_stored(record.file_name, lambda uri: self._link(job, record, uri, None))
            return
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="media-", dir=settings.spool_dir))
        try:
            download = download_media(job.url, folder, proxy=settings.proxy or None,
                                      timeout=settings.download_timeout, max_bytes=settings.media_size_cap,
                                      allow_networks=settings.allow_networks, max_height=settings.media_max_height)
            page_record = job.page_record or self._page_record(job.source_id)
            extras = download.extras + fetch_tracks(job.tracks, folder, settings,
                                                    known={extra.url for extra in download.extras if extra.url})
            records = self._records(job.url, download, extras, page_record)
            try:
                placed = writer.append_all(records)
            finally:
                for record in records:
                    if isinstance(record, PreparedFile):
                        record.path.unlink(missing_ok=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        media, mime = placed[0], records[0].mime
        self.capture.captures.when_stored(media.file_name, lambda uri: self._link(job, media, uri, mime))

    def _info(self, url: str) -> dict[str, Any] | None:
        """yt-dlp's info for a direct media link, when the crawl did not ask already."""
        settings = self.ws.settings
        answer = fetch_ytdlp(url, proxy=settings.proxy or None, timeout=settings.check_timeout,
                             allow_networks=settings.allow_networks)
        return answer.info

    def _metadata(self, url: str, concurrent_to: str, info: dict[str, Any]) -> PreparedRecord:
        return prepare_metadata(url=url, concurrent_to=concurrent_to, fields=clean_info(info),
                                fetched_at=datetime.now(UTC))

    def _page_record(self, source_id: int) -> str | None:
        """The record id of the page's newest response (or revisit) record, for media kept by a later crawl."""
        with session_scope(self.ws.sessions) as session:
            return session.scalar(select(Capture.record_id).where(
                Capture.source_id == source_id, Capture.record_type.in_(("response", "revisit")))
                .order_by(Capture.captured_at.desc()).limit(1))

    def _records(self, url: str, download: Download, extras: list[Extra],
                 page_record: str | None) -> list[PreparedFile | PreparedRecord]:
        """The media's resource record (under its own URI, tied to the page's record), its metadata record, then
        one resource record per thumbnail or caption track."""
        spool = self.ws.settings.spool_dir
        now = datetime.now(UTC)
        uri = media_url(download.info) or MEDIA_URI_PREFIX + url
        media = prepare_resource(download.media, uri=uri, content_type=content_type(download.media),
                                 fetched_at=now, spool_dir=spool, sha256=sha256_file(download.media),
                                 concurrent_to=page_record)
        records: list[PreparedFile | PreparedRecord] = [media]
        try:
            named = {**download.info, "lastseen": {"page_url": url, "media_uri": uri,
                                                   "media_record_id": media.info.record_id}}
            records.append(self._metadata(url, media.info.record_id, named))
            for extra in extras:
                language = extra.language or "und"
                headers = {LANGUAGE_HEADER: language, CAPTION_HEADER: extra.caption} if extra.caption else None
                records.append(prepare_resource(
                    extra.path, uri=extra.url or f"{CAPTIONS_URI_PREFIX}{language}:{uri}",
                    content_type=content_type(extra.path), fetched_at=now, spool_dir=spool,
                    sha256=sha256_file(extra.path), concurrent_to=media.info.record_id, extra_headers=headers))
        except BaseException:
            for record in records:
                if isinstance(record, PreparedFile):
                    record.path.unlink(missing_ok=True)
            raise
        return records

    def _link(self, job: MediaJob, record: WarcRecordInfo, uri: str, resource_type: str | None) -> None:
        """Once the WARC file is stored: the media record's capture row and the video's pointer to it.

        A resource record (resource_type: its media type) gets a capture row of its own here; a direct link's
        response record already has the row of its capture."""
        with session_scope(self.ws.sessions) as session:
            if resource_type is not None:
                row = capture_row(job.source_id, record, url=record.target_uri, http_status=None,
                                  content_type=resource_type, page_meta=None)
                capture = Capture(**row, warc_uri=uri)
                session.add(capture)
                session.flush()
            else:
                capture = session.scalar(select(Capture).where(Capture.record_id == record.record_id).limit(1))
                if capture is None:
                    raise RuntimeError(f"no capture row for record {record.record_id} in {uri}")
            video = session.scalar(select(Video).where(Video.source_id == job.source_id))
            if video is not None:
                video.media_uri, video.media_sha256, video.media_size = uri, record.payload_sha256, record.payload_size
                video.media_capture_id = capture.id

