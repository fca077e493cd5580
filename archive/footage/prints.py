"""Fingerprinting kept videos: each video's media is read back from its WARC record, its frames sampled and
hashed, its soundtrack fingerprinted.

Runs off the capture path (a command, the scheduler's round or a worker): a video whose media cannot be read
back or decoded gets a stored failure with its reason and is not tried again until its media changes.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.footage.frames import FootageError, Limits, sample
from archive.footage.hashes import MIN_QUALITY, FrameHash, hash_picture, top_part
from archive.footage.kept import kept_file
from archive.footage.ondisk import mark_stale, synced
from archive.footage.sound import SoundPrint, read_sound, store_sound
from archive.footage.tables import Fingerprint, FrameHashRow
from archive.models import Capture, Source, Video
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


def hash_file(path: Path, per_second: float, limits: Limits) -> list[FrameHash]:
    """The frames of a media file worth matching (PDQ quality at least MIN_QUALITY), whole and top part, hashed."""
    kept = []
    for frame in sample(path, per_second, limits):
        for picture in (frame.rgb, top_part(frame.rgb)):
            digest, quality = hash_picture(picture)
            if quality >= MIN_QUALITY:
                kept.append(FrameHash(frame.second, quality, digest))
    return kept


def pending(session: Session, collection_id: int | None = None, limit: int = 100) -> list[int]:
    """Kept videos (media stored) with no fingerprint for their current media, oldest first."""
    statement = (select(Video.id).join(Fingerprint, Fingerprint.video_id == Video.id, isouter=True)
                 .where(Video.media_capture_id.is_not(None))
                 .where((Fingerprint.video_id.is_(None)) | (Fingerprint.media_sha256 != Video.media_sha256))
                 .order_by(Video.id).limit(limit))
    if collection_id is not None:
        statement = statement.join(Source, Source.id == Video.source_id).where(Source.collection_id == collection_id)
    return list(session.scalars(statement))


def _sound(media: Path, video_id: int, limits: Limits) -> SoundPrint | None:
    """The soundtrack's fingerprint, or None (no sound, or fpcalc failed: the frames are kept regardless)."""
    try:
        return read_sound(media, limits.max_seconds, limits.max_wall)
    except FootageError as exc:
        logger.info("video %s: no soundtrack fingerprint: %s", video_id, exc)
        return None


def fingerprint(ws: Workspace, video_id: int, per_second: float, limits: Limits) -> Fingerprint:
    """Fingerprint one kept video and store its frame hashes (or its failure); returns what was stored."""
    capture, sha256 = kept_media_of(ws, video_id)
    frames: list[FrameHash] = []
    reason, sound = None, None
    with tempfile.TemporaryDirectory(prefix="lastseen-footage-") as folder:
        try:
            media = kept_file(ws, capture, Path(folder))
            sound = _sound(media, video_id, limits)
            frames = hash_file(media, per_second, limits)
            if not frames:
                raise FootageError("no frame clear enough to fingerprint")
        except FootageError as exc:
            reason = str(exc)
    return _store(ws, video_id, frames, reason, sha256, sound)


def _store(ws: Workspace, video_id: int, frames: list[FrameHash], reason: str | None,
           sha256: str | None, sound: SoundPrint | None = None) -> Fingerprint:
    """Replace a video's frame hashes and fingerprint row with these (or its failure); what was stored."""
    with session_scope(ws.sessions) as session:
        replaced = session.execute(delete(FrameHashRow).where(FrameHashRow.video_id == video_id)).rowcount
        session.execute(delete(Fingerprint).where(Fingerprint.video_id == video_id))
        if frames:
            session.execute(insert(FrameHashRow), [
                {"video_id": video_id, "second": f.second, "quality": f.quality, "hash": f.hash} for f in frames])
        store_sound(session, video_id, sound)
        made = Fingerprint(video_id=video_id, state="failed" if reason else "done", reason=reason,
                           frames=len(frames), media_sha256=sha256)
        session.add(made)
        session.flush()
        session.expunge(made)
    if replaced:
        mark_stale(Path(ws.settings.footage_index_file))
    return made


def kept_media_of(ws: Workspace, video_id: int) -> tuple[Capture | None, str | None]:
    """A video's kept media record (read after its session closes) and the SHA-256 its hashes are made for."""
    with session_scope(ws.sessions) as session:
        video = session.get(Video, video_id)
        capture = session.get(Capture, video.media_capture_id) if video and video.media_capture_id else None
        sha256 = video.media_sha256 if video else None
        if capture is not None:
            session.expunge(capture)
    return capture, sha256


def store_failure(ws: Workspace, video_id: int, reason: str) -> Fingerprint:
    """Store a video's failure found outside the fingerprinting itself (its worker process died)."""
    return _store(ws, video_id, [], reason, kept_media_of(ws, video_id)[1])


def sync_index(ws: Workspace) -> None:
    """Append new frame hashes to the FAISS index now (not at the next query) once the archive uses it."""
    with session_scope(ws.sessions) as session:
        if (session.scalar(select(func.max(FrameHashRow.id))) or 0) >= ws.settings.footage_index_from:
            synced(session, Path(ws.settings.footage_index_file))
