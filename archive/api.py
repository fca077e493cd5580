"""The researchers' HTTP API and dashboard, served by `lastseen serve`; the OpenAPI document is at /openapi.json.

Reads say what the CLI says (archive.report); archived copies are served from the WARC by one ranged read and
marked as archived, never as live; writes are guarded by token roles and by the SSRF guard (archive.net.guard).
Every error is JSON: {"error": code, "message": one line, "details": [...] for invalid requests}.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive import __version__
from archive.config import Settings
from archive.dashboard import collection_page, index_page, login_page, source_page
from archive.db import session_scope
from archive.jobs import JobConflict, JobRunner
from archive.models import (
    SOURCE_STATUSES,
    AlertDelivery,
    Capture,
    Check,
    Collection,
    CrawlFailure,
    Source,
    SourceTag,
    WaybackSubmission,
    Webhook,
)
from archive.net.guard import BlockedURL, Resolver, check_public_url, parse_networks, resolve_host
from archive.report import SUMMARY_FIELDS, collection_counts, csv_row, source_detail, source_summary
from archive.sources import SourceEntry, add_sources, ensure_collection, get_collection
from archive.sources.limits import InputError, recheck_interval
from archive.storage import StorageError
from archive.timefmt import iso
from archive.tokens import ROLES, authenticate, create_token, list_tokens, revoke_token, role_allows, token_dict
from archive.urls import InvalidURL, check_url, normalize_url, url_hash
from archive.warc import ArchivedRecord, WarcError, read_record
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.api")

MAX_BODY = 1024 * 1024
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_URLS = 1000
MAX_ID = 2**63 - 1
EXPORT_BATCH = 1000
TOKEN_COOKIE = "lastseen_token"
_RESOLVERS = 16
# Headers of the archived response that describe the bytes served; every other one stays in the WARC.
_ORIGINAL_STATUS = "X-Archive-Orig-Status"


# ---------------------------------------------------------------------------------------------- input types


def _clean(value: str) -> str:
    """Text that every database stores: valid UTF-8, no NUL."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _strip_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


CleanText = Annotated[str, AfterValidator(_clean)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean), AfterValidator(_strip_name)]
UrlText = Annotated[str, Field(min_length=1, max_length=8000), AfterValidator(_clean)]
Tag = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)]
NamePath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
                               description="collection name")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryText = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$")]
Status = Literal["new", "alive", "unreachable", "vanished", "returned"]
Kind = Literal["page", "video"]
Role = Literal["reader", "archivist", "admin"]


class Input(BaseModel):
    """Request bodies refuse fields they do not know."""

    model_config = ConfigDict(extra="forbid")


class AddSourcesIn(Input):
    urls: list[UrlText] = Field(min_length=1, max_length=MAX_URLS, description="URLs to track")
    kind: Kind | None = None  # None: from the URL (a video when a provider recognizes it)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    every: Annotated[str | None, Field(max_length=32, description="recheck interval, e.g. 12h, 30m, 2d")] = None


class CollectionPatch(Input):
    description: Annotated[str | None, Field(max_length=4000), AfterValidator(lambda v: v and _clean(v))] = None
    public_read: bool | None = None


class WebhookIn(Input):
    url: UrlText
    collection: Name | None = Field(default=None, description="only this collection's alerts; all when empty")
    secret: Annotated[str | None, Field(min_length=16, max_length=200), AfterValidator(lambda v: v and _clean(v))] \
        = Field(default=None, description="HMAC-SHA256 key; made up and returned once when not given")


class TokenIn(Input):
    name: Name
    role: Role = "reader"


class ErrorOut(BaseModel):
    error: str
    message: str
    details: list[dict[str, Any]] | None = None


class SourceOut(BaseModel):
    id: int
    url: str
    normalized_url: str
    collection: str
    kind: str
    tags: list[str]
    status: str
    reason: str | None
    added_at: str | None
    first_seen_at: str | None
    last_seen_alive_at: str | None
    vanished_at: str | None
    last_checked_at: str | None
    next_check_at: str | None


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")
    limit: int


class CollectionOut(BaseModel):
    name: str
    description: str
    sources: int
    by_status: dict[str, int]
    recheck_interval: int | None
    obey_robots: bool
    public_read: bool
    created_at: str | None


class Refused(BaseModel):
    url: str
    reason: str


class Known(BaseModel):
    url: str
    normalized_url: str


class AddSourcesOut(BaseModel):
    collection: str
    added: list[str]
    known: list[Known]
    refused: list[Refused]


class JobOut(BaseModel):
    id: str
    kind: str
    collection: str
    state: str = Field(description="running, succeeded, partial (exit 1) or failed")
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    result: Any = Field(description="the command's --json output, once finished")
    log_tail: str | None


class WebhookOut(BaseModel):
    id: int
    url: str
    collection: str | None
    created_at: str | None
    secret: str | None = Field(default=None, description="only in the answer that created it")


class TokenOut(BaseModel):
    name: str
    role: str
    created_at: str | None
    revoked_at: str | None
    token: str | None = Field(default=None, description="only in the answer that created it")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": HTTPStatus(code).phrase} for code in (400, 401, 403, 404, 422)}


# ---------------------------------------------------------------------------------------------- access


@dataclass(frozen=True)
class Caller:
    """Who is asking: a token's name and role, or anonymous (both None)."""

    name: str | None = None
    role: str | None = None


_bearer = HTTPBearer(auto_error=False, description="an API token from `lastseen token create`")


def _ws(request: Request) -> Workspace:
    return request.app.state.workspace


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Caller:
    """The caller from `Authorization: Bearer`, or for reading pages the dashboard's cookie; else anonymous."""
    if credentials is None and request.headers.get("authorization"):
        raise _unauthorized("use 'Authorization: Bearer <token>'")
    token = credentials.credentials if credentials else None
    from_cookie = False
    if token is None and request.method in {"GET", "HEAD"}:
        token = request.cookies.get(TOKEN_COOKIE)
        from_cookie = token is not None
    if not token:
        return Caller()
    with session_scope(_ws(request).sessions) as session:
        row = authenticate(session, token)
        found = Caller(row.name, row.role) if row else None
    if found is None:
        if from_cookie:
            return Caller()
        raise _unauthorized("invalid or revoked token", error="invalid_token")
    return found


CallerDep = Annotated[Caller, Depends(caller)]


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="lastseen"' + (f', error="{error}"' if error else "")
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


def needs(role: str) -> Callable[[Caller], Caller]:
    """A dependency that lets through callers with at least this role."""

    def check(who: CallerDep) -> Caller:
        if who.role is None:
            raise _unauthorized(f"this needs an API token with the {role} role")
        if not role_allows(who.role, role):
            raise HTTPException(403, f"this needs the {role} role; token {who.name!r} has the {who.role} role")
        return who

    return check


ArchivistDep = Annotated[Caller, Depends(needs("archivist"))]
AdminDep = Annotated[Caller, Depends(needs("admin"))]


def _readable(who: Caller, collection: Collection) -> None:
    if who.role is None and not collection.public_read:
        raise _unauthorized(f"collection {collection.name!r} is not public: this needs an API token")


def _anonymous_list(session: Session, who: Caller, collection: str | None = None) -> None:
    """Anonymous callers may list only public collections; with none public (the default) they need a token."""
    if who.role is not None:
        return
    if collection:
        found = get_collection(session, collection)
        if found is not None:
            _readable(who, found)
    elif session.scalar(select(Collection.id).where(Collection.public_read.is_(True)).limit(1)) is None:
        raise _unauthorized("this needs an API token (no collection is public)")


def _collection_or_404(session: Session, name: str) -> Collection:
    collection = get_collection(session, name.strip())
    if collection is None:
        raise HTTPException(404, f"no collection named {name.strip()!r}")
    return collection


def _source_or_404(session: Session, source_id: int, who: Caller) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise HTTPException(404, f"no source {source_id}")
    _readable(who, source.collection)
    return source


# ---------------------------------------------------------------------------------------------- filters


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, f"{name}: time out of range") from None


@dataclass(frozen=True)
class SourceFilters:
    """The filters every source list and export takes."""

    collection: str | None
    status: str | None
    kind: str | None
    domain: str | None
    tag: str | None
    added_after: datetime | None
    added_before: datetime | None
    vanished_after: datetime | None
    vanished_before: datetime | None


def source_filters(
    collection: QueryText = None,
    status: Status | None = None,
    kind: Kind | None = None,
    domain: Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$",
                                        description="host without 'www.'")] = None,
    tag: QueryText = None,
    added_after: datetime | None = None,
    added_before: datetime | None = None,
    vanished_after: datetime | None = None,
    vanished_before: datetime | None = None,
) -> SourceFilters:
    """Query parameters to filters; naive times are UTC."""
    return SourceFilters(collection=collection.strip() if collection else None, status=status, kind=kind,
                         domain=domain.strip().lower().removeprefix("www.") if domain else None, tag=tag,
                         added_after=_utc(added_after, "added_after"), added_before=_utc(added_before, "added_before"),
                         vanished_after=_utc(vanished_after, "vanished_after"),
                         vanished_before=_utc(vanished_before, "vanished_before"))


FiltersDep = Annotated[SourceFilters, Depends(source_filters)]


def filtered_sources(filters: SourceFilters, who: Caller, after_id: int | None = None) -> Any:
    """The query for a filtered source list, by id, limited to what the caller may read."""
    query = (select(Source).join(Collection, Collection.id == Source.collection_id)
             .options(selectinload(Source.collection)).order_by(Source.id))
    if who.role is None:
        query = query.where(Collection.public_read.is_(True))
    conditions = [
        (filters.collection, lambda v: Collection.name == v), (filters.status, lambda v: Source.status == v),
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


# ---------------------------------------------------------------------------------------------- app


def create_app(settings: Settings, *, resolve: Resolver = resolve_host) -> FastAPI:
    """The API and dashboard on these settings; the database is opened (and migrated) now."""
    parse_networks(settings.allow_networks)
    workspace = Workspace(settings)
    workspace.sessions  # noqa: B018 - open and migrate now, so a bad database fails at start
    jobs = JobRunner(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        await run_in_threadpool(jobs.stop_all)
        workspace.close()

    app = FastAPI(title="lastseen", version=__version__, lifespan=lifespan,
                  description="Archived news pages and videos, whether they are still there, and where the copies "
                              "are. Send `Authorization: Bearer <token>`; public collections can be read without.")
    app.state.workspace = workspace
    app.state.jobs = jobs
    app.state.resolve = resolve
    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    _error_handlers(app)
    for register in (_read_routes, _memento_routes, _write_routes, _admin_routes, _ops_routes, _dashboard_routes):
        register(app)
    return app


class BodyTooLarge(StarletteHTTPException):
    """A request body over the limit, found while reading it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """Refuses request bodies over `max_body` bytes, declared (at once) or streamed (while read), as JSON 413."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            status = 413 if declared.isdigit() else 400
            message = f"request body larger than {self.max_body} bytes" if status == 413 else "bad Content-Length"
            await JSONResponse(_error_body(status, message), status_code=status)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, limited, send)


ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "body_too_large", 422: "invalid_request", 500: "internal_error",
               503: "unavailable"}


def _error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": ERROR_CODES.get(status, f"http_{status}"), "message": message}
    if details is not None:
        body["details"] = details
    return body


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return JSONResponse(_error_body(exc.status_code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(part) for part in error.get("loc", ())), "message": str(error.get("msg")),
                    "type": str(error.get("type"))} for error in exc.errors()]
        first = details[0] if details else {"where": "request", "message": "invalid"}
        return JSONResponse(_error_body(422, f"invalid request: {first['where']}: {first['message']}", details),
                            status_code=422)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        logger.error("database error on %s %s: %s", request.method, request.url.path, str(exc.orig or exc)[:300])
        return JSONResponse(_error_body(503, "the database is not available; try again later"), status_code=503)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(_error_body(500, "internal error (logged on the server)"), status_code=500)


# ---------------------------------------------------------------------------------------------- read


def _collections(session: Session, who: Caller) -> list[dict[str, Any]]:
    public = dict(session.execute(select(Collection.name, Collection.public_read)).all())
    rows = [{**row, "public_read": bool(public.get(row["name"]))} for row in collection_counts(session)]
    return [row for row in rows if who.role is not None or row["public_read"]]


def _read_routes(app: FastAPI) -> None:
    @app.get("/api/collections", response_model=list[CollectionOut], responses=ERRORS, tags=["read"])
    def list_collections(request: Request, who: CallerDep) -> list[dict[str, Any]]:
        """Collections with their number of sources by status (anonymous callers see public ones)."""
        with session_scope(_ws(request).sessions) as session:
            _anonymous_list(session, who)
            return _collections(session, who)

    @app.get("/api/collections/{name}", response_model=CollectionOut, responses=ERRORS, tags=["read"])
    def get_collection_counts(name: NamePath, request: Request, who: CallerDep) -> dict[str, Any]:
        """One collection with its counts by status."""
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, name)
            _readable(who, collection)
            return next(row for row in _collections(session, Caller(role="reader")) if row["name"] == collection.name)

    @app.get("/api/sources", response_model=SourcePage, responses=ERRORS, tags=["read"])
    def list_sources(request: Request, who: CallerDep, filters: FiltersDep,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
                     cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$",
                                                         description="next_cursor of the page before")] = None,
                     ) -> dict[str, Any]:
        """Sources, filtered, oldest first, a page at a time (follow next_cursor)."""
        after = int(cursor) if cursor else None
        with session_scope(_ws(request).sessions) as session:
            _anonymous_list(session, who, filters.collection)
            rows = list(session.scalars(filtered_sources(filters, who, after).limit(limit + 1)))
            items = [source_summary(s) for s in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": str(items[-1]["id"]) if more else None, "limit": limit}

    @app.get("/api/sources/export", responses={200: {"content": {"text/csv": {}, "application/json": {}}},
                                               **ERRORS}, tags=["read"])
    def export_sources(request: Request, who: CallerDep, filters: FiltersDep,
                       format: Literal["csv", "json"] = "csv") -> StreamingResponse:
        """Every source matching the filters, as one CSV (the columns of `lastseen list --csv`) or JSON array."""
        sessions = _ws(request).sessions
        with session_scope(sessions) as session:
            _anonymous_list(session, who, filters.collection)

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

    @app.get("/api/sources/{source_id}", responses=ERRORS, tags=["read"])
    def get_source(source_id: IdPath, request: Request, who: CallerDep) -> dict[str, Any]:
        """Everything known of one source: status, transitions, checks, captures, videos and Wayback copies
        (the shape of `lastseen status --json`), with links to its archived copies."""
        with session_scope(_ws(request).sessions) as session:
            source = _source_or_404(session, source_id, who)
            detail = source_detail(session, source)
        base = str(request.base_url).rstrip("/")
        for capture in detail["captures"]:
            capture["archived_copy"] = f"{base}/api/captures/{capture['id']}"
        detail["links"] = {"dashboard": f"{base}/sources/{source_id}",
                           "timemap": _timemap_url(base, detail["normalized_url"]),
                           "timegate": _timegate_url(base, detail["normalized_url"])}
        return detail

    @app.get("/api/captures/{capture_id}", tags=["read"], responses={
        200: {"description": "the archived body with its original content type", "content": {"*/*": {}}}, **ERRORS})
    def get_capture(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
        """The archived body of a capture as it was received, marked as an archived copy (Memento-Datetime,
        Link rel=original, a sandboxing Content-Security-Policy); a revisit serves the earlier identical body."""
        ws = _ws(request)
        with session_scope(ws.sessions) as session:
            capture = session.get(Capture, capture_id)
            if capture is None:
                raise HTTPException(404, f"no capture {capture_id}")
            _readable(who, capture.source.collection)
            holder = capture if capture.record_type != "revisit" else _revisit_original(session, capture)
            if holder is None:
                raise HTTPException(404, f"capture {capture_id} is a revisit of a capture that is not in the archive")
            where = (holder.warc_uri, holder.warc_offset, holder.warc_length)
            original, captured_at, content_type = capture.url, capture.captured_at, holder.content_type
            normalized = capture.source.normalized_url
        record = _read_archived(ws, *where)
        base = str(request.base_url).rstrip("/")
        headers = {
            "Content-Type": _latin1(record.header("Content-Type")) or content_type or "application/octet-stream",
            "Memento-Datetime": format_datetime(captured_at.astimezone(UTC), usegmt=True),
            "Link": f'<{_header_url(original)}>; rel="original", <{_timegate_url(base, normalized)}>; '
                    f'rel="timegate", <{_timemap_url(base, normalized)}>; rel="timemap"; '
                    'type="application/link-format"',
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400",
            "Referrer-Policy": "no-referrer",
        }
        encoding = _latin1(record.header("Content-Encoding"))
        if encoding and encoding.strip().lower() != "identity":
            headers["Content-Encoding"] = encoding
        if record.http_status is not None:
            headers[_ORIGINAL_STATUS] = str(record.http_status)
        return Response(content=record.body, headers=headers)

    @app.get("/api/collections/{name}/feed.atom", tags=["read"], responses={
        200: {"content": {"application/atom+xml": {}}}, 503: {"model": ErrorOut}, **ERRORS})
    def collection_feed_route(name: NamePath, request: Request, who: CallerDep) -> Response:
        """The Atom feed of a collection's status transitions."""
        try:
            from archive.watch.feed import collection_feed
        except ImportError:
            raise HTTPException(503, "the Atom feed is not available in this installation (archive.alerts is "
                                     "missing)") from None
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, name)
            _readable(who, collection)
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


def _latin1(value: str | None) -> str | None:
    """A header value that can be sent as is, or None."""
    if value is None:
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


def _header_url(url: str) -> str:
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _revisit_original(session: Session, revisit: Capture) -> Capture | None:
    """The earlier capture holding a revisit's body: same payload digest, same source preferred."""
    if not revisit.payload_digest:
        return None
    return session.scalar(
        select(Capture).where(Capture.payload_digest == revisit.payload_digest, Capture.record_type == "response",
                              Capture.captured_at <= revisit.captured_at)
        .order_by(case((Capture.source_id == revisit.source_id, 0), else_=1), Capture.captured_at.desc())
        .limit(1))


def _read_archived(ws: Workspace, uri: str, offset: int, length: int) -> ArchivedRecord:
    """One record by one ranged read of its WARC file."""
    try:
        return read_record(ws.storage.read(ws.storage.key_of(uri), offset, length))
    except StorageError as exc:
        logger.error("cannot read %s @%d+%d: %s", uri, offset, length, exc)
        raise HTTPException(503, f"the archived copy cannot be read from storage now: {exc}") from None
    except WarcError as exc:
        logger.error("unreadable record in %s @%d+%d: %s", uri, offset, length, exc)
        raise HTTPException(500, f"the archived record is unreadable: {exc}") from None


# ---------------------------------------------------------------------------------------------- Memento


def _timemap_url(base: str, url: str) -> str:
    return f"{base}/api/timemap/link/{_header_url(url)}"


def _timegate_url(base: str, url: str) -> str:
    return f"{base}/api/timegate/{_header_url(url)}"


def _requested_url(request: Request, prefix: str) -> str:
    """The URL-R of a Memento route as the client wrote it: the raw path after the prefix, and the query.

    The raw path keeps a URL's own escapes (%20 stays %20); a URL sent escaped whole (https%3A%2F%2F...) is
    unescaped once, and the slash that proxies like to merge (https:/host) is put back.
    """
    raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    url = raw[len(prefix):] if raw.startswith(prefix) else request.path_params.get("url", "")
    if url.lower().startswith(("http%3a", "https%3a")):
        url = unquote(url)
    elif request.url.query:
        url = f"{url}?{request.url.query}"
    for scheme in ("http:/", "https:/"):
        if url.startswith(scheme) and not url.startswith(scheme + "/"):
            url = scheme + "/" + url[len(scheme):]
    return url


def _mementos(session: Session, url: str, who: Caller) -> tuple[str, list[tuple[int, datetime]]]:
    """The normalized URL and (capture id, time) of its captures the caller may read, oldest first."""
    try:
        normalized = normalize_url(url)
    except InvalidURL as exc:
        raise HTTPException(400, f"not a URL lastseen archives: {exc}") from None
    sources = list(session.scalars(select(Source).where(Source.url_hash == url_hash(normalized))))
    if not sources:
        raise HTTPException(404, f"{normalized} is not archived here")
    readable = [s.id for s in sources if who.role is not None or s.collection.public_read]
    if not readable:
        raise _unauthorized(f"{normalized} is only in collections that are not public: this needs an API token")
    rows = session.execute(select(Capture.id, Capture.captured_at).where(Capture.source_id.in_(readable))
                           .order_by(Capture.captured_at, Capture.id)).all()
    if not rows:
        raise HTTPException(404, f"{normalized} is tracked but has no capture yet")
    return normalized, list(rows)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _memento_routes(app: FastAPI) -> None:
    @app.get("/api/timemap/link/{url:path}", tags=["memento"], responses={
        200: {"content": {"application/link-format": {}}}, **ERRORS})
    def timemap(url: str, request: Request, who: CallerDep) -> Response:
        """RFC 7089 TimeMap of lastseen's own copies of a URL."""
        target = _requested_url(request, "/api/timemap/link/")
        with session_scope(_ws(request).sessions) as session:
            normalized, rows = _mementos(session, target, who)
        base = str(request.base_url).rstrip("/")
        lines = [f'<{_header_url(normalized)}>; rel="original"',
                 f'<{_timegate_url(base, normalized)}>; rel="timegate"',
                 f'<{_timemap_url(base, normalized)}>; rel="self"; type="application/link-format"; '
                 f'from="{_http_date(rows[0][1])}"; until="{_http_date(rows[-1][1])}"']
        for index, (capture_id, at) in enumerate(rows):
            rel = " ".join(word for word, on in (("first", index == 0), ("last", index == len(rows) - 1)) if on)
            lines.append(f'<{base}/api/captures/{capture_id}>; rel="{(rel + " ") if rel else ""}memento"; '
                         f'datetime="{_http_date(at)}"')
        return Response(",\n".join(lines) + "\n", media_type="application/link-format")

    @app.get("/api/timegate/{url:path}", status_code=302, tags=["memento"], responses={
        302: {"description": "redirect to the capture closest to Accept-Datetime (the newest without it)"},
        **ERRORS})
    def timegate(url: str, request: Request, who: CallerDep) -> Response:
        """RFC 7089 TimeGate: redirects to the capture of a URL closest to the Accept-Datetime header."""
        target = _requested_url(request, "/api/timegate/")
        wanted = request.headers.get("accept-datetime")
        moment = None
        if wanted:
            try:
                moment = parsedate_to_datetime(wanted)
            except (TypeError, ValueError, IndexError):
                raise HTTPException(400, "Accept-Datetime must be an HTTP date, e.g. "
                                         "'Thu, 01 Jan 2026 00:00:00 GMT'") from None
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        with session_scope(_ws(request).sessions) as session:
            normalized, rows = _mementos(session, target, who)
        if moment is None:
            chosen = rows[-1]
        else:
            chosen = min(rows, key=lambda row: (abs((row[1] - moment).total_seconds()), row[1]))
        base = str(request.base_url).rstrip("/")
        headers = {"Location": f"{base}/api/captures/{chosen[0]}", "Vary": "accept-datetime",
                   "Link": f'<{_header_url(normalized)}>; rel="original", <{_timemap_url(base, normalized)}>; '
                           'rel="timemap"; type="application/link-format"'}
        return Response(status_code=302, headers=headers)


# ---------------------------------------------------------------------------------------------- write


def _refuse_private(urls: Sequence[str], allow_networks: Sequence[str], resolve: Resolver) -> dict[str, str]:
    """URL -> why it is refused, for URLs whose host is not public; hosts are resolved once each, in parallel."""
    hosts: set[str] = set()
    for url in urls:
        try:
            hosts.add((urlsplit(check_url(url)).hostname or "").rstrip(".").lower())
        except (InvalidURL, ValueError):
            continue
    ordered = sorted(hosts)
    with ThreadPoolExecutor(max_workers=min(_RESOLVERS, max(1, len(ordered)))) as pool:
        resolved = dict(zip(ordered, pool.map(resolve, ordered), strict=True))

    def cached(host: str) -> list[str]:
        return resolved[host] if host in resolved else resolve(host)

    refused = {}
    for url in urls:
        try:
            check_public_url(url, allow_networks, cached)
        except BlockedURL as exc:
            refused[url] = str(exc)
    return refused


def _write_routes(app: FastAPI) -> None:
    @app.post("/api/collections/{name}/sources", response_model=AddSourcesOut, responses=ERRORS, tags=["write"])
    def add_collection_sources(name: NamePath, body: AddSourcesIn, request: Request,
                               who: ArchivistDep) -> dict[str, Any]:
        """Track URLs in a collection (made on first use); URLs to non-public addresses are refused."""
        ws = _ws(request)
        try:
            every = recheck_interval(body.every) if body.every else None
        except InputError as exc:
            raise HTTPException(422, f"every: {exc}") from None
        valid, refused = [], []
        for url in body.urls:
            try:
                normalize_url(url)
                valid.append(url)
            except (InvalidURL, ValueError) as exc:
                refused.append({"url": url, "reason": str(exc)})
        blocked = _refuse_private(valid, ws.settings.allow_networks, request.app.state.resolve)
        refused += [{"url": url, "reason": reason} for url, reason in blocked.items()]
        entries = [SourceEntry(url) for url in valid if url not in blocked]
        if not name.strip():
            raise HTTPException(422, "a collection name must not be blank")
        with session_scope(ws.sessions) as session:
            try:
                collection = ensure_collection(session, name)
                result = add_sources(session, collection, entries, kind=body.kind, tags=body.tags,
                                     recheck_interval=every)
            except InputError as exc:
                raise HTTPException(422, str(exc)) from None
            out = {"collection": collection.name, "added": [s.normalized_url for s in result.added],
                   "known": [{"url": e.url, "normalized_url": s.normalized_url} for e, s in result.known],
                   "refused": refused + [{"url": e.url, "reason": r} for e, r in result.refused]}
        logger.info("%s added %d source(s) to %s", who.name, len(out["added"]), out["collection"])
        return out

    def start_job(kind: str, name: str, request: Request, who: Caller) -> JSONResponse:
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, name).name
        try:
            job = request.app.state.jobs.start(kind, collection)
        except JobConflict as exc:
            raise HTTPException(409, str(exc)) from None
        logger.info("%s started %s of %s: job %s", who.name, kind, collection, job.id)
        return JSONResponse(job.as_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    @app.post("/api/collections/{name}/crawl", status_code=202, response_model=JobOut,
              responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
    def start_crawl(name: NamePath, request: Request, who: ArchivistDep) -> JSONResponse:
        """Start `lastseen crawl -c NAME` in the background; follow the job at /api/jobs/{id}."""
        return start_job("crawl", name, request, who)

    @app.post("/api/collections/{name}/check", status_code=202, response_model=JobOut,
              responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
    def start_check(name: NamePath, request: Request, who: ArchivistDep) -> JSONResponse:
        """Start `lastseen check -c NAME` in the background; follow the job at /api/jobs/{id}."""
        return start_job("check", name, request, who)

    @app.get("/api/jobs", response_model=list[JobOut], responses=ERRORS, tags=["write"])
    def list_jobs(request: Request, who: ArchivistDep) -> list[dict[str, Any]]:
        """Jobs this server started, newest first."""
        return [job.as_dict() for job in request.app.state.jobs.all()]

    @app.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["write"])
    def get_job(job_id: Annotated[str, Path(max_length=64)], request: Request,
                who: ArchivistDep) -> dict[str, Any]:
        """One job: running, or how it ended with the command's JSON summary."""
        job = request.app.state.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (jobs are forgotten when the server restarts)")
        return job.as_dict()


# ---------------------------------------------------------------------------------------------- admin


def _webhook_dict(hook: Webhook, collection: str | None, secret: str | None = None) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "collection": collection, "created_at": iso(hook.created_at),
            "secret": secret}


def _admin_routes(app: FastAPI) -> None:
    @app.patch("/api/collections/{name}", response_model=CollectionOut, responses=ERRORS, tags=["admin"])
    def update_collection(name: NamePath, body: CollectionPatch, request: Request,
                          who: AdminDep) -> dict[str, Any]:
        """Change a collection's description or make it readable without a token (public_read)."""
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, name)
            if body.description is not None:
                collection.description = body.description
            if body.public_read is not None:
                collection.public_read = body.public_read
            session.flush()
            return next(row for row in _collections(session, who) if row["name"] == collection.name)

    @app.get("/api/webhooks", response_model=list[WebhookOut], responses=ERRORS, tags=["admin"])
    def list_webhooks(request: Request, who: AdminDep) -> list[dict[str, Any]]:
        """Registered webhooks (their secrets are never shown again)."""
        with session_scope(_ws(request).sessions) as session:
            names = dict(session.execute(select(Collection.id, Collection.name)).all())
            return [_webhook_dict(hook, names.get(hook.collection_id))
                    for hook in session.scalars(select(Webhook).order_by(Webhook.id))]

    @app.post("/api/webhooks", status_code=201, response_model=WebhookOut, responses=ERRORS, tags=["admin"])
    def add_webhook(body: WebhookIn, request: Request, who: AdminDep) -> dict[str, Any]:
        """Register a webhook for one collection's alerts (or all); its URL must be public."""
        try:
            url = check_url(body.url)
        except InvalidURL as exc:
            raise HTTPException(422, f"url: {exc}") from None
        try:
            check_public_url(url, _ws(request).settings.allow_networks, request.app.state.resolve)
        except BlockedURL as exc:
            raise HTTPException(422, f"url: {exc}") from None
        secret = body.secret or secrets.token_urlsafe(32)
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, body.collection) if body.collection else None
            hook = Webhook(url=url, secret=secret, collection_id=collection.id if collection else None)
            session.add(hook)
            session.flush()
            return _webhook_dict(hook, collection.name if collection else None, secret)

    @app.delete("/api/webhooks/{webhook_id}", status_code=204, responses=ERRORS, tags=["admin"])
    def delete_webhook(webhook_id: IdPath, request: Request, who: AdminDep) -> Response:
        """Remove a webhook."""
        with session_scope(_ws(request).sessions) as session:
            hook = session.get(Webhook, webhook_id)
            if hook is None:
                raise HTTPException(404, f"no webhook {webhook_id}")
            session.delete(hook)
        return Response(status_code=204)

    @app.get("/api/tokens", response_model=list[TokenOut], responses=ERRORS, tags=["admin"])
    def get_tokens(request: Request, who: AdminDep,
                   include_revoked: bool = False) -> list[dict[str, Any]]:
        """API tokens by name and role (the tokens themselves are never stored)."""
        with session_scope(_ws(request).sessions) as session:
            return list_tokens(session, include_revoked=include_revoked)

    @app.post("/api/tokens", status_code=201, response_model=TokenOut, responses={409: {"model": ErrorOut}, **ERRORS},
              tags=["admin"])
    def new_token(body: TokenIn, request: Request, who: AdminDep) -> dict[str, Any]:
        """Create a token; the answer holds it, once."""
        with session_scope(_ws(request).sessions) as session:
            try:
                token = create_token(session, body.name, body.role)
            except ValueError as exc:
                raise HTTPException(409, str(exc)) from None
            row = authenticate(session, token)
            assert row is not None
            return {**token_dict(row), "token": token}

    @app.delete("/api/tokens/{name}", status_code=204, responses=ERRORS, tags=["admin"])
    def delete_token(name: NamePath, request: Request, who: AdminDep) -> Response:
        """Revoke a token by name."""
        with session_scope(_ws(request).sessions) as session:
            if not revoke_token(session, name):
                raise HTTPException(404, f"no live token named {name.strip()!r}")
        return Response(status_code=204)


# ---------------------------------------------------------------------------------------------- operations


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, doc: str, label: str, values: dict[str, int]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    lines += [f'{name}{{{label}="{_escape_label(key)}"}} {count}' for key, count in sorted(values.items())]
    return lines


def _grouped(session: Session, column: Any) -> dict[str, int]:
    return {str(key): int(count) for key, count in session.execute(select(column, func.count()).group_by(column))}


def _status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "none"


def metrics_text(session: Session, jobs: JobRunner) -> str:
    """Prometheus text exposition: sources by status, checks and captures by outcome, queue depths, jobs."""
    sources = {status: 0 for status in SOURCE_STATUSES} | _grouped(session, Source.status)
    captures: dict[tuple[str, str], int] = {}
    for record_type, status, count in session.execute(
            select(Capture.record_type, Capture.http_status, func.count())
            .group_by(Capture.record_type, Capture.http_status)):
        key = (record_type, _status_class(status))
        captures[key] = captures.get(key, 0) + count
    job_states: dict[tuple[str, str], int] = {}
    for job in jobs.all():
        job_states[(job.kind, job.state)] = job_states.get((job.kind, job.state), 0) + 1
    lines = _family("lastseen_sources", "gauge", "Tracked sources by status.", "status", sources)
    lines += _family("lastseen_checks_total", "counter", "Availability checks by outcome.", "outcome",
                     _grouped(session, Check.outcome))
    lines += ["# HELP lastseen_captures_total Captures by WARC record type and HTTP status class.",
              "# TYPE lastseen_captures_total counter"]
    lines += [f'lastseen_captures_total{{record_type="{_escape_label(r)}",status="{s}"}} {n}'
              for (r, s), n in sorted(captures.items())]
    lines += _family("lastseen_crawl_failures_total", "counter", "Fetches that gave no capture, by reason.", "reason",
                     _grouped(session, CrawlFailure.reason))
    lines += _family("lastseen_wayback_submissions", "gauge", "Wayback submissions by state (queue depth).",
                     "state", _grouped(session, WaybackSubmission.state))
    lines += _family("lastseen_alert_deliveries", "gauge", "Alert deliveries by state (queue depth).", "state",
                     _grouped(session, AlertDelivery.state))
    lines += ["# HELP lastseen_api_jobs Background jobs this server started, by kind and state.",
              "# TYPE lastseen_api_jobs gauge"]
    lines += [f'lastseen_api_jobs{{kind="{k}",state="{s}"}} {n}' for (k, s), n in sorted(job_states.items())]
    return "\n".join(lines) + "\n"


def _ops_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], responses={503: {"model": ErrorOut}})
    def health(request: Request) -> JSONResponse:
        """Whether the database and the storage answer (503 when not); no token needed."""
        ws = _ws(request)
        state = {"status": "ok", "version": __version__, "database": "ok", "storage": "ok"}
        try:
            with session_scope(ws.sessions) as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means unhealthy; say which
            state["database"] = f"error: {str(exc).splitlines()[0][:200]}"
        try:
            ws.storage.check()
        except Exception as exc:
            state["storage"] = f"error: {str(exc).splitlines()[0][:200]}"
        healthy = state["database"] == "ok" and state["storage"] == "ok"
        if not healthy:
            state["status"] = "error"
        return JSONResponse(state, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    def metrics(request: Request) -> Response:
        """Prometheus metrics (text exposition format 0.0.4); aggregate counts only, no token needed."""
        with session_scope(_ws(request).sessions) as session:
            body = metrics_text(session, request.app.state.jobs)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


# ---------------------------------------------------------------------------------------------- dashboard


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str) -> str:
    """Only a path on this server (no scheme, no '//host'): the login form is no open redirect."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _dashboard_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_index(request: Request, who: CallerDep) -> HTMLResponse:
        with session_scope(_ws(request).sessions) as session:
            rows = _collections(session, who)
        return HTMLResponse(index_page(rows, signed_in=who.role is not None))

    @app.get("/collections/{name}", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_collection(name: NamePath, request: Request, who: CallerDep, status: Status | None = None,
                             after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None) -> Response:
        with session_scope(_ws(request).sessions) as session:
            collection = _collection_or_404(session, name)
            if who.role is None and not collection.public_read:
                return _login_redirect(request)
            counts = next(row for row in _collections(session, Caller(role="reader"))
                          if row["name"] == collection.name)
            return HTMLResponse(collection_page(session, collection, counts, status=status, after=after))

    @app.get("/sources/{source_id}", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_source(source_id: IdPath, request: Request, who: CallerDep) -> Response:
        with session_scope(_ws(request).sessions) as session:
            source = session.get(Source, source_id)
            if source is None:
                raise HTTPException(404, f"no source {source_id}")
            if who.role is None and not source.collection.public_read:
                return _login_redirect(request)
            return HTMLResponse(source_page(session, source, source_detail(session, source)))

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(next: Annotated[str, Query(max_length=2000)] = "/") -> HTMLResponse:
        return HTMLResponse(login_page(next_url=_safe_next(next)))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        next_url = _safe_next((form.get("next") or ["/"])[0])

        def check() -> bool:
            with session_scope(_ws(request).sessions) as session:
                return bool(token) and "\x00" not in token and authenticate(session, token) is not None

        if not await run_in_threadpool(check):
            return HTMLResponse(login_page("That token is not valid.", next_url), status_code=401)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=30 * 86400)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(TOKEN_COOKIE)
        return response


__all__ = ["ROLES", "create_app", "metrics_text"]
