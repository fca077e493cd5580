"""What a kept video says and shows, over the API: its transcript (captions, speech, on-screen text) with times.

The same content as `lastseen transcript`: JSON (readings and lines), WebVTT (a player's track) or plain text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from archive.api.access import CallerDep, source_or_404, workspace_of
from archive.api.schemas import ERRORS, IdPath
from archive.db import session_scope
from archive.words.show import transcript, words_of
from archive.words.tables import CAPTION, SCREEN, SPEECH

router = APIRouter()
_TYPES = {"vtt": "text/vtt; charset=utf-8", "txt": "text/plain; charset=utf-8"}


@router.get("/api/sources/{source_id}/transcript", tags=["read"], responses={
    200: {"description": "the readings and lines (json), a WebVTT file (vtt) or text (txt)",
          "content": {"application/json": {}, "text/vtt": {}, "text/plain": {}}}, **ERRORS})
def transcript_route(
    source_id: IdPath, request: Request, who: CallerDep,
    format: Annotated[Literal["json", "vtt", "txt"], Query(description="json, vtt or txt")] = "json",  # noqa: A002
    source: Annotated[Literal[CAPTION, SPEECH, SCREEN] | None,  # type: ignore[valid-type]
                      Query(description="only lines of this source (default: all)")] = None,
) -> Response:
    """A tracked video's words with their seconds and sources (404: no such source, or it is no video)."""
    with session_scope(workspace_of(request).sessions) as session:
        tracked = source_or_404(session, source_id, who)
        words = words_of(session, tracked.id)
        url = tracked.url
    if words is None:
        raise HTTPException(404, f"source {source_id} is not a tracked video")
    shown: str | dict[str, Any] = transcript(words, source, format)
    if isinstance(shown, dict):
        return JSONResponse({"source_id": source_id, "url": url, **shown})
    return PlainTextResponse(shown + ("" if shown.endswith("\n") else "\n"), media_type=_TYPES[format])
