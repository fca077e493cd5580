"""`lastseen alerts` and `lastseen feed`: make and send alerts, print a collection's Atom feed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.sources import DEFAULT_COLLECTION
from archive.watch.alerts import DELIVERED, FAILED, capture_url, create_alerts
from archive.watch.feed import UnknownCollection, collection_feed, feed_entries
from archive.workspace import Workspace


def cmd_alerts(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Make alerts for new transitions and send what is due."""
    from archive.watch.deliver import DEFAULT_MAX_WAIT, deliver  # sending (requests, Apprise) loads here only

    max_wait = DEFAULT_MAX_WAIT if args.max_wait is None else args.max_wait
    if max_wait < 0:
        raise UsageError("--max-wait must not be negative")
    with session_scope(ws.sessions) as session:
        created = create_alerts(session)
    summary = {"created": created, **deliver(ws, max_wait=max_wait)}
    if out.as_json:
        out.json(summary)
    else:
        out.line(f"{created} new alert(s); {summary['delivered']} delivery(ies) done in {summary['messages']} "
                 f"message(s), {summary['retrying']} to retry, {summary['failed']} failed; "
                 f"{summary['pending']} pending, {summary['unrouted']} waiting for a channel")
        for entry in summary["channels"].values():
            error = f" (last error: {entry['last_error']})" if entry["last_error"] else ""
            out.line(f"  {entry['label']}: {entry[DELIVERED]} delivered, {entry['retrying']} to retry, "
                     f"{entry[FAILED]} failed{error}")
    return EXIT_PARTIAL if summary["failed"] or summary["retrying"] else EXIT_OK


def cmd_feed(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print a collection's Atom feed (or its entries as JSON)."""
    base_url = ws.settings.public_url or None
    try:
        with session_scope(ws.sessions) as session:
            if out.as_json:
                _collection, entries = feed_entries(session, args.collection)
                data: Any = {"collection": args.collection, "entries": [
                    {**p, "capture_url": capture_url(p, base_url)} for _t, p in entries]}
            else:
                data = collection_feed(session, args.collection, base_url)
    except UnknownCollection as exc:
        out.warn(f"lastseen: {exc.args[0]}")
        return EXIT_NOT_FOUND
    if out.as_json:
        out.json(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `alerts` and `feed` to the command line."""
    p = sub.add_parser("alerts", parents=[common], help="make alerts for new transitions and send what is due")
    p.add_argument("--max-wait", type=float, default=None, metavar="SECONDS",
                   help="time to spend waiting to retry failed sends in this run (default 10)")
    p.set_defaults(handler=cmd_alerts)
    p = sub.add_parser("feed", parents=[common], help="print a collection's Atom feed of alerts")
    p.add_argument("-c", "--collection", default=DEFAULT_COLLECTION, help=f"default: {DEFAULT_COLLECTION}")
    p.set_defaults(handler=cmd_feed)
