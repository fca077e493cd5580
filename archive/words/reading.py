"""What a source of words (speech, screen, caption) hands the run: a Reading of kept media, or a ReadError."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.kept_media import KeptMedia


class ReadError(Exception):
    """A video's media cannot be read by one source (its reason is stored)."""


@dataclass(frozen=True)
class Reading:
    """What one source found in a media file: its language, its lines (rows) and the record's JSON fields."""

    language: str | None
    lines: list[dict[str, Any]]
    fields: dict[str, Any]
    note: str | None = None  # said of a reading that found nothing (silence, no text on screen)


Reader = Callable[["KeptMedia"], Reading]  # raises ReadError
