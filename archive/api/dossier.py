"""A collection's evidence dossier over HTTP: the same self-contained HTML file `lastseen report` writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from archive import __version__
from archive.api.access import CallerDep, collection_or_404, readable, workspace_of
from archive.api.schemas import ERRORS, NamePath
from archive.db import session_scope
from archive.models import SOURCE_STATUSES
from archive.research.dossier import gather
from archive.research.dossier_html import render_html
from archive.words.show import words_of

router = APIRouter()
# The dossier's own policy, also sent as a header: a browser opening it fetches nothing.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@router.get("/api/collections/{name:path}/report", response_class=HTMLResponse, responses=ERRORS,
            tags=["research"])
def collection_report_route(
    name: NamePath, request: Request, who: CallerDep,
    status: Annotated[str | None, Query(description="only the sources of this status",
                                        pattern="^(" + "|".join(SOURCE_STATUSES) + ")$")] = None,
) -> HTMLResponse:
    """The collection's evidence dossier (HTML, one self-contained file): the timeline chart, each source's status
    history, hashes, trusted times, screenshots, Wayback copies and custody log; at most LASTSEEN_REPORT_SOURCES
    sources, the file saying when it was cut."""
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        collection = collection_or_404(session, name)
        readable(who, collection)
        dossier = gather(session, ws.storage, collection, limit=ws.settings.report_sources, status=status,
                         made_by=f"API token {who.name}" if who.name else "anonymous API caller", words_of=words_of)
    html = render_html(dossier, version=__version__, operator=ws.settings.operator)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY, "X-Lastseen-Sources": str(dossier.total),
                                       "X-Lastseen-Cut": "yes" if dossier.cut else "no"})
