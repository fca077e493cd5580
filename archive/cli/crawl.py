"""`lastseen crawl`, `describe` and `export`: capture sources as WARC, describe them, hand researchers one file."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError
from archive.evidence import command_actor
from archive.models import utcnow
from archive.sources import DEFAULT_COLLECTION
from archive.timefmt import iso
from archive.workspace import Workspace


class CrawlProgress:
    """Sources done out of sources under way: a rich bar on a terminal, log lines otherwise, fed by signals; once
    the downloads end, the bar says "describing" while the pages' metadata is extracted.

    A source is done when its capture or its failure is recorded (its robots.txt, redirects and requisites are
    not counted). A context manager, so the bar comes down and the cursor comes back however the crawl ends. It
    keeps no state in Scrapy (which holds signal receivers weakly): the caller holds it for the crawl's length.
    """

    EVERY = 25  # off a terminal, a progress line every this many sources

    def __init__(self, interactive: bool) -> None:
        self.sources: set[int] = set()
        self.done: set[int] = set()
        self.progress: Any = None
        self.task: Any = None
        if interactive:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            # "done/total" while crawling; nothing while describing, whose length is not known (never "0/?")
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                                     TimeElapsedColumn(), transient=True)
            self.task = self.progress.add_task("crawling", total=0, count="0/0")

    def __enter__(self) -> CrawlProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def attach(self, crawler: Any) -> None:
        """Follow this crawler's sources (a scrapy.crawler.Crawler)."""
        from scrapy import signals

        crawler.signals.connect(self.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.downloads_done, signal=signals.spider_closed)

    def request_scheduled(self, request: Any) -> None:
        """A source's request queued: one more source under way (a redirect hop is the same source)."""
        from crawler.spiders.archive import META_SOURCE

        source = request.meta.get(META_SOURCE)
        if source is not None and source[0] not in self.sources:
            self.sources.add(source[0])
            self._show()

    def item_scraped(self, item: Any) -> None:
        """A source's capture (not a hop on its way) or its failure is recorded."""
        source_id = getattr(item, "source_id", None)
        if source_id is None or getattr(item, "redirect_to", None) is not None or source_id in self.done:
            return
        self.done.add(source_id)
        self._show()
        if self.progress is None and len(self.done) % self.EVERY == 0:
            logging.getLogger("lastseen.crawl").info("%d of %d sources done", len(self.done), len(self.sources))

    def downloads_done(self, spider: Any = None) -> None:
        """The downloads are over: the bar becomes the describing step (its length unknown)."""
        if self.progress is not None:
            self.progress.remove_task(self.task)
            self.task = self.progress.add_task("describing", total=None, count="")

    def _show(self) -> None:
        if self.progress is not None:
            total = max(len(self.sources), len(self.done))
            self.progress.update(self.task, completed=len(self.done), total=total, count=f"{len(self.done)}/{total}")


def cmd_crawl(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Capture sources of a collection that have no capture yet (or the URLs given)."""
    if args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    from crawler.run import (  # Scrapy loads only for a crawl: every other command starts faster
        VERBOSE_SETTING,
        run_crawl,
    )

    interactive = sys.stderr.isatty() and not args.json
    if args.retry:
        _retry_now(ws, args.collection)
    with CrawlProgress(interactive) as progress:
        summary = run_crawl(ws, collection=args.collection, urls=args.urls, depth=args.depth, media=args.media,
                            interactive=interactive, on_crawler=progress.attach,
                            only_due=args.only_due, overrides={VERBOSE_SETTING: args.verbose},
                            started_by=args.started_by or command_actor(f"crawl -c {args.collection}"))
    summary["waiting_retry"] = _waiting(ws, args.collection)
    if out.as_json:
        out.json(summary)
    else:
        failed = summary["failed"]
        reasons = ", ".join(f"{reason} {count}" for reason, count in failed.items())
        out.line(f"captured {summary['captured']}, unchanged {summary['unchanged']}, "
                 f"failed {sum(failed.values())}" + (f" ({reasons})" if reasons else ""))
        for uri in summary["warc_files"]:
            out.line(f"  stored {uri}")
        waiting = summary["waiting_retry"]
        if waiting["sources"]:
            out.line(f"{waiting['sources']} source(s) wait to retry a failed capture, the next at "
                     f"{waiting['next_attempt_at']} (`lastseen status URL` says why; --retry tries them now)")
    if summary["storage_error"]:
        out.warn(f"lastseen: error: storage: {summary['storage_error']}")
        nothing = summary["captured"] + summary["unchanged"] == 0
        return EXIT_USAGE if nothing else EXIT_PARTIAL
    return EXIT_OK


def _retry_now(ws: Workspace, collection: str) -> None:
    """Failed captures of the collection are due at once (--retry)."""
    from archive.sources import get_collection
    from archive.sources.manage import retry_now

    with session_scope(ws.sessions) as session:
        found = get_collection(session, collection)
        if found is not None:
            retry_now(session, found.id)


def _waiting(ws: Workspace, collection: str) -> dict[str, Any]:
    """The collection's sources waiting to retry a failed capture (count, soonest retry)."""
    from archive.due import retries_waiting
    from archive.sources import get_collection

    with session_scope(ws.sessions) as session:
        found = get_collection(session, collection)
        waiting = retries_waiting(session, found.id, utcnow()) if found is not None else \
            {"sources": 0, "next_attempt_at": None}
    return {**waiting, "next_attempt_at": iso(waiting["next_attempt_at"])}


def cmd_describe(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Describe the pages a killed crawl captured but did not describe (a crawl describes its own at its end)."""
    from crawler.run import describe_pending

    described = describe_pending(ws, collection=args.collection)
    if out.as_json:
        out.json({"described": described})
    else:
        out.line(f"described {described} capture(s)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Export a collection's captures to one file; a WACZ is signed, and timestamped when TSAs are configured."""
    from archive.export import export_collection  # loaded by this command only: cdxj-indexer, signing

    target = Path(args.out)
    try:
        result = export_collection(ws, args.collection, target,
                                   actor=command_actor(f"export -c {args.collection} {args.out}"))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    failed = [stamp for stamp in result.get("timestamps", []) if not stamp["ok"]]
    if out.as_json:
        out.json(result)
    else:
        out.line(f"wrote {result['file']}: {result['warc_files']} WARC file(s), {result['size']} bytes")
        if "signed_by" in result:
            out.line(f"  signed by key {result['signed_by']}")
        for stamp in result.get("timestamps", []):
            out.line(f"  timestamp {stamp['detail']}" if stamp["ok"] else f"  FAILED timestamp by {stamp['tsa']}: "
                     f"{stamp['detail']}")
    if failed:
        out.warn(f"lastseen: {len(failed)} TSA(s) failed to timestamp {target} (the export itself is complete)")
        return EXIT_PARTIAL
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `crawl`, `describe` and `export` to the command line."""
    p = sub.add_parser("crawl", parents=[common], help="capture sources as WARC (new ones, or the URLs given)")
    p.add_argument("urls", nargs="*", metavar="URL", help="capture these (added to the collection if new)")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION)
    p.add_argument("--depth", type=int, default=0, help="follow same-site links this deep (default 0)")
    p.add_argument("--media", action=argparse.BooleanOptionalAction, default=None,
                   help="keep (or not) the media files of video sources in the WARC files "
                        "(default: the collection's setting, on unless `lastseen collection NAME --media no`)")
    p.add_argument("--only-due", action="store_true",
                   help="skip given URLs captured since they last changed (workers use it so work runs once)")
    p.add_argument("--retry", action="store_true",
                   help="try sources whose capture failed now, not at their next retry time (the cause was fixed)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="off a terminal, print Scrapy's own log too (settings, stats, network tracebacks)")
    p.add_argument("--started-by", help=argparse.SUPPRESS)  # the API or scheduler that starts this crawl
    p.set_defaults(handler=cmd_crawl)
    p = sub.add_parser("describe", parents=[common],
                       help="describe captured pages a stopped crawl left without metadata")
    p.add_argument("-c", "--collection", default=None, help="only this collection's (default: all)")
    p.set_defaults(handler=cmd_describe)
    p = sub.add_parser("export", parents=[common], help="one .warc.gz or .wacz with a collection's captures")
    p.add_argument("out", metavar="OUT")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION)
    p.set_defaults(handler=cmd_export)
