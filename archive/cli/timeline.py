"""`lastseen timeline`: what of a collection was online at a moment, what had vanished, which copies exist."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, UsageError
from archive.sources import DEFAULT_COLLECTION
from archive.workspace import Workspace

CSV_FIELDS = ["id", "url", "kind", "title", "state", "reason", "since", "regions", "first_known",
              "first_known_from", "captures", "last_capture_at", "wayback_copies"]


def cmd_timeline(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print the collection's state as of a moment (now when none is given), one source a line."""
    from archive.research.loading import collection_facts
    from archive.research.timeline import collection_timeline, parse_moment
    from archive.sources import get_collection

    if args.csv and out.as_json:
        raise UsageError("give --json or --csv, not both")
    try:
        moment = parse_moment(args.as_of) if args.as_of else datetime.now(UTC)
    except ValueError as exc:
        raise UsageError(f"--as-of: {exc}") from None
    with session_scope(ws.sessions) as session:
        collection = get_collection(session, args.collection)
        if collection is None:
            out.warn(f"lastseen: no collection named {args.collection!r}")
            return EXIT_NOT_FOUND
        facts = [item for batch in collection_facts(session, collection.id) for item in batch]
    result = collection_timeline(collection.name, facts, moment)
    if out.as_json:
        out.json(result)
    elif args.csv:
        _write_csv(result["sources"])
    else:
        _print(out, result)
    return EXIT_OK


def csv_line(item: dict[str, Any]) -> dict[str, Any]:
    """One source of the timeline as a CSV row (cells made safe for spreadsheets)."""
    from archive.report import csv_cell
    from archive.research.timeline import regions_text

    known = item["first_known"] or {}
    copies = item["copies"]
    row = {"id": item["id"], "url": item["url"], "kind": item["kind"], "title": item["title"],
           "state": item["state"], "reason": item["reason"], "since": item["since"],
           "regions": regions_text(item["regions"]), "first_known": known.get("at"),
           "first_known_from": known.get("from"), "captures": copies["captures"],
           "last_capture_at": copies["last_capture_at"], "wayback_copies": len(copies["wayback"])}
    return {key: csv_cell(value) for key, value in row.items()}


def _write_csv(items: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow(csv_line(item))


def _print(out: Output, result: dict[str, Any]) -> None:
    """A summary line, then one line per source: state, since, URL and title, first known, copies."""
    from archive.research.timeline import regions_text

    counts = result["counts"]
    out.line(f"{result['collection']} as of {result['as_of']}: {counts['online']} online, {counts['vanished']} "
             f"vanished, {counts['unknown']} could not tell, {counts['not_yet_known']} not yet known")
    for item in result["sources"]:
        state = item["state"] + (f" ({item['reason']})" if item["reason"] not in (None, "ok") else "")
        since = f" since {item['since']}" if item["since"] else ""
        title = f"  \"{item['title']}\"" if item["title"] else ""
        regions = regions_text(item["regions"])
        known = item["first_known"]
        first = f"; first known {known['at']} ({known['from']})" if known else ""
        copies = item["copies"]
        kept = f"; {copies['captures']} capture(s)" + (f", last {copies['last_capture_at']}"
                                                         if copies["last_capture_at"] else "")
        wayback = f", {len(copies['wayback'])} Wayback" if copies["wayback"] else ""
        out.plain(f"  {state}{since}  {item['url']}{title}{f'  [{regions}]' if regions else ''}{first}{kept}"
                  f"{wayback}")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `timeline` to the command line."""
    p = sub.add_parser("timeline", parents=[common],
                       help="what of a collection was online at a moment, what had vanished, which copies exist")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION, help=f"default: {DEFAULT_COLLECTION}")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="a day (2026-01-05, 00:00 UTC), a time (2026-01-05T12:00Z) or 20260105120000; default: now")
    p.add_argument("--csv", action="store_true", help="one CSV row per source")
    p.set_defaults(handler=cmd_timeline)
