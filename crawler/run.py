"""Running a crawl: the Scrapy project in this process, under the collection's crawl lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from scrapy.crawler import Crawler, CrawlerProcess

from archive.errors import UsageError
from archive.locks import named_lock
from archive.storage import StorageError
from archive.workspace import Workspace
from crawler.media import MEDIA_SETTING
from crawler.settings import scrapy_settings
from crawler.spiders.archive import ArchiveSpider


def run_crawl(ws: Workspace, *, collection: str, urls: list[str], depth: int, media: bool | None = None,
              interactive: bool = False, overrides: dict[str, Any] | None = None,
              on_crawler: Callable[[Crawler], object] | None = None,
              only_due: bool = False, started_by: str = "") -> dict[str, Any]:
    """Crawl in this process (once: Twisted's reactor does not restart) and return the summary.

    media: keep video media files (True), don't (False), or as the collection says (None).
    on_crawler is called with the crawler before it starts, to connect to its signals (a progress bar);
    started_by (a command, an API token, the scheduler) is written into the WARC files and the custody record.
    """
    ws.check()
    if urlsplit(ws.settings.proxy).scheme.lower().startswith("socks"):
        raise UsageError("LASTSEEN_PROXY: the crawl (Scrapy) speaks only to HTTP proxies; checks, yt-dlp and the "
                         "Wayback worker use SOCKS. Crawl through an HTTP proxy or an HTTP-to-SOCKS bridge")
    lock = named_lock(ws.settings, ws.engine, f"crawl:{collection}")
    if not lock.acquire():
        raise UsageError(f"another crawl of collection {collection!r} is running; try again when it ends")
    try:
        given = {"LASTSEEN_STARTED_BY": started_by} if started_by else {}
        return _crawl(ws, collection=collection, urls=urls, depth=depth, media=media, interactive=interactive,
                      overrides={**given, **(overrides or {})}, on_crawler=on_crawler, only_due=only_due)
    finally:
        lock.release()


def _crawl(ws: Workspace, *, collection: str, urls: list[str], depth: int, media: bool | None, interactive: bool,
           overrides: dict[str, Any] | None, on_crawler: Callable[[Crawler], object] | None,
           only_due: bool) -> dict[str, Any]:
    """One CrawlerProcess with the archive spider; the summary WarcCapture left in the stats."""
    settings = scrapy_settings(ws.settings, **{"LOG_LEVEL": "WARNING" if interactive else "INFO", MEDIA_SETTING: media,
                                               **(overrides or {})})
    process = CrawlerProcess(settings, install_root_handler=not interactive)
    crawler = process.create_crawler(ArchiveSpider)
    if on_crawler is not None:
        on_crawler(crawler)
    process.crawl(crawler, collection=collection, urls=urls, depth=depth, media=bool(media), only_due=only_due)
    process.start()
    summary = crawler.stats.get_value("lastseen/summary") if crawler.stats else None
    if summary is None:
        raise StorageError("the crawl ended before anything was recorded (see the log above)")
    summary["requests"] = crawler.stats.get_value("downloader/request_count", 0)
    return summary
