"""Memento (RFC 7089) over lastseen's own copies: a TimeMap and a TimeGate per URL, and the URLs that link them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote, unquote

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.api.access import Caller, CallerDep, unauthorized, workspace_of
from archive.api.schemas import ERRORS
from archive.db import session_scope
from archive.models import Capture, Source
from archive.urls import InvalidURL, normalize_url, url_hash

router = APIRouter()


def header_url(url: str) -> str:
    """A URL as it may stand in a Link header."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def timemap_url(base: str, url: str) -> str:
    """Where this server's TimeMap of a URL is."""
    return f"{base}/api/timemap/link/{header_url(url)}"


def timegate_url(base: str, url: str) -> str:
    """Where this server's TimeGate of a URL is."""
    return f"{base}/api/timegate/{header_url(url)}"


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
        raise unauthorized(f"{normalized} is only in collections that are not public: this needs an API token")
    rows = session.execute(select(Capture.id, Capture.captured_at).where(Capture.source_id.in_(readable))
                           .order_by(Capture.captured_at, Capture.id)).all()
    if not rows:
        raise HTTPException(404, f"{normalized} is tracked but has no capture yet")
    return normalized, list(rows)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@router.get("/api/timemap/link/{url:path}", tags=["memento"], responses={
    200: {"content": {"application/link-format": {}}}, **ERRORS})
def timemap(url: str, request: Request, who: CallerDep) -> Response:
    """RFC 7089 TimeMap of lastseen's own copies of a URL."""
    target = _requested_url(request, "/api/timemap/link/")
    with session_scope(workspace_of(request).sessions) as session:
        normalized, rows = _mementos(session, target, who)
    base = str(request.base_url).rstrip("/")
    lines = [f'<{header_url(normalized)}>; rel="original"',
             f'<{timegate_url(base, normalized)}>; rel="timegate"',
             f'<{timemap_url(base, normalized)}>; rel="self"; type="application/link-format"; '
             f'from="{_http_date(rows[0][1])}"; until="{_http_date(rows[-1][1])}"']
    for index, (capture_id, at) in enumerate(rows):
        rel = " ".join(word for word, on in (("first", index == 0), ("last", index == len(rows) - 1)) if on)
        lines.append(f'<{base}/api/captures/{capture_id}>; rel="{(rel + " ") if rel else ""}memento"; '
                     f'datetime="{_http_date(at)}"')
    return Response(",\n".join(lines) + "\n", media_type="application/link-format")


@router.get("/api/timegate/{url:path}", status_code=302, tags=["memento"], responses={
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
    with session_scope(workspace_of(request).sessions) as session:
        normalized, rows = _mementos(session, target, who)
    if moment is None:
        chosen = rows[-1]
    else:
        chosen = min(rows, key=lambda row: (abs((row[1] - moment).total_seconds()), row[1]))
    base = str(request.base_url).rstrip("/")
    headers = {"Location": f"{base}/api/captures/{chosen[0]}", "Vary": "accept-datetime",
               "Link": f'<{header_url(normalized)}>; rel="original", <{timemap_url(base, normalized)}>; '
                       'rel="timemap"; type="application/link-format"'}
    return Response(status_code=302, headers=headers)
