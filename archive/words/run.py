"""Reading kept videos for their words: what is pending, one video at a time, each result kept or its failure stored.

Runs off the capture path (`lastseen transcribe`, or a worker): a video whose media cannot be read gets a stored
failure with its reason and is not tried again until its media changes. A reading that worked is kept as a JSON
metadata record in a WARC file first (keeping.TextFiles); its rows are written once that file is stored.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.kept_media import KeptMedia
from archive.models import Capture, Collection, Source, Video
from archive.warc import prepare_metadata
from archive.words.indexing import index_lines
from archive.words.keeping import TextFiles
from archive.words.reading import Reader, ReadError, Reading
from archive.words.tables import TextLine, WordsRun
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass
class Tally:
    """What a round did for one source."""

    done: int = 0
    empty: int = 0
    failed: int = 0
    lines: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Kept:
    video_id: int
    url: str
    sha256: str | None
    collection: str | None
    capture: Capture | None


def pending(session: Session, source: str, collection_id: int | None = None, limit: int = 10_000) -> list[int]:
    """Kept videos (media stored) not read by `source` for their current media, oldest first."""
    done = and_(WordsRun.video_id == Video.id, WordsRun.source == source)
    statement = (select(Video.id).join(WordsRun, done, isouter=True).where(Video.media_capture_id.is_not(None))
                 .where((WordsRun.video_id.is_(None)) | (WordsRun.media_sha256 != Video.media_sha256))
                 .order_by(Video.id).limit(limit))
    if collection_id is not None:
        statement = statement.join(Source, Source.id == Video.source_id).where(Source.collection_id == collection_id)
    return list(session.scalars(statement))


def _load(ws: Workspace, video_id: int) -> _Kept:
    with session_scope(ws.sessions) as session:
        row = session.execute(select(Video.canonical_url, Video.media_sha256, Video.media_capture_id, Collection.name)
                              .join(Source, Source.id == Video.source_id)
                              .join(Collection, Collection.id == Source.collection_id, isouter=True)
                              .where(Video.id == video_id)).one()
        capture = session.get(Capture, row.media_capture_id) if row.media_capture_id else None
        if capture is not None:
            session.expunge(capture)
    return _Kept(video_id, row.canonical_url, row.media_sha256, row.name, capture)


def read_video(ws: Workspace, files: TextFiles, video_id: int, source: str, reader: Reader) -> WordsRun | None:
    """Read one kept video; a failure is stored now and returned, a reading waits for its WARC file (None)."""
    kept = _load(ws, video_id)
    with tempfile.TemporaryDirectory(prefix="lastseen-words-") as folder:
        try:
            if kept.capture is None:
                raise ReadError("no kept media")
            reading = reader(KeptMedia(ws, kept.capture, Path(folder)))
        except ReadError as exc:
            return _store(ws, kept, source, None, str(exc), None)
    fields = {"video": kept.url, "media": kept.capture.url, "media_sha256": kept.sha256, "source": source,
              **reading.fields}
    prepared = prepare_metadata(url=kept.capture.url, concurrent_to=kept.capture.record_id or "", fields=fields,
                                fetched_at=datetime.now(UTC))
    files.add(prepared, kept.collection, lambda uri: _store(ws, kept, source, reading, reading.note, uri))
    return None


def _store(ws: Workspace, kept: _Kept, source: str, reading: Reading | None, reason: str | None,
           record_uri: str | None) -> WordsRun:
    """Replace a video's rows of one source, and its lines in the archive search, with this reading (or failure)."""
    with session_scope(ws.sessions) as session:
        session.execute(delete(TextLine).where(TextLine.video_id == kept.video_id, TextLine.source == source))
        session.execute(delete(WordsRun).where(WordsRun.video_id == kept.video_id, WordsRun.source == source))
        lines = reading.lines if reading else []
        if lines:
            session.execute(insert(TextLine), [{**line, "video_id": kept.video_id, "source": source}
                                               for line in lines])
        made = WordsRun(video_id=kept.video_id, source=source, state="done" if reading else "failed", reason=reason,
                        language=reading.language if reading else None, lines=len(lines),
                        media_sha256=kept.sha256, record_uri=record_uri)
        session.add(made)
        if kept.capture is not None:
            index_lines(session, kept.video_id, kept.capture.source_id, kept.capture.id, source, lines)
        session.flush()
        session.expunge(made)
    return made


def read_pending(ws: Workspace, files: TextFiles, source: str, reader: Reader,
                 collection_id: int | None = None) -> list[int]:
    """Read every kept video still pending for `source` (failures stored, never raised); the videos tried.
    Their readings' rows are written as `files` stores them: tally them (`tally`) once it is closed."""
    with session_scope(ws.sessions) as session:
        todo = pending(session, source, collection_id)
    for video_id in todo:
        failed = read_video(ws, files, video_id, source, reader)
        if failed is not None:
            logger.info("video %s: no %s read: %s", video_id, source, failed.reason)
    return todo


def tally(ws: Workspace, video_ids: list[int], source: str) -> Tally:
    """What the rows say of these videos now (a video whose file could not be stored counts as failed)."""
    counted = Tally()
    with session_scope(ws.sessions) as session:
        runs = {run.video_id: run for run in session.scalars(
            select(WordsRun).where(WordsRun.source == source, WordsRun.video_id.in_(video_ids)))}
    for video_id in video_ids:
        run = runs.get(video_id)
        if run is None or run.state == "failed":
            counted.failed += 1
            counted.failures.append(f"video {video_id}: {run.reason if run else 'its text could not be stored'}")
        elif run.lines:
            counted.done += 1
            counted.lines += run.lines
        else:
            counted.empty += 1
    return counted
