"""`lastseen diff`: what changed in a page's main text between two of its captures."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, UsageError
from archive.workspace import Workspace


def _moment(value: str | None, option: str) -> datetime | None:
    from archive.research.timeline import parse_moment

    try:
        return parse_moment(value) if value else None
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def cmd_diff(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Compare the capture at or before --to (default: the latest) with the one at or before --from (default:
    the one before it)."""
    from archive.research.diff import NothingToCompare, pick_captures, text_diff
    from archive.sources import find_sources

    start, end = _moment(args.start, "--from"), _moment(args.end, "--to")
    if start and end and start > end:
        raise UsageError("--from is later than --to")
    with session_scope(ws.sessions) as session:
        sources = find_sources(session, args.url, args.collection)
        if not sources:
            out.warn(f"lastseen: {args.url} is not tracked" + (f" in {args.collection}" if args.collection else ""))
            return EXIT_NOT_FOUND
        try:
            older, newer = pick_captures(session, sources, start, end)
        except NothingToCompare as exc:
            out.warn(f"lastseen: {args.url}: {exc}")
            return EXIT_NOT_FOUND
    result = {"url": args.url, **text_diff(ws, older, newer)}
    if out.as_json:
        out.json(result)
    else:
        _print(out, result)
    return EXIT_OK


def _print(out: Output, result: dict[str, Any]) -> None:
    old, new = result["from"], result["to"]
    out.line(f"{result['url']}: capture {old['capture_id']} ({old['captured_at']}) -> capture {new['capture_id']} "
             f"({new['captured_at']})")
    if not result["changed"]:
        out.line("the main text is the same")
        return
    out.line(result["summary"])
    for line in result["diff"]:
        out.plain(line)
    if result["truncated"]:
        out.line("(more changes left out)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `diff` to the command line."""
    p = sub.add_parser("diff", parents=[common], help="what changed in a page's text between two captures")
    p.add_argument("url")
    p.add_argument("-c", "--collection", default=None, help="the collection tracking it (default: any)")
    p.add_argument("--from", dest="start", metavar="T1", default=None,
                   help="the capture at or before T1 (default: the one before the newer)")
    p.add_argument("--to", dest="end", metavar="T2", default=None,
                   help="the capture at or before T2 (default: the latest)")
    p.set_defaults(handler=cmd_diff)
