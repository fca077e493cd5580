"""A video's words in the archive search: each line (caption, speech, on-screen text) a document with its second.

A hit then names the video and the second the phrase is said or shown, and links to the kept media from there.
Indexing a source's lines again replaces them (keys `words:<video id>:<source>:<n>`); a video's lines are
indexed up to MAX_LINES a source, so a hostile or endless track cannot flood the index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from archive.models import SearchDocument, Video
from archive.research.search import Document, forget_documents, index_documents, language_of
from archive.words.tables import TextLine, WordsRun

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


def index_unindexed(session: Session, limit: int = 100) -> int:
    """Index the lines of up to `limit` readings kept before lines were searchable (rows, no documents); how many
    readings were indexed. Each round of the stage calls it, so an archive catches up a bounded step at a time."""
    prefix = literal("words:") + cast(WordsRun.video_id, String) + literal(":") + WordsRun.source + literal(":%")
    indexed = exists().where(SearchDocument.source_id == Video.source_id, SearchDocument.key.like(prefix))
    todo = session.execute(select(WordsRun.video_id, WordsRun.source, Video.source_id, Video.media_capture_id)
                           .join(Video, Video.id == WordsRun.video_id)
                           .where(WordsRun.state == "done", WordsRun.lines > 0, ~indexed)
                           .order_by(WordsRun.video_id, WordsRun.source).limit(limit)).all()
    for video_id, source, source_id, capture_id in todo:
        lines = session.scalars(select(TextLine).where(TextLine.video_id == video_id, TextLine.source == source)
                                .order_by(TextLine.start, TextLine.id).limit(MAX_LINES)).all()
        index_lines(session, video_id, source_id, capture_id, source,
                    [{"start": line.start, "text": line.text, "language": line.language} for line in lines])
    return len(todo)
