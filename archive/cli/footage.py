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
    from archive.footage.match import VideoMatch
    from archive.footage.similar import PictureMatch
    from archive.footage.soundmatch import AudioMatch


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
                 f"image(s), {tally['variants']} vanished video(s) hashed mirrored and rotated; "
                 f"failed {tally['failed']}; {tally['matches']} new match(es), {tally['alerts']} reappearance alert(s)")
    return EXIT_PARTIAL if tally["failed"] else EXIT_OK


def _seconds(value: float) -> str:
    return f"{int(value // 60)}:{value % 60:04.1f}"


def _video_lines(found: list[VideoMatch], about: dict[int, dict[str, Any]]) -> list[str]:
    lines = []
    for match in found:
        spans = ", ".join(f"{_seconds(s.start)}-{_seconds(s.end)} (query {_seconds(s.query_start)}-"
                          f"{_seconds(s.query_end)})" for s in match.segments)
        info = about[match.video_id]
        lines.append(f"{match.share:.0%} of frames  {info['url']}  [{info['status']}]  {spans}")
    return lines


def _query_sound(session: Any, args: argparse.Namespace, ws: Workspace, out: Output,
                 video_id: int | None) -> list[AudioMatch]:
    """Archived soundtracks holding the query's sound (a tracked video's stored print, or a media file's)."""
    from archive.footage.frames import FootageError
    from archive.footage.sound import find_sound, read_sound, stored_sound

    scope = collection_id(ws, args.collection)
    if video_id is not None:
        items = stored_sound(session, video_id)
    else:
        try:
            sound = read_sound(Path(args.target), ws.settings.footage_max_seconds, 120.0)
        except FootageError as exc:
            out.warn(f"sound not compared: {exc}")
            return []
        items = None if sound is None else sound.items
    return [] if items is None else find_sound(session, items, scope, exclude=video_id)


def cmd_similar(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Archived videos holding the footage (or the sound) of a picture, a media file or a tracked video; exit 3
    when none."""
    from archive.footage.answers import NotTracked, describe_videos, tracked_queries
    from archive.footage.frames import FootageError
    from archive.footage.index import open_index
    from archive.footage.similar import find_picture, find_video, is_picture, video_queries

    scope = collection_id(ws, args.collection)
    share = args.share if args.share is not None else ws.settings.footage_match_share
    if not 0 < share <= 1:
        raise UsageError(f"--share is a share from 0 to 1, not {share}")
    target = Path(args.target)
    sounds: list[AudioMatch] = []
    with session_scope(ws.sessions) as session:
        index = open_index(session, scope, ws.settings)
        try:
            if args.target.startswith(("http://", "https://")):
                try:
                    video_id, queries = tracked_queries(session, args.target)
                except NotTracked as exc:
                    raise UsageError(str(exc)) from None
                found: list[VideoMatch] | list[PictureMatch] = find_video(index, queries, share, exclude=video_id)
                sounds = _query_sound(session, args, ws, out, video_id)
            elif not target.is_file():
                raise UsageError(f"no such file: {target}")
            elif is_picture(target):
                found = find_picture(index, target)
            else:
                queries = video_queries(target, ws.settings.footage_query_per_second, _limits(ws))
                found = find_video(index, queries, share)
                sounds = _query_sound(session, args, ws, out, None)
        except FootageError as exc:
            raise UsageError(f"{target.name}: {exc}") from None
        about = describe_videos(session, {match.video_id for match in [*found, *sounds]})
    _show(out, found, sounds, about)
    return EXIT_OK if found or sounds else EXIT_NOT_FOUND


def _show(out: Output, found: list[VideoMatch] | list[PictureMatch], sounds: list[AudioMatch],
          about: dict[int, dict[str, Any]]) -> None:
    """Matches for people, or as JSON: one entry a video with its URL, title, status, frames and sound."""
    from archive.footage.answers import match_fields
    from archive.footage.match import VideoMatch
    from archive.footage.similar import PictureMatch

    if out.as_json:
        heard = {m.video_id: m for m in sounds}
        entries = [{**about[m.video_id], "matched_by": ["frames", "sound"] if m.video_id in heard else ["frames"],
                    **match_fields(m), "sound": _sound_fields(heard.get(m.video_id))} for m in found]
        seen = {m.video_id for m in found}
        entries += [{**about[m.video_id], "matched_by": ["sound"], "sound": _sound_fields(m)}
                    for m in sounds if m.video_id not in seen]
        out.json(entries)
        return
    if not found and not sounds:
        out.line("no archived video holds this footage")
    for match in found:
        if isinstance(match, PictureMatch):
            info = about[match.video_id]
            at = ", ".join(_seconds(s) for s in match.seconds)
            out.line(f"at {at}  {info['url']}  [{info['status']}]  ({match.distance} bits apart)")
    for line in _video_lines([m for m in found if isinstance(m, VideoMatch)], about):
        out.line(line)
    for sound in sounds:
        info = about[sound.video_id]
        out.line(f"sound: {sound.matched_seconds:.0f} s of its soundtrack, from {_seconds(max(0.0, sound.offset))}  "
                 f"{info['url']}  [{info['status']}]  ({sound.error:.0%} of bits differ)")


def _sound_fields(match: AudioMatch | None) -> dict[str, Any] | None:
    """A sound match's JSON fields: where the query starts in the archived video, matched seconds, bit errors."""
    if match is None:
        return None
    return {"offset": match.offset, "matched_seconds": match.matched_seconds, "error": match.error}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `fingerprint` and `similar` to the command line."""
    p = sub.add_parser("fingerprint", parents=[common],
                       help="fingerprint kept videos' frames and captured images (PDQ), find "
                       "vanished videos' footage again")
    p.add_argument("-c", "--collection", help="only this collection's videos")
    p.set_defaults(handler=cmd_fingerprint)
    p = sub.add_parser("similar", parents=[common],
                       help="archived videos holding the footage (or sound) of a picture, a media file or a "
                       "tracked video")
    p.add_argument("target", metavar="VIDEO_URL|IMAGE_FILE|MEDIA_FILE")
    p.add_argument("-c", "--collection", help="only this collection's videos")
    p.add_argument("--share", type=float, help="share of the query's frames a match must hold (default setting)")
    p.set_defaults(handler=cmd_similar)
