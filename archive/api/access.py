"""Who may read or change what: the caller from a bearer token (or the dashboard's cookie), role checks as
dependencies, whether a collection is readable without a token, and the 404s of collections and sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.models import Capture, Collection, Source
from archive.sources import get_collection
from archive.tokens import authenticate, role_allows
from archive.workspace import Workspace

TOKEN_COOKIE = "lastseen_token"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a token's name and role, or anonymous (both None)."""

    name: str | None = None
    role: str | None = None


_bearer = HTTPBearer(auto_error=False, description="an API token from `lastseen token create`")


def workspace_of(request: Request) -> Workspace:
    """The workspace the app serves (opened once by create_app)."""
    return request.app.state.workspace


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Caller:
    """The caller from `Authorization: Bearer`, or for reading pages the dashboard's cookie; else anonymous."""
    if credentials is None and request.headers.get("authorization"):
        raise unauthorized("use 'Authorization: Bearer <token>'")
    token = credentials.credentials if credentials else None
    from_cookie = False
    if token is None and request.method in {"GET", "HEAD"}:
        token = request.cookies.get(TOKEN_COOKIE)
        from_cookie = token is not None
    if not token:
        return Caller()
    with session_scope(workspace_of(request).sessions) as session:
        row = authenticate(session, token)
        found = Caller(row.name, row.role) if row else None
    if found is None:
        if from_cookie:
            return Caller()
        raise unauthorized("invalid or revoked token", error="invalid_token")
    return found


CallerDep = Annotated[Caller, Depends(caller)]


def unauthorized(message: str, error: str | None = None) -> HTTPException:
    """A 401 with the bearer challenge (and the RFC 6750 error code when the token itself is wrong)."""
    challenge = 'Bearer realm="lastseen"' + (f', error="{error}"' if error else "")
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


def needs(role: str) -> Callable[[Caller], Caller]:
    """A dependency that lets through callers with at least this role."""

    def check(who: CallerDep) -> Caller:
        if who.role is None:
            raise unauthorized(f"this needs an API token with the {role} role")
        if not role_allows(who.role, role):
            raise HTTPException(403, f"this needs the {role} role; token {who.name!r} has the {who.role} role")
        return who

    return check


ArchivistDep = Annotated[Caller, Depends(needs("archivist"))]
AdminDep = Annotated[Caller, Depends(needs("admin"))]


def readable(who: Caller, collection: Collection) -> None:
    """Refuse (401) an anonymous caller a collection that is not public."""
    if who.role is None and not collection.public_read:
        raise unauthorized(f"collection {collection.name!r} is not public: this needs an API token")


def readable_capture(session: Session, who: Caller, capture_id: int) -> Capture:
    """A capture the caller may read: 404 when there is none, 401 when its collection is not public to them."""
    capture = session.get(Capture, capture_id)
    if capture is None:
        raise HTTPException(404, f"no capture {capture_id}")
    readable(who, capture.source.collection)
    return capture


def anonymous_list(session: Session, who: Caller, collection: str | None = None) -> None:
    """Anonymous callers may list only public collections; with none public (the default) they need a token."""
    if who.role is not None:
        return
    if collection:
        found = get_collection(session, collection)
        if found is not None:
            readable(who, found)
    elif session.scalar(select(Collection.id).where(Collection.public_read.is_(True)).limit(1)) is None:
        raise unauthorized("this needs an API token (no collection is public)")


def collection_or_404(session: Session, name: str) -> Collection:
    """The collection of that name (spaces around it ignored), or a 404."""
    collection = get_collection(session, name.strip())
    if collection is None:
        raise HTTPException(404, f"no collection named {name.strip()!r}")
    return collection


def source_or_404(session: Session, source_id: int, who: Caller) -> Source:
    """The source of that id if the caller may read it: a 404 when there is none, a 401 when not public."""
    source = session.get(Source, source_id)
    if source is None:
        raise HTTPException(404, f"no source {source_id}")
    readable(who, source.collection)
    return source
