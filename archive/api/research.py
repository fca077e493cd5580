"""Researchers' questions over a collection: what was online when (the timeline at a moment)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from archive.api.access import CallerDep, collection_or_404, readable, workspace_of
from archive.api.schemas import ERRORS, NamePath, TimelineOut
from archive.db import session_scope
from archive.research.loading import collection_facts
from archive.research.timeline import collection_timeline, parse_moment

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
