"""What changed between two captures of a page: a diff of their main text, one sentence a line.

The text is read again from the WARC records (as describing a capture does), so any two captures compare, also
those made before the search index kept text. A revisit compares as the response it repeats.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from archive.models import Capture, Source
from archive.timefmt import iso
from archive.workspace import Workspace

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
MAX_DIFF_LINES = 2000
SUMMARY_QUOTE = 160  # characters of a changed sentence quoted in a one-line summary


class NothingToCompare(LookupError):
    """The URL has no two captures to compare (said in one line)."""


@dataclass(frozen=True)
class Side:
    """One capture compared: the one asked for, and the response whose body it holds."""

    capture: Capture
    holder: Capture

    def as_dict(self) -> dict[str, Any]:
        return {"capture_id": self.capture.id, "captured_at": iso(self.capture.captured_at),
                "record_type": self.capture.record_type, "http_status": self.capture.http_status}


def sentences(text: str) -> list[str]:
    """Main text as one sentence a line (paragraphs split where sentences end), blank lines dropped."""
    return [part.strip() for line in text.splitlines() for part in _SENTENCE_END.split(line) if part.strip()]


def holder_of(session: Session, capture: Capture) -> Capture:
    """The response that holds a capture's body: itself, or the earlier response a revisit repeats."""
    if capture.record_type != "revisit" or not capture.payload_digest:
        return capture
    original = session.scalar(
        select(Capture).where(Capture.payload_digest == capture.payload_digest, Capture.record_type == "response",
                              Capture.captured_at <= capture.captured_at)
        .order_by(case((Capture.source_id == capture.source_id, 0), else_=1), Capture.captured_at.desc()).limit(1))
    return original or capture


def pick_captures(session: Session, sources: list[Source], start: datetime | None,
                  end: datetime | None) -> tuple[Side, Side]:
    """The captures to compare: the last one at or before `end` (default: the latest) and the last one at or
    before `start` (default: the one before it). NothingToCompare when there are not two."""
    ids = [source.id for source in sources]
    pages = list(session.scalars(select(Capture).where(
        Capture.source_id.in_(ids), Capture.record_type.in_(("response", "revisit")),
        Capture.http_status >= 200, Capture.http_status < 300).order_by(Capture.captured_at, Capture.id)))
    later = [c for c in pages if end is None or c.captured_at <= end]
    if not later:
        raise NothingToCompare("no capture at or before --to" if pages else "no successful capture of it yet")
    newer = later[-1]
    earlier = [c for c in later[:-1] if start is None or c.captured_at <= start]
    if not earlier:
        raise NothingToCompare(f"only one capture to compare (of {iso(newer.captured_at)})" if start is None
                               else "no earlier capture at or before --from")
    older = earlier[-1]
    return Side(older, holder_of(session, older)), Side(newer, holder_of(session, newer))


def main_text(ws: Workspace, capture: Capture) -> str:
    """A capture's main text, extracted again from its WARC record ('' for one that has none)."""
    from archive.extract.pagemeta import extract_page_metadata
    from archive.warc import WarcError, decoded_body, read_record

    try:
        record = read_record(ws.storage.read(ws.storage.key_of(capture.warc_uri), capture.warc_offset,
                                             capture.warc_length))
        body = decoded_body(record)
    except WarcError:
        return ""
    meta = extract_page_metadata(body, capture.url, capture.content_type)
    return meta.text or ""


def sentence_changes(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(removed, added): the sentences of `before` not kept in `after`, and the new ones, in order."""
    removed, added = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            removed += before[i1:i2]
        if tag in ("replace", "insert"):
            added += after[j1:j2]
    return removed, added


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def change_summary(removed: list[str], added: list[str], *, quote: int = SUMMARY_QUOTE) -> str:
    """One line saying what changed: '1 sentence removed, 1 added: «the first new sentence»' (a removed one
    is quoted when nothing was added; quotes cut at `quote` characters)."""
    if not removed and not added:
        return "the main text is the same"
    if removed and added:
        said = f"{_count(len(removed), 'sentence')} removed, {len(added)} added"
    else:
        said = f"{_count(len(removed or added), 'sentence')} {'removed' if removed else 'added'}"
    shown = (added or removed)[0]
    shown = shown if len(shown) <= quote else shown[:quote - 1].rstrip() + "…"
    return f"{said}: «{shown}»"


def text_diff(ws: Workspace, older: Side, newer: Side) -> dict[str, Any]:
    """The two captures and a unified diff of their main text, sentence by sentence, with what was removed and
    added (at most MAX_DIFF_LINES lines; `truncated` says when more were left out)."""
    before, after = sentences(main_text(ws, older.holder)), sentences(main_text(ws, newer.holder))
    lines = list(difflib.unified_diff(before, after, fromfile=f"capture {older.capture.id}",
                                      tofile=f"capture {newer.capture.id}", lineterm="", n=1))
    removed, added = sentence_changes(before, after)
    return {"from": older.as_dict(), "to": newer.as_dict(), "changed": before != after,
            "summary": change_summary(removed, added),
            "removed": removed[:MAX_DIFF_LINES], "added": added[:MAX_DIFF_LINES], "diff": lines[:MAX_DIFF_LINES],
            "truncated": len(lines) > MAX_DIFF_LINES}
