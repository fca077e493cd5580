"""Operating the server: a health check of the database and the storage, and Prometheus metrics of aggregate
counts; neither needs a token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from archive import __version__
from archive.api.access import workspace_of
from archive.api.jobs import JobRunner
from archive.api.schemas import ErrorOut
from archive.api.workers import metrics_lines
from archive.db import session_scope
from archive.models import SOURCE_STATUSES, AlertDelivery, CrawlFailure, WaybackSubmission
from archive.tally import CAPTURES, CHECKS, SOURCES, by_key

router = APIRouter()


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, doc: str, label: str, values: dict[str, int]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    lines += [f'{name}{{{label}="{_escape_label(key)}"}} {count}' for key, count in sorted(values.items())]
    return lines


def _grouped(session: Session, column: Any) -> dict[str, int]:
    return {str(key): int(count) for key, count in session.execute(select(column, func.count()).group_by(column))}


def metrics_text(session: Session, jobs: JobRunner) -> str:
    """Prometheus text exposition: sources by status, checks and captures by outcome, queue depths, jobs."""
    sources = {status: 0 for status in SOURCE_STATUSES} | by_key(session, SOURCES)
    captures = {tuple(key.rsplit("|", 1)): count for key, count in by_key(session, CAPTURES).items()}
    job_states: dict[tuple[str, str], int] = {}
    for job in jobs.all():
        job_states[(job.kind, job.state)] = job_states.get((job.kind, job.state), 0) + 1
    lines = _family("lastseen_sources", "gauge", "Tracked sources by status.", "status", sources)
    lines += _family("lastseen_checks_total", "counter", "Availability checks by outcome.", "outcome",
                     by_key(session, CHECKS))
    lines += ["# HELP lastseen_captures_total Captures by WARC record type and HTTP status class.",
              "# TYPE lastseen_captures_total counter"]
    lines += [f'lastseen_captures_total{{record_type="{_escape_label(r)}",status="{s}"}} {n}'
              for (r, s), n in sorted(captures.items())]
    lines += _family("lastseen_crawl_failures_total", "counter", "Fetches that gave no capture, by reason.", "reason",
                     _grouped(session, CrawlFailure.reason))
    lines += _family("lastseen_wayback_submissions", "gauge", "Wayback submissions by state (queue depth).",
                     "state", _grouped(session, WaybackSubmission.state))
    lines += _family("lastseen_alert_deliveries", "gauge", "Alert deliveries by state (queue depth).", "state",
                     _grouped(session, AlertDelivery.state))
    lines += ["# HELP lastseen_api_jobs Background jobs this server started, by kind and state.",
              "# TYPE lastseen_api_jobs gauge"]
    lines += [f'lastseen_api_jobs{{kind="{k}",state="{s}"}} {n}' for (k, s), n in sorted(job_states.items())]
    return "\n".join(lines) + "\n"


@router.get("/healthz", tags=["operations"], responses={503: {"model": ErrorOut}})
def health(request: Request) -> JSONResponse:
    """Whether the database and the storage answer (503 when not); no token needed."""
    ws = workspace_of(request)
    state = {"status": "ok", "version": __version__, "database": "ok", "storage": "ok"}
    try:
        with session_scope(ws.sessions) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means unhealthy; say which
        state["database"] = f"error: {str(exc).splitlines()[0][:200]}"
    try:
        ws.storage.check()
    except Exception as exc:
        state["storage"] = f"error: {str(exc).splitlines()[0][:200]}"
    healthy = state["database"] == "ok" and state["storage"] == "ok"
    if not healthy:
        state["status"] = "error"
    return JSONResponse(state, status_code=200 if healthy else 503)


@router.get("/metrics", tags=["operations"], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format 0.0.4); aggregate counts only, no token needed. With a broker,
    also the task queues, leases and workers (as `lastseen workers` shows them, at most 15 s old)."""
    with session_scope(workspace_of(request).sessions) as session:
        body = metrics_text(session, request.app.state.jobs)
    tasks = metrics_lines(request.app.state.worker_view.latest, _escape_label)
    body += "\n".join(tasks) + "\n" if tasks else ""
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
