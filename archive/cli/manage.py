"""`lastseen pause|resume|delete|subscribe`: manage the watch list, by URL or a whole collection (-c alone), and
the feeds and sitemaps collections follow."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.evidence import command_actor
from archive.models import Collection, utcnow
from archive.sources import find_sources, get_collection
from archive.sources.manage import (
    delete_sources,
    pause_sources,
    purge_collection,
    purge_sources,
    resume_sources,
    set_collection,
)
from archive.timefmt import iso
from archive.workspace import Workspace


def _collection(session: Any, name: str) -> Collection:
    found = get_collection(session, name.strip())
    if found is None:
        raise UsageError(f"no collection named {name.strip()!r}")
    return found


def _targets(session: Any, args: argparse.Namespace) -> tuple[list[int], list[str]]:
    """(source ids, URLs not tracked) of the URLs given, in -c's collection when named."""
    if args.collection:
        _collection(session, args.collection)
    ids: list[int] = []
    missing: list[str] = []
    for url in args.urls:
        found = find_sources(session, url, args.collection)
        ids += [source.id for source in found]
        if not found:
            missing.append(url)
    return list(dict.fromkeys(ids)), missing


def _finish(out: Output, data: dict[str, Any], lines: list[str], missing: list[str], given: int) -> int:
    """Print the result; exit 1 when some URL given is not tracked, 3 when none is."""
    if out.as_json:
        out.json({**data, "not_tracked": missing})
    else:
        for line in lines:
            out.line(line)
        for url in missing:
            out.warn(f"lastseen: {url} is not tracked")
    if missing:
        return EXIT_NOT_FOUND if len(missing) == given else EXIT_PARTIAL
    return EXIT_OK


def _need_target(args: argparse.Namespace, verb: str) -> None:
    if not args.urls and not args.collection:
        raise UsageError(f"{verb} what? give URLs, or -c COLLECTION for a whole collection")


def cmd_pause(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Stop checking and capturing sources, or a whole collection, until resumed."""
    _need_target(args, "pause")
    with session_scope(ws.sessions) as session:
        if not args.urls:
            collection = _collection(session, args.collection)
            changed = set_collection(session, collection, paused=True, actor="", now=utcnow())
            return _finish(out, {"collection": collection.name, "paused": changed},
                           [f"{'paused' if changed else 'already paused'}: collection {collection.name!r} "
                            "(its sources are not checked or captured until `lastseen resume -c "
                            f"{collection.name}`)"], [], 0)
        ids, missing = _targets(session, args)
        paused = pause_sources(session, ids, utcnow())
    return _finish(out, {"paused": len(paused), "already_paused": len(ids) - len(paused)},
                   [f"paused {len(paused)} source(s)" + (f", {len(ids) - len(paused)} already paused"
                                                        if len(ids) > len(paused) else "")], missing, len(args.urls))


def cmd_resume(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Watch paused (or deleted) sources or a collection again; checks pick them up at their next due time."""
    _need_target(args, "resume")
    actor = command_actor("resume")
    with session_scope(ws.sessions) as session:
        if not args.urls:
            collection = _collection(session, args.collection)
            was = "deleted" if collection.deleted_at else "paused" if collection.paused_at else None
            set_collection(session, collection, paused=False, deleted=False, actor=actor, now=utcnow())
            return _finish(out, {"collection": collection.name, "resumed": was is not None, "was": was},
                           [f"resumed: collection {collection.name!r}" + (f" (was {was})" if was else
                                                                         " (was not paused)")], [], 0)
        ids, missing = _targets(session, args)
        resumed, restored = resume_sources(session, ids, actor)
    lines = [f"resumed {len(resumed)} source(s)" + (f", restored {len(restored)} deleted" if restored else "")]
    return _finish(out, {"resumed": len(resumed), "restored": len(restored)}, lines, missing, len(args.urls))


def cmd_delete(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Take sources or a collection off the watch list (captures and WARC files kept); --purge removes those too."""
    _need_target(args, "delete")
    actor = command_actor("delete" + (" --purge" if args.purge else ""))
    now = utcnow()
    with session_scope(ws.sessions) as session:
        if not args.urls:
            collection = _collection(session, args.collection)
            name = collection.name
            if args.purge:
                purged = purge_collection(session, ws.storage, collection, actor)
                return _purged(out, f"collection {name!r}", purged)
            changed = set_collection(session, collection, deleted=True, actor=actor, now=now)
            return _finish(out, {"collection": name, "deleted": changed},
                           [f"{'deleted' if changed else 'already deleted'}: collection {name!r}; its captures and "
                            f"WARC files are kept (`lastseen resume -c {name}` restores it, --purge removes them)"],
                           [], 0)
        ids, missing = _targets(session, args)
        if args.purge:
            code = _purged(out, f"{len(ids)} source(s)", purge_sources(session, ws.storage, ids, actor))
            for url in missing:
                out.warn(f"lastseen: {url} is not tracked")
            return EXIT_NOT_FOUND if missing and not ids else EXIT_PARTIAL if missing else code
        deleted = delete_sources(session, ids, actor, now)
    return _finish(out, {"deleted": len(deleted), "already_deleted": len(ids) - len(deleted)},
                   [f"deleted {len(deleted)} source(s); their captures and WARC files are kept "
                    "(`lastseen resume URL` restores, --purge removes them)"], missing, len(args.urls))


def _purged(out: Output, what: str, purged: Any) -> int:
    """Say what a purge removed; exit 1 when a stored file could not be deleted."""
    if out.as_json:
        out.json({"purged_sources": purged.sources, "purged_captures": purged.captures, "deleted_files": purged.files,
                  "errors": purged.errors})
    else:
        out.line(f"purged {what}: {purged.sources} source(s), {purged.captures} capture(s), "
                 f"{len(purged.files)} WARC file(s) deleted")
        for error in purged.errors:
            out.warn(f"lastseen: could not delete {error}")
    return EXIT_PARTIAL if purged.errors else EXIT_OK


def cmd_subscribe(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Follow feeds or sitemaps in a collection (read now, then on its schedule); --list, --remove."""
    from sqlalchemy import delete

    from archive.models import Subscription
    from archive.sources import ensure_collection
    from archive.sources.subscriptions import poll, subscribe

    if args.list:
        return _list_subscriptions(ws, out, args.collection)
    if not args.urls or not args.collection:
        raise UsageError("subscribe -c COLLECTION URL... (or --list)")
    if args.remove:
        with session_scope(ws.sessions) as session:
            collection = _collection(session, args.collection)
            gone = [url for url in args.urls if session.execute(delete(Subscription).where(
                Subscription.collection_id == collection.id, Subscription.url == url.strip())).rowcount]
        return _finish(out, {"removed": gone}, [f"unsubscribed {url}" for url in gone],
                       [url for url in args.urls if url not in gone], len(args.urls))
    with session_scope(ws.sessions) as session:
        collection = ensure_collection(session, args.collection)
        ids = [subscribe(session, collection, url)[0].id for url in args.urls]
    results = [poll(ws, subscription_id) for subscription_id in ids]
    if out.as_json:
        out.json([result.as_dict() for result in results])
    for result in results if not out.as_json else ():
        if result.error:
            out.warn(f"lastseen: {result.url}: {result.error} (tried again at {iso(result.next_poll_at)})")
            continue
        out.line(f"subscribed {result.url} ({result.format}): {len(result.added)} added, {result.known} known, "
                 f"{result.refused} refused; next read {iso(result.next_poll_at)}")
    return EXIT_PARTIAL if any(result.error or result.refused for result in results) else EXIT_OK


def _list_subscriptions(ws: Workspace, out: Output, collection: str | None) -> int:
    from sqlalchemy import select

    from archive.models import Subscription

    with session_scope(ws.sessions) as session:
        query = select(Subscription, Collection.name).join(Collection).order_by(Collection.name, Subscription.id)
        if collection:
            query = query.where(Collection.id == _collection(session, collection).id)
        rows = [{"collection": name, "url": s.url, "format": s.format, "last_polled_at": iso(s.last_polled_at),
                 "next_poll_at": iso(s.next_poll_at), "last_added": s.last_added, "total_added": s.total_added,
                 "last_error": s.last_error} for s, name in session.execute(query)]
    if out.as_json:
        out.json(rows)
        return EXIT_OK
    for row in rows:
        out.line(f"{row['collection']}  {row['url']}  ({row['format'] or '-'}) {row['total_added']} added, "
                 f"last read {row['last_polled_at'] or '-'}, next {row['next_poll_at'] or 'now'}"
                 + (f"; last error: {row['last_error']}" if row["last_error"] else ""))
    out.line(f"{len(rows)} subscription(s)")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `pause`, `resume` and `delete` to the command line."""
    for name, handler, summary in (
            ("pause", cmd_pause, "stop checking and capturing sources, or a whole collection (-c alone)"),
            ("resume", cmd_resume, "watch paused or deleted sources, or a collection, again"),
            ("delete", cmd_delete, "take sources or a collection off the watch list (captures kept)")):
        p = sub.add_parser(name, parents=[common], help=summary, description=summary + ".")
        p.add_argument("urls", nargs="*", metavar="URL")
        p.add_argument("-c", "--collection", default=None,
                       help="the collection: alone, the whole collection; with URLs, only its sources")
        if name == "delete":
            p.add_argument("--purge", action="store_true",
                           help="also remove their captures, checks and the WARC files no other capture needs "
                                "(an admin's decision; recorded in the custody record)")
        p.set_defaults(handler=handler)
    summary = "follow feeds and sitemaps: their entries become sources, read again on the collection's schedule"
    p = sub.add_parser("subscribe", parents=[common], help=summary, description=summary + ".")
    p.add_argument("urls", nargs="*", metavar="URL", help="a feed, a sitemap, a sitemap index, a .xml.gz sitemap")
    p.add_argument("-c", "--collection", default=None, help="the collection its entries go to")
    p.add_argument("--list", action="store_true", help="list the subscriptions (of -c's collection)")
    p.add_argument("--remove", action="store_true", help="stop following these URLs (their sources stay)")
    p.set_defaults(handler=cmd_subscribe)
