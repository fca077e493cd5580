"""What storing a capture records: its row, its source's proof of life, the Wayback submission it is worth.

Layer 3 (stage I/O): the crawl builds rows here from plain values and records them in one transaction once
their WARC file is stored, so a capture and its queued public copy go in together; the Wayback stage
(archive.wayback) drains the queue later.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from archive.models import Capture, Source, WaybackSubmission
from archive.net.pacing import next_attempt_delay
from archive.sources.state import seen_alive
from archive.storage import Storage, StorageError
from archive.timefmt import iso
from archive.urls import url_key
from archive.vocab import OPEN_SUBMISSIONS, SubmissionState
from archive.warc import SCREENSHOT_URI_PREFIX, RevisitTarget, WarcError, WarcRecordInfo, read_record

_ID_BATCH = 500  # ids per IN (...) query: well inside every database's parameter limit


def previous_captures(session: Session, urls: Sequence[str], collection_id: int) -> dict[str, RevisitTarget]:
    """The newest full capture of exactly each of these URLs in a collection (those that have one), for
    writing a revisit record when the payload is unchanged: a page that did not change, a redirect answered
    the same way again, a page first stored through another source's redirect."""
    found: dict[str, RevisitTarget] = {}
    wanted = set(urls)
    keys = sorted({url_key(url) for url in wanted})
    for start in range(0, len(keys), _ID_BATCH):
        rows = session.execute(
            select(Capture.url, Capture.captured_at, Capture.payload_digest)
            .join(Source, Source.id == Capture.source_id)
            .where(Capture.url_hash.in_(keys[start:start + _ID_BATCH]), Source.collection_id == collection_id,
                   Capture.record_type == "response", Capture.payload_digest.is_not(None))
            .order_by(Capture.captured_at))
        for url, captured_at, digest in rows:
            if url in wanted:
                found[url] = RevisitTarget(uri=url, date=captured_at.isoformat().replace("+00:00", "Z"),
                                           payload_digest=digest)
    return found


def capture_row(source_id: int, record: WarcRecordInfo, *, url: str, http_status: int | None, content_type: str | None,
                page_meta: dict[str, Any] | None) -> dict[str, Any]:
    """Columns of a Capture row (all but the file's URI) for a fetch whose response record was written."""
    return {
        "source_id": source_id,
        "captured_at": datetime.fromisoformat(record.date.replace("Z", "+00:00")),
        "url": url,
        "url_hash": url_key(url),
        "http_status": http_status,
        "content_type": content_type,
        "payload_sha256": record.payload_sha256,
        "payload_digest": record.payload_digest,
        "size": record.payload_size,
        "record_type": record.record_type,
        "warc_offset": record.offset,
        "warc_length": record.length,
        "record_id": record.record_id,
        "page_meta": page_meta,
    }


CAPTURE_RETRY_BASE = 300.0  # seconds before the first retry of a failed capture; doubling up to capture_retry


def capture_failed(session: Session, source_id: int, at: datetime, cap: float) -> datetime:
    """Count a failed capture attempt of a source and set when it is tried next, by the one backoff formula
    (5 min, 10, 20 ... up to `cap`, the capture_retry setting); the next attempt's time."""
    failures = (session.scalar(select(Source.capture_failures).where(Source.id == source_id)) or 0) + 1
    delay = next_attempt_delay(failures, base=min(CAPTURE_RETRY_BASE, cap), cap=cap)
    when = at + timedelta(seconds=delay)
    session.execute(update(Source).where(Source.id == source_id)
                    .values(capture_failures=failures, capture_retry_at=when))
    return when


def record_captures(session: Session, captured: Sequence[tuple[dict[str, Any], bool]],
                    warc_uri: str) -> list[int]:
    """Insert the (row, alive) captures of one stored WARC file; queue the live ones' new content for the
    Wayback Machine and record each live source's newest proof of life, all in the caller's transaction.

    Returns the new rows' ids, in the order given. The rows go in with one executemany (no ORM objects):
    a crawl records thousands at once, after its last download.
    """
    if not captured:
        return []
    rows = [{**row, "warc_uri": warc_uri} for row, _alive in captured]
    ids = list(session.scalars(insert(Capture).returning(Capture.id, sort_by_parameter_order=True), rows))
    live = [(row, capture_id) for row, capture_id, (_row, alive) in zip(rows, ids, captured, strict=True) if alive]
    enqueue_captures(session, [(row["source_id"], capture_id) for row, capture_id in live])
    session.execute(update(Source).where(Source.id.in_(sorted({row["source_id"] for row in rows})),
                                         Source.capture_failures > 0)
                    .values(capture_failures=0, capture_retry_at=None))  # captured: no retry owed any more
    newest: dict[int, tuple[dict[str, Any], int]] = {}
    for row, capture_id in live:
        known = newest.get(row["source_id"])
        if known is None or known[0]["captured_at"] < row["captured_at"]:
            newest[row["source_id"]] = (row, capture_id)
    seen_alive(session, {source_id: (row["captured_at"], [{"capture_id": capture_id, "at": iso(row["captured_at"]),
                                                           "http_status": row["http_status"]}])
                         for source_id, (row, capture_id) in newest.items()})
    return ids


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

    Safe to call for every capture row: revisits, redirects and error pages (HTTP >= 300) and content identical
    to the source's previous good capture queue nothing.
    """
    capture = session.get(Capture, capture_id)
    if capture is None or capture.source_id != source_id:
        raise ValueError(f"capture {capture_id} is not a capture of source {source_id}")
    if capture.record_type == "revisit" or (capture.http_status is not None and capture.http_status >= 300):
        return None
    previous = session.scalar(
        select(Capture.payload_sha256)
        .where(Capture.source_id == source_id, Capture.id != capture_id, Capture.record_type != "revisit",
               or_(Capture.http_status.is_(None), Capture.http_status < 300),
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
        first: list[dict[str, Any]] = []  # sources queued for the first time: one executemany
        for source_id, capture_id in chunk:
            if source_id in seen or counts[source_id] > 1:
                enqueue_capture(session, source_id, capture_id)
            elif kinds.get(capture_id) != "revisit":
                first.append({"source_id": source_id, "capture_id": capture_id,
                              "state": SubmissionState.QUEUED.value, "attempts": 0})
        if first:
            session.execute(insert(WaybackSubmission), first)
    session.flush()


def latest_screenshot(session: Session, storage: Storage, source_id: int, tries: int = 5) -> bytes | None:
    """The PNG of a source's latest screenshot: found through the CDXJ index stored beside the WARC file of
    each of its latest captures (the screenshot is written into the same file as the page)."""
    captures = session.scalars(select(Capture).where(Capture.source_id == source_id,
                                                     Capture.record_type == "response")
                               .order_by(Capture.captured_at.desc()).limit(tries))
    for capture in captures:
        try:
            key = storage.key_of(capture.warc_uri)
            index = storage.read(key + ".cdxj").decode("utf-8", errors="replace")
        except StorageError:
            continue
        wanted = SCREENSHOT_URI_PREFIX + capture.url
        found = [fields for fields in (json.loads(line.split(" ", 2)[2]) for line in index.splitlines()
                                       if SCREENSHOT_URI_PREFIX in line and line.count(" ") >= 2)
                 if fields.get("url") == wanted]
        if found:
            try:
                return read_record(storage.read(key, int(found[-1]["offset"]), int(found[-1]["length"]))).body
            except (StorageError, WarcError):
                return None
    return None
