"""`crawl --media`: download a video source's media file with yt-dlp and keep it, content-addressed, in storage.

yt-dlp knows how to get the media of every provider we detect (and of direct mp4/webm/m3u8 links, through
its generic extractor). The file goes to `media/<sha256><ext>`; the video row records where, its SHA-256
and size. A download that fails or is over LASTSEEN_MEDIA_SIZE_CAP is recorded as a crawl failure of the
source (reason `media_error` / `media_too_large`); the capture of the video's page stands.
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_to_future
from sqlalchemy import select
from twisted.internet.threads import deferToThread

from archive.db import session_scope
from archive.models import CrawlFailure, Video
from archive.providers.info import guarded_ydl_options
from archive.storage import media_key, sha256_file
from crawler.items import PageCapture
from crawler.workspace import crawler_workspace

logger = logging.getLogger(__name__)


class MediaError(Exception):
    """A media file that could not be fetched; `reason` is the crawl failure reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class StoredMedia:
    """A media file kept in storage."""

    uri: str
    sha256: str
    size: int


def download_media(url: str, folder: Path, *, proxy: str | None, timeout: int, max_bytes: int,
                   allow_networks: Iterable[str] = ()) -> Path:
    """The media file of a video page or link, downloaded by yt-dlp into `folder` (its traffic guarded)."""
    import yt_dlp
    from yt_dlp.utils import DownloadError

    options: dict[str, Any] = {
        "quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": True, "playlist_items": "1",
        "socket_timeout": timeout, "retries": 1, "logger": logger, "max_filesize": max_bytes,
        "outtmpl": str(folder / "media.%(ext)s"), "format": "best/bestvideo+bestaudio",
    }
    options.update(guarded_ydl_options(proxy, allow_networks))  # every connection through the net guard
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.extract_info(url, download=True)
    except DownloadError as exc:
        raise MediaError("media_error", str(exc).removeprefix("ERROR: ").strip().splitlines()[0]) from None
    except Exception as exc:  # extractor bugs must not stop a crawl
        raise MediaError("media_error", f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.endswith((".part", ".ytdl"))]
    if not files:
        # yt-dlp skips, without an error, a file announced larger than max_filesize.
        raise MediaError("media_too_large", f"no media file within {max_bytes} bytes")
    media = max(files, key=lambda p: p.stat().st_size)
    if media.stat().st_size > max_bytes:
        raise MediaError("media_too_large", f"{media.stat().st_size} bytes is over the cap of {max_bytes}")
    return media


class MediaPipeline:
    """Stores the media file of each captured video source when the crawl runs with --media."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ws = crawler_workspace(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MediaPipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        spider = self.crawler.spider
        if (not isinstance(item, PageCapture) or item.kind != "video" or item.redirect_to is not None
                or not getattr(spider, "media", False)):
            return item
        await deferred_to_future(deferToThread(self._keep, item))
        return item

    def _keep(self, item: PageCapture) -> None:
        try:
            stored = self.store(item.requested_url)
        except MediaError as exc:
            logger.warning("media of %s not stored: %s", item.requested_url, exc)
            with session_scope(self.ws.sessions) as session:
                session.add(CrawlFailure(source_id=item.source_id, url=item.requested_url, reason=exc.reason,
                                         detail=str(exc)[:2000]))
            return
        with session_scope(self.ws.sessions) as session:
            video = session.scalar(select(Video).where(Video.source_id == item.source_id))
            if video is not None:
                video.media_uri, video.media_sha256, video.media_size = stored.uri, stored.sha256, stored.size

    def store(self, url: str) -> StoredMedia:
        """Download one video's media and put it in storage under its SHA-256."""
        settings = self.ws.settings
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="media-", dir=settings.spool_dir))
        try:
            path = download_media(url, folder, proxy=settings.proxy or None, timeout=settings.download_timeout,
                                  max_bytes=settings.media_size_cap, allow_networks=settings.allow_networks)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            stored = self.ws.storage.put_file(media_key(sha256_file(path), path.suffix), path, content_type)
            return StoredMedia(uri=stored.uri, sha256=stored.sha256, size=stored.size)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
