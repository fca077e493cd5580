"""The researchers' dashboard: its routes (HTML pages, token sign-in kept in an HttpOnly cookie) and the queries
that read what each page shows; archive.api.html renders them from templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, lazyload
from starlette.concurrency import run_in_threadpool

from archive.api.access import TOKEN_COOKIE, Caller, CallerDep, collection_or_404, workspace_of
from archive.api.controls import controls_html
from archive.api.html import (
    PAGE_HEADERS,
    CollectionView,
    SourceView,
    collection_page,
    error_page,
    index_page,
    login_page,
    source_page,
)
from archive.api.read import collection_rows
from archive.api.schemas import MAX_ID, IdPath, NamePath, Status
from archive.captures import latest_screenshot
from archive.db import session_scope
from archive.footage.show import footage_of
from archive.models import Capture, Check, Collection, Source, StatusTransition, WaybackLookup, WaybackSubmission
from archive.report import source_detail
from archive.research.chart import MAX_LANES, timeline_chart
from archive.research.loading import collection_facts
from archive.research.timeline import collection_timeline
from archive.research.titles import source_titles
from archive.sources import get_collection
from archive.tally import VANISHINGS, tally
from archive.tokens import authenticate, role_allows
from archive.words.show import words_of

TABLE_PAGE = 100
TIMELINE_CHECKS = 500
CHART_SOURCES = 1000  # sources drawn in a collection's timeline chart (the first, by id): a page stays quick
# A collection's page holds its chart when it has a lane per source; a larger one's (grouped, slower to read) is
# an image of its own, fetched beside the page and kept for a minute, so the page itself stays as quick.
SVG_HEADERS = {"Cache-Control": "private, max-age=60", "Content-Security-Policy": "default-src 'none'",
               "X-Content-Type-Options": "nosniff"}
# Sources to look up: a few ids, or a query of them (a page of a table, without a bound value per source).
SourceIds = Sequence[int] | Select[tuple[int]]

router = APIRouter()


def vanishing_days(session: Session, collection_id: int) -> dict[date, int]:
    """How many sources of a collection were found vanished, per day (UTC), from the tally."""
    return {date.fromisoformat(day): count for (_, day), count in tally(session, VANISHINGS, collection_id).items()
            if count > 0}


def wayback_links(session: Session, source_ids: SourceIds) -> dict[int, str]:
    """The best Wayback copy per source: the recovery copy, else our newest stored submission, else a lookup's."""
    links: dict[int, str] = {}
    for source_id, url in session.execute(
            select(WaybackLookup.source_id, WaybackLookup.last_ok_url)
            .where(WaybackLookup.source_id.in_(source_ids), WaybackLookup.last_ok_url.is_not(None))
            .order_by(WaybackLookup.looked_up_at)):
        links[source_id] = url
    for source_id, url in session.execute(
            select(WaybackSubmission.source_id, WaybackSubmission.archive_url)
            .where(WaybackSubmission.source_id.in_(source_ids), WaybackSubmission.archive_url.is_not(None))
            .order_by(WaybackSubmission.requested_at)):
        links[source_id] = url
    for source_id, url in session.execute(
            select(Source.id, Source.recovery_archive_url)
            .where(Source.id.in_(source_ids), Source.recovery_archive_url.is_not(None))):
        links[source_id] = url
    return links


def latest_captures(session: Session, source_ids: SourceIds) -> dict[int, int]:
    """The newest capture id per source."""
    newest = (select(Capture.source_id, func.max(Capture.captured_at).label("at"))
              .where(Capture.source_id.in_(source_ids)).group_by(Capture.source_id).subquery())
    same = (newest.c.source_id == Capture.source_id) & (newest.c.at == Capture.captured_at)
    rows = session.execute(select(Capture.source_id, func.max(Capture.id)).join(newest, same)
                           .group_by(Capture.source_id))
    return {source_id: capture_id for source_id, capture_id in rows}


def collection_view(session: Session, collection: Collection, counts: dict[str, Any], *, status: str | None,
                    after: int | None) -> CollectionView:
    """A collection's page: its counts, vanishings, and TABLE_PAGE sources after `after` (of one status)."""
    vanishings = vanishing_days(session, collection.id)
    query = select(Source).where(Source.collection_id == collection.id).order_by(Source.id)
    if status:
        query = query.where(Source.status == status)
    if after:
        query = query.where(Source.id > after)
    sources = list(session.scalars(query.options(lazyload(Source.tags)).limit(TABLE_PAGE + 1)))
    more = len(sources) > TABLE_PAGE
    sources = sources[:TABLE_PAGE]
    shown = query.with_only_columns(Source.id).limit(TABLE_PAGE)  # as a subquery: no bound value per source
    return CollectionView(collection=collection, counts=counts, status=status, vanishings=vanishings,
                          sources=sources, more=more, captures=latest_captures(session, shown) if sources else {},
                          wayback=wayback_links(session, shown) if sources else {},
                          titles=source_titles(session, shown) if sources else {},
                          timeline=collection_chart(session, collection)
                          if counts.get("sources", 0) <= MAX_LANES else "")


def collection_chart(session: Session, collection: Collection) -> str:
    """The collection's timeline chart as of now, of its first CHART_SOURCES sources (archive.research.chart)."""
    facts = [item for batch in collection_facts(session, collection.id, limit=CHART_SOURCES, checks=False)
             for item in batch]
    timeline = collection_timeline(collection.name, facts, datetime.now(UTC))
    return timeline_chart(timeline, href="/sources/{id}",
                          title=f"timeline of {collection.name}" + (f" (its first {CHART_SOURCES} sources)"
                                                                     if len(facts) == CHART_SOURCES else ""))


def source_view(session: Session, source: Source) -> SourceView:
    """A source's page: its report detail, its latest TIMELINE_CHECKS checks, transitions and best Wayback copy."""
    detail = {**source_detail(session, source), **footage_of(session, source.id)}
    checks = list(reversed(list(session.scalars(select(Check).where(Check.source_id == source.id)
                                                .order_by(Check.checked_at.desc()).limit(TIMELINE_CHECKS)))))
    transitions = list(session.scalars(select(StatusTransition).where(StatusTransition.source_id == source.id)
                                       .order_by(StatusTransition.at)))
    return SourceView(source=source, detail=detail, checks=checks, transitions=transitions,
                      wayback_copy=wayback_links(session, [source.id]).get(source.id),
                      title=source_titles(session, [source.id]).get(source.id), words=words_of(session, source.id))


def page_response(content: str, status_code: int = 200) -> HTMLResponse:
    """A dashboard page with its security headers (archive.api.html.PAGE_HEADERS)."""
    return HTMLResponse(content, status_code=status_code, headers=PAGE_HEADERS)


def login_redirect(request: Request) -> RedirectResponse:
    """Off to the sign-in form, coming back here after."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def refused(request: Request, status: int, message: str) -> Response:
    """A 401 sends the caller to sign in; any other refusal is a page saying why in one line."""
    if status == 401:
        return login_redirect(request)
    heading = {404: "Not found", 503: "Not available now"}.get(status, "Cannot do that")
    return page_response(error_page(heading, " ".join(message.split())), status_code=status)


def _safe_next(value: str) -> str:
    """Only a path on this server (no scheme, no '//host'): the login form is no open redirect."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard_index(request: Request, who: CallerDep) -> HTMLResponse:
    """The collections the caller may read."""
    with session_scope(workspace_of(request).sessions) as session:
        rows = collection_rows(session, who)
    return page_response(index_page(rows, signed_in=who.role is not None))


@router.get("/collections/{name:path}/timeline.svg", include_in_schema=False)
def dashboard_timeline(name: NamePath, request: Request, who: CallerDep) -> Response:
    """A collection's timeline chart as an SVG image (its page shows it when the chart is grouped)."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        if who.role is None and not collection.public_read:
            raise HTTPException(404, f"no collection named {name.strip()!r}")
        svg = collection_chart(session, collection)
    return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)


@router.get("/collections/{name:path}", response_class=HTMLResponse, include_in_schema=False)
def dashboard_collection(name: NamePath, request: Request, who: CallerDep, status: Status | None = None,
                         after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None) -> Response:
    """A collection's page; anonymous callers of a private one are sent to sign in."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = get_collection(session, name.strip())
        if collection is None:
            return refused(request, 404, f"No collection named {name.strip()!r}.")
        if who.role is None and not collection.public_read:
            return login_redirect(request)
        counts = next(row for row in collection_rows(session, Caller(role="reader"))
                      if row["name"] == collection.name)
        return page_response(collection_page(collection_view(session, collection, counts, status=status,
                                                             after=after)))


@router.get("/sources/{source_id}", response_class=HTMLResponse, include_in_schema=False)
def dashboard_source(source_id: IdPath, request: Request, who: CallerDep,
                     t: Annotated[float | None, Query(ge=0, le=10**6)] = None) -> Response:
    """A source's page (its video playing from second `t`); anonymous callers of a private one sign in first."""
    with session_scope(workspace_of(request).sessions) as session:
        source = session.get(Source, source_id)
        if source is None:
            return refused(request, 404, f"No source {source_id}.")
        if who.role is None and not source.collection.public_read:
            return login_redirect(request)
        shot = latest_screenshot(session, workspace_of(request).storage, source.id) is not None
        view = source_view(session, source)
        token = request.cookies.get(TOKEN_COOKIE) if role_allows(who.role or "", "archivist") else None
        controls = controls_html(view.detail, token)
        return page_response(source_page(replace(view, screenshot=shot, controls=controls, start=t)))


@router.get("/sources/{source_id}/screenshot.png", include_in_schema=False)
def dashboard_screenshot(source_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The latest screenshot of a source (a PNG read from its WARC file), for its page."""
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        source = session.get(Source, source_id)
        if source is None or (who.role is None and not source.collection.public_read):
            raise HTTPException(404, f"no source {source_id}")
        png = latest_screenshot(session, ws.storage, source.id)
    if png is None:
        raise HTTPException(404, f"no screenshot of source {source_id}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(next: Annotated[str, Query(max_length=2000)] = "/") -> HTMLResponse:
    """The sign-in form, coming back to `next` (a path on this server) after."""
    return page_response(login_page(next_url=_safe_next(next)))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Sign in with a token from the form: kept in an HttpOnly cookie, good for reading pages only."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    next_url = _safe_next((form.get("next") or ["/"])[0])

    def check() -> bool:
        with session_scope(workspace_of(request).sessions) as session:
            return bool(token) and "\x00" not in token and authenticate(session, token) is not None

    if not await run_in_threadpool(check):
        return page_response(login_page("That token is not valid.", next_url), status_code=401)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=30 * 86400)
    return response


@router.post("/logout", include_in_schema=False)
def logout() -> Response:
    """Forget the sign-in cookie."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response
