"""Administering the server, for admins: collection settings (description, public reading), alert webhooks
and API tokens.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from archive.api.access import AdminDep, collection_or_404, workspace_of
from archive.api.read import collection_rows
from archive.api.schemas import (
    ERRORS,
    CollectionOut,
    CollectionPatch,
    ErrorOut,
    IdPath,
    NamePath,
    TokenIn,
    TokenOut,
    WebhookIn,
    WebhookOut,
)
from archive.db import session_scope
from archive.errors import UsageError
from archive.models import Collection, Webhook
from archive.net.guard import BlockedURL, check_public_url
from archive.sources.limits import InputError, recheck_interval
from archive.sources.manage import reschedule
from archive.timefmt import iso
from archive.tokens import authenticate, create_token, list_tokens, revoke_token, token_dict
from archive.urls import InvalidURL, check_url

router = APIRouter()


def _webhook_dict(hook: Webhook, collection: str | None, secret: str | None = None) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "collection": collection, "created_at": iso(hook.created_at),
            "secret": secret}


@router.patch("/api/collections/{name:path}", response_model=CollectionOut, responses=ERRORS, tags=["admin"])
def update_collection(name: NamePath, body: CollectionPatch, request: Request,
                      who: AdminDep) -> dict[str, Any]:
    """Change a collection's description, make it readable without a token (public_read), name the regions its
    sources are checked from (regions), its recheck interval (every: next checks move at once), whether its
    captures go to the Wayback target (wayback) or how its pages are fetched (capture: http, browser, auto)."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        if body.description is not None:
            collection.description = body.description
        if body.public_read is not None:
            collection.public_read = body.public_read
        if body.regions is not None:
            collection.regions = body.regions or None
        if body.wayback is not None:
            collection.wayback = body.wayback
        if body.capture is not None:
            collection.capture_mode = body.capture.value
        if body.every is not None:
            try:
                collection.recheck_interval = recheck_interval(body.every)
            except InputError as exc:
                raise HTTPException(422, f"every: {exc}") from None
            session.flush()
            reschedule(session, workspace_of(request).settings.recheck_interval, collection_id=collection.id)
        session.flush()
        return next(row for row in collection_rows(session, who) if row["name"] == collection.name)


@router.get("/api/webhooks", response_model=list[WebhookOut], responses=ERRORS, tags=["admin"])
def list_webhooks(request: Request, who: AdminDep) -> list[dict[str, Any]]:
    """Registered webhooks (their secrets are never shown again)."""
    with session_scope(workspace_of(request).sessions) as session:
        names = dict(session.execute(select(Collection.id, Collection.name)).all())
        return [_webhook_dict(hook, names.get(hook.collection_id))
                for hook in session.scalars(select(Webhook).order_by(Webhook.id))]


@router.post("/api/webhooks", status_code=201, response_model=WebhookOut, responses=ERRORS, tags=["admin"])
def add_webhook(body: WebhookIn, request: Request, who: AdminDep) -> dict[str, Any]:
    """Register a webhook for one collection's alerts (or all); its URL must be public."""
    try:
        url = check_url(body.url)
    except InvalidURL as exc:
        raise HTTPException(422, f"url: {exc}") from None
    try:
        check_public_url(url, workspace_of(request).settings.allow_networks, request.app.state.resolve)
    except BlockedURL as exc:
        raise HTTPException(422, f"url: {exc}") from None
    secret = body.secret or secrets.token_urlsafe(32)
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, body.collection) if body.collection else None
        hook = Webhook(url=url, secret=secret, collection_id=collection.id if collection else None)
        session.add(hook)
        session.flush()
        return _webhook_dict(hook, collection.name if collection else None, secret)


@router.delete("/api/webhooks/{webhook_id}", status_code=204, responses=ERRORS, tags=["admin"])
def delete_webhook(webhook_id: IdPath, request: Request, who: AdminDep) -> Response:
    """Remove a webhook."""
    with session_scope(workspace_of(request).sessions) as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None:
            raise HTTPException(404, f"no webhook {webhook_id}")
        session.delete(hook)
    return Response(status_code=204)


@router.get("/api/tokens", response_model=list[TokenOut], responses=ERRORS, tags=["admin"])
def get_tokens(request: Request, who: AdminDep,
               include_revoked: bool = False) -> list[dict[str, Any]]:
    """API tokens by name and role (the tokens themselves are never stored)."""
    with session_scope(workspace_of(request).sessions) as session:
        return list_tokens(session, include_revoked=include_revoked)


@router.post("/api/tokens", status_code=201, response_model=TokenOut, responses={409: {"model": ErrorOut}, **ERRORS},
             tags=["admin"])
def new_token(body: TokenIn, request: Request, who: AdminDep) -> dict[str, Any]:
    """Create a token; the answer holds it, once."""
    with session_scope(workspace_of(request).sessions) as session:
        try:
            token = create_token(session, body.name, body.role)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        except UsageError as exc:
            raise HTTPException(409, str(exc)) from None
        row = authenticate(session, token)
        assert row is not None
        return {**token_dict(row), "token": token}


@router.delete("/api/tokens/{name:path}", status_code=204, responses=ERRORS, tags=["admin"])
def delete_token(name: NamePath, request: Request, who: AdminDep) -> Response:
    """Revoke a token by name (checked as on create: 422 for a name no token can have)."""
    with session_scope(workspace_of(request).sessions) as session:
        try:
            revoked = revoke_token(session, name)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        if not revoked:
            raise HTTPException(404, f"no live token named {name.strip()!r}")
    return Response(status_code=204)
