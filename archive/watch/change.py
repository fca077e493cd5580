"""What a `changed` page's alert says changed: its title, and the sentences of its main text removed and added
since its last capture, with a one-line summary.

A check that finds a page changed holds the new main text only in memory (the crawl captures it later), so what
changed is worked out when the check is stored and kept in its transition's evidence, where the alert reads it.
The older side is the newest good capture before the check, read back from its WARC record as `lastseen diff`
reads it (archive.research.diff): the summary says what changed since that capture.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Capture
from archive.research.diff import change_summary, holder_of, main_text, sentence_changes, sentences
from archive.storage import StorageError
from archive.timefmt import iso
from archive.workspace import Workspace

KEPT = 5  # sentences removed and added kept in the evidence (the summary counts them all)
KEPT_CHARS = 500  # characters of each


def _last_capture(session: Session, source_id: int, before: datetime) -> Capture | None:
    """The newest successful capture of the source made before the check."""
    return session.scalar(select(Capture).where(
        Capture.source_id == source_id, Capture.record_type.in_(("response", "revisit")),
        Capture.http_status >= 200, Capture.http_status < 300, Capture.captured_at <= before)
        .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1))


def what_changed(session: Session, ws: Workspace, source_id: int, at: datetime, text: str,
                 title: str | None) -> dict[str, Any]:
    """The page's title and what changed in its main text (the live `text`) since its last capture before
    `at`; `summary` is None when there is no capture to compare with or it cannot be read now."""
    change: dict[str, Any] = {"title": title, "summary": None, "removed": [], "added": [], "since_capture": None}
    capture = _last_capture(session, source_id, at)
    if capture is None:
        return change
    try:
        before = main_text(ws, holder_of(session, capture))
    except (StorageError, OSError):
        return change
    if not before:
        return change
    removed, added = sentence_changes(sentences(before), sentences(text))
    return {**change, "summary": change_summary(removed, added),
            "removed": [line[:KEPT_CHARS] for line in removed[:KEPT]],
            "added": [line[:KEPT_CHARS] for line in added[:KEPT]],
            "since_capture": {"id": capture.id, "captured_at": iso(capture.captured_at)}}
