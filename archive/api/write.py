"""Changing what is archived, for archivists: track URLs in a collection (behind the SSRF guard), and start
crawls and checks as background jobs that the caller follows at /api/jobs/{id}.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from archive.api.access import ArchivistDep, Caller, collection_or_404, workspace_of
from archive.api.jobs import JobConflict
from archive.api.schemas import ERRORS, AddSourcesIn, AddSourcesOut, ErrorOut, JobOut, NamePath
from archive.db import session_scope
from archive.net.guard import BlockedURL, Resolver, check_public_url
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.sources.limits import InputError, recheck_interval
from archive.urls import InvalidURL, check_url, normalize_url

logger = logging.getLogger("lastseen.api")

_RESOLVERS = 16

router = APIRouter()


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


@router.post("/api/collections/{name:path}/sources", response_model=AddSourcesOut, responses=ERRORS, tags=["write"])
def add_collection_sources(name: NamePath, body: AddSourcesIn, request: Request,
                           who: ArchivistDep) -> dict[str, Any]:
    """Track URLs in a collection (made on first use); URLs to non-public addresses are refused."""
    ws = workspace_of(request)
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
                                 recheck_interval=every, actor=f"API token {who.name}")
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        out = {"collection": collection.name, "added": [s.normalized_url for s in result.added],
               "known": [{"url": e.url, "normalized_url": s.normalized_url} for e, s in result.known],
               "refused": refused + [{"url": e.url, "reason": r} for e, r in result.refused]}
        if not result.added and not result.known:
            session.rollback()  # every URL refused: the collection is not made for them
    logger.info("%s added %d source(s) to %s", who.name, len(out["added"]), out["collection"])
    return out


def start_job(request: Request, who: Caller, kind: str, collection: str, urls: Sequence[str] = (),
              what: str | None = None) -> JSONResponse:
    """Start a job (of a collection, or of some of its URLs): 202 with where to follow it, 409 when one of its
    kind runs for the collection already."""
    try:
        job = request.app.state.jobs.start(kind, collection, started_by=f"API token {who.name}", urls=urls)
    except JobConflict as exc:
        raise HTTPException(409, str(exc)) from None
    logger.info("%s started %s of %s: job %s", who.name, kind, what or collection, job.id)
    return JSONResponse(job.as_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})


def _start_job(kind: str, name: str, request: Request, who: Caller) -> JSONResponse:
    """Start a job of this kind on a collection."""
    with session_scope(workspace_of(request).sessions) as session:
        collection = collection_or_404(session, name).name
    return start_job(request, who, kind, collection)


@router.post("/api/collections/{name:path}/crawl", status_code=202, response_model=JobOut,
             responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
def start_crawl(name: NamePath, request: Request, who: ArchivistDep) -> JSONResponse:
    """Start `lastseen crawl -c NAME` in the background; follow the job at /api/jobs/{id}."""
    return _start_job("crawl", name, request, who)


@router.post("/api/collections/{name:path}/check", status_code=202, response_model=JobOut,
             responses={409: {"model": ErrorOut}, **ERRORS}, tags=["write"])
def start_check(name: NamePath, request: Request, who: ArchivistDep) -> JSONResponse:
    """Start `lastseen check -c NAME` in the background; follow the job at /api/jobs/{id}."""
    return _start_job("check", name, request, who)


@router.get("/api/jobs", response_model=list[JobOut], responses=ERRORS, tags=["write"])
def list_jobs(request: Request, who: ArchivistDep) -> list[dict[str, Any]]:
    """Jobs this server started, newest first."""
    return [job.as_dict() for job in request.app.state.jobs.all()]


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["write"])
def get_job(job_id: Annotated[str, Path(max_length=64)], request: Request,
            who: ArchivistDep) -> dict[str, Any]:
    """One job: running, or how it ended with the command's JSON summary."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} (jobs are forgotten when the server restarts)")
    return job.as_dict()
