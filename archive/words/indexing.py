"""A video's words in the archive search: each line (caption, speech, on-screen text) a document with its second.

A hit then names the video and the second the phrase is said or shown, and links to the kept media from there.
Indexing a source's lines again replaces them (keys `words:<video id>:<source>:<n>`); a video's lines are
indexed up to MAX_LINES a source, so a hostile or endless track cannot flood the index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from archive.research.search import Document, forget_documents, index_documents, language_of

MAX_LINES = 10_000  # lines of one video and source indexed at most (3 hours of captions is ~4,000 cues)


def words_key(video_id: int, source: str) -> str:
    """The key prefix of one video's lines from one source."""
    return f"words:{video_id}:{source}:"


def index_lines(session: Session, video_id: int, source_id: int, capture_id: int | None, source: str,
                lines: list[dict[str, Any]], limit: int = MAX_LINES) -> int:
    """Replace the search documents of a video's lines from `source` by the first `limit` of these; how many
    were indexed."""
    prefix = words_key(video_id, source)
    forget_documents(session, source_id, prefix)
    docs = (Document(key=f"{prefix}{number}", source_id=source_id, kind=source, body=line["text"],
                     language=language_of(line.get("language")), capture_id=capture_id, second=line["start"])
            for number, line in enumerate(lines[:limit]) if line["text"].strip())
    return index_documents(session, docs)
