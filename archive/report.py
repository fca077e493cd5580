"""What lastseen says about sources: the stable JSON shapes of `list`, `status` and `collections`.

Field names here are documented in the README and are an interface: add fields, never rename them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import (
    SOURCE_STATUSES,
    Capture,
    Check,
    Collection,
    CrawlFailure,
    PageVideo,
    Source,
    StatusTransition,
    Video,
    WaybackLookup,
    WaybackSubmission,
)
from archive.sources.regions import collection_regions, latest_by_region
from archive.tally import SOURCES, tally
from archive.timefmt import iso

RECENT_CHECKS = 20
SUMMARY_FIELDS = ["id", "url", "normalized_url", "collection", "kind", "tags", "status", "reason", "added_at",
                  "first_seen_at", "last_seen_alive_at", "vanished_at", "last_checked_at", "next_check_at"]

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells get a "'".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that would start a formula is quoted with a leading "'"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(summary: dict[str, Any]) -> dict[str, Any]:
    """A source summary as one CSV row: tags joined by ';', every cell safe for spreadsheets."""
    return {key: csv_cell(";".join(value) if key == "tags" else value) for key, value in summary.items()}


def source_summary(source: Source) -> dict[str, Any]:
    """One line of `lastseen list`."""
    return {
        "id": source.id,
        "url": source.url,
        "normalized_url": source.normalized_url,
        "collection": source.collection.name,
        "kind": source.kind,
        "tags": source.tag_names,
        "status": source.status,
        "reason": source.status_reason,
        "added_at": iso(source.added_at),
        "first_seen_at": iso(source.first_seen_at),
        "last_seen_alive_at": iso(source.last_seen_alive_at),
        "vanished_at": iso(source.vanished_at),
        "last_checked_at": iso(source.last_checked_at),
        "next_check_at": iso(source.next_check_at),
    }


def capture_dict(capture: Capture) -> dict[str, Any]:
    """A capture as researchers cite it: when, what, and where the bytes are."""
    meta = capture.page_meta or {}
    return {
        "id": capture.id,
        "captured_at": iso(capture.captured_at),
        "url": capture.url,
        "http_status": capture.http_status,
        "content_type": capture.content_type,
        "sha256": capture.payload_sha256,
        "size": capture.size,
        "record_type": capture.record_type,
        "warc_uri": capture.warc_uri,
        "warc_offset": capture.warc_offset,
        "warc_length": capture.warc_length,
        # what its description found: the title and the start of the main text (rendered: read from the DOM a
        # browser built, text that arrived by scripts included)
        "title": meta.get("title"),
        "excerpt": meta.get("excerpt"),
        "rendered": capture.rendered_offset is not None,
    }


def check_dict(check: Check) -> dict[str, Any]:
    """One availability check."""
    return {
        "checked_at": iso(check.checked_at),
        "outcome": check.outcome,
        "http_status": check.http_status,
        "final_url": check.final_url,
        "detail": check.detail,
        "latency_ms": check.latency_ms,
    }


def video_dict(video: Video) -> dict[str, Any]:
    """A video and what its provider said of it."""
    return {
        "provider": video.provider,
        "video_id": video.video_id,
        "canonical_url": video.canonical_url,
        "status": video.source.status,
        "title": video.title,
        "uploader": video.uploader,
        "channel": video.channel,
        "upload_date": video.upload_date,
        "duration": video.duration,
        "view_count": video.view_count,
        "availability": video.availability,
        "metadata_uri": video.metadata_uri,
        "media_uri": video.media_uri,
        "media_sha256": video.media_sha256,
        "media": media_dict(video),
    }


def media_dict(video: Video) -> dict[str, Any] | None:
    """The video's media kept in the archive: its size, SHA-256, and the WARC record that holds it."""
    capture = video.media_capture
    if capture is None:
        return None
    return {"capture_id": capture.id, "size": video.media_size, "sha256": video.media_sha256,
            "content_type": capture.content_type, "record_type": capture.record_type, "url": capture.url,
            "warc_uri": capture.warc_uri, "warc_offset": capture.warc_offset, "warc_length": capture.warc_length}


# A Wayback submission's state says whether its failure is passing (it will be tried again) or final.
SUBMISSION_FAILURE = {"retrying": "transient", "paused": "transient", "failed": "permanent"}


def submission_dict(sub: WaybackSubmission) -> dict[str, Any]:
    """One Wayback submission and how it ended (or when it tries again)."""
    return {
        "requested_at": iso(sub.requested_at),
        "target": sub.target,
        "state": sub.state,
        "attempts": sub.attempts,
        "next_attempt_at": iso(sub.next_attempt_at),
        "archive_url": sub.archive_url,
        "timestamp": sub.archive_timestamp,
        "error": sub.error,
        "failure": SUBMISSION_FAILURE.get(sub.state),
        "job_id": sub.job_id,
        "capture_id": sub.capture_id,
        "finished_at": iso(sub.finished_at),
    }


def source_detail(session: Session, source: Source) -> dict[str, Any]:
    """Everything `lastseen status` knows of one source."""
    detail = source_summary(source)
    detail["captures"] = [capture_dict(c) for c in session.scalars(
        select(Capture).where(Capture.source_id == source.id).order_by(Capture.captured_at))]
    detail["checks"] = [check_dict(c) for c in reversed(list(session.scalars(
        select(Check).where(Check.source_id == source.id).order_by(Check.checked_at.desc()).limit(RECENT_CHECKS))))]
    detail["paused_at"], detail["deleted_at"] = iso(source.paused_at), iso(source.deleted_at)
    detail["capture_retry"] = capture_retry(session, source)
    detail["regions"] = latest_by_region(session, source)  # the latest check of each region its collection asks for
    detail["transitions"] = [
        {"at": iso(t.at), "kind": t.kind, "from": t.from_status, "to": t.to_status, "reason": t.reason}
        for t in session.scalars(select(StatusTransition).where(StatusTransition.source_id == source.id)
                                 .order_by(StatusTransition.at))]
    detail["videos"] = [video_dict(v) for v in session.scalars(
        select(Video).join(PageVideo, PageVideo.video_id == Video.id)
        .where(PageVideo.page_source_id == source.id).order_by(Video.id))]
    own_video = session.scalar(select(Video).where(Video.source_id == source.id))
    detail["video"] = video_dict(own_video) if own_video else None
    last = session.scalar(select(Check).where(Check.source_id == source.id)
                          .order_by(Check.checked_at.desc(), Check.id.desc()).limit(1)) if own_video else None
    detail["verdict"] = None if last is None else {  # what the video's provider said last, and where
        "at": iso(last.checked_at), "outcome": last.outcome, "words": last.detail, "page": last.final_url}
    detail["found_on"] = [page.normalized_url for page in session.scalars(
        select(Source).join(PageVideo, PageVideo.page_source_id == Source.id)
        .where(PageVideo.video_id == own_video.id).order_by(Source.id))] if own_video else []
    lookup = session.scalar(select(WaybackLookup).where(WaybackLookup.source_id == source.id)
                            .order_by(WaybackLookup.looked_up_at.desc(), WaybackLookup.id.desc()).limit(1))
    detail["wayback"] = {
        "submissions": [submission_dict(s) for s in session.scalars(
            select(WaybackSubmission).where(WaybackSubmission.source_id == source.id)
            .order_by(WaybackSubmission.requested_at, WaybackSubmission.id))],
        "lookup": None if lookup is None else {
            "looked_up_at": iso(lookup.looked_up_at), "target": lookup.target,
            "first_timestamp": lookup.first_timestamp, "last_timestamp": lookup.last_timestamp, "count": lookup.count,
            "last_ok_timestamp": lookup.last_ok_timestamp, "last_ok_url": lookup.last_ok_url},
        "recovery": None if not source.recovery_archive_url else {
            "archive_url": source.recovery_archive_url, "timestamp": source.recovery_timestamp},
    }
    return detail


def capture_retry(session: Session, source: Source) -> dict[str, Any] | None:
    """A source whose capture keeps failing: how often, the last failure, and when it is tried next."""
    if not source.capture_failures:
        return None
    last = session.scalar(select(CrawlFailure).where(CrawlFailure.source_id == source.id,
                                                     ~CrawlFailure.reason.like("media%"),
                                                     CrawlFailure.reason != "screenshot")
                          .order_by(CrawlFailure.at.desc(), CrawlFailure.id.desc()).limit(1))
    return {"failures": source.capture_failures, "next_attempt_at": iso(source.capture_retry_at),
            "last_failure": None if last is None else {"at": iso(last.at), "reason": last.reason, "url": last.url,
                                                       "detail": last.detail}}


def collection_counts(session: Session) -> list[dict[str, Any]]:
    """Every collection with its number of sources by status."""
    counts: dict[int | None, dict[str, int]] = {}
    for (collection_id, status), count in tally(session, SOURCES).items():
        counts.setdefault(collection_id, {})[status] = count
    out = []
    for collection in session.scalars(select(Collection).order_by(Collection.name)):
        by_status = {status: counts.get(collection.id, {}).get(status, 0) for status in SOURCE_STATUSES}
        out.append({"name": collection.name, "description": collection.description,
                    "sources": sum(by_status.values()), "by_status": by_status,
                    "recheck_interval": collection.recheck_interval, "obey_robots": collection.obey_robots,
                    "regions": list(collection_regions(collection)), "created_at": iso(collection.created_at),
                    "wayback": collection.wayback, "paused_at": iso(collection.paused_at),
                    "deleted_at": iso(collection.deleted_at), "capture": collection.capture_mode})
    return out
