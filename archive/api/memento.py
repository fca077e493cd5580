"""Memento (RFC 7089) over lastseen's own copies: a TimeMap and a TimeGate per URL (GET and HEAD), and the URLs
that link them.

Copies are found by their own URL (Capture.url_hash), whichever source they were fetched for: a redirect is a
memento of the URL that answered it, and the page it led to is a memento of the page's URL. A page requisite's
copies (images, stylesheets, fonts: the `requisite` table) are mementos of their URL too, answered at
/api/requisites/{id}, so a replay tool asking for an image's URL finds it. Collections that are
public_read are readable without a token, so Memento aggregators can use them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.orm import Session

from archive.api.access import Caller, CallerDep, unauthorized, workspace_of
from archive.api.schemas import ERRORS, IdPath
from archive.db import session_scope
from archive.models import Capture, Collection, Requisite, Source
from archive.urls import InvalidURL, normalize_url, url_hash

router = APIRouter()

Memento = tuple[int, datetime, int]  # (capture or requisite id, when it was captured, CAPTURE or REQUISITE)
CAPTURE, REQUISITE = 0, 1
_MEMENTO_PATH = {CAPTURE: "/api/captures/", REQUISITE: "/api/requisites/"}
_TIMEMAP = "/api/timemap/link/"
_TIMEMAP_PAGE = "/api/timemap/link/after/"
_TIMEMAP_PAGE_REQUISITE = "/api/timemap/link/after-requisite/"
_TIMEGATE = "/api/timegate/"


def header_url(url: str) -> str:
    """A URL as it may stand in a Link header."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def timemap_url(base: str, url: str, after: int | None = None, kind: int = CAPTURE) -> str:
    """Where this server's TimeMap of a URL is (the page after capture `after`, or requisite, when given)."""
    if not after:
        return f"{base}{_TIMEMAP}{header_url(url)}"
    prefix = _TIMEMAP_PAGE if kind == CAPTURE else _TIMEMAP_PAGE_REQUISITE
    return f"{base}{prefix}{after}/{header_url(url)}"


def memento_url(base: str, memento: Memento) -> str:
    """Where one memento is answered: a capture's or a page requisite's copy."""
    return f"{base}{_MEMENTO_PATH[memento[2]]}{memento[0]}"


def timegate_url(base: str, url: str) -> str:
    """Where this server's TimeGate of a URL is."""
    return f"{base}{_TIMEGATE}{header_url(url)}"


def http_date(moment: datetime) -> str:
    """An HTTP date (Memento-Datetime, datetime=, from=, until=)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


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


def _uri_r(url: str) -> tuple[str, str]:
    """The normalized URL-R (no userinfo, no tracking parameters) and the key its copies are found by."""
    try:
        normalized = normalize_url(url)
    except InvalidURL as exc:
        raise HTTPException(400, f"not a URL lastseen archives: {exc}") from None
    return normalized, url_hash(normalized)


def _copies(key: str, who: Caller) -> Any:
    """The query for (id, time, kind) of a URL's copies the caller may read, oldest first: the captures of
    sources and the copies of page requisites (an image's URL finds its copies too)."""
    captures = (select(Capture.id.label("id"), Capture.captured_at.label("at"), literal(CAPTURE).label("kind"))
                .join(Source, Source.id == Capture.source_id).where(Capture.url_hash == key))
    # By collection first: the requisite index leads with it, and collections are few.
    collections = select(Collection.id)
    if who.role is None:
        captures = (captures.join(Collection, Collection.id == Source.collection_id)
                    .where(Collection.public_read.is_(True)))
        collections = collections.where(Collection.public_read.is_(True))
    requisites = (select(Requisite.id, Requisite.captured_at, literal(REQUISITE))
                  .where(Requisite.collection_id.in_(collections), Requisite.url_hash == key))
    both = union_all(captures, requisites).subquery()
    return select(both.c.id, both.c.at, both.c.kind).order_by(both.c.at, both.c.kind, both.c.id)


def _any_copy(session: Session, key: str) -> bool:
    """Whether a URL has a copy in any collection."""
    return session.execute(_copies(key, Caller(role="reader")).limit(1)).first() is not None


def _none_readable(session: Session, key: str, normalized: str, who: Caller) -> HTTPException:
    """Why a URL has no copy for this caller: a 401 when there are copies in private collections, else a 404."""
    if who.role is None and _any_copy(session, key):
        return unauthorized(f"{normalized} is only in collections that are not public: this needs an API token")
    return HTTPException(404, f"{normalized} has no archived copy here")


def _page(session: Session, key: str, normalized: str, who: Caller, after: tuple[int, int] | None,
          size: int) -> tuple[list[Memento], bool]:
    """One page of a URL's copies (those after the copy `after`: (id, kind)), and whether more follow."""
    query = _copies(key, who)
    if after is not None:
        # The cursor is looked up among the copies the caller may read, so that a copy in a collection it may not
        # read answers exactly as one that does not exist.
        memento_id, at, kind = query.selected_columns
        cursor = session.execute(query.where(memento_id == after[0], kind == after[1])).first()
        if cursor is None:
            what = "capture" if after[1] == CAPTURE else "requisite"
            raise HTTPException(404, f"{what} {after[0]} is not a copy of {normalized}")
        query = query.where(or_(at > cursor.at, and_(at == cursor.at, or_(
            kind > after[1], and_(kind == after[1], memento_id > after[0])))))
    rows = [(row[0], row[1], row[2]) for row in session.execute(query.limit(size + 1))]
    if not rows and after is None:
        raise _none_readable(session, key, normalized, who)
    return rows[:size], len(rows) > size


def _timemap(request: Request, who: Caller, prefix: str, after: tuple[int, int] | None) -> Response:
    """A page of the RFC 7089 TimeMap (link format): the URL-R, its TimeGate, this page (rel=self with from and
    until), the next page when there is one (rel="next timemap": the RFC's way to gather a paged map), and the
    mementos, the first and last of the whole map marked so."""
    normalized, key = _uri_r(_requested_url(request, prefix))
    ws = workspace_of(request)
    size = max(1, ws.settings.timemap_page_size)
    with session_scope(ws.sessions) as session:
        rows, more = _page(session, key, normalized, who, after, size)
    base = str(request.base_url).rstrip("/")
    self_link = (f'<{timemap_url(base, normalized, *(after or (None,)))}>; rel="self"; '
                 'type="application/link-format"')
    if rows:
        self_link += f'; from="{http_date(rows[0][1])}"; until="{http_date(rows[-1][1])}"'
    lines = [f'<{header_url(normalized)}>; rel="original"', f'<{timegate_url(base, normalized)}>; rel="timegate"',
             self_link]
    if more:
        lines.append(f'<{timemap_url(base, normalized, rows[-1][0], rows[-1][2])}>; rel="next timemap"; '
                     'type="application/link-format"')
    for index, row in enumerate(rows):
        first = after is None and index == 0
        last = not more and index == len(rows) - 1
        rel = " ".join(word for word, on in (("first", first), ("last", last)) if on)
        at = row[1]
        lines.append(f'<{memento_url(base, row)}>; rel="{(rel + " ") if rel else ""}memento"; '
                     f'datetime="{http_date(at)}"')
    body = ",\n".join(lines) + "\n"
    if request.method == "HEAD":
        return Response(headers={"Content-Length": str(len(body.encode())), "Content-Type": "application/link-format"})
    return Response(body, media_type="application/link-format")


_TIMEMAP_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/link-format": {}}}, **ERRORS}
_PAGE_DOC = ("A later page of a TimeMap longer than LASTSEEN_TIMEMAP_PAGE_SIZE: the mementos after capture "
             "`capture_id`, as linked from the page before (rel=\"next\").")


@router.get(_TIMEMAP_PAGE + "{capture_id}/{url:path}", tags=["memento"], responses=_TIMEMAP_RESPONSES,
            description=_PAGE_DOC)
def timemap_page(capture_id: IdPath, url: str, request: Request, who: CallerDep) -> Response:
    """RFC 7089 TimeMap of lastseen's own copies of a URL, a page after the first."""
    return _timemap(request, who, f"{_TIMEMAP_PAGE}{capture_id}/", (capture_id, CAPTURE))


@router.head(_TIMEMAP_PAGE + "{capture_id}/{url:path}", tags=["memento"], responses=_TIMEMAP_RESPONSES)
def timemap_page_head(capture_id: IdPath, url: str, request: Request, who: CallerDep) -> Response:
    """The headers of a later TimeMap page."""
    return _timemap(request, who, f"{_TIMEMAP_PAGE}{capture_id}/", (capture_id, CAPTURE))


@router.get(_TIMEMAP_PAGE_REQUISITE + "{requisite_id}/{url:path}", tags=["memento"], responses=_TIMEMAP_RESPONSES,
            description=_PAGE_DOC.replace("capture `capture_id`", "page requisite `requisite_id`"))
def timemap_page_requisite(requisite_id: IdPath, url: str, request: Request, who: CallerDep) -> Response:
    """RFC 7089 TimeMap of lastseen's own copies of a URL, a page after one ending with a requisite's copy."""
    return _timemap(request, who, f"{_TIMEMAP_PAGE_REQUISITE}{requisite_id}/", (requisite_id, REQUISITE))


@router.head(_TIMEMAP_PAGE_REQUISITE + "{requisite_id}/{url:path}", tags=["memento"],
             responses=_TIMEMAP_RESPONSES)
def timemap_page_requisite_head(requisite_id: IdPath, url: str, request: Request, who: CallerDep) -> Response:
    """The headers of a later TimeMap page after a requisite's copy."""
    return _timemap(request, who, f"{_TIMEMAP_PAGE_REQUISITE}{requisite_id}/", (requisite_id, REQUISITE))


@router.get("/api/timemap/link/{url:path}", tags=["memento"], responses=_TIMEMAP_RESPONSES)
def timemap(url: str, request: Request, who: CallerDep) -> Response:
    """RFC 7089 TimeMap of lastseen's own copies of a URL."""
    return _timemap(request, who, _TIMEMAP, None)


@router.head("/api/timemap/link/{url:path}", tags=["memento"], responses=_TIMEMAP_RESPONSES)
def timemap_head(url: str, request: Request, who: CallerDep) -> Response:
    """The headers of a TimeMap (what Memento clients ask first)."""
    return _timemap(request, who, _TIMEMAP, None)


def _accept_datetime(request: Request) -> datetime | None:
    """The Accept-Datetime asked for, or None; a 400 when it is no HTTP date."""
    wanted = request.headers.get("accept-datetime")
    if not wanted:
        return None
    try:
        moment = parsedate_to_datetime(wanted)
    except (TypeError, ValueError, IndexError):
        raise HTTPException(400, "Accept-Datetime must be an HTTP date, e.g. "
                                 "'Thu, 01 Jan 2026 00:00:00 GMT'") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _closest(session: Session, key: str, who: Caller, moment: datetime | None) -> Memento | None:
    """The copy closest to `moment` (the newest without one), by at most two reads."""
    query = _copies(key, who)
    memento_id, at, kind = query.selected_columns
    newest_first = query.order_by(None).order_by(at.desc(), kind.desc(), memento_id.desc())
    if moment is None:
        row = session.execute(newest_first.limit(1)).first()
        return (row[0], row[1], row[2]) if row else None
    before = session.execute(newest_first.where(at <= moment).limit(1)).first()
    after = session.execute(query.where(at > moment).limit(1)).first()
    found = [(row[0], row[1], row[2]) for row in (before, after) if row is not None]
    if not found:
        return None
    return min(found, key=lambda row: (abs((row[1] - moment).total_seconds()), row[1]))


def _timegate(request: Request, who: Caller) -> Response:
    """RFC 7089 TimeGate (pattern 2.2): 302 to the copy closest to Accept-Datetime, Vary and Link set."""
    normalized, key = _uri_r(_requested_url(request, _TIMEGATE))
    moment = _accept_datetime(request)
    with session_scope(workspace_of(request).sessions) as session:
        chosen = _closest(session, key, who, moment)
        if chosen is None:
            raise _none_readable(session, key, normalized, who)
    base = str(request.base_url).rstrip("/")
    headers = {"Location": memento_url(base, chosen), "Vary": "accept-datetime",
               "Link": f'<{header_url(normalized)}>; rel="original", <{timemap_url(base, normalized)}>; '
                       'rel="timemap"; type="application/link-format"'}
    return Response(status_code=302, headers=headers)


_TIMEGATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "redirect to the capture closest to Accept-Datetime (the newest without it)"}, **ERRORS}


@router.get("/api/timegate/{url:path}", status_code=302, tags=["memento"], responses=_TIMEGATE_RESPONSES)
def timegate(url: str, request: Request, who: CallerDep) -> Response:
    """RFC 7089 TimeGate: redirects to the capture of a URL closest to the Accept-Datetime header."""
    return _timegate(request, who)


@router.head("/api/timegate/{url:path}", status_code=302, tags=["memento"], responses=_TIMEGATE_RESPONSES)
def timegate_head(url: str, request: Request, who: CallerDep) -> Response:
    """The TimeGate's answer without a body (Memento clients negotiate with HEAD)."""
    return _timegate(request, who)
