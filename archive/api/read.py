"""Reading the archive: collections with their counts, sources (filtered, paged, exported as CSV or JSON), one
source's whole story, an archived copy (replayed by `replay`), and a collection's Atom feed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from archive.api.access import (
    Caller,
    CallerDep,
    anonymous_list,
    collection_or_404,
    readable,
    source_or_404,
    workspace_of,
)
from archive.api.memento import timegate_url, timemap_url
from archive.api.replay import replay, replay_requisite
from archive.api.schemas import ERRORS, CollectionOut, ErrorOut, FiltersDep, IdPath, NamePath, SourceFilters, SourcePage
from archive.db import session_scope
from archive.models import Collection, Source, SourceTag
from archive.report import SUMMARY_FIELDS, collection_counts, csv_row, source_detail, source_summary

MAX_PAGE = 1000
DEFAULT_PAGE = 100
EXPORT_BATCH = 1000

router = APIRouter()


def collection_rows(session: Session, who: Caller) -> list[dict[str, Any]]:
    """Every collection the caller may read with its counts by status and whether it is public."""
    public = dict(session.execute(select(Collection.name, Collection.public_read)).all())
    rows = [{**row, "public_read": bool(public.get(row["name"]))} for row in collection_counts(session)]
    return [row for row in rows if who.role is not None or row["public_read"]]


def filtered_sources(filters: SourceFilters, who: Caller, after_id: int | None = None) -> Any:
    """The query for a filtered source list, by id, limited to what the caller may read.

    Keyset paging: the rows after `after_id`, read in id order from an index (a collection's of one status from
    ix_source_collection_status_id, the collection's id looked up first), never counted or skipped over.
    """
    query = select(Source).options(selectinload(Source.collection)).where(Source.deleted_at.is_(None)) \
        .order_by(Source.id)  # a deleted source is off the list (its page and captures stay)
    if who.role is None:
        query = query.join(Collection, Collection.id == Source.collection_id).where(Collection.public_read.is_(True))
    conditions = [
        (filters.collection,
         lambda v: Source.collection_id == select(Collection.id).where(Collection.name == v).scalar_subquery()),
        (filters.status, lambda v: Source.status == v),
        (filters.kind, lambda v: Source.kind == v), (filters.domain, lambda v: Source.domain == v),
        (filters.tag, lambda v: Source.id.in_(select(SourceTag.source_id).where(SourceTag.tag == v))),
        (filters.added_after, lambda v: Source.added_at >= v), (filters.added_before, lambda v: Source.added_at < v),
        (filters.vanished_after, lambda v: Source.vanished_at >= v),
        (filters.vanished_before, lambda v: Source.vanished_at < v),
        (after_id, lambda v: Source.id > v)]
    for value, condition in conditions:
        if value is not None:
            query = query.where(condition(value))
    return query


@router.get("/api/collections", response_model=list[CollectionOut], responses=ERRORS, tags=["read"])
def list_collections(request: Request, who: CallerDep) -> list[dict[str, Any]]:
    """Collections with their number of sources by status (anonymous callers see public ones)."""
    with session_scope(workspace_of(request).sessions) as session:
        anonymous_list(session, who)
        return collection_rows(session, who)


@router.get("/api/collections/{name:collection}", response_model=CollectionOut, responses=ERRORS, tags=["read"])
def get_collection_counts(name: NamePath, request: Request, who: CallerDep) -> dict[str, Any]:
    """One collection with its counts by status."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        readable(who, collection)
        return next(row for row in collection_rows(session, Caller(role="reader")) if row["name"] == collection.name)


@router.get("/api/sources", response_model=SourcePage, responses=ERRORS, tags=["read"])
def list_sources(request: Request, response: Response, who: CallerDep, filters: FiltersDep,
                 limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
                 cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description=(
                     "next_cursor of the page before: this page holds the sources after it"))] = None,
                 ) -> dict[str, Any]:
    """Sources, filtered, oldest first, a page at a time: follow `next` (or pass next_cursor as ?cursor=).

    Pages are keyset pages (the sources after the cursor's id): each costs the same however deep, and a source
    added or removed meanwhile shifts no other onto or off a page."""
    after = int(cursor) if cursor else None
    with session_scope(workspace_of(request).sessions) as session:
        anonymous_list(session, who, filters.collection)
        rows = list(session.scalars(filtered_sources(filters, who, after).limit(limit + 1)))
        items = [source_summary(s) for s in rows[:limit]]
    next_cursor = str(items[-1]["id"]) if len(rows) > limit else None
    next_url = str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return {"items": items, "next_cursor": next_cursor, "next": next_url, "limit": limit}


@router.get("/api/sources/export", responses={200: {"content": {"text/csv": {}, "application/json": {}}}, **ERRORS},
            tags=["read"])
def export_sources(request: Request, who: CallerDep, filters: FiltersDep,
                   format: Literal["csv", "json"] = "csv") -> StreamingResponse:
    """Every source matching the filters, as one CSV (the columns of `lastseen list --csv`) or JSON array."""
    sessions = workspace_of(request).sessions
    with session_scope(sessions) as session:
        anonymous_list(session, who, filters.collection)

    def batches() -> Iterator[list[dict[str, Any]]]:
        after = None
        while True:
            with session_scope(sessions) as session:
                rows = [source_summary(s) for s in
                        session.scalars(filtered_sources(filters, who, after).limit(EXPORT_BATCH))]
            if not rows:
                return
            yield rows
            after = rows[-1]["id"]

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"lastseen-sources-{stamp}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return StreamingResponse(_csv_lines(batches()), media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(_json_array(batches()), media_type="application/json", headers=headers)


@router.get("/api/sources/{source_id}", responses=ERRORS, tags=["read"])
def get_source(source_id: IdPath, request: Request, who: CallerDep) -> dict[str, Any]:
    """Everything known of one source: status, transitions, checks, captures, videos and Wayback copies
    (the shape of `lastseen status --json`), with links to its archived copies."""
    with session_scope(workspace_of(request).sessions) as session:
        source = source_or_404(session, source_id, who)
        detail = source_detail(session, source)
    base = str(request.base_url).rstrip("/")
    for capture in detail["captures"]:
        capture["archived_copy"] = f"{base}/api/captures/{capture['id']}"
    detail["links"] = {"dashboard": f"{base}/sources/{source_id}",
                       "timemap": timemap_url(base, detail["normalized_url"]),
                       "timegate": timegate_url(base, detail["normalized_url"])}
    return detail


_CAPTURE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the archived body with its original content type", "content": {"*/*": {}}}, **ERRORS}


@router.get("/api/captures/{capture_id}", tags=["read"], responses=_CAPTURE_RESPONSES)
def get_capture(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The archived body of a capture as it was received, marked as an archived copy (Memento-Datetime,
    Link rel=original, a sandboxing Content-Security-Policy); a revisit serves the earlier identical body.
    A Range request gets that part (206), so a video's media plays and seeks in a browser."""
    return replay(capture_id, request, who)


@router.head("/api/captures/{capture_id}", tags=["read"], responses=_CAPTURE_RESPONSES)
def head_capture(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The headers of an archived copy (a Memento's HEAD, as Memento clients ask it). Like GET, the archived
    status is replayed: a captured 404 is answered 404, a redirect 3xx with its Location at our TimeGate of the
    target."""
    return replay(capture_id, request, who)


@router.get("/api/requisites/{requisite_id}", tags=["read"], responses=_CAPTURE_RESPONSES)
def get_requisite(requisite_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The archived copy of a page requisite (an image, stylesheet, font, script...) as received, a Memento like
    a capture's: the TimeMap of its URL links here, so replay tools asking for an image find it."""
    return replay_requisite(requisite_id, request, who)


@router.head("/api/requisites/{requisite_id}", tags=["read"], responses=_CAPTURE_RESPONSES)
def head_requisite(requisite_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The headers of a page requisite's archived copy."""
    return replay_requisite(requisite_id, request, who)


@router.get("/api/collections/{name:path}/feed.atom", tags=["read"], responses={
    200: {"content": {"application/atom+xml": {}}}, 503: {"model": ErrorOut}, **ERRORS})
def collection_feed_route(name: NamePath, request: Request, who: CallerDep) -> Response:
    """The Atom feed of a collection's status transitions."""
    try:
        from archive.watch.feed import collection_feed
    except ImportError:
        raise HTTPException(503, "the Atom feed is not available in this installation (archive.watch.feed is "
                                 "missing)") from None
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        readable(who, collection)
        data = collection_feed(session, collection.name, base_url=str(request.base_url).rstrip("/"))
    return Response(content=data, media_type="application/atom+xml")


def _csv_lines(batches: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow(csv_row(row))
        yield buffer.getvalue()


def _json_array(batches: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    yield "["
    first = True
    for rows in batches:
        for row in rows:
            yield ("" if first else ",\n") + json.dumps(row, ensure_ascii=False)
            first = False
    yield "]\n"

