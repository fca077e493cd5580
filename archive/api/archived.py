"""A capture's archived copy for people: ReplayWeb.page replaying the capture's WACZ, all from this server.

The page holds ReplayWeb.page's `<replay-web-page>`, whose files setup.sh installs from the npm registry into
archive/api/static/replaywebpage/ (served here, never from a CDN: replay works offline). It reads the capture's
WACZ (the page, its requisites and its media, archive.research.replayset) from /api/captures/{id}/wacz by byte
ranges. A Content-Security-Policy keeps the page, ReplayWeb.page and its service worker on this origin. The raw
HTML is only behind the "source" link, as text/plain: never rendered by the researcher's browser.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from archive.api.access import CallerDep, readable_capture, workspace_of
from archive.api.html import render
from archive.api.memento import timemap_url
from archive.api.replay import replay
from archive.api.schemas import ERRORS, IdPath
from archive.db import session_scope
from archive.models import Capture
from archive.research.replayset import capture_wacz
from archive.storage import StorageError
from archive.timefmt import iso
from archive.urls import InvalidURL, normalize_url

router = APIRouter()

STATIC = Path(__file__).parent / "static" / "replaywebpage"  # setup.sh puts ui.js and sw.js here
REPLAY_BASE = "/static/replaywebpage/"
WAIT_SCRIPT = "/static/lastseen/replay-wait.js"
# ReplayWeb.page's UI: its script from here, its frames and workers from here, every fetch to here. Its styles are
# injected by its components (inline), its media come from its service worker as blob: URLs.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; "
            "worker-src 'self'; child-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'self'")
# The service worker's own policy (a worker's CSP comes with its script): it fetches from this origin only, so a
# URL the archive cannot answer is never fetched live; wasm for its hashing.
WORKER_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
_HEADERS = {"Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}


def replay_installed() -> bool:
    """Whether ReplayWeb.page's files are installed (setup.sh with npm)."""
    return (STATIC / "ui.js").is_file() and (STATIC / "sw.js").is_file()


# While ReplayWeb.page's service worker is not yet in control (its first start, on a busy machine), its frame's
# address reaches this server: it gets a page that waits for the worker and loads again, which the worker answers.
_WAITING = (f"<!doctype html><html><head><script src='{WAIT_SCRIPT}'></script></head>"
            "<body>starting the replay...</body></html>")
_WAIT_JS = """(function () {
  var sw = navigator.serviceWorker, tries = Number(sessionStorage.getItem("lastseen-replay-wait") || 0);
  var done = false;
  if (!sw || tries > 20) { return; }
  function again() {
    if (done) { return; }
    done = true;
    sessionStorage.setItem("lastseen-replay-wait", String(tries + 1));
    location.reload();
  }
  sw.addEventListener("controllerchange", again);
  sw.ready.then(function () { setTimeout(again, 200); });
})();
"""


class ReplayFiles(StaticFiles):
    """ReplayWeb.page's files, with the headers its service worker needs: its scope, its own policy."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path in ("", ".", "index.html") and replay_installed():
            return HTMLResponse(_WAITING, headers={**_HEADERS, "Cache-Control": "no-store",
                                                   "Content-Security-Policy": "default-src 'self'"})
        return await super().get_response(path, scope)

    def file_response(self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_HEADERS)
        if str(full_path).endswith("sw.js"):
            response.headers["Service-Worker-Allowed"] = REPLAY_BASE
            response.headers["Content-Security-Policy"] = WORKER_CSP
        return response


def mount_replay(app: FastAPI) -> None:
    """Serve ReplayWeb.page's files (a 404 for each while they are not installed)."""
    app.mount(REPLAY_BASE.rstrip("/"), ReplayFiles(directory=STATIC, check_dir=False), name="replaywebpage")


@router.get(WAIT_SCRIPT, include_in_schema=False)
def replay_wait_script() -> Response:
    """The script of the page that waits for ReplayWeb.page's service worker."""
    return Response(_WAIT_JS, media_type="text/javascript", headers={**_HEADERS, "Cache-Control": "max-age=3600"})


@router.get("/captures/{capture_id}", response_class=HTMLResponse, include_in_schema=False)
def archived_copy(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
    """A capture replayed by ReplayWeb.page: 'archived on DATE from URL', the TimeMap, the source link."""
    with session_scope(workspace_of(request).sessions) as session:
        capture = session.get(Capture, capture_id)
        if capture is None:
            raise HTTPException(404, f"no capture {capture_id}")
        if who.role is None and not capture.source.collection.public_read:
            target = quote(request.url.path, safe="")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        url, at, fallback = capture.url, capture.captured_at, capture.source.normalized_url
        source_id = capture.source_id
    try:
        uri_r = normalize_url(url)
    except InvalidURL:
        uri_r = fallback
    base = str(request.base_url).rstrip("/")
    view = ArchivedView(capture_id=capture_id, source_id=source_id, url=url, captured_at=iso(at) or "",
                        timemap=timemap_url(base, uri_r), installed=replay_installed())
    return HTMLResponse(archived_page(view), headers={**_HEADERS, "Content-Security-Policy": PAGE_CSP,
                                                      "X-Frame-Options": "SAMEORIGIN"})


@dataclass(frozen=True)
class ArchivedView:
    """What the archived-copy page shows."""

    capture_id: int
    source_id: int
    url: str
    captured_at: str
    timemap: str
    installed: bool

    @property
    def timestamp(self) -> str:
        """The capture's time as the 14 digits replay tools take."""
        return "".join(ch for ch in self.captured_at[:19] if ch.isdigit())


def archived_page(view: ArchivedView) -> str:
    """The page: the line saying what this is, the links, and the replay (or why there is none)."""
    return render("archived.html", f"archived copy of {view.url}", view=view, replay_base=REPLAY_BASE)


@router.get("/captures/{capture_id}/source", include_in_schema=False)
def archived_source(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
    """The archived body as text, never rendered: what the page was, for reading its markup."""
    answer = replay(capture_id, request, who)
    answer.headers["Content-Type"] = "text/plain; charset=utf-8"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    answer.headers["Content-Disposition"] = "inline"
    return answer


_WACZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a WACZ of the capture's page, requisites and media", "content": {"application/wacz": {}}},
    206: {"description": "the byte range asked for"}, **ERRORS}


@router.get("/api/captures/{capture_id}/wacz", tags=["read"], responses=_WACZ_RESPONSES)
def capture_wacz_route(capture_id: IdPath, request: Request, who: CallerDep) -> Response:
    """A WACZ holding what replays this capture (the page's record, its requisites' and its video's), as
    ReplayWeb.page and pywb read it; byte ranges answered (206) so replay reads only what it shows."""
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        capture = readable_capture(session, who, capture_id)
        try:
            path = capture_wacz(ws, session, capture)
        except StorageError as exc:
            raise HTTPException(503, f"the capture's records cannot be read from storage now: {exc}") from None
    return FileResponse(path, media_type="application/wacz", filename=f"capture-{capture_id}.wacz",
                        content_disposition_type="inline", headers={"Cache-Control": "private, max-age=300"})
