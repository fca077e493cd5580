"""Indexing for search what was archived before the search index existed (migration 0018): pages' captures
read back from their WARC records and described again, and videos' metadata as the database keeps it.

The crawl indexes every page it describes and every video's metadata as it fetches them, so this is needed once
after upgrading an archive (or after a search document was lost); it is `lastseen search --reindex`, not a
scheduler round that would scan the captures every round to find nothing. It skips what is indexed already, so
an interrupted run is resumed by running it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import String, cast, exists, literal, or_, select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.models import Capture, SearchDocument, Source, Video
from archive.research.search import Document, fill_leads, index_documents, page_document, video_document
from archive.storage import StorageError
from archive.workspace import Workspace

BATCH = 100  # captures read and indexed per transaction
LEAD_BATCH = 1000  # documents given their lead per transaction


@dataclass
class Reindexed:
    """What a backfill did: pages and videos indexed, captures whose record could not be read now."""

    pages: int = 0
    videos: int = 0
    unreadable: int = 0
    leads: int = 0  # documents indexed before migration 0026 given the lead a search ranks by

    def as_dict(self) -> dict[str, int]:
        return {"pages": self.pages, "videos": self.videos, "unreadable": self.unreadable, "leads": self.leads}


def _in(statement: object, collections: Sequence[int] | None) -> object:
    """Only these collections' sources (None: all)."""
    if collections is None:
        return statement
    return statement.where(Source.collection_id.in_(list(collections)))  # type: ignore[attr-defined]


def _unindexed_pages(session: Session, collections: Sequence[int] | None, after: int) -> list[Capture]:
    """The next batch of pages' successful HTML responses with no search document, in id order."""
    key = literal("page:", String) + cast(Capture.id, String)
    statement = (select(Capture).join(Source, Source.id == Capture.source_id)
                 .where(Capture.id > after, Source.kind == "page", Capture.record_type == "response",
                        Capture.http_status >= 200, Capture.http_status < 300,
                        or_(Capture.page_meta.is_not(None), Capture.content_type.ilike("%html%")),
                        ~exists().where(SearchDocument.key == key))
                 .order_by(Capture.id).limit(BATCH))
    return list(session.scalars(_in(statement, collections)))  # type: ignore[arg-type]


def _page(ws: Workspace, capture: Capture) -> Document | None:
    """A capture's page as a search document, described again from its WARC record."""
    from archive.extract.pagemeta import extract_page_metadata
    from archive.warc import decoded_body, read_record

    record = read_record(ws.storage.read(ws.storage.key_of(capture.warc_uri), capture.warc_offset,
                                         capture.warc_length))
    meta = extract_page_metadata(decoded_body(record), capture.url, capture.content_type)
    return page_document(capture.id, capture.source_id, meta.as_dict())


def reindex_pages(ws: Workspace, collections: Sequence[int] | None, done: Reindexed) -> None:
    """Index every page capture that has no search document yet."""
    from archive.warc import WarcError

    after = 0
    while True:
        with session_scope(ws.sessions) as session:
            batch = _unindexed_pages(session, collections, after)
            if not batch:
                return
            documents = []
            for capture in batch:
                try:
                    documents.append(_page(ws, capture))
                except (StorageError, WarcError, OSError):
                    done.unreadable += 1
            found = [doc for doc in documents if doc is not None]
            done.pages += index_documents(session, found)
            after = batch[-1].id


def reindex_videos(ws: Workspace, collections: Sequence[int] | None, done: Reindexed) -> None:
    """Index every video whose metadata (title, uploader, channel) has no search document yet."""
    key = literal("video:", String) + cast(Video.source_id, String)
    after = 0
    while True:
        with session_scope(ws.sessions) as session:
            statement = (select(Video).join(Source, Source.id == Video.source_id)
                         .where(Video.id > after, or_(Video.title.is_not(None), Video.uploader.is_not(None)),
                                ~exists().where(SearchDocument.key == key)).order_by(Video.id).limit(BATCH))
            videos = list(session.scalars(_in(statement, collections)))  # type: ignore[arg-type]
            if not videos:
                return
            done.videos += index_documents(session, [
                video_document(v.source_id, {"title": v.title, "uploader": v.uploader, "channel": v.channel})
                for v in videos])
            after = videos[-1].id


def fill_all_leads(ws: Workspace, collections: Sequence[int] | None, done: Reindexed) -> None:
    """Give every document indexed before migration 0026 its lead (PostgreSQL ranks by it), LEAD_BATCH a
    transaction, from the text the database keeps: nothing is read back from storage."""
    after = 0
    while True:
        with session_scope(ws.sessions) as session:
            filled = fill_leads(session, collections, after, LEAD_BATCH)
            if not filled:
                return
            done.leads += len(filled)
            after = max(filled)


def reindex(ws: Workspace, collections: Sequence[int] | None = None) -> Reindexed:
    """Index for search the pages and videos archived without a search document, and give documents indexed
    before migration 0026 their lead (only these collections')."""
    done = Reindexed()
    reindex_pages(ws, collections, done)
    reindex_videos(ws, collections, done)
    fill_all_leads(ws, collections, done)
    return done
