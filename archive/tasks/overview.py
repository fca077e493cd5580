"""What the workers are doing, for `lastseen workers`: queue depths from the broker, workers and their counts
from Celery's inspect (the `lastseen_stats` command every worker answers), and the leases in the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archive.db import session_scope
from archive.models import utcnow
from archive.tasks import leases
from archive.tasks.app import QUEUES, app_for
from archive.workspace import Workspace


def queue_depths(app: Any, queues: Sequence[str] = QUEUES) -> dict[str, dict[str, int | None]]:
    """queue -> messages waiting and consumers, asked of the broker (None for a queue not declared yet)."""
    depths: dict[str, dict[str, int | None]] = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for queue in queues:
            try:
                _, messages, consumers = channel.queue_declare(queue=queue, passive=True)
            except Exception:  # the broker says the queue does not exist (and closes the channel)
                channel = connection.channel()
                messages, consumers = None, None
            depths[queue] = {"messages": messages, "consumers": consumers}
    return depths


def workers_seen(app: Any, timeout: float = 1.0) -> list[dict[str, Any]]:
    """Every worker that answers within timeout: name, region, pid, tasks done/failed by kind, active tasks."""
    replies = app.control.broadcast("lastseen_stats", reply=True, timeout=timeout) or []
    active = app.control.inspect(timeout=timeout).active() or {}
    seen = []
    for reply in replies:
        for name, stats in reply.items():
            if isinstance(stats, dict) and "tasks" in stats:
                seen.append({"name": name, "region": stats.get("region") or None, "pid": stats.get("pid"),
                             "tasks": stats["tasks"], "active": len(active.get(name) or [])})
    return sorted(seen, key=lambda worker: worker["name"])


def overview(ws: Workspace) -> dict[str, Any]:
    """Queues, workers and leases together."""
    app = app_for(ws.settings)
    with session_scope(ws.sessions) as session:
        held = leases.counts(session, utcnow())
    regional = sorted(kind for kind in held if kind not in QUEUES)  # check.<region> queues with work
    return {"queues": queue_depths(app, [*QUEUES, *regional]), "workers": workers_seen(app), "leases": held}
