"""`lastseen fingerprint` and `lastseen similar`: fingerprint kept videos; find their footage again."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.cli.output import Output
from archive.cli.sources import collection_id
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.workspace import Workspace

if TYPE_CHECKING:
    from archive.footage.frames import Limits


def _limits(ws: Workspace) -> Limits:
    """The decoding bounds the settings give (PyAV and numpy load with the footage commands only)."""
    from archive.footage.round import limits

    return limits(ws.settings)


def cmd_fingerprint(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """The footage round now: fingerprint kept videos and captured images not done yet, compare them, search for
    vanished videos' footage and make the alerts of reappearances; exit 1 when some could not be fingerprinted."""
    from archive.footage.round import footage_work

    tally = footage_work(ws, collection_id(ws, args.collection))
    if out.as_json:
        out.json(tally)
    else:
        out.line(f"fingerprinted {tally['fingerprinted']} video(s), {tally['frames']} frames, {tally['images']} "
                 f"image(s); failed {tally['failed']}; {tally['matches']} new match(es), "
                 f"{tally['alerts']} reappearance alert(s)")
    return EXIT_PARTIAL if tally["failed"] else EXIT_OK


def _clock(value: float) -> str:
    return f"{int(value // 60)}:{value % 60:04.1f}"


def cmd_similar(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Archived videos (and captured images) holding the footage of a picture, a media file or a tracked video;
    exit 3 when none."""
    from archive.footage.answers import similar_to_file, similar_to_url
    from archive.footage.frames import FootageError

    scope = collection_id(ws, args.collection)
    share = args.share if args.share is not None else ws.settings.footage_match_share
    if not 0 < share <= 1:
        raise UsageError(f"--share is a share from 0 to 1, not {share}")
    target = Path(args.target)
    images: list[dict[str, Any]] = []
    with session_scope(ws.sessions) as session:
        try:
            if args.target.startswith(("http://", "https://")):
                found = similar_to_url(session, args.target, share, scope)
            elif not target.is_file():
                raise UsageError(f"no such file: {target}")
            else:
                found, images = similar_to_file(session, target, share, ws.settings.footage_query_per_second,
                                                _limits(ws), scope)
        except FootageError as exc:
            raise UsageError(f"{target.name if target.is_file() else args.target}: {exc}") from None
    _show(out, found, images)
    return EXIT_OK if found or images else EXIT_NOT_FOUND


def _show(out: Output, found: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
    """Matches for people, or as JSON (videos, then captured images showing the picture)."""
    if out.as_json:
        out.json(found + images)
        return
    if not found and not images:
        out.line("no archived video holds this footage")
    for match in found:
        if "seconds" in match:
            at = ", ".join(_clock(s) for s in match["seconds"])
            out.line(f"at {at}  {match['url']}  [{match['status']}]  ({match['distance']} bits apart)")
            continue
        spans = ", ".join(f"{_clock(s['start'])}-{_clock(s['end'])} (query {_clock(s['query_start'])}-"
                          f"{_clock(s['query_end'])})" for s in match["segments"])
        out.line(f"{match['share']:.0%} of frames  {match['url']}  [{match['status']}]  {spans}")
    for image in images:
        out.line(f"image  {image['image_url']}  on {image['page'] or '-'}  ({image['distance']} bits apart)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `fingerprint` and `similar` to the command line."""
    p = sub.add_parser("fingerprint", parents=[common],
                       help="fingerprint kept videos' frames and captured images (PDQ), find "
                       "vanished videos' footage again")
    p.add_argument("-c", "--collection", help="only this collection's videos")
    p.set_defaults(handler=cmd_fingerprint)
    p = sub.add_parser("similar", parents=[common],
                       help="archived videos holding the footage of a picture, a media file or a tracked video")
    p.add_argument("target", metavar="VIDEO_URL|IMAGE_FILE|MEDIA_FILE")
    p.add_argument("-c", "--collection", help="only this collection's videos")
    p.add_argument("--share", type=float, help="share of the query's frames a match must hold (default setting)")
    p.set_defaults(handler=cmd_similar)
