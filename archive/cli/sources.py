"""`lastseen add|import|list|collections|collection`: the bookkeeping of sources and collections."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from archive.cli.output import Output
from archive.config import mask_proxy
from archive.db import session_scope
from archive.errors import EXIT_OK, EXIT_PARTIAL, NotFound, UsageError
from archive.evidence import command_actor
from archive.models import SOURCE_KINDS, SOURCE_STATUSES, Collection, Source, SourceTag
from archive.report import SUMMARY_FIELDS, collection_counts, csv_row, source_summary
from archive.sources import (
    DEFAULT_COLLECTION,
    AddResult,
    SourceEntry,
    add_in_batches,
    ensure_collection,
    get_collection,
)
from archive.sources.importers import read_entries
from archive.sources.limits import MAX_DESCRIPTION, clean_text, recheck_interval
from archive.sources.manage import reschedule
from archive.sources.regions import collection_regions
from archive.status import region_names
from archive.timefmt import iso
from archive.vocab import CaptureMode, capture_mode
from archive.workspace import Workspace

CAPTURE_MODES = tuple(mode.value for mode in CaptureMode)


class AddReport:
    """Says what adding did while it goes: lines for people, or one JSON object streamed for scripts.

    Known and refused entries are spooled to a temporary file, so memory stays flat however long the input.
    """

    def __init__(self, out: Output, collection: str, fmt: str | None = None) -> None:
        self.out, self.collection, self.fmt = out, collection, fmt
        self.added = self.known = self.refused = 0
        self._spool = {"known": tempfile.TemporaryFile("w+", encoding="utf-8"),
                       "refused": tempfile.TemporaryFile("w+", encoding="utf-8")}
        if out.as_json:
            sys.stdout.write(f'{{"collection": {json.dumps(collection, ensure_ascii=False)}, "added": [')

    def batch(self, result: AddResult) -> None:
        """Report one batch."""
        for source in result.added:
            if self.out.as_json:
                sys.stdout.write(("\n  " if not self.added else ",\n  ") + json.dumps(source.normalized_url))
            else:
                self.out.plain(f"added    {source.normalized_url}")
            self.added += 1
        for entry, source in result.known:
            self._keep("known", {"url": entry.url, "line": entry.line, "normalized_url": source.normalized_url})
            if not self.out.as_json:
                self.out.plain(f"known    {source.normalized_url} (already tracked in {self.collection})")
        for entry, reason in result.refused:
            self._keep("refused", {"url": entry.url, "line": entry.line, "reason": reason})
            if not self.out.as_json:
                where = f"line {entry.line}: " if entry.line else ""
                self.out.warn(f"refused  {where}{reason}")
        self.known += len(result.known)
        self.refused += len(result.refused)

    def _keep(self, kind: str, item: dict[str, Any]) -> None:
        if self.out.as_json:
            self._spool[kind].write(json.dumps(item, ensure_ascii=False) + "\n")

    def finish(self) -> int:
        """The closing line (or the rest of the JSON object); exit 1 when anything was refused."""
        if self.out.as_json:
            sys.stdout.write("]")
            for kind, spool in self._spool.items():
                spool.seek(0)
                sys.stdout.write(f', "{kind}": [')
                for number, line in enumerate(spool):
                    sys.stdout.write(("," if number else "") + line.rstrip("\n"))
                sys.stdout.write("]")
            sys.stdout.write((f', "format": "{self.fmt}"' if self.fmt else "") + "}\n")
        else:
            source_kind = f" from {self.fmt}" if self.fmt else ""
            self.out.line(f"{self.added} added, {self.known} already known, {self.refused} refused"
                          f"{source_kind} in collection {self.collection!r}")
        for spool in self._spool.values():
            spool.close()
        return EXIT_PARTIAL if self.refused else EXIT_OK


def _add_all(ws: Workspace, out: Output, args: argparse.Namespace, entries: Iterable[SourceEntry],
             fmt: str | None = None, every: int | None = None) -> int:
    """Add entries in batches, each committed before it is reported: what is reported added is stored, and an
    import cut short keeps the batches before."""
    report = AddReport(out, args.collection, fmt)
    with session_scope(ws.sessions) as session:
        created = get_collection(session, args.collection.strip()) is None
        collection = ensure_collection(session, args.collection)
        if collection.paused_at or collection.deleted_at:
            out.warn(f"lastseen: collection {collection.name!r} is {'deleted' if collection.deleted_at else 'paused'}:"
                     f" its sources are not watched until `lastseen resume -c {collection.name}`")
        actor = command_actor("add" if fmt is None else f"import {args.file}")
        for result in add_in_batches(session, collection, entries, kind=args.kind, tags=args.tag,
                                     recheck_interval=every, actor=actor):
            updated = _new_interval(session, ws, [source.id for _, source in result.known], every) \
                if every is not None and result.known else []
            session.commit()
            report.batch(result)
            for line in updated:
                (out.warn if out.as_json else out.plain)(line)
        if created and not report.added:  # every URL refused: nothing is created, not even the collection
            session.delete(collection)
    return report.finish()


def _new_interval(session: Any, ws: Workspace, ids: list[int], every: int) -> list[str]:
    """`add --every` on known URLs: their interval changes and their next check moves at once; a line for each."""
    changed = list(session.scalars(update(Source).where(Source.id.in_(ids), Source.recheck_interval.is_distinct_from(
        every)).values(recheck_interval=every).returning(Source.id)))
    if not changed:
        return []
    reschedule(session, ws.settings.recheck_interval, source_ids=changed)
    return [f"updated  {url}: recheck every {every} s, next check {iso(when) or 'now'}"
            for url, when in session.execute(select(Source.normalized_url, Source.next_check_at)
                                             .where(Source.id.in_(changed)).order_by(Source.id))]


def cmd_add(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Add URLs to a collection."""
    every = recheck_interval(args.every) if args.every else None
    return _add_all(ws, out, args, [SourceEntry(url) for url in args.urls], every=every)


def cmd_import(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Add every URL of a text, CSV, RSS/Atom or sitemap file, streaming: memory stays flat in its size."""
    if args.file.lower().startswith(("http://", "https://")):
        raise UsageError(f"import reads a file; to follow the feed or sitemap at {args.file} use "
                         f"`lastseen subscribe -c {args.collection} {args.file}` (read now, then on the collection's "
                         "schedule)")
    fmt, entries = read_entries(Path(args.file))
    return _add_all(ws, out, args, entries, fmt)


def _list_query(args: argparse.Namespace) -> Any:
    query = select(Source).join(Collection).options(selectinload(Source.collection)).order_by(Source.id)
    if not args.deleted:
        query = query.where(Source.deleted_at.is_(None))
    if args.collection:
        query = query.where(Collection.name == args.collection)
    if args.status:
        query = query.where(Source.status == args.status)
    if args.kind:
        query = query.where(Source.kind == args.kind)
    if args.tag:
        query = query.where(Source.id.in_(select(SourceTag.source_id).where(SourceTag.tag == args.tag)))
    return query


def cmd_list(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """List sources, filtered."""
    with session_scope(ws.sessions) as session:
        if args.collection and get_collection(session, args.collection) is None:
            raise NotFound(f"no collection named {args.collection!r}")
        rows = [source_summary(s) for s in session.scalars(_list_query(args).execution_options(yield_per=1000))]
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(csv_row(row))
        return EXIT_OK
    if out.as_json:
        out.json(rows)
        return EXIT_OK
    table = Table("status", "kind", "collection", "url", "last seen alive", box=None, pad_edge=False)
    for row in rows:
        status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
        table.add_row(status, row["kind"], row["collection"], row["normalized_url"], row["last_seen_alive_at"] or "-")
    out.table(table)
    out.line(f"{len(rows)} source(s)")
    return EXIT_OK


def cmd_collections(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Collections with counts by status."""
    with session_scope(ws.sessions) as session:
        rows = collection_counts(session)
    if out.as_json:
        out.json(rows)
        return EXIT_OK
    table = Table("collection", "sources", *SOURCE_STATUSES, box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["name"], str(row["sources"]), *(str(row["by_status"][s]) for s in SOURCE_STATUSES))
    out.table(table)
    return EXIT_OK


def _yes_no(value: str) -> bool:
    if value.lower() in {"yes", "true", "on", "1", "obey"}:
        return True
    if value.lower() in {"no", "false", "off", "0", "ignore"}:
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, not {value!r}")


def cmd_collection(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Create a collection or change its settings; print them."""
    with session_scope(ws.sessions) as session:
        collection = ensure_collection(session, args.name)
        if args.description is not None:
            collection.description = clean_text(args.description, "a description", MAX_DESCRIPTION)
        if args.every is not None:
            collection.recheck_interval = recheck_interval(args.every)
            session.flush()
            reschedule(session, ws.settings.recheck_interval, collection_id=collection.id)
        if args.wayback is not None:
            collection.wayback = args.wayback
        if args.robots is not None:
            collection.obey_robots = args.robots
        if args.alert_on_changed is not None:
            collection.alert_on_changed = args.alert_on_changed
        if args.public is not None:
            collection.public_read = args.public
        if args.proxy is not None:
            collection.proxy = args.proxy.strip() or None
        if args.cookies is not None:
            collection.cookies_file = _cookies_file(args.cookies)
        if args.screenshots is not None:
            collection.screenshots = args.screenshots
        if args.media is not None:
            collection.media = args.media
        if args.regions is not None:
            collection.regions = _regions(args.regions)
        if args.capture is not None:
            collection.capture_mode = args.capture
        data = {"name": collection.name, "description": collection.description,
                "recheck_interval": collection.recheck_interval, "obey_robots": collection.obey_robots,
                "alert_on_changed": collection.alert_on_changed, "public_read": collection.public_read,
                "proxy": mask_proxy(collection.proxy), "cookies_file": collection.cookies_file,
                "screenshots": ws.settings.screenshots if collection.screenshots is None else collection.screenshots,
                "media": collection.media, "regions": list(collection_regions(collection)),
                "wayback": collection.wayback,
                "capture": capture_mode(collection.capture_mode, ws.settings.capture).value,
                "paused": iso(collection.paused_at),
                "deleted": iso(collection.deleted_at)}
    if out.as_json:
        out.json(data)
    else:
        for key, value in data.items():
            shown = (",".join(value) or "-") if isinstance(value, list) else value
            out.line(f"{key:<18} {'-' if shown is None else shown}")
    return EXIT_OK


def _regions(value: str) -> list[str] | None:
    """The regions of --regions (empty: none, checked from anywhere); a usage error for a bad name."""
    try:
        return list(region_names(value)) or None
    except ValueError as exc:
        raise UsageError(f"--regions: {exc}") from None


def _cookies_file(value: str) -> str | None:
    """The cookies file's absolute path (empty: none); a usage error when it cannot be read."""
    if not value.strip():
        return None
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise UsageError(f"--cookies: {value} is not a readable file")
    return str(path)


def collection_id(ws: Workspace, name: str | None) -> int | None:
    """The id of the named collection (NotFound, exit 3, when it does not exist), None for all."""
    if name is None:
        return None
    with session_scope(ws.sessions) as session:
        found = get_collection(session, name)
        if found is None:
            raise NotFound(f"no collection named {name!r}")
        return found.id


def collection_arg(parser: argparse.ArgumentParser, default: str | None = DEFAULT_COLLECTION) -> None:
    """The -c/--collection option, shared by every command that works on one collection."""
    parser.add_argument("-c", "--collection", default=default, help="collection name"
                        + (f" (default: {default})" if default else ""))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the source and collection commands to the command line."""
    p = sub.add_parser("add", parents=[common], help="track URLs in a collection")
    p.add_argument("urls", nargs="+", metavar="URL")
    collection_arg(p)
    p.add_argument("--tag", action="append", default=[], help="tag the sources (repeatable)")
    p.add_argument("--kind", choices=SOURCE_KINDS, default=None,
                   help="page or video for every URL (default: a video when a provider recognizes the URL)")
    p.add_argument("--every", help="recheck interval for these sources, e.g. 12h, 30m, 2d")
    p.set_defaults(handler=cmd_add)

    p = sub.add_parser("import", parents=[common], help="track every URL of a text, CSV, RSS/Atom or sitemap file")
    p.add_argument("file")
    collection_arg(p)
    p.add_argument("--tag", action="append", default=[], help="tag the sources (repeatable)")
    p.add_argument("--kind", choices=SOURCE_KINDS, default=None,
                   help="page or video for every URL (default: a video when a provider recognizes the URL)")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("list", parents=[common], help="list sources")
    collection_arg(p, default=None)
    p.add_argument("--status", choices=SOURCE_STATUSES)
    p.add_argument("--kind", choices=SOURCE_KINDS)
    p.add_argument("--tag")
    p.add_argument("--csv", action="store_true", help="CSV output")
    p.add_argument("--deleted", action="store_true", help="also sources deleted from the watch list")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("collections", parents=[common], help="collections with counts by status")
    p.set_defaults(handler=cmd_collections)

    p = sub.add_parser("collection", parents=[common], help="create a collection or change its settings")
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--every", help="default recheck interval of its sources, e.g. 24h")
    p.add_argument("--robots", type=_yes_no, metavar="obey|ignore", help="obey robots.txt while crawling")
    p.add_argument("--alert-on-changed", type=_yes_no, metavar="yes|no", help="alert when content changes")
    p.add_argument("--public", type=_yes_no, metavar="yes|no", help="readable over the API without a token")
    p.add_argument("--proxy", metavar="URL", help="proxy yt-dlp uses for this collection's videos ('' for none)")
    p.add_argument("--cookies", metavar="FILE", help="cookies file (Netscape format) yt-dlp sends for this "
                   "collection's videos; never written into an archive ('' for none)")
    p.add_argument("--screenshots", type=_yes_no, metavar="yes|no",
                   help="a full-page screenshot of each captured HTML page (default LASTSEEN_SCREENSHOTS)")
    p.add_argument("--media", type=_yes_no, metavar="yes|no", help="crawls keep its videos' media files (default yes)")
    p.add_argument("--wayback", type=_yes_no, metavar="yes|no", help="send its captures to the Wayback target "
                   "(default yes; never for URLs reachable only through LASTSEEN_ALLOW_NETWORKS)")
    p.add_argument("--regions", metavar="R[,R]", help="check its sources from these regions, e.g. default,kz (workers "
                   "started with --region; '' for anywhere): refused in one, alive in another is geo_blocked")
    p.add_argument("--capture", choices=CAPTURE_MODES, help="how its pages are fetched: http, browser (rendered in "
                   "Chromium, everything the page loads recorded) or auto (default: the browser for hosts that render "
                   "client-side and for pages whose HTML is a script-loading shell)")
    p.set_defaults(handler=cmd_collection)
