"""What a crawl prints off a terminal: lastseen's own lines (one per failed source, progress now and then), not
Scrapy's settings and stats dumps nor a traceback per ordinary network failure (`--verbose` or LASTSEEN_DEBUG
bring them back)."""

from __future__ import annotations

import logging

# Loggers whose lines are lastseen's own: our modules, and the archive spider's (Scrapy names it after the spider).
OWN = ("lastseen", "crawler", "archive")


def network_failure(exc: BaseException | None) -> bool:
    """Whether an exception (or what caused it) is the network failing: DNS, refused, timed out, dropped."""
    from scrapy import exceptions
    from twisted.internet import error
    from twisted.web._newclient import ResponseFailed

    ordinary = (error.DNSLookupError, error.ConnectError, error.ConnectionLost, error.ConnectionDone,
                ResponseFailed, exceptions.CannotResolveHostError, exceptions.DownloadFailedError, TimeoutError)
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ordinary):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class CalmCrawl(logging.Filter):
    """Lets through lastseen's own lines, and other components' errors that are not ordinary network failures
    (a bug in a pipeline still shows); the retry middleware's 'gave up' is said by our one line per failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in OWN:
            return True
        if record.levelno < logging.ERROR or record.name == "scrapy.downloadermiddlewares.retry":
            return False
        return not network_failure(record.exc_info[1] if record.exc_info else None)


def install_calm_handler() -> None:
    """A root handler on stderr in Scrapy's format that prints only what CalmCrawl lets through (installed before
    the CrawlerProcess, whose first lines are its versions dump)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(CalmCrawl())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
