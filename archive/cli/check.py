"""`lastseen check`: check the due sources, all of them, or the URLs given, and say what was found."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.cli.output import Output
from archive.db import session_scope
from archive.due import checks_due, watched
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, NotFound, UsageError
from archive.models import Source, utcnow
from archive.sources import find_sources, get_collection
from archive.vocab import TransitionKind
from archive.workspace import Workspace

if TYPE_CHECKING:
    from archive.watch.record import CheckResult, CheckSummary


class CheckProgress:
    """A rich progress bar on a terminal; plain log lines (every 100 checks, and at the end) otherwise."""

    def __init__(self, total: int, interactive: bool, out: Output) -> None:
        self.total = total
        self.done = 0
        self.counts: Counter[str] = Counter()
        self.out = out
        self.progress: Any = None
        if interactive and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=out.errors, transient=True)
            self.task = self.progress.add_task("check", total=total)
            self.progress.start()

    def advance(self, result: CheckResult) -> None:
        """Count one finished check."""
        self.done += 1
        self.counts[result.outcome.value] += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done)
        elif self.done % 100 == 0 or self.done == self.total:
            from archive.watch.record import by_count

            counts = ", ".join(f"{name} {n}" for name, n in by_count(self.counts).items())
            self.out.warn(f"lastseen: checked {self.done}/{self.total} ({counts})")

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.progress is not None:
            self.progress.stop()


def _chosen_sources(session: Session, args: argparse.Namespace,
                    now: datetime) -> tuple[list[int], list[str], list[str]]:
    """(source ids to check, URLs given that are not tracked, URLs given that are paused or deleted)."""
    collection_id = None
    if args.collection:
        collection = get_collection(session, args.collection)
        if collection is None:
            raise NotFound(f"no collection named {args.collection!r}")
        collection_id = collection.id
    if args.urls:
        ids: list[int] = []
        missing = []
        for url in args.urls:
            found = find_sources(session, url, args.collection)
            ids += [s.id for s in found]
            if not found:
                missing.append(url)
        kept = set(session.scalars(select(Source.id).where(Source.id.in_(ids), watched())))
        held = list(session.scalars(select(Source.normalized_url).where(Source.id.in_(set(ids) - kept))))
        return [i for i in ids if i in kept], missing, held
    if args.all:
        stmt = select(Source.id).where(watched()).order_by(Source.id)
        if collection_id is not None:
            stmt = stmt.where(Source.collection_id == collection_id)
        return list(session.scalars(stmt)), [], []
    return checks_due(session, now, args.limit, collection_id=collection_id), [], []


def cmd_check(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Check sources now: the due ones, all of them, or the URLs given."""
    from archive.watch.check import check_sources  # the checking machinery loads for this command only

    if args.urls and args.all:
        raise UsageError("give URLs or --all, not both")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    now = utcnow()
    with session_scope(ws.sessions) as session:
        ids, missing, held = _chosen_sources(session, args, now)
    for url in missing:
        out.warn(f"lastseen: {url} is not tracked" + (f" in {args.collection!r}" if args.collection else ""))
    for url in held:
        out.warn(f"lastseen: {url} is paused or deleted: not checked (`lastseen resume {url}` first)")
    progress = CheckProgress(len(ids), sys.stderr.isatty() and not args.json, out)
    try:
        summary = check_sources(ws, ids, use_ytdlp=args.ytdlp, progress=progress.advance)
    finally:
        progress.close()
    if out.as_json:
        out.json(summary.as_dict())
    else:
        _print_summary(out, summary)
    if missing and not ids and not held:
        return EXIT_NOT_FOUND
    return EXIT_PARTIAL if missing or held or summary.errors else EXIT_OK


_SHOWN_TRANSITIONS = 50


def _print_summary(out: Output, summary: CheckSummary) -> None:
    """The human summary: counts, then the transitions that raise alerts."""
    data = summary.as_dict()
    if summary.paused:
        out.line(f"{summary.paused} source(s) not checked: their host (HTTP 429) or provider (a bot check) is paused")
    if not summary.checked and not summary.errors:
        out.line("nothing to check")
        return
    counts = ", ".join(f"{name} {n}" for name, n in data["outcomes"].items())
    out.line(f"checked {summary.checked} source(s) in {data['seconds']:.1f} s: {counts}")
    if data["transition_counts"]:
        out.line("transitions: " + ", ".join(f"{kind} {n}" for kind, n in data["transition_counts"].items()))
    alerting = [t for t in summary.transitions if t["alerts"]]
    for t in alerting[:_SHOWN_TRANSITIONS]:
        reason = f" ({t['reason']})" if t["reason"] and t["kind"] != TransitionKind.CHANGED else ""
        out.line(f"  {t['kind']:<9} {t['url']}  {t['from']} -> {t['to']}{reason}")
    if len(alerting) > _SHOWN_TRANSITIONS:
        out.line(f"  ... and {len(alerting) - _SHOWN_TRANSITIONS} more (--json lists them all)")
    if summary.to_capture:
        out.line(f"{len(summary.to_capture)} changed source(s) need a new capture (`lastseen crawl URL...`, "
                 "or the scheduler's next crawl)")
    for error in summary.errors:
        out.warn(f"lastseen: check failed: {error}")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `check` to the command line."""
    p = sub.add_parser("check", parents=[common], help="check sources now (the due ones, --all, or the URLs given)")
    p.add_argument("urls", nargs="*", metavar="URL", help="check these tracked URLs")
    p.add_argument("-c", "--collection", default=None, help="only this collection")
    p.add_argument("--all", action="store_true", help="every source, due or not")
    p.add_argument("--limit", type=int, default=None, help="at most this many due sources")
    p.add_argument("--ytdlp", action="store_true", help="also ask yt-dlp about videos the provider's pages "
                                                         "say nothing of (slower)")
    p.set_defaults(handler=cmd_check)
