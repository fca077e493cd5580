"""The footage stage's tables of what it found: captured images' hashes, matches between kept footage, and which
videos were searched for.

A match links an archived video (`video_id`) to a copy of its footage found elsewhere in the archive: another
kept video, or an image kept as a page's requisite. It is stored whether or not the video is still alive; when
the video has vanished it carries the one alert about it (`alert_id`, `alerted_at`), which is an Alert row with
no status transition: a reappearance is no change of the video's status, so the status tallies never count it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.footage.tables import HashBits
from archive.models import Base, BigId, utcnow


class ImagePrint(Base):
    """A captured image's PDQ hash (one per distinct image content), or why it has none."""

    __tablename__ = "image_print"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payload_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    requisite_id: Mapped[int] = mapped_column(BigId, ForeignKey("requisite.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    quality: Mapped[int] = mapped_column(SmallInteger, default=0)
    hash: Mapped[bytes | None] = mapped_column(HashBits(), default=None)
    top_hash: Mapped[bytes | None] = mapped_column(HashBits(), default=None)
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
    compared_at: Mapped[datetime | None] = mapped_column(default=None)


class FootageSearch(Base):
    """When a fingerprinted video was last compared with the archive: as a new capture, and after it vanished."""

    __tablename__ = "footage_search"

    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)
    media_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    compared_at: Mapped[datetime | None] = mapped_column(default=None)
    vanished_search_at: Mapped[datetime | None] = mapped_column(default=None)


class FootageMatch(Base):
    """Footage of an archived video found elsewhere: in another kept video or a captured image."""

    __tablename__ = "footage_match"
    __table_args__ = (UniqueConstraint("video_id", "found_key", name="uq_footage_match_found"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), index=True)
    found_key: Mapped[str] = mapped_column(String(80))  # video:<id> or image:<sha256>: one match per copy
    found_video_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"))
    found_image_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("image_print.id", ondelete="CASCADE"))
    where_url: Mapped[str] = mapped_column(Text)  # the page that shows the copy (or the copy's own URL)
    media_url: Mapped[str] = mapped_column(Text)  # the copy itself
    share: Mapped[float] = mapped_column(Float)
    matched_frames: Mapped[int] = mapped_column(Integer)
    query_frames: Mapped[int] = mapped_column(Integer)
    best_distance: Mapped[int] = mapped_column(SmallInteger)
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    found_captured_at: Mapped[datetime | None] = mapped_column(default=None)
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)
    alert_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("alert.id", ondelete="SET NULL"), default=None)
    alerted_at: Mapped[datetime | None] = mapped_column(default=None)
