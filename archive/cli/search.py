"""`lastseen search`: find archived pages and videos by their words, each hit with a snippet and its capture (a
video's caption, speech or on-screen line with the second it is said or shown)."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, UsageError
from archive.workspace import Workspace

DEFAULT_LIMIT = 20


def cmd_search(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Print the best hits for all the words given (in a collection when -c names one)."""
    from archive.research.search import MAX_LIMIT, NothingToSearch, QueryError, search
    from archive.sources import get_collection

    query = " ".join(args.words)
    if args.reindex:
        if args.words:
            raise UsageError("give words to search for, or --reindex, not both")
        return _reindex(args, ws, out)
    if not args.words:
        raise UsageError("give the words to search for (or --reindex)")
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit: 1 to {MAX_LIMIT}")
    with session_scope(ws.sessions) as session:
        collections = None
        if args.collection:
            collection = get_collection(session, args.collection)
            if collection is None:
                out.warn(f"lastseen: no collection named {args.collection!r}")
                return EXIT_NOT_FOUND
            collections = [collection.id]
        note = None
        try:
            hits = search(session, query, collections=collections, limit=args.limit)
            note = hits.note
        except NothingToSearch as exc:
            hits, note = [], str(exc)
        except QueryError as exc:
            raise UsageError(str(exc)) from None
    base = (ws.settings.public_url or "").rstrip("/")
    for hit in hits:
        hit["capture_url"] = f"{base}{hit['capture_url']}" if hit["capture_url"] else None
    if out.as_json:
        out.json({"query": query, "hits": hits, "note": note})
    else:
        _print(out, query, hits, note)
    return EXIT_OK


def _reindex(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Index what was archived before the search index existed (in a collection when -c names one)."""
    from archive.research.reindex import reindex
    from archive.sources import get_collection

    collections = None
    if args.collection:
        with session_scope(ws.sessions) as session:
            collection = get_collection(session, args.collection)
            if collection is None:
                out.warn(f"lastseen: no collection named {args.collection!r}")
                return EXIT_NOT_FOUND
            collections = [collection.id]
    done = reindex(ws, collections)
    if out.as_json:
        out.json(done.as_dict())
    else:
        out.line(f"indexed {done.pages} page capture(s) and {done.videos} video(s) not indexed before"
                 + (f"; {done.unreadable} capture(s) could not be read now (run again later)" if done.unreadable
                    else "")
                 + (f"; {done.leads} older document(s) given the lead search ranks by" if done.leads else ""))
    return EXIT_OK


def _print(out: Output, query: str, hits: list[dict[str, Any]], note: str | None) -> None:
    out.line(f"{len(hits)} hit(s) for {query[:80]!r}" + (f": {note}" if note else ""))
    for hit in hits:
        captured = f", captured {hit['captured_at']}" if hit["captured_at"] else ""
        if hit.get("second") is not None:  # a line of a video's words: where it is said or shown
            minutes, seconds = divmod(hit["second"], 60)
            captured += f", at {int(minutes)}:{seconds:04.1f}"
        out.plain(f"  {hit['title'] or '(no title)'}  {hit['url']}  ({hit['kind']} in {hit['collection']}{captured})")
        if hit["snippet"]:
            out.plain(f"    {hit['snippet']}")
        if hit["capture_url"]:
            out.plain(f"    {hit['capture_url']}")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `search` to the command line."""
    p = sub.add_parser("search", parents=[common], help="find archived pages and videos by their words")
    p.add_argument("words", nargs="*", help="every word must appear (in the title, authors or text)")
    p.add_argument("-c", "--collection", default=None, help="only this collection (default: all)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many hits (default {DEFAULT_LIMIT})")
    p.add_argument("--reindex", action="store_true",
                   help="index the pages and videos archived before search existed (once, after upgrading)")
    p.set_defaults(handler=cmd_search)
