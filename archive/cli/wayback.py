"""`lastseen wayback`: drain the Wayback queue once, look copies up, or find recovery copies."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, NotFound, UsageError
from archive.models import Capture, Collection, Source, WaybackSubmission
from archive.sources import find_sources
from archive.timefmt import iso
from archive.vocab import SourceStatus, SubmissionState
from archive.workspace import Workspace

if TYPE_CHECKING:
    from archive.wayback.client import WaybackTarget
    from archive.wayback.queue import DrainItem


def _chosen_sources(session: Session, args: argparse.Namespace, out: Output) -> tuple[list[int], int]:
    """Source ids the command works on (the URLs given, in the collection if named) and how many URLs were unknown."""
    if args.collection and session.scalar(select(Collection.id).where(Collection.name == args.collection)) is None:
        raise NotFound(f"no collection named {args.collection!r}")
    ids: list[int] = []
    unknown = 0
    for url in args.urls:
        found = find_sources(session, url, args.collection)
        if not found:
            unknown += 1
            out.warn(f"lastseen: {url} is not tracked" + (f" in {args.collection!r}" if args.collection else ""))
        ids.extend(source.id for source in found if source.id not in ids)
    return ids, unknown


def _scope_query(query: Any, collection: str | None) -> Any:
    """A query over sources narrowed to one collection when one is named."""
    if collection:
        return query.join(Collection, Collection.id == Source.collection_id).where(Collection.name == collection)
    return query


def cmd_wayback(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Drain the Wayback queue once; or --lookup the copies the archive holds; or --recover vanished sources."""
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    from archive.captures import enqueue_source  # the Wayback client loads for this command only
    from archive.wayback.targets import target_from_settings

    client = target_from_settings(ws.settings)
    with session_scope(ws.sessions) as session:
        ids, unknown = _chosen_sources(session, args, out)
        if args.urls and not ids:
            return EXIT_NOT_FOUND
        if not args.urls and (args.lookup or args.recover):
            query = _scope_query(select(Source.id), args.collection)
            if args.recover:
                query = query.where(Source.status == SourceStatus.VANISHED, Source.recovery_archive_url.is_(None))
            ids = list(session.scalars(query.order_by(Source.id).limit(args.limit)))
        if not args.lookup and not args.recover:
            for source_id in ids:
                enqueue_source(session, source_id)
            if args.backfill:
                never = _scope_query(select(Source.id), args.collection).where(
                    Source.id.in_(select(Capture.source_id)),
                    Source.id.not_in(select(WaybackSubmission.source_id)))
                for source_id in session.scalars(never.order_by(Source.id)):
                    enqueue_source(session, source_id)
    if args.lookup:
        code = _run_lookup(ws, ids, client, out)
    elif args.recover:
        code = _run_recover(ws, ids, client, out)
    else:
        code = _run_drain(ws, args, ids if args.urls else None, client, out)
    return EXIT_PARTIAL if unknown and code == EXIT_OK else code


def _run_drain(ws: Workspace, args: argparse.Namespace, source_ids: list[int] | None, client: WaybackTarget,
               out: Output) -> int:
    """Drain once, printing each submission as it ends; exit 1 when some failed for good."""
    from archive.wayback.queue import REPORTED, drain

    def show(item: DrainItem) -> None:
        if not out.as_json:
            out.line(f"{item.state:<9} {item.url}  {item.archive_url or item.error or ''}".rstrip())

    summary = drain(ws, args.collection, client=client, source_ids=source_ids, limit=args.limit, progress=show)
    if out.as_json:
        out.json(summary.as_dict())
    else:
        counts = ", ".join(f"{summary.count(s)} {s}" for s in REPORTED if summary.count(s))
        out.line(f"{len(summary.items)} submission(s) to {summary.target}" + (f": {counts}" if counts else ""))
        if summary.paused_until is not None:
            out.warn(f"lastseen: the archive asked us to wait: queue paused until {iso(summary.paused_until)}")
    return EXIT_PARTIAL if summary.count(SubmissionState.FAILED) else EXIT_OK


def _run_lookup(ws: Workspace, ids: list[int], client: WaybackTarget, out: Output) -> int:
    """Look each source up and print what the archive holds; exit 1 when some lookups failed."""
    from archive.wayback.lookups import lookup_sources

    items = lookup_sources(ws, ids, client=client)
    if out.as_json:
        out.json({"target": client.name, "lookups": [item.as_dict() for item in items]})
    for item in items:
        found = item.lookup
        if out.as_json:
            continue
        if found is None:
            out.warn(f"lastseen: {item.url}: {item.error}")
        elif not found.count:
            out.line(f"{item.url}  no copies")
        else:
            out.line(f"{item.url}  {found.count} copies ({found.first_timestamp} .. {found.last_timestamp}), "
                     f"last good {found.last_ok_timestamp or '-'} {found.last_ok_url or ''}".rstrip())
    return EXIT_PARTIAL if any(item.error for item in items) else EXIT_OK


def _run_recover(ws: Workspace, ids: list[int], client: WaybackTarget, out: Output) -> int:
    """Find recovery copies and print them."""
    from archive.wayback.lookups import recover_sources

    found = recover_sources(ws, ids, client=client)
    if out.as_json:
        out.json({"target": client.name, "recovered": [
            {"source_id": source_id, "url": url, "copy": copy.as_dict() if copy else None}
            for source_id, url, copy in found]})
    else:
        for _, url, copy in found:
            out.line(f"{url}  {copy.archive_url if copy else 'no good copy from before it vanished'}")
        out.line(f"{sum(1 for *_, copy in found if copy)} of {len(found)} vanished source(s) have a recovery copy")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `lastseen wayback`."""
    p = sub.add_parser("wayback", parents=[common], help="submit captured sources to the Wayback Machine",
                       description="Drain the Wayback queue once (what is due now), or look copies up.")
    p.add_argument("urls", nargs="*", metavar="URL", help="queue these tracked URLs and submit only them")
    p.add_argument("-c", "--collection", help="only this collection (default: all)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--lookup", action="store_true",
                      help="ask the archive's CDX API which copies it holds (first, last, count, last good)")
    mode.add_argument("--recover", action="store_true",
                      help="find the newest good copy from before each vanished source vanished")
    p.add_argument("--backfill", action="store_true", help="also queue every captured source never submitted")
    p.add_argument("--limit", type=int, help="at most this many submissions (or sources) this run")
    p.set_defaults(handler=cmd_wayback)
