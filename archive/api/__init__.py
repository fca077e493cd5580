"""The researchers' HTTP API and dashboard, served by `lastseen serve`; the OpenAPI document is at /openapi.json.

Reads say what the CLI says (archive.report); archived copies are served from the WARC by one ranged read and
marked as archived, never as live; writes are guarded by token roles and by the SSRF guard (archive.net.guard).
Every error is JSON: {"error": code, "message": one line, "details": [...] for invalid requests}.
This module makes the app (its state, the body limit, the error handlers) and includes one router per concern,
in the order that the OpenAPI document keeps.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive import __version__
from archive.api import (
    admin,
    archived,
    controls,
    dashboard,
    dossier,
    footage,
    memento,
    ops,
    pages,
    read,
    research,
    watchlist,
    words,
    write,
)
from archive.api.jobs import JobRunner
from archive.api.workers import WorkerView
from archive.config import Settings
from archive.net.guard import Resolver, parse_networks, resolve_host
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.api")

MAX_BODY = 1024 * 1024
# Route order is part of the interface: /api/sources/export must come before /api/sources/{source_id}.
ROUTERS = (read.router, memento.router, write.router, watchlist.router, admin.router, ops.router, dashboard.router,
           controls.router, research.router, pages.router, dossier.router, archived.router,
           words.router, footage.router)


def create_app(settings: Settings, *, resolve: Resolver = resolve_host) -> FastAPI:
    """The API and dashboard on these settings; the database is opened (and migrated) now."""
    parse_networks(settings.allow_networks)
    workspace = Workspace(settings)
    workspace.sessions  # noqa: B018 - open and migrate now, so a bad database fails at start
    jobs = JobRunner(settings)
    worker_view = WorkerView(workspace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        worker_view.start()
        yield
        worker_view.stop()
        await run_in_threadpool(jobs.stop_all)
        workspace.close()

    app = FastAPI(title="lastseen", version=__version__, lifespan=lifespan,
                  description="Archived news pages and videos, whether they are still there, and where the copies "
                              "are. Send `Authorization: Bearer <token>`; public collections can be read without.")
    app.state.workspace = workspace
    app.state.jobs = jobs
    app.state.worker_view = worker_view
    app.state.resolve = resolve
    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    _error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    archived.mount_replay(app)
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


__all__ = ["create_app"]
