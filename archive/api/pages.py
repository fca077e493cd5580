"""The dashboard's research pages: search over the archive and what changed in a source between two captures.

They ask what GET /api/search and GET /api/sources/{id}/diff ask (archive.research), and answer bad input with a
page saying in one line what was wrong (4xx), never a 500; anonymous callers of a private collection are sent to
sign in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from archive.api.access import CallerDep, source_or_404, workspace_of
from archive.api.dashboard import page_response, refused
from archive.api.html import diff_page, search_page
from archive.api.research import searchable
from archive.api.schemas import IdPath
from archive.db import session_scope
from archive.research.diff import NothingToCompare, pick_captures, text_diff
from archive.research.search import DEFAULT_LIMIT, MAX_CHARS, NothingToSearch, QueryError, search
from archive.research.timeline import parse_moment
from archive.research.titles import source_titles
from archive.storage import StorageError

MAX_NAME = 255
MAX_MOMENT = 40

router = APIRouter()

# Query text as typed: bounded here, so too long a query is a page that says so, not the API's JSON refusal.
Typed = Annotated[str, Query()]


def _answer(request: Request, build: Callable[[], str]) -> Response:
    """The page `build` renders, or the page of its refusal (an HTTPException it raised)."""
    try:
        return page_response(build())
    except HTTPException as exc:
        return refused(request, exc.status_code, str(exc.detail))


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
def search_results(request: Request, who: CallerDep, q: Typed = "", collection: Typed = "") -> Response:
    """The search box's page: the best hits for all the words, each linking to its source and its capture."""
    if len(q) > MAX_CHARS:
        return refused(request, 422, f"The query is {len(q)} characters long: at most {MAX_CHARS}.")
    if len(collection) > MAX_NAME or "\x00" in collection:
        return refused(request, 422, "That is not a collection's name.")

    def build() -> str:
        if not q.strip():
            return search_page("", [], collection=collection or None, limit=DEFAULT_LIMIT)
        with session_scope(workspace_of(request).sessions) as session:
            scope = searchable(session, who, collection or None)
            try:
                hits = search(session, q, collections=scope, limit=DEFAULT_LIMIT)
            except NothingToSearch as exc:
                return search_page(q, [], collection=collection or None, limit=DEFAULT_LIMIT, note=str(exc))
            except QueryError as exc:
                raise HTTPException(422, f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
        return search_page(q, hits, collection=collection or None, limit=DEFAULT_LIMIT, note=hits.note)

    return _answer(request, build)


@router.get("/sources/{source_id}/diff", response_class=HTMLResponse, include_in_schema=False)
def source_diff(source_id: IdPath, request: Request, who: CallerDep,
                start: Annotated[str, Query(alias="from")] = "",
                end: Annotated[str, Query(alias="to")] = "") -> Response:
    """The main text of the capture at or before `to` (default: the latest) against the one at or before `from`
    (default: the one before it), sentence by sentence."""
    try:
        moments = [parse_moment(value[:MAX_MOMENT + 1]) if value.strip() else None for value in (start, end)]
        if max(len(start), len(end)) > MAX_MOMENT:
            raise ValueError(f"a date or time is at most {MAX_MOMENT} characters")
    except ValueError as exc:
        return refused(request, 422, f"from/to: {exc}")
    ws = workspace_of(request)

    def build() -> str:
        with session_scope(ws.sessions) as session:
            source = source_or_404(session, source_id, who)
            title = source_titles(session, [source.id]).get(source.id)
            try:
                older, newer = pick_captures(session, [source], moments[0], moments[1])
            except NothingToCompare as exc:
                raise HTTPException(404, f"{source.url}: {exc}") from None
            try:
                diff = text_diff(ws, older, newer)
            except StorageError as exc:
                raise HTTPException(503, f"the archived copies cannot be read now: {exc}") from None
            return diff_page(source, title, diff, start=start, end=end)

    return _answer(request, build)
