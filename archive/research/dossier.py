"""An evidence dossier's facts, gathered from the database and storage: the collection, its custody log, and for
each source its title, status history, captures with their SHA-256s, the WARC files holding them with their
trusted times, screenshots, Wayback copies, where each video was found and what it says.

Bounded everywhere: at most `limit` sources (LASTSEEN_REPORT_SOURCES), and per source at most MAX_TRANSITIONS
status changes, MAX_CAPTURES captures and MAX_LINES quoted lines; the custody log at most MAX_CUSTODY events. What
is left out is counted, so the dossier says it was cut. Reads only: the surface that makes a dossier records it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.captures import latest_screenshot
from archive.evidence import ADDED, CAPTURED, EXPORTED
from archive.models import (
    Capture,
    Check,
    Collection,
    CustodyEvent,
    PageVideo,
    Source,
    StatusTransition,
    TimestampToken,
    Video,
    WaybackSubmission,
)
from archive.report import capture_dict, check_dict, submission_dict, video_dict
from archive.research.loading import source_facts
from archive.research.timeline import source_timeline
from archive.storage import Storage
from archive.timefmt import iso

MAX_TRANSITIONS, MAX_CAPTURES, MAX_LINES, MAX_CUSTODY, MAX_EVIDENCE = 200, 50, 300, 2000, 10
MAX_SCREENSHOT_BYTES = 4 * 1024 * 1024  # a larger PNG is named (its WARC file) rather than embedded
MAX_IMAGE_BYTES = 64 * 1024 * 1024  # all screenshots of one dossier: past it, the rest are named, not embedded
_PNG = b"\x89PNG\r\n\x1a\n"

# A video's words and at most so many of its lines, as archive.words.show.words_of gives them; the surface passes
# that function in, since this read-side layer may not import the words stage.
WordsOf = Callable[[Session, int, int], "dict[str, Any] | None"]


@dataclass
class Dossier:
    """Everything one dossier shows; `total` sources matched, `sources` holds at most the limit of them."""

    collection: dict[str, Any]
    made_at: datetime
    made_by: str
    status: str | None
    total: int
    limit: int
    sources: list[dict[str, Any]] = field(default_factory=list)
    timelines: list[dict[str, Any]] = field(default_factory=list)
    custody: list[dict[str, Any]] = field(default_factory=list)
    custody_total: int = 0

    @property
    def cut(self) -> bool:
        """Whether the collection holds more matching sources than the dossier."""
        return self.total > len(self.sources)


def gather(session: Session, storage: Storage, collection: Collection, *, limit: int, made_by: str,
           status: str | None = None, words_of: WordsOf | None = None, now: datetime | None = None) -> Dossier:
    """The dossier of a collection's sources (those of one status when given), the first `limit` by id, made by
    `made_by` (the person and command, or the API token)."""
    moment = now or datetime.now(UTC)
    query = select(Source).where(Source.collection_id == collection.id)
    if status:
        query = query.where(Source.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    sources = list(session.scalars(query.order_by(Source.id).limit(limit)))
    dossier = Dossier(collection={"name": collection.name, "description": collection.description,
                                  "created_at": iso(collection.created_at)},
                      made_at=moment, made_by=made_by, status=status, total=total, limit=limit)
    facts = {item.id: item for item in source_facts(session, sources)} if sources else {}
    budget = MAX_IMAGE_BYTES
    for source in sources:
        timeline = source_timeline(facts[source.id], moment)
        dossier.timelines.append(timeline)
        entry = source_entry(session, storage, source, timeline, words_of, budget)
        budget -= (entry["screenshot"] or {}).get("embedded", 0)
        dossier.sources.append(entry)
    subjects = [collection.name] + [s.normalized_url for s in sources] + [
        f["uri"] for entry in dossier.sources for f in entry["warc_files"]]
    dossier.custody, dossier.custody_total = custody_log(session, collection.name, subjects)
    return dossier


def source_entry(session: Session, storage: Storage, source: Source, timeline: dict[str, Any],
                 words_of: WordsOf | None, image_budget: int = MAX_IMAGE_BYTES) -> dict[str, Any]:
    """One source's section: who and what it is, how its status changed and why, and every copy kept of it
    (its screenshot embedded while image_budget bytes are left)."""
    transitions = history(session, source.id)
    last_check = session.scalar(select(Check).where(Check.source_id == source.id)
                                .order_by(Check.checked_at.desc(), Check.id.desc()).limit(1))
    captures = list(session.scalars(select(Capture).where(Capture.source_id == source.id)
                                    .order_by(Capture.captured_at, Capture.id).limit(MAX_CAPTURES + 1)))
    video = session.scalar(select(Video).where(Video.source_id == source.id))
    added = session.scalar(select(CustodyEvent).where(CustodyEvent.subject_hash == _subject_key(source.normalized_url),
                                                      CustodyEvent.action == ADDED)
                           .order_by(CustodyEvent.at, CustodyEvent.id).limit(1))
    words = words_of(session, source.id, MAX_LINES) if words_of is not None and video is not None else None
    return {
        "id": source.id, "url": source.url, "normalized_url": source.normalized_url, "kind": source.kind,
        "title": timeline["title"], "status": source.status, "reason": source.status_reason,
        "tags": source.tag_names, "added_at": iso(source.added_at), "added_by": added.actor if added else None,
        "first_seen_at": iso(source.first_seen_at),
        "last_seen_alive_at": iso(source.last_seen_alive_at), "vanished_at": iso(source.vanished_at),
        "last_checked_at": iso(source.last_checked_at), "first_known": timeline["first_known"],
        "intervals": timeline["intervals"],
        "transitions": transitions[:MAX_TRANSITIONS], "transitions_cut": len(transitions) > MAX_TRANSITIONS,
        "last_check": None if last_check is None else check_dict(last_check),
        "captures": [capture_dict(c) for c in captures[:MAX_CAPTURES]],
        "captures_cut": len(captures) > MAX_CAPTURES,
        "warc_files": warc_files(session, [c.warc_uri for c in captures[:MAX_CAPTURES]]),
        "screenshot": screenshot(session, storage, source.id, image_budget),
        "wayback": timeline["copies"]["wayback"],
        "submissions": [submission_dict(s) for s in session.scalars(
            select(WaybackSubmission).where(WaybackSubmission.source_id == source.id)
            .order_by(WaybackSubmission.requested_at, WaybackSubmission.id).limit(MAX_CAPTURES))],
        "video": video_entry(session, video) if video is not None else None,
        "videos_here": [{"title": v.title, "url": v.canonical_url, "provider": v.provider, "found_as": found_as,
                         "status": v.source.status}
                        for v, found_as in session.execute(
                            select(Video, PageVideo.found_as).join(PageVideo, PageVideo.video_id == Video.id)
                            .where(PageVideo.page_source_id == source.id).order_by(Video.id).limit(MAX_CAPTURES))],
        "words": _bounded_words(words),
    }


def history(session: Session, source_id: int) -> list[dict[str, Any]]:
    """A source's status changes (at most MAX_TRANSITIONS + 1), each with the checks it rests on (at most
    MAX_EVIDENCE) and what each check was told: the site's or provider's own words, kept in the check's detail."""
    rows = list(session.scalars(select(StatusTransition).where(StatusTransition.source_id == source_id)
                                .order_by(StatusTransition.at, StatusTransition.id).limit(MAX_TRANSITIONS + 1)))
    evidence = {row.id: [item for item in (row.evidence or [])[:MAX_EVIDENCE] if isinstance(item, dict)]
                for row in rows}
    ids = {item["check_id"] for items in evidence.values() for item in items if isinstance(item.get("check_id"), int)}
    said = dict(session.execute(select(Check.id, Check.detail).where(Check.id.in_(ids))).all()) if ids else {}
    return [{"at": iso(row.at), "kind": row.kind, "from": row.from_status, "to": row.to_status, "reason": row.reason,
             "evidence": [{**item, "detail": said.get(item.get("check_id")) or ""} for item in evidence[row.id]],
             "evidence_more": max(0, len(row.evidence or []) - len(evidence[row.id]))} for row in rows]


def video_entry(session: Session, video: Video) -> dict[str, Any]:
    """A video as its provider described it, its kept media, and the pages it was found on (how, since when)."""
    entry = video_dict(video)
    entry["found_on"] = [{"url": url, "found_as": found_as, "first_seen_at": iso(first)}
                         for url, found_as, first in session.execute(
                             select(Source.url, PageVideo.found_as, PageVideo.first_seen_at)
                             .join(PageVideo, PageVideo.page_source_id == Source.id)
                             .where(PageVideo.video_id == video.id).order_by(PageVideo.first_seen_at)
                             .limit(MAX_CAPTURES))]
    return entry


def warc_files(session: Session, uris: list[str]) -> list[dict[str, Any]]:
    """The WARC files holding these captures: each file's SHA-256 (as stored, from the custody record or its
    timestamp tokens) and the trusted times RFC 3161 authorities gave it."""
    wanted = sorted(set(uris))
    if not wanted:
        return []
    files: dict[str, dict[str, Any]] = {uri: {"uri": uri, "sha256": None, "size": None, "stored_by": None,
                                              "stored_at": None, "tokens": []} for uri in wanted}
    hashes = [_subject_key(uri) for uri in wanted]
    for event in session.scalars(select(CustodyEvent).where(CustodyEvent.subject_hash.in_(hashes),
                                                            CustodyEvent.action == CAPTURED)):
        if event.subject not in files:
            continue
        detail = event.detail or {}
        files[event.subject]["sha256"] = files[event.subject]["sha256"] or detail.get("sha256")
        files[event.subject]["size"] = files[event.subject]["size"] or detail.get("size")
        files[event.subject]["stored_by"] = files[event.subject]["stored_by"] or event.actor
        files[event.subject]["stored_at"] = files[event.subject]["stored_at"] or iso(event.at)
    for token in session.scalars(select(TimestampToken).where(TimestampToken.file_uri.in_(wanted))
                                 .order_by(TimestampToken.gen_time, TimestampToken.id)):
        entry = files[token.file_uri]
        entry["sha256"] = entry["sha256"] or token.file_sha256
        entry["tokens"].append({"tsa": token.tsa_url, "time": iso(token.gen_time), "token": token.token_uri,
                                "token_sha256": token.token_sha256, "file_sha256": token.file_sha256})
    return list(files.values())


def screenshot(session: Session, storage: Storage, source_id: int,
               budget: int = MAX_IMAGE_BYTES) -> dict[str, Any] | None:
    """The source's latest screenshot as a data: URI (embedded, so the dossier needs nothing else; `embedded`
    its size), or a note saying why it is not embedded; None when no screenshot was taken."""
    png = latest_screenshot(session, storage, source_id)
    if png is None:
        return None
    note = None
    if not png.startswith(_PNG):
        note = "the stored screenshot is not a PNG"
    elif len(png) > min(MAX_SCREENSHOT_BYTES, budget):
        why = "too large to embed" if len(png) > MAX_SCREENSHOT_BYTES else "the dossier's room for images is spent"
        note = f"{len(png):,} bytes, not embedded ({why}): it is in the WARC file of the latest capture"
    if note is not None:
        return {"data_uri": None, "size": len(png), "embedded": 0, "note": note}
    return {"data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), "size": len(png),
            "embedded": len(png), "note": None}


def _bounded_words(words: dict[str, Any] | None) -> dict[str, Any] | None:
    """A video's readings and at most MAX_LINES of its lines, saying how many more its readings found."""
    if words is None:
        return None
    lines = words.get("lines", [])[:MAX_LINES]
    found = sum(int(run.get("lines") or 0) for run in words.get("runs", []))
    return {"runs": words.get("runs", []), "lines": lines, "more": max(0, found - len(lines))}


def custody_log(session: Session, collection: str, subjects: list[str]) -> tuple[list[dict[str, Any]], int]:
    """The custody events about what the dossier holds (its sources' URLs, its WARC files, the collection
    itself) and the collection's exports, oldest first: at most MAX_CUSTODY of them, and how many there are."""
    hashes = [_subject_key(subject) for subject in sorted(set(subjects))]
    exports = (CustodyEvent.collection == collection) & (CustodyEvent.action == EXPORTED)
    total = session.scalar(select(func.count()).select_from(CustodyEvent).where(exports)) or 0
    events = list(session.scalars(select(CustodyEvent).where(exports).order_by(CustodyEvent.at.desc())
                                  .limit(MAX_CUSTODY)))
    for start in range(0, len(hashes), 500):  # IN lists of a bounded length
        condition = CustodyEvent.subject_hash.in_(hashes[start:start + 500]) & (CustodyEvent.action != EXPORTED)
        total += session.scalar(select(func.count()).select_from(CustodyEvent).where(condition)) or 0
        events += session.scalars(select(CustodyEvent).where(condition)
                                  .order_by(CustodyEvent.at, CustodyEvent.id).limit(MAX_CUSTODY))
    events.sort(key=lambda event: (event.at, event.id))
    return [{"at": iso(e.at), "action": e.action, "actor": e.actor, "subject": e.subject, "detail": e.detail or {}}
            for e in events[:MAX_CUSTODY]], total


def _subject_key(subject: str) -> str:
    """The custody record's indexed key of a subject (its SHA-256), as archive.evidence.custody writes it."""
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()
