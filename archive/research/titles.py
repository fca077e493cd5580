"""What to call a source where people read it: a page's title (its latest capture's), a video's title and uploader.

The database keeps them where they were found: a page's in Capture.page_meta (as describing the capture read it),
a video's in its Video row (the provider's metadata). Read for a page of sources at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from archive.models import Capture, Video

# Sources to name: a few ids, or a query of them (a page of a table, without a bound value per source).
SourceIds = Sequence[int] | Select[tuple[int]]


@dataclass(frozen=True)
class SourceTitle:
    """A source's title and, for a video, who uploaded it (either may be unknown)."""

    title: str | None
    uploader: str | None = None


def source_titles(session: Session, source_ids: SourceIds) -> dict[int, SourceTitle]:
    """The known title of each of these sources (sources without one are left out)."""
    titles: dict[int, SourceTitle] = {}
    page_title = Capture.page_meta["title"].as_string()
    for source_id, title in session.execute(
            select(Capture.source_id, page_title)
            .where(Capture.source_id.in_(source_ids), page_title.is_not(None))
            .order_by(Capture.captured_at, Capture.id)):
        if title and title.strip():
            titles[source_id] = SourceTitle(title.strip())  # the latest capture's title wins
    for source_id, title, uploader, channel in session.execute(
            select(Video.source_id, Video.title, Video.uploader, Video.channel)
            .where(Video.source_id.in_(source_ids))):
        if title or uploader or channel:
            titles[source_id] = SourceTitle(title or None, uploader or channel or None)
    return titles
