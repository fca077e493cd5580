"""What a worker does with each task: claim the task's leases, redo nothing already stored, do the rest.

Each body takes the task's id, a holder name unique to this run, and the keys it was sent with; it claims
the leases (a second delivery of the message finds them held, or gone once the work is stored), drops what
became done since it was queued (a source checked or captured since), does the work with the stage's own
code, and releases the leases only after the results are stored. A heartbeat renews the leases while the run
works, however long its batch; a run that dies leaves them to run out (``task_lease``), and the scheduler
hands what is still due to a new task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from sqlalchemy import exists, select

from archive.db import session_scope
from archive.due import captures_due
from archive.models import Check, Source, utcnow
from archive.sources.regions import in_region
from archive.spawn import run_lastseen
from archive.tasks import leases
from archive.workspace import Workspace

logger = logging.getLogger("lastseen.tasks")

CRAWL_TIMEOUT = 6 * 3600
BUSY = "another crawl of collection"  # what `lastseen crawl` says when the collection's crawl lock is held


class CollectionBusy(Exception):
    """A crawl of the collection is running elsewhere (crawls of one collection take turns): try later."""


@dataclass(frozen=True)
class Run:
    """One run of one task: where it works, the task's id, and the name its leases are held under."""

    ws: Workspace
    task_id: str
    holder: str

    def claim(self, kind: str) -> dict[str, datetime]:
        """The task's keys this run now holds, with when each was queued."""
        return leases.claim(self.ws.sessions, kind, self.task_id, self.holder, utcnow(), self.ws.settings.task_lease)

    def release(self, kind: str, keys: Sequence[str]) -> None:
        """The work on these keys is stored."""
        leases.release(self.ws.sessions, kind, keys, self.holder)


def renewing(body: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Run a task's body with a heartbeat renewing whatever leases the run holds."""

    @wraps(body)
    def run_renewing(run: Run, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with leases.Heartbeat(run.ws.sessions, run.task_id, run.holder, run.ws.settings.task_lease):
            return body(run, *args, **kwargs)

    return run_renewing


@renewing
def check_batch(run: Run, kind: str = "check") -> dict[str, Any]:
    """Check the task's sources not checked since they were queued (for check.<region>: not from that region)."""
    from archive.watch.check import check_sources

    claimed = run.claim(kind)
    if not claimed:
        return {"checked": 0, "claimed": 0}
    queued = min(claimed.values())
    _, _, region = kind.partition(".")
    not_since = ((Source.last_checked_at.is_(None)) | (Source.last_checked_at < queued)) if not region else \
        ~exists().where(Check.source_id == Source.id, in_region(region), Check.checked_at >= queued)
    with session_scope(run.ws.sessions) as session:
        ids = list(session.scalars(select(Source.id).where(Source.id.in_([int(key) for key in claimed]), not_since)))
    summary = check_sources(run.ws, ids) if ids else None
    run.release(kind, list(claimed))
    return {"claimed": len(claimed), "checked": summary.checked if summary else 0}


@renewing
def capture_batch(run: Run, kind: str = "capture") -> dict[str, Any]:
    """Crawl the task's sources whose capture work archive.due still owes (a capture's time is its fetch's, so
    "captured since queued" would miss a slow crawl's captures), one crawl child per collection. A source owed
    only its video's media is handed to its collection's crawl too: the crawl fetches the media it finds missing.
    kind: the queue (and lease kind) the task came from, `capture` or `browser` (collections captured in a
    browser, for workers that have one)."""
    claimed = run.claim(kind)
    if not claimed:
        return {"captured": 0, "claimed": 0}
    ids = [int(key) for key in claimed]
    with session_scope(run.ws.sessions) as session:
        owed = captures_due(session, utcnow(), run.ws.settings.capture_retry, source_ids=ids)
    by_collection: dict[str, dict[int, str]] = {}
    for work in sorted(owed, key=lambda work: (work.collection, work.source_id)):
        by_collection.setdefault(work.collection, {})[work.source_id] = work.url
    done = [key for key in claimed if int(key) not in {work.source_id for work in owed}]
    results = []
    for collection, sources in by_collection.items():
        crawl = run_lastseen(run.ws.settings, ["crawl", "--json", "-c", collection, "--only-due", *sources.values()],
                             timeout=CRAWL_TIMEOUT, die_with_parent=True)
        if crawl.returncode == 2 and BUSY in crawl.stderr:
            run.release(kind, done)
            leases.hand_back(run.ws.sessions, kind, [str(sid) for sid in sources], run.holder, utcnow(),
                             run.ws.settings.task_lease)
            raise CollectionBusy(collection)
        if crawl.returncode not in (0, 1):
            logger.warning("crawl of %s ended with %d: %s", collection, crawl.returncode,
                           (crawl.stderr.strip().splitlines() or [""])[-1])
        done += [str(sid) for sid in sources]
        results.append({"collection": collection, "urls": len(sources), "exit": crawl.returncode})
    run.release(kind, done)
    return {"claimed": len(claimed), "crawls": results}


def wayback_work(ws: Workspace, recover: Sequence[int]) -> dict[str, Any]:
    """The Wayback round, in the scheduler or a worker: drain the queue (its rows are claimed by their own
    state) and look for recovery copies of these vanished sources."""
    from archive.wayback.lookups import recover_sources
    from archive.wayback.queue import drain

    summary = drain(ws)
    recovered = recover_sources(ws, list(recover)) if recover else []
    return {"submitted": len(summary.items), "recovery_lookups": len(recovered)}


def alert_work(ws: Workspace) -> dict[str, Any]:
    """The alert round, in the scheduler or a worker: make alerts for new transitions and deliver what is due
    (deliveries are claimed row by row)."""
    from archive.watch.alerts import create_alerts
    from archive.watch.deliver import deliver

    with session_scope(ws.sessions) as session:
        made = create_alerts(session)
    result = deliver(ws)
    if made:
        logger.info("%d new alert(s)", made)
    return {"created": made, **result}


@renewing
def wayback_round(run: Run, recover: Sequence[int]) -> dict[str, Any]:
    """The Wayback round for the task that holds it."""
    if not run.claim("wayback"):
        return {"submitted": 0, "claimed": 0}
    result = wayback_work(run.ws, recover)
    run.release("wayback", ["drain"])
    return result


@renewing
def alerts_round(run: Run) -> dict[str, Any]:
    """The alert round for the task that holds it."""
    if not run.claim("alerts"):
        return {"created": 0, "claimed": 0}
    result = alert_work(run.ws)
    run.release("alerts", ["deliver"])
    return result


@renewing
def feeds_round(run: Run) -> dict[str, Any]:
    """Read the feeds and sitemaps that are due; their new entries become sources."""
    from archive.sources.subscriptions import poll_due

    if not run.claim("feeds"):
        return {"polled": 0, "claimed": 0}
    results = poll_due(run.ws)
    run.release("feeds", ["poll"])
    return {"polled": len(results), "added": sum(len(result.added) for result in results)}


def transcribe_work(ws: Workspace) -> dict[str, Any]:
    """The words round, in the scheduler or a worker: transcribe and read the on-screen text of kept videos not
    read yet (a source that is off is None; a model or Tesseract that cannot work is logged, nothing read)."""
    from archive.words.round import WordsSetupError, read_words, tally_fields

    try:
        tallies = read_words(ws, actor="lastseen transcribe task")
    except WordsSetupError as exc:
        logger.error("kept videos are not read: %s", exc)
        return {"error": str(exc)}
    return {name: tally_fields(tally) for name, tally in tallies.items()}


@renewing
def transcribe_round(run: Run) -> dict[str, Any]:
    """The words round for the task that holds it."""
    if not run.claim("transcribe"):
        return {"claimed": 0}
    result = transcribe_work(run.ws)
    run.release("transcribe", ["read"])
    return result


def footage_work(ws: Workspace) -> dict[str, Any]:
    """The footage round, in the scheduler or a worker: fingerprint newly kept videos and images (in a pool of
    processes), compare them, search for vanished videos' footage, make the reappearance alerts."""
    from archive.footage.round import footage_work as run_round

    return run_round(ws)


@renewing
def footage_round(run: Run) -> dict[str, Any]:
    """The footage round for the task that holds it."""
    if not run.claim("footage"):
        return {"claimed": 0}
    result = footage_work(run.ws)
    run.release("footage", ["match"])
    return result
