"""The footage stage's own tables: which kept videos were fingerprinted (or why not), their frame hashes, their
soundtracks' fingerprints, and the hashes of vanished videos' frames in all eight orientations (their variants).

A frame hash is a bit(256) on PostgreSQL, so the exact scan is `bit_count(hash # query)` in the database; on
SQLite it is 32 bytes, scanned in numpy. Both read back as 32 bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from archive.models import Base, BigId, utcnow


class HashBits(TypeDecorator):
    """256 bits: bit(256) on PostgreSQL, 32 bytes elsewhere; bytes in Python either way."""

    impl = LargeBinary(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.BIT(256))
        return dialect.type_descriptor(LargeBinary(32))

    def process_bind_param(self, value: bytes | None, dialect: Any) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return bits_text(value)

    def process_result_value(self, value: Any, dialect: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return int(value, 2).to_bytes(32, "big")


def bits_text(value: bytes) -> str:
    """32 bytes as PostgreSQL's bit-string text ('0101...')."""
    return format(int.from_bytes(value, "big"), "0256b")


class Made:
    """What hashing a video's media came to: done with its frame count, or failed with its reason; for which
    media (its SHA-256, so new media is hashed again) and when."""

    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    media_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    made_at: Mapped[datetime] = mapped_column(default=utcnow)


class Fingerprint(Made, Base):
    """A kept video's fingerprinting."""

    __tablename__ = "footage_print"

    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)


class FrameHashRow(Base):
    """One sampled frame of a kept video: its second, PDQ quality and hash."""

    __tablename__ = "frame_hash"
    __table_args__ = (Index("ix_frame_hash_video", "video_id", "second"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"))
    second: Mapped[float] = mapped_column(Float)
    quality: Mapped[int] = mapped_column(SmallInteger)
    hash: Mapped[bytes] = mapped_column(HashBits())


class AudioPrintRow(Base):
    """A kept video's soundtrack fingerprint: Chromaprint's raw 32-bit items, about eight a second."""

    __tablename__ = "audio_print"

    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float)
    items: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian uint32s, as fpcalc -raw gives them
    made_at: Mapped[datetime] = mapped_column(default=utcnow)


class VariantPrint(Made, Base):
    """The making of a vanished video's variants."""

    __tablename__ = "footage_variant_print"

    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)


class VariantHashRow(Base):
    """One hash of a vanished video's sampled frame: one of its eight orientations, or its top part."""

    __tablename__ = "footage_variant"
    __table_args__ = (Index("ix_footage_variant_video", "video_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"))
    second: Mapped[float] = mapped_column(Float)
    hash: Mapped[bytes] = mapped_column(HashBits())
