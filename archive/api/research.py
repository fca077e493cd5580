"""Researchers' questions: what was online when (a collection's timeline at a moment), search over the archive,
and what changed in a page between two captures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.api.access import (
    Caller,
    CallerDep,
    anonymous_list,
    collection_or_404,
    readable,
    source_or_404,
    workspace_of,
)
from archive.api.schemas import ERRORS, DiffOut, IdPath, NamePath, QueryText, SearchOut, TimelineOut
from archive.db import session_scope
from archive.models import Collection
from archive.research.diff import NothingToCompare, pick_captures, text_diff
from archive.research.loading import collection_facts
from archive.research.search import DEFAULT_LIMIT, MAX_CHARS, MAX_LIMIT, NothingToSearch, QueryError, search
from archive.research.timeline import collection_timeline, parse_moment
from archive.storage import StorageError

MAX_SOURCES = 1000

router = APIRouter()


@router.get("/api/collections/{name:path}/timeline", response_model=TimelineOut, responses=ERRORS,
            tags=["research"])
def collection_timeline_route(
    name: NamePath, request: Request, who: CallerDep,
    as_of: Annotated[str | None, Query(max_length=40, description="a day (00:00 UTC), an ISO time or a 14-digit "
                                                                  "timestamp; default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SOURCES)] = MAX_SOURCES,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="next_cursor of the previous answer")] = None,
) -> dict[str, Any]:
    """A collection's sources as of a moment: which were online, vanished or could not be told, each one's
    intervals per region, when it was first known online and from where, and which copies existed."""
    try:
        moment = parse_moment(as_of) if as_of else datetime.now(UTC)
    except ValueError as exc:
        raise HTTPException(422, f"as_of: {exc}") from None
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        readable(who, collection)
        facts = [item for batch in collection_facts(session, collection.id, after=cursor or 0, limit=limit)
                 for item in batch]
        result = collection_timeline(collection.name, facts, moment)
    result["next_cursor"] = str(facts[-1].id) if len(facts) == limit else None
    return result


def searchable(session: Session, who: Caller, collection: str | None) -> list[int] | None:
    """The collections a search may look in: the one named (if the caller may read it), else the public ones for
    an anonymous caller (401 when none is public), else all (None)."""
    if collection:
        found = collection_or_404(session, collection)
        readable(who, found)
        return [found.id]
    if who.role is None:
        anonymous_list(session, who)
        return list(session.scalars(select(Collection.id).where(Collection.public_read.is_(True))))
    return None


@router.get("/api/search", response_model=SearchOut, responses=ERRORS, tags=["research"])
def search_route(
    request: Request, who: CallerDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_CHARS, pattern=r"^[^\x00]*$",
                                       description="every word must appear")],
    collection: QueryText = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Archived pages and videos that hold all the words (title, authors, text, video descriptions), best first,
    each with a snippet and the capture it links to; anonymous callers search the public collections. A query
    with no word to look for (only symbols or common words) has no hits and a note; one too long is a 422."""
    with session_scope(workspace_of(request).sessions) as session:
        collections = searchable(session, who, collection)
        try:
            hits = search(session, q, collections=collections, limit=limit)
        except NothingToSearch as exc:
            return {"query": q, "hits": [], "note": str(exc)}
        except QueryError as exc:
            raise HTTPException(422, str(exc)) from None
    base = str(request.base_url).rstrip("/")
    for hit in hits:
        hit["capture_url"] = f"{base}{hit['capture_url']}" if hit["capture_url"] else None
    return {"query": q, "hits": hits, "note": hits.note}


@router.get("/api/sources/{source_id}/diff", response_model=DiffOut, responses=ERRORS, tags=["research"])
def source_diff_route(source_id: IdPath, request: Request, who: CallerDep,
                      start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                      end: Annotated[str | None, Query(alias="to", max_length=40)] = None) -> dict[str, Any]:
    """The main text of the capture at or before `to` (default: the latest) against the one at or before `from`
    (default: the one before it), sentence by sentence."""
    try:
        moments = [parse_moment(value) if value else None for value in (start, end)]
    except ValueError as exc:
        raise HTTPException(422, f"from/to: {exc}") from None
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        source = source_or_404(session, source_id, who)
        try:
            older, newer = pick_captures(session, [source], moments[0], moments[1])
        except NothingToCompare as exc:
            raise HTTPException(404, f"{source.url}: {exc}") from None
        url = source.url
    try:
        return {"url": url, **text_diff(ws, older, newer)}
    except StorageError as exc:
        raise HTTPException(503, f"the archived copies cannot be read now: {exc}") from None
