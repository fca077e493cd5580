"""The dashboard's watch-list controls on a source's page: paused, deleted, failing captures, and buttons to
pause, resume, delete, check now and capture now.

The sign-in cookie is SameSite=Strict and HttpOnly; a form posts it with a token derived from it (HMAC), and
the request must come from this server's own pages (Origin, when sent): a page elsewhere can neither send the
cookie nor know the token. Only archivists see the buttons, as the API's write routes ask.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from archive.api.access import TOKEN_COOKIE, workspace_of
from archive.api.html import fragment
from archive.api.jobs import JobConflict
from archive.api.schemas import IdPath
from archive.db import session_scope
from archive.models import Source, utcnow
from archive.sources.manage import delete_sources, pause_sources, resume_sources
from archive.tokens import authenticate, role_allows

router = APIRouter()
ACTIONS = ("pause", "resume", "delete", "check", "capture")


def form_token(cookie_token: str) -> str:
    """The token a dashboard form carries: an HMAC of the sign-in token, which only our own pages show."""
    return hmac.new(cookie_token.encode("utf-8"), b"lastseen dashboard form", hashlib.sha256).hexdigest()


def controls_html(detail: dict[str, Any], cookie_token: str | None) -> str:
    """The watch-list facts of a source's page and, for a signed-in archivist (cookie_token given), its buttons."""
    held = bool(detail.get("paused_at") or detail.get("deleted_at"))
    actions = ("resume",) if held else ("pause", "delete", "check", "capture")
    token = None if cookie_token is None else form_token(cookie_token)
    return fragment("controls.html", detail=detail, actions=actions, form_token=token)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


@router.post("/sources/{source_id}/manage", include_in_schema=False)
async def manage_source(source_id: IdPath, request: Request) -> Response:
    """A button of the source's page: pause, resume, delete, check now or capture now; back to the page."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    action = (form.get("action") or [""])[0]
    sent = (form.get("form_token") or [""])[0]
    token = request.cookies.get(TOKEN_COOKIE, "")
    if action not in ACTIONS or not token or not _same_origin(request) or \
            not hmac.compare_digest(sent, form_token(token)):
        raise HTTPException(403, "this form needs a signed-in archivist's page of this server")
    ws = workspace_of(request)

    def apply() -> tuple[str, str] | None:
        with session_scope(ws.sessions) as session:
            row = authenticate(session, token)
            if row is None or not role_allows(row.role, "archivist"):
                raise HTTPException(403, "this needs the archivist role")
            actor = f"dashboard, token {row.name}"
            source = session.get(Source, source_id)
            if source is None:
                raise HTTPException(404, f"no source {source_id}")
            if action == "pause":
                pause_sources(session, [source_id], utcnow())
            elif action == "resume":
                resume_sources(session, [source_id], actor)
            elif action == "delete":
                delete_sources(session, [source_id], actor, utcnow())
            else:
                return source.collection.name, source.normalized_url
        return None

    job = await run_in_threadpool(apply)
    if job is not None:
        try:
            request.app.state.jobs.start("crawl" if action == "capture" else "check", job[0],
                                         started_by="dashboard", urls=[job[1]])
        except JobConflict as exc:
            raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/sources/{source_id}", status_code=303)
