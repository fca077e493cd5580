"""`lastseen transcribe` reads kept videos for what they say (captions kept, speech) and show (on-screen text);
`lastseen transcript URL` shows it, with each line's seconds and source."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.cli.sources import collection_id
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, UsageError
from archive.sources import find_sources
from archive.words.show import as_text, transcript, words_of
from archive.words.tables import CAPTION, SCREEN, SPEECH
from archive.workspace import Workspace

OFF = {SPEECH: "off (no model: set LASTSEEN_TRANSCRIBE_MODEL to a faster-whisper model folder)",
       SCREEN: "off (LASTSEEN_OCR_LANGUAGES is empty)"}


def cmd_transcribe(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Read every kept video not read yet; exit 1 when some could not be."""
    from archive.words.round import WordsSetupError, read_words, tally_fields  # the readers load here only

    try:
        tallies = read_words(ws, collection_id(ws, args.collection))
    except WordsSetupError as exc:
        raise UsageError(str(exc)) from None
    if out.as_json:
        out.json({name: tally_fields(tally) for name, tally in tallies.items()})
    for name, tally in tallies.items() if not out.as_json else ():
        if tally is None:
            out.line(f"{name}: {OFF[name]}")
            continue
        out.line(f"{name}: {tally.done} video(s) read, {tally.lines} line(s); nothing found in {tally.empty}; "
                 f"failed {tally.failed}")
        for failure in tally.failures:
            out.line(f"  {failure}")
    return EXIT_PARTIAL if any(t and t.failed for t in tallies.values()) else EXIT_OK


def cmd_transcript(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """What a tracked video says and shows, with times and sources; exit 3 when the URL is no tracked video."""
    with session_scope(ws.sessions) as session:
        found = [(source.url, source.collection.name, words_of(session, source.id))
                 for source in find_sources(session, args.url, args.collection)]
    videos = [(url, collection, words) for url, collection, words in found if words is not None]
    if not videos:
        out.warn(f"lastseen: {args.url} is not a tracked video" if found else f"lastseen: {args.url} is not tracked")
        return EXIT_NOT_FOUND
    url, collection, words = videos[0]  # one URL is one video; in several collections, the first tracked has its words
    shown = transcript(words, args.source, "json" if out.as_json else args.format)
    if isinstance(shown, dict):
        out.json({"url": url, "collection": collection, **shown})
    elif args.format == "vtt":
        out.plain(shown)
    else:
        out.line(shown)
    return EXIT_OK


STATUS_LINES = 20  # lines of a transcript `lastseen status` shows; `lastseen transcript` shows all


def print_words(out: Output, words: dict[str, Any]) -> None:
    """A video's readings and first lines, for `lastseen status`."""
    for run in words["runs"]:
        said = run["reason"] if run["state"] == "failed" else f"{run['lines']} line(s)" + (
            f", {run['language']}" if run["language"] else "") + (f" ({run['reason']})" if run["reason"] else "")
        out.line(f"    {run['source']:<15} {run['state']}: {said}  {run['read_at']}")
    if not words["runs"]:
        out.line("    transcript      not read yet (`lastseen transcribe`)")
    for line in as_text(words["lines"][:STATUS_LINES]).splitlines():
        out.line(f"      {line}")
    if len(words["lines"]) > STATUS_LINES:
        out.line(f"      ... {len(words['lines']) - STATUS_LINES} more (`lastseen transcript URL`)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `transcribe` and `transcript` to the command line."""
    p = sub.add_parser("transcribe", parents=[common],
                       help="read kept videos' captions, transcribe their speech (faster-whisper), read their "
                       "on-screen text (Tesseract)")
    p.add_argument("-c", "--collection", help="only this collection's videos")
    p.set_defaults(handler=cmd_transcribe)
    p = sub.add_parser("transcript", parents=[common],
                       help="what a kept video says and shows (speech, on-screen text, captions) with its times")
    p.add_argument("url")
    p.add_argument("--format", choices=("txt", "vtt", "json"), default="txt", help="default txt")
    p.add_argument("--source", choices=(CAPTION, SPEECH, SCREEN), help="only this source's lines")
    p.add_argument("-c", "--collection", help="the collection tracking the URL")
    p.set_defaults(handler=cmd_transcript)
