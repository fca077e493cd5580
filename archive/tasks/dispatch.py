"""The scheduler's side with a broker: decide what is due, lease it, and queue it in batches for the workers.

Leases are written and committed before the messages are sent, so a worker always finds the lease its task
names; work already leased (queued or under way) is not queued again until its lease runs out. When the broker
cannot be reached, the leases of the tasks not sent are dropped, and the next round queues their work again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from archive.db import session_scope
from archive.due import captures_due, checks_due
from archive.models import Collection, utcnow
from archive.tasks import leases
from archive.tasks.app import check_queue, send
from archive.vocab import CaptureMode, capture_mode
from archive.workspace import Workspace

QUEUED_LEASES = 6  # queued work waits this many task_lease periods before it is queued again (a lost message)


def _queue(ws: Workspace, kind: str, batches: Sequence[Sequence[str]], now: datetime,
           extra: Sequence[Any] = ()) -> int:
    """Lease each batch of keys to a new task, commit, then send the tasks; how many were sent."""
    tasks = [(str(uuid.uuid4()), list(batch)) for batch in batches if batch]
    if not tasks:
        return 0
    with session_scope(ws.sessions) as session:
        for task_id, keys in tasks:
            leases.grant(session, kind, keys, task_id, now, ws.settings.task_lease * QUEUED_LEASES)
    sent = 0
    try:
        for task_id, keys in tasks:
            send(ws.settings, kind, task_id, [keys, *extra])
            sent += 1
    except Exception:
        with session_scope(ws.sessions) as session:
            leases.forget(session, kind, [task_id for task_id, _ in tasks[sent:]])
        raise
    return len(tasks)


def _batches(keys: Sequence[str], size: int) -> list[Sequence[str]]:
    size = max(1, size)
    return [keys[start:start + size] for start in range(0, len(keys), size)]


def queue_checks(ws: Workspace, now: datetime | None = None) -> dict[str, Any]:
    """Lease and queue the due sources nobody holds (at most schedule_batch), task_batch per task.

    A source of a collection that asks for regions goes to each region's queue (check.<region>), leased per
    region, so every region checks it once; the others go to `check`, as before regions.
    """
    from archive.sources.regions import source_regions

    now = now or utcnow()
    with session_scope(ws.sessions) as session:
        leases.prune(session, now)
        kinds = {"check"} | {check_queue(region) for (regions,) in session.execute(select(Collection.regions))
                             for region in regions or ()}
        held = {kind: leases.held_keys(session, kind, now) for kind in kinds}
        busy = set().union(*held.values())
        due = checks_due(session, now, ws.settings.schedule_batch + len(busy))
        regions = source_regions(session, due)
    by_queue: dict[str, list[str]] = {}
    queued = 0
    for source_id in due:
        key = str(source_id)
        free = [queue for queue in [check_queue(r) for r in regions.get(source_id, ())] or ["check"]
                if key not in held.get(queue, set())]
        if not free or queued >= ws.settings.schedule_batch:
            continue
        queued += 1
        for queue in free:
            by_queue.setdefault(queue, []).append(key)
    tasks = sum(_queue(ws, queue, _batches(keys, ws.settings.task_batch), now, [] if queue == "check" else [queue])
                for queue, keys in sorted(by_queue.items()))
    return {"queued": queued, "tasks": tasks}


def capture_batches(ws: Workspace, now: datetime, held: set[str]) -> list[tuple[str, list[str]]]:
    """(collection, source ids) to queue for capture, as archive.due decides (new, changed, media missing), less
    those held: per collection, task_batch to a task, at most schedule_batch tasks."""
    limit = ws.settings.schedule_batch
    with session_scope(ws.sessions) as session:
        owed = captures_due(session, now, ws.settings.capture_retry, limit=limit + len(held))
    by_collection: dict[str, list[str]] = {}
    for work in owed:
        if str(work.source_id) not in held:
            by_collection.setdefault(work.collection, []).append(str(work.source_id))
    return [(collection, list(batch)) for collection, keys in sorted(by_collection.items())
            for batch in _batches(list(dict.fromkeys(keys)), ws.settings.task_batch)][:max(1, limit)]


def queue_captures(ws: Workspace, now: datetime | None = None) -> dict[str, Any]:
    """Lease and queue the capture work nobody holds, per collection: a collection captured in a browser goes to
    the `browser` queue (workers with Chromium: `lastseen worker --queues browser`), the others to `capture`."""
    now = now or utcnow()
    with session_scope(ws.sessions) as session:
        held = leases.held_keys(session, "capture", now) | leases.held_keys(session, "browser", now)
        modes = dict(session.execute(select(Collection.name, Collection.capture_mode)).all())
    batches = capture_batches(ws, now, held)
    by_queue: dict[str, list[list[str]]] = {"capture": [], "browser": []}
    for collection, batch in batches:
        browser = capture_mode(modes.get(collection), ws.settings.capture) == CaptureMode.BROWSER
        by_queue["browser" if browser else "capture"].append(batch)
    return {"queued": sum(len(batch) for _, batch in batches),
            "tasks": sum(_queue(ws, queue, queued, now) for queue, queued in by_queue.items())}


def queue_singleton(ws: Workspace, kind: str, key: str, extra: Sequence[Any] = (),
                    now: datetime | None = None) -> dict[str, Any]:
    """Queue the one task of a kind that works on a whole queue (Wayback drain, alert delivery), unless one is
    queued or under way already."""
    now = now or utcnow()
    with session_scope(ws.sessions) as session:
        busy = key in leases.held_keys(session, kind, now)
    return {"tasks": 0 if busy else _queue(ws, kind, [[key]], now, extra)}
