"""Running a crawl: the Scrapy project in this process, under the collection's crawl lock."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from scrapy.crawler import Crawler, CrawlerProcess

from archive.errors import UsageError
from archive.locks import named_lock
from archive.storage import StorageError
from archive.workspace import Workspace
from crawler.calm import install_calm_handler
from crawler.describe import PageDescriber, describe_captures, undescribed, worker_count
from crawler.media import MEDIA_SETTING
from crawler.settings import scrapy_settings
from crawler.spiders.archive import ArchiveSpider
from crawler.workspace import use_workspace

VERBOSE_SETTING = "LASTSEEN_VERBOSE"  # Scrapy's own log lines too (crawl --verbose)


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
    describer = PageDescriber(worker_count(ws.settings.describe_workers))
    try:
        given = {"LASTSEEN_STARTED_BY": started_by} if started_by else {}
        describer.start()  # the workers import while the crawl downloads, then wait at low priority
        started = time.perf_counter()
        summary = _crawl(ws, collection=collection, urls=urls, depth=depth, media=media, interactive=interactive,
                         overrides={**given, **(overrides or {})}, on_crawler=on_crawler, only_due=only_due)
        summary["crawl_seconds"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        summary["described"] = describe_captures(ws, summary.pop("to_describe"), describer, collection,
                                                 started_by or "lastseen crawl")
        summary["describe_seconds"] = round(time.perf_counter() - started, 3)
        return summary
    finally:
        describer.close()
        lock.release()


def describe_pending(ws: Workspace, *, collection: str | None = None, batch: int = 1000) -> int:
    """Describe the captures a killed crawl left undescribed (of one collection, or all); how many."""
    from archive.db import session_scope
    from archive.sources import get_collection

    with session_scope(ws.sessions) as session:
        found = get_collection(session, collection) if collection else None
        collection_id = found.id if found is not None else None
    if collection and collection_id is None:
        raise UsageError(f"no collection {collection!r}")
    # A collection's crawl describes its own captures; this waits for none of them to run.
    lock = named_lock(ws.settings, ws.engine, f"crawl:{collection}" if collection else "describe")
    if not lock.acquire():
        raise UsageError("a crawl of that collection is running; it describes its own captures")
    describer = PageDescriber(worker_count(ws.settings.describe_workers))
    described, after = 0, 0
    try:
        while True:
            with session_scope(ws.sessions) as session:
                ids = undescribed(session, collection_id, after, batch)
            if not ids:
                return described
            described += describe_captures(ws, ids, describer, collection)
            after = ids[-1]
    finally:
        describer.close()
        lock.release()


def _crawl(ws: Workspace, *, collection: str, urls: list[str], depth: int, media: bool | None, interactive: bool,
           overrides: dict[str, Any] | None, on_crawler: Callable[[Crawler], object] | None,
           only_due: bool) -> dict[str, Any]:
    """One CrawlerProcess with the archive spider; the summary WarcCapture left in the stats."""
    verbose = bool((overrides or {}).get(VERBOSE_SETTING) or os.environ.get("LASTSEEN_DEBUG"))
    calm = not interactive and not verbose
    settings = scrapy_settings(ws.settings, **{"LOG_LEVEL": "WARNING" if interactive else "INFO", MEDIA_SETTING: media,
                                               "LOG_INSTALL_ROOT_HANDLER": not interactive and not calm,
                                               **(overrides or {})})
    if calm:
        install_calm_handler()
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ArchiveSpider)
    use_workspace(crawler, ws)
    if on_crawler is not None:
        on_crawler(crawler)
    process.crawl(crawler, collection=collection, urls=urls, depth=depth, media=bool(media), only_due=only_due)
    process.start()
    summary = crawler.stats.get_value("lastseen/summary") if crawler.stats else None
    if summary is None:
        raise StorageError("the crawl ended before anything was recorded (see the log above)")
    summary["requests"] = crawler.stats.get_value("downloader/request_count", 0)
    summary["to_describe"] = crawler.stats.get_value("lastseen/to_describe") or []
    return summary
