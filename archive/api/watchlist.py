"""Managing the watch list over HTTP: pause, resume, delete (admins: purge) sources and collections, a source's
own interval, and "check now" / "capture now" as jobs. Archivists change what is watched; purging is an admin's.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from archive.api.access import ArchivistDep, Caller, collection_or_404, workspace_of
from archive.api.schemas import ERRORS, ErrorOut, IdPath, JobOut, NamePath, SourcePatch, WatchOut
from archive.api.write import start_job
from archive.db import session_scope
from archive.models import Collection, Source, utcnow
from archive.sources.limits import InputError, recheck_interval
from archive.sources.manage import (
    delete_sources,
    pause_sources,
    purge_collection,
    purge_sources,
    reschedule,
    resume_sources,
    set_collection,
)
from archive.timefmt import iso
from archive.tokens import role_allows

logger = logging.getLogger("lastseen.api")

router = APIRouter()
Purge = Annotated[bool, Query(description="also remove captures, checks and WARC files no other capture needs "
                                          "(admin)")]


def _actor(who: Caller) -> str:
    return f"API token {who.name}"


def _source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise HTTPException(404, f"no source {source_id}")
    return source


def _source_out(source: Source, action: str) -> dict[str, Any]:
    return {"collection": source.collection.name, "source_id": source.id, "action": action,
            "paused_at": iso(source.paused_at), "deleted_at": iso(source.deleted_at),
            "next_check_at": iso(source.next_check_at)}


def _collection_out(collection: Collection, action: str) -> dict[str, Any]:
    return {"collection": collection.name, "action": action, "paused_at": iso(collection.paused_at),
            "deleted_at": iso(collection.deleted_at)}


def _admin_to_purge(who: Caller) -> None:
    if not role_allows(who.role or "", "admin"):
        raise HTTPException(403, f"purging needs the admin role; token {who.name!r} has the {who.role} role")


@router.post("/api/collections/{name:path}/pause", response_model=WatchOut, responses=ERRORS, tags=["write"])
def pause_collection(name: NamePath, request: Request, who: ArchivistDep) -> dict[str, Any]:
    """Stop checking and capturing every source of a collection until it is resumed."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        changed = set_collection(session, collection, paused=True, actor=_actor(who), now=utcnow())
        return _collection_out(collection, "paused" if changed else "unchanged")


@router.post("/api/collections/{name:path}/resume", response_model=WatchOut, responses=ERRORS, tags=["write"])
def resume_collection(name: NamePath, request: Request, who: ArchivistDep) -> dict[str, Any]:
    """Watch a paused (or deleted) collection again."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name)
        action = "restored" if collection.deleted_at else "resumed" if collection.paused_at else "unchanged"
        set_collection(session, collection, paused=False, deleted=False, actor=_actor(who), now=utcnow())
        return _collection_out(collection, action)


@router.delete("/api/collections/{name:path}", response_model=WatchOut, responses=ERRORS, tags=["write"])
def delete_collection(name: NamePath, request: Request, who: ArchivistDep, purge: Purge = False) -> dict[str, Any]:
    """Take a collection off the watch list, keeping its captures and WARC files; `?purge=true` (admin) removes
    them too. Either way a custody event."""
    if purge:
        _admin_to_purge(who)
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        collection = collection_or_404(session, name)
        if purge:
            out = _collection_out(collection, "purged")
            purged = purge_collection(session, ws.storage, collection, _actor(who))
            logger.info("%s purged collection %s", who.name, out["collection"])
            return {**out, "purged": {"sources": purged.sources, "captures": purged.captures,
                                      "files": purged.files, "errors": purged.errors}}
        changed = set_collection(session, collection, deleted=True, actor=_actor(who), now=utcnow())
        return _collection_out(collection, "deleted" if changed else "unchanged")


@router.post("/api/sources/{source_id}/pause", response_model=WatchOut, responses=ERRORS, tags=["write"])
def pause_source(source_id: IdPath, request: Request, who: ArchivistDep) -> dict[str, Any]:
    """Stop checking and capturing one source until it is resumed."""
    with session_scope(workspace_of(request).sessions) as session:
        source = _source(session, source_id)
        changed = pause_sources(session, [source.id], utcnow())
        session.refresh(source)
        return _source_out(source, "paused" if changed else "unchanged")


@router.post("/api/sources/{source_id}/resume", response_model=WatchOut, responses=ERRORS, tags=["write"])
def resume_source(source_id: IdPath, request: Request, who: ArchivistDep) -> dict[str, Any]:
    """Watch a paused (or deleted) source again."""
    with session_scope(workspace_of(request).sessions) as session:
        source = _source(session, source_id)
        resumed, restored = resume_sources(session, [source.id], _actor(who))
        session.refresh(source)
        return _source_out(source, "restored" if restored else "resumed" if resumed else "unchanged")


@router.delete("/api/sources/{source_id}", response_model=WatchOut, responses=ERRORS, tags=["write"])
def delete_source(source_id: IdPath, request: Request, who: ArchivistDep, purge: Purge = False) -> dict[str, Any]:
    """Take a source off the watch list, keeping its captures and WARC files; `?purge=true` (admin) removes them
    too. Either way a custody event."""
    if purge:
        _admin_to_purge(who)
    ws = workspace_of(request)
    with session_scope(ws.sessions) as session:
        source = _source(session, source_id)
        if purge:
            out = _source_out(source, "purged")
            purged = purge_sources(session, ws.storage, [source.id], _actor(who))
            return {**out, "purged": {"sources": purged.sources, "captures": purged.captures,
                                      "files": purged.files, "errors": purged.errors}}
        changed = delete_sources(session, [source.id], _actor(who), utcnow())
        session.refresh(source)
        return _source_out(source, "deleted" if changed else "unchanged")


@router.patch("/api/sources/{source_id}", response_model=WatchOut, responses=ERRORS, tags=["write"])
def patch_source(source_id: IdPath, body: SourcePatch, request: Request, who: ArchivistDep) -> dict[str, Any]:
    """Give a source its own recheck interval; its next check moves at once."""
    ws = workspace_of(request)
    try:
        every = recheck_interval(body.every)
    except InputError as exc:
        raise HTTPException(422, f"every: {exc}") from None
    with session_scope(ws.sessions) as session:
        source = _source(session, source_id)
        source.recheck_interval = every
        session.flush()
        reschedule(session, ws.settings.recheck_interval, source_ids=[source.id])
        session.refresh(source)
        return _source_out(source, "rescheduled")


def _job_for_source(kind: str, source_id: int, request: Request, who: Caller) -> JSONResponse:
    """`lastseen check|crawl -c C URL` for one source, as a job: 202, or 409 when one of its collection runs."""
    with session_scope(workspace_of(request).sessions) as session:
        source = _source(session, source_id)
        for what, item in ((f"source {source_id}", source), (f"collection {source.collection.name!r}",
                                                              source.collection)):
            if item.deleted_at is not None or item.paused_at is not None:
                raise HTTPException(409, f"{what} is {'deleted' if item.deleted_at else 'paused'}: resume it first")
        collection, url = source.collection.name, source.normalized_url
    return start_job(request, who, kind, collection, [url], f"source {source_id}")


@router.post("/api/sources/{source_id}/check", status_code=202, response_model=JobOut,
             responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
def check_source_now(source_id: IdPath, request: Request, who: ArchivistDep) -> JSONResponse:
    """Check one source now, outside its schedule; follow the job at /api/jobs/{id}."""
    return _job_for_source("check", source_id, request, who)


@router.post("/api/sources/{source_id}/capture", status_code=202, response_model=JobOut,
             responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
def capture_source_now(source_id: IdPath, request: Request, who: ArchivistDep) -> JSONResponse:
    """Capture one source now (a crawl of its URL); follow the job at /api/jobs/{id}."""
    return _job_for_source("crawl", source_id, request, who)
