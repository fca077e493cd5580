"""`lastseen crawl` and `lastseen export`: capture sources as WARC, and hand researchers one file."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler

from archive.cli.output import Output
from archive.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError
from archive.sources import DEFAULT_COLLECTION
from archive.warc import export_collection
from archive.workspace import Workspace
from crawler.run import run_crawl


class CrawlProgress:
    """A rich progress bar on a terminal, plain log lines otherwise, fed by Scrapy's signals."""

    def __init__(self, crawler: Crawler, interactive: bool) -> None:
        self.done = 0
        self.interactive = interactive
        self.progress: Any = None
        self.task: Any = None
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        if interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("crawling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     transient=True)
            self.task = self.progress.add_task("crawl", total=None)
            self.progress.start()

    def item_scraped(self, item: Any) -> None:
        """Count one fetched item: advance the bar, or log every hundredth."""
        self.done += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done)
        elif self.done % 100 == 0:
            logging.getLogger("lastseen.crawl").info("%d fetched", self.done)

    def spider_closed(self) -> None:
        """Take the bar down when the crawl ends."""
        if self.progress is not None:
            self.progress.stop()


def cmd_crawl(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Capture sources of a collection that have no capture yet (or the URLs given)."""
    if args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    interactive = sys.stderr.isatty() and not args.json
    summary = run_crawl(ws, collection=args.collection, urls=args.urls, depth=args.depth, media=args.media,
                        interactive=interactive, on_crawler=lambda crawler: CrawlProgress(crawler, interactive))
    if out.as_json:
        out.json(summary)
    else:
        failed = summary["failed"]
        reasons = ", ".join(f"{reason} {count}" for reason, count in failed.items())
        out.line(f"captured {summary['captured']}, unchanged {summary['unchanged']}, "
                 f"failed {sum(failed.values())}" + (f" ({reasons})" if reasons else ""))
        for uri in summary["warc_files"]:
            out.line(f"  stored {uri}")
    if summary["storage_error"]:
        out.warn(f"lastseen: error: storage: {summary['storage_error']}")
        nothing = summary["captured"] + summary["unchanged"] == 0
        return EXIT_USAGE if nothing else EXIT_PARTIAL
    return EXIT_OK


def cmd_export(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Export a collection's captures to one file."""
    result = export_collection(ws, args.collection, Path(args.out))
    if out.as_json:
        out.json(result)
    else:
        out.line(f"wrote {result['file']}: {result['warc_files']} WARC file(s), {result['size']} bytes")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `crawl` and `export` to the command line."""
    p = sub.add_parser("crawl", parents=[common], help="capture sources as WARC (new ones, or the URLs given)")
    p.add_argument("urls", nargs="*", metavar="URL", help="capture these (added to the collection if new)")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION)
    p.add_argument("--depth", type=int, default=0, help="follow same-site links this deep (default 0)")
    p.add_argument("--media", action="store_true", help="also store video media files")
    p.set_defaults(handler=cmd_crawl)
    p = sub.add_parser("export", parents=[common], help="one .warc.gz or .wacz with a collection's captures")
    p.add_argument("out", metavar="OUT")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION)
    p.set_defaults(handler=cmd_export)
