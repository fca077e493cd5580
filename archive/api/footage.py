"""Finding footage again over HTTP: GET /api/similar by a tracked video's URL, POST /api/similar with a picture
or a short media file as the body; the answer is `lastseen similar --json`'s. Bad input is a 400 with a
message (a URL that is no tracked video, a body that is no picture or video, a share out of range)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session

from archive.api.access import Caller, CallerDep, collection_or_404, readable, unauthorized, workspace_of
from archive.api.schemas import ERRORS, QueryText
from archive.db import session_scope

router = APIRouter()
Share = Annotated[float | None, Query(gt=0, le=1, description="share of the query's frames a match must hold")]
SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
            "image/bmp": ".bmp"}


def _scope(session: Session, who: Caller, collection: str | None) -> int | None:
    """The collection searched (readable by the caller); anonymous callers must name a public one."""
    if collection:
        found = collection_or_404(session, collection)
        readable(who, found)
        return found.id
    if who.role is None:
        raise unauthorized("name a public collection (?collection=) or send an API token")
    return None


@router.get("/api/similar", responses=ERRORS, tags=["research"])
def similar_by_url(request: Request, who: CallerDep,
                   url: Annotated[str, Query(min_length=1, max_length=2000, pattern=r"^[^\x00]*$",
                                             description="a tracked video's URL")],
                   collection: QueryText = None, share: Share = None) -> list[dict[str, Any]]:
    """Archived videos holding a tracked video's footage: their share of its frames and the segments."""
    from archive.footage.answers import similar_to_url
    from archive.footage.frames import FootageError

    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        scope = _scope(session, who, collection)
        try:
            return similar_to_url(session, url, share or ws.settings.footage_match_share, scope)
        except FootageError as exc:
            raise HTTPException(400, str(exc)) from None


@router.post("/api/similar", responses=ERRORS, tags=["research"])
async def similar_by_file(request: Request, who: CallerDep, collection: QueryText = None,
                          share: Share = None) -> list[dict[str, Any]]:
    """Archived videos (at which seconds) and captured images holding the picture sent as the body (image/png,
    image/jpeg, ...), or the footage of a short video sent as the body (video/mp4, ...)."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not body:
        raise HTTPException(400, "send a picture or a video as the request body")
    if kind not in SUFFIXES and not kind.startswith("video/"):
        raise HTTPException(400, f"the body must be a picture ({', '.join(SUFFIXES)}) or a video/*, not {kind!r}")
    return await run_in_threadpool(_answer_file, request, who, collection, share, body, SUFFIXES.get(kind, ".mp4"))


def _answer_file(request: Request, who: Caller, collection: str | None, share: float | None, body: bytes,
                 suffix: str) -> list[dict[str, Any]]:
    """Look the body up as a file (decoded within the footage bounds); a body that cannot be decoded is a 400."""
    from archive.footage.answers import similar_to_file
    from archive.footage.frames import FootageError
    from archive.footage.round import limits

    ws = workspace_of(request)
    with session_scope(ws.sessions) as session, tempfile.TemporaryDirectory(prefix="lastseen-similar-") as folder:
        scope = _scope(session, who, collection)
        path = Path(folder) / f"query{suffix}"
        path.write_bytes(body)
        try:
            videos, images = similar_to_file(session, path, share or ws.settings.footage_match_share,
                                             ws.settings.footage_query_per_second, limits(ws.settings), scope)
        except FootageError as exc:
            raise HTTPException(400, str(exc)) from None
    return videos + images
