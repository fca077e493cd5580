"""Leases on work in the database: queued once by the scheduler, done once by whichever worker claims it.

A lease is a ``task_lease`` row per (kind, key): a source id for checks and captures, ``drain`` for the
Wayback queue, ``deliver`` for alerts. ``grant`` writes rows for keys nobody holds, naming the task that will
do them; ``claim`` lets one run of that task take them (two deliveries of one message: the second finds them
held); ``release`` ends the lease when the work is stored. A row past its ``expires_at`` (its worker died, or
its message was lost) is free: the scheduler hands its key out again to a new task. While a run works, a
``Heartbeat`` renews what it holds every third of ``task_lease``, so a lease outlives any batch but not its
worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.db import session_scope
from archive.models import TaskLease, utcnow

logger = logging.getLogger("lastseen.tasks")

_IN_BATCH = 500


def _batches(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), _IN_BATCH):
        yield keys[start:start + _IN_BATCH]


def held_keys(session: Session, kind: str, now: datetime) -> set[str]:
    """Keys of this kind queued or under way now (their lease has not run out)."""
    return set(session.scalars(select(TaskLease.key).where(TaskLease.kind == kind, TaskLease.expires_at > now)))


def grant(session: Session, kind: str, keys: Sequence[str], task_id: str, now: datetime, ttl: float) -> None:
    """Lease these keys (nobody may hold them now) to the task that will be sent with task_id, for ttl seconds
    while its message waits (the broker keeps it; this only covers a message lost with a broker's disk).

    Only the scheduler that leads the job grants, so no two grants race; a run-out row is replaced.
    """
    for batch in _batches(list(keys)):
        session.execute(delete(TaskLease).where(TaskLease.kind == kind, TaskLease.key.in_(batch),
                                                TaskLease.expires_at <= now))
    session.add_all(TaskLease(kind=kind, key=key, task_id=task_id, holder=None, queued_at=now,
                              expires_at=now + timedelta(seconds=ttl)) for key in keys)


def forget(session: Session, kind: str, task_ids: Sequence[str]) -> None:
    """Drop the unclaimed leases of tasks never sent (the broker was away): their keys are free at once."""
    for batch in _batches(list(task_ids)):
        session.execute(delete(TaskLease).where(TaskLease.kind == kind, TaskLease.task_id.in_(batch),
                                                TaskLease.holder.is_(None)))


def claim(sessions: sessionmaker[Session], kind: str, task_id: str, holder: str, now: datetime,
          ttl: float) -> dict[str, datetime]:
    """Take the task's keys that no live run holds; key -> when it was queued. One UPDATE, so of two runs of
    one task (a message delivered twice) only one gets each key."""
    with session_scope(sessions) as session:
        session.execute(update(TaskLease)
                        .where(TaskLease.kind == kind, TaskLease.task_id == task_id,
                               or_(TaskLease.holder.is_(None), TaskLease.expires_at <= now))
                        .values(holder=holder, expires_at=now + timedelta(seconds=ttl))
                        .execution_options(synchronize_session=False))
    with session_scope(sessions) as session:
        return dict(session.execute(select(TaskLease.key, TaskLease.queued_at).where(
            TaskLease.kind == kind, TaskLease.task_id == task_id, TaskLease.holder == holder)).all())


def release(sessions: sessionmaker[Session], kind: str, keys: Iterable[str], holder: str) -> None:
    """End the leases this run holds on these keys: their work is stored."""
    with session_scope(sessions) as session:
        for batch in _batches(list(keys)):
            session.execute(delete(TaskLease).where(TaskLease.kind == kind, TaskLease.key.in_(batch),
                                                    TaskLease.holder == holder))


def renew(sessions: sessionmaker[Session], task_id: str, holder: str, now: datetime, ttl: float) -> int:
    """Push back the end of every live lease this run holds to now + ttl; how many.

    A lease already run out is left alone: the scheduler may be handing its key to a new task.
    """
    with session_scope(sessions) as session:
        return session.execute(update(TaskLease)
                               .where(TaskLease.task_id == task_id, TaskLease.holder == holder,
                                      TaskLease.expires_at > now)
                               .values(expires_at=now + timedelta(seconds=ttl))
                               .execution_options(synchronize_session=False)).rowcount or 0


class Heartbeat:
    """While a run works (``with Heartbeat(...)``), a thread renews its leases every ttl/3 seconds."""

    def __init__(self, sessions: sessionmaker[Session], task_id: str, holder: str, ttl: float) -> None:
        self.sessions, self.task_id, self.holder, self.ttl = sessions, task_id, holder, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{holder}", daemon=True)

    def _beat(self) -> None:
        """Renew until stopped; a failed renewal (database away for a moment) is tried again next beat."""
        while not self._stop.wait(self.ttl / 3):
            try:
                renew(self.sessions, self.task_id, self.holder, utcnow(), self.ttl)
            except Exception:
                logger.warning("could not renew the leases of %s", self.holder, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hand_back(sessions: sessionmaker[Session], kind: str, keys: Iterable[str], holder: str, now: datetime,
              ttl: float) -> None:
    """Give up the hold on these keys but keep them leased to the task, for its retry to claim."""
    with session_scope(sessions) as session:
        for batch in _batches(list(keys)):
            session.execute(update(TaskLease).where(TaskLease.kind == kind, TaskLease.key.in_(batch),
                                                    TaskLease.holder == holder)
                            .values(holder=None, expires_at=now + timedelta(seconds=ttl))
                            .execution_options(synchronize_session=False))


def let_go(sessions: sessionmaker[Session], holder_prefix: str, now: datetime) -> int:
    """Run out every lease held by runs named `holder_prefix...` (a stopping worker's), so their keys are handed
    out again at once instead of after ``task_lease``; how many."""
    with session_scope(sessions) as session:
        return session.execute(update(TaskLease).where(TaskLease.holder.startswith(holder_prefix, autoescape=True),
                                                       TaskLease.expires_at > now)
                               .values(expires_at=now).execution_options(synchronize_session=False)).rowcount or 0


def counts(session: Session, now: datetime) -> dict[str, dict[str, int]]:
    """kind -> queued / running / expired lease counts, for `lastseen workers`."""
    out: dict[str, dict[str, int]] = {}
    for kind, holder, expires_at in session.execute(select(TaskLease.kind, TaskLease.holder, TaskLease.expires_at)):
        state = "expired" if expires_at <= now else ("running" if holder else "queued")
        row = out.setdefault(kind, {"queued": 0, "running": 0, "expired": 0})
        row[state] += 1
    return out


def prune(session: Session, now: datetime) -> int:
    """Delete run-out leases whose work is no longer due (their keys are not handed out again)."""
    return session.execute(delete(TaskLease).where(TaskLease.expires_at <= now)).rowcount or 0
