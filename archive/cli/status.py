"""`lastseen status URL`: everything known of one URL, in every collection that tracks it."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.cli.sources import collection_arg
from archive.cli.words import print_words
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK
from archive.footage.show import footage_of
from archive.report import source_detail
from archive.sources import find_sources
from archive.words.show import words_of
from archive.workspace import Workspace


def cmd_status(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Everything known of one URL."""
    with session_scope(ws.sessions) as session:
        sources = find_sources(session, args.url, args.collection)
        details = [{**source_detail(session, s), "words": words_of(session, s.id), **footage_of(session, s.id)}
                   for s in sources]
    if out.as_json:
        out.json({"query": args.url, "sources": details})
    else:
        for detail in details:
            _print_detail(out, detail)
    if not details:
        if not out.as_json:
            out.warn(f"lastseen: {args.url} is not tracked" + (f" in {args.collection!r}" if args.collection else ""))
        return EXIT_NOT_FOUND
    return EXIT_OK


def _print_detail(out: Output, d: dict[str, Any]) -> None:
    out.line(f"{d['normalized_url']}  [{d['collection']}, {d['kind']}]")
    status = d["status"] + (f" ({d['reason']})" if d["reason"] else "")
    out.line(f"  status            {status}")
    for label, key in (("added", "added_at"), ("first seen", "first_seen_at"),
                       ("last seen alive", "last_seen_alive_at"), ("vanished at", "vanished_at"),
                       ("last checked", "last_checked_at"), ("next check", "next_check_at")):
        out.line(f"  {label:<17} {d[key] or '-'}")
    if d["tags"]:
        out.line(f"  tags              {', '.join(d['tags'])}")
    for label, key in (("paused", "paused_at"), ("deleted", "deleted_at")):
        if d.get(key):
            out.line(f"  {label:<17} {d[key]} (not checked or captured; `lastseen resume` to watch again)")
    out.line(f"  captures          {len(d['captures'])}")
    retry = d.get("capture_retry")
    if retry:
        last = retry["last_failure"] or {}
        out.line(f"  capture failed    {retry['failures']} time(s), last {last.get('at') or '-'}: "
                 f"{last.get('reason') or '-'} {last.get('detail') or ''}".rstrip())
        out.line(f"  next attempt      {retry['next_attempt_at'] or 'now'}")
    for c in d["captures"]:
        out.line(f"    {c['captured_at']}  {c['http_status']}  {c['record_type']}  sha256:{c['sha256']}")
        out.line(f"      {c['warc_uri']} @{c['warc_offset']}+{c['warc_length']}")
        if c.get("title"):
            out.line(f"      title  {c['title']}")
        if c.get("excerpt"):
            out.line(f"      text   {c['excerpt']}" + ("  (as rendered in a browser)" if c.get("rendered") else ""))
    out.line(f"  checks (recent)   {len(d['checks'])}")
    for c in d["checks"]:
        out.line(f"    {c['checked_at']}  {c['outcome']}  {c['http_status'] or '-'}  {c['detail']}")
    for r in d["regions"]:
        said = f"{r['outcome']}  {r['http_status'] or '-'}  {r['detail']}" if r["outcome"] else "not checked yet"
        out.line(f"  region {r['region']:<10} {r['checked_at'] or '-'}  {said}")
    for t in d["transitions"]:
        out.line(f"  transition        {t['at']}  {t['from']} -> {t['to']} ({t['reason'] or t['kind']})")
    if d["video"]:
        v = d["video"]
        out.line(f"  video             {v['provider']} {v['video_id']}: {v['title'] or '-'} by {v['uploader'] or '-'}")
        media = v["media"]
        if media is None:
            out.line("    media           not kept")
        else:
            out.line(f"    media           {media['size']} bytes  {media['content_type'] or '-'}  "
                     f"sha256:{media['sha256']}")
            out.line(f"      {media['record_type']} record {media['warc_uri']} @{media['warc_offset']}+"
                     f"{media['warc_length']}")
        if d["verdict"]:
            said = d["verdict"]
            out.line(f"    provider said   {said['at']}  {said['outcome']}: {said['words']}")
            out.line(f"    shown by        {said['page'] or '-'}")
        for page in d["found_on"]:
            out.line(f"    found on        {page}")
        if d.get("words") is not None:
            print_words(out, d["words"])
        _print_footage(out, d)
    for v in d["videos"]:
        out.line(f"  video on page     {v['provider']} {v['video_id']} ({v['status']}) {v['canonical_url']}")
    wayback = d["wayback"]
    for s in wayback["submissions"]:
        result = s["archive_url"] or s["error"] or ""
        out.line(f"  wayback           {s['requested_at']}  {s['state']}  {result}")
    if wayback["lookup"]:
        lk = wayback["lookup"]
        out.line(f"  wayback copies    {lk['count']} ({lk['first_timestamp']} .. {lk['last_timestamp']}), "
                 f"last good {lk['last_ok_timestamp'] or '-'}")
    if wayback["recovery"]:
        out.line(f"  recovery copy     {wayback['recovery']['archive_url']}")
    out.line()


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `status` to the command line."""
    p = sub.add_parser("status", parents=[common], help="what is known of one URL")
    p.add_argument("url")
    collection_arg(p, default=None)
    p.set_defaults(handler=cmd_status)


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _print_footage(out: Output, d: dict[str, Any]) -> None:
    """When the video's footage reappeared after it vanished, every copy found (seconds of this video), and the
    archived videos whose footage it holds."""
    if d.get("reappeared_at"):
        out.line(f"    reappeared at   {d['reappeared_at']}  {d['reappeared_where']}")
    for copy in d.get("footage_elsewhere", []):
        spans = ", ".join(f"{_clock(s['start'])}-{_clock(s['end'])}" for s in copy["segments"][:3])
        figure = "a frame" if copy["image"] else f"{copy['share']:.0%} of frames"
        out.line(f"    same footage    {copy['where']}  ({figure}, {spans})")
    for original in d.get("footage_from", []):
        share = original["share"]
        out.line(f"    footage of      {original['url']}  [{original['status']}]  ({share:.0%} of its frames)")
