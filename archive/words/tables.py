"""The words stage's own tables: which kept videos were read (or why not), and the lines of text found in them.

A line is what a search index reads: its text, its start and end second, and its source (speech, screen,
caption).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, BigId, utcnow

SPEECH, SCREEN, CAPTION = "speech", "screen", "caption"  # said, shown, and captions kept at capture


class WordsRun(Base):
    """One reading of a kept video by one source: done (lines stored, WARC record kept) or failed with its reason."""

    __tablename__ = "words_run"

    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    media_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    record_uri: Mapped[str | None] = mapped_column(Text, default=None)  # the WARC file holding its metadata record
    made_at: Mapped[datetime] = mapped_column(default=utcnow)


class TextLine(Base):
    """A line said or shown in a kept video: its text, seconds, source, language and confidence (0-1)."""

    __tablename__ = "text_line"
    __table_args__ = (Index("ix_text_line_video", "video_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigId, ForeignKey("video.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
