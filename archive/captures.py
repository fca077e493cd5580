"""What storing a capture records beyond its row: the Wayback Machine submission its new content is worth.

Layer 3 (stage I/O): the crawl calls this in the same transaction as its capture rows, so a capture and its
queued public copy go in together; the Wayback stage (archive.wayback) drains the queue later.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.models import Capture, WaybackSubmission
from archive.vocab import OPEN_SUBMISSIONS, SubmissionState


def enqueue_source(session: Session, source_id: int, capture_id: int | None = None) -> WaybackSubmission:
    """Queue a source for submission; a row not yet under way is reused (pointing at the newer capture)."""
    open_row = session.scalar(select(WaybackSubmission)
                              .where(WaybackSubmission.source_id == source_id,
                                     WaybackSubmission.state.in_(OPEN_SUBMISSIONS))
                              .order_by(WaybackSubmission.id.desc()).limit(1))
    if open_row is not None:
        if capture_id is not None:
            open_row.capture_id = capture_id
        return open_row
    row = WaybackSubmission(source_id=source_id, capture_id=capture_id, state=SubmissionState.QUEUED.value, attempts=0)
    session.add(row)
    session.flush()
    return row


def enqueue_capture(session: Session, source_id: int, capture_id: int) -> WaybackSubmission | None:
    """Queue a source after a capture, when that capture is new content worth a public copy; else None.

    Safe to call for every capture row: revisits, error pages (HTTP >= 400) and content identical to the
    source's previous good capture queue nothing.
    """
    capture = session.get(Capture, capture_id)
    if capture is None or capture.source_id != source_id:
        raise ValueError(f"capture {capture_id} is not a capture of source {source_id}")
    if capture.record_type == "revisit" or (capture.http_status is not None and capture.http_status >= 400):
        return None
    previous = session.scalar(
        select(Capture.payload_sha256)
        .where(Capture.source_id == source_id, Capture.id != capture_id, Capture.record_type != "revisit",
               or_(Capture.http_status.is_(None), Capture.http_status < 400),
               Capture.captured_at <= capture.captured_at)
        .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1))
    if previous == capture.payload_sha256:
        return None
    return enqueue_source(session, source_id, capture_id)


def enqueue_captures(session: Session, pairs: Sequence[tuple[int, int]], batch: int = 500) -> None:
    """enqueue_capture for many (source id, capture id) at once, as a crawl stores them.

    A source seen for the first time (no other capture, no open submission) is queued outright: that is
    most of a crawl, and it saves two queries a row. The rest go through enqueue_capture's checks.
    """
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        source_ids = [source_id for source_id, _ in chunk]
        capture_ids = [capture_id for _, capture_id in chunk]
        seen = set(session.scalars(select(Capture.source_id).where(
            Capture.source_id.in_(source_ids), Capture.id.not_in(capture_ids))))
        seen |= set(session.scalars(select(WaybackSubmission.source_id).where(
            WaybackSubmission.source_id.in_(source_ids), WaybackSubmission.state.in_(OPEN_SUBMISSIONS))))
        counts: dict[int, int] = {}
        for source_id in source_ids:
            counts[source_id] = counts.get(source_id, 0) + 1
        kinds = dict(session.execute(select(Capture.id, Capture.record_type).where(Capture.id.in_(capture_ids))).all())
        for source_id, capture_id in chunk:
            if source_id in seen or counts[source_id] > 1:
                enqueue_capture(session, source_id, capture_id)
            elif kinds.get(capture_id) != "revisit":
                session.add(WaybackSubmission(source_id=source_id, capture_id=capture_id,
                                              state=SubmissionState.QUEUED.value, attempts=0))
    session.flush()
