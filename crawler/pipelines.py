"""Item pipelines of the crawl; each does one thing, on the crawl's workspace and its WarcCapture extension."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_to_future
from sqlalchemy import select
from twisted.internet.threads import deferToThread

from archive.captures import capture_failed, capture_row
from archive.db import session_scope
from archive.models import CrawlFailure, PageVideo, Source, Video, utcnow
from archive.providers.info import VideoInfo, fetch_oembed, fetch_ytdlp
from archive.research.search import index_documents, video_document
from archive.sources import SourceEntry, add_sources, as_video
from archive.sources.state import note_availability
from crawler.extensions import WarcCapture
from crawler.items import FailedFetch, PageCapture
from crawler.recording import PendingCapture
from crawler.workspace import crawler_workspace

logger = logging.getLogger(__name__)


class CrawlPipeline:
    """The base of lastseen's pipelines: the crawler, its workspace and its WarcCapture extension."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ws = crawler_workspace(crawler)
        capture = crawler.get_extension(WarcCapture)
        if capture is None:
            raise RuntimeError("the WarcCapture extension is not enabled")
        self.capture = capture

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Scrapy builds each pipeline with its crawler (after the extensions, so WarcCapture is there)."""
        return cls(crawler)


class VideoPipeline(CrawlPipeline):
    """Videos found on a page become tracked video sources tied to the page, and get crawled too."""

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageCapture) or not item.videos:
            return item
        new_sources: list[tuple[int, str]] = []
        with session_scope(self.ws.sessions) as session:
            page = session.get(Source, item.source_id)
            if page is None:
                return item
            for ref in item.videos:
                video = self._ensure_video(session, page, ref, new_sources)
                link = session.get(PageVideo, (page.id, video.id))
                if link is None:
                    session.add(PageVideo(page_source_id=page.id, video_id=video.id, found_as=ref.found_as))
        spider = self.crawler.spider
        for source_id, url in new_sources:
            if spider is not None and hasattr(spider, "source_request"):
                self.crawler.engine.crawl(spider.source_request(source_id, url, "video"))
        return item

    def _ensure_video(self, session: Any, page: Source, ref: Any, new_sources: list[tuple[int, str]]) -> Video:
        existing = session.scalar(select(Video).join(Source, Source.id == Video.source_id).where(
            Source.collection_id == page.collection_id, Video.provider == ref.provider,
            Video.video_id == ref.video_id))
        if existing is not None:
            return existing
        result = add_sources(session, page.collection, [SourceEntry(ref.canonical_url)], kind="video",
                             tags=(f"video:{ref.provider}",))
        source = result.added[0] if result.added else result.known[0][1]
        video = as_video(session, source.id, ref)  # a URL given before as a page is a video too
        if result.added:
            new_sources.append((source.id, source.url))
        return video


class VideoMetadataPipeline(CrawlPipeline):
    """Asks the provider about a captured video (yt-dlp, else oEmbed) and stores the answer; yt-dlp's info JSON
    stays on the item for the media's metadata record (crawler.media)."""

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageCapture) or item.kind != "video" or item.redirect_to is not None:
            return item
        with session_scope(self.ws.sessions) as session:
            video = session.scalar(select(Video).where(Video.source_id == item.source_id))
            provider = video.provider if video else "direct"
            source = session.get(Source, item.source_id)
            own = (source.collection.proxy, source.collection.cookies_file) if source else (None, None)
        settings = self.ws.settings
        answer = await deferred_to_future(deferToThread(
            self._ask, provider, item.requested_url, own[0] or settings.proxy or None, settings.check_timeout,
            own[1], settings.allow_networks))
        await deferred_to_future(deferToThread(self._store, item, provider, answer))
        return item

    @staticmethod
    def _ask(provider: str, url: str, proxy: str | None, timeout: int, cookies: str | None,
             allow: tuple[str, ...] = ()) -> VideoInfo:
        answer = fetch_ytdlp(url, proxy=proxy, timeout=timeout, cookies=cookies, allow_networks=allow)
        if answer.info is None and answer.availability is None:
            fallback = fetch_oembed(provider, url, proxy=proxy, timeout=timeout, allow_networks=allow)
            if fallback.info is not None or fallback.availability is not None:
                return fallback
        return answer

    def _store(self, item: PageCapture, provider: str, answer: VideoInfo) -> None:
        if answer.source == "yt-dlp":
            item.video_info = answer.info
        with session_scope(self.ws.sessions) as session:
            video = session.scalar(select(Video).where(Video.source_id == item.source_id))
            if video is None:
                video = Video(source_id=item.source_id, provider=provider, video_id=item.requested_url,
                              canonical_url=item.requested_url)
                session.add(video)
            info = answer.info or {}
            video.metadata_fetched_at = datetime.now(UTC)
            video.metadata_source = answer.source or video.metadata_source
            video.title = info.get("title") or video.title
            video.uploader = info.get("uploader") or info.get("author_name") or video.uploader
            video.channel = info.get("channel") or video.channel
            video.upload_date = _iso_date(info.get("upload_date")) or video.upload_date
            video.duration = info.get("duration") if isinstance(info.get("duration"), int | float) else video.duration
            video.view_count = info.get("view_count") if isinstance(info.get("view_count"), int) else video.view_count
            session.flush()
            if info:
                index_documents(session, [video_document(item.source_id, info)])
            note_availability(session, item.source_id, answer.availability)


def _iso_date(value: Any) -> str | None:
    """yt-dlp's YYYYMMDD as YYYY-MM-DD."""
    if isinstance(value, str) and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return None


class CaptureRowPipeline(CrawlPipeline):
    """Hands each capture's row to WarcCapture's recorder, which inserts it once the WARC file is stored."""

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageCapture):
            return item
        row = capture_row(item.source_id, item.records.response, url=item.response.url,
                          http_status=item.response.status, content_type=item.content_type, page_meta=None)
        if item.rendered is not None:  # captured in a browser: its description reads the DOM the browser rendered
            row.update(rendered_offset=item.rendered.offset, rendered_length=item.rendered.length)
        failure = item.failure
        if failure is None and item.redirect_to is None and not 200 <= item.response.status < 300:
            failure = f"http_{item.response.status}"
        self.capture.captures.add(PendingCapture(
            source_id=item.source_id, file_name=item.records.response.file_name, row=row,
            unchanged=item.records.response.record_type == "revisit", failure=failure,
            redirect=item.redirect_to is not None, describe=item.describe))
        return item


class FailurePipeline(CrawlPipeline):
    """Records fetches that gave no capture, with their reason, so the archivist sees why."""

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FailedFetch):
            with session_scope(self.ws.sessions) as session:
                failure = CrawlFailure(source_id=item.source_id, url=item.url, reason=item.reason,
                                       detail=item.detail[:2000])
                session.add(failure)
                capture_failed(session, item.source_id, utcnow(), self.ws.settings.capture_retry)
            self.capture.summary.count_failure(item.reason)
            logger.warning("could not capture %s: %s (%s)", item.url, item.reason, item.detail.splitlines()[0][:300]
                           if item.detail else "no detail")
        return item

