"""The custody record: an append-only log of who added, captured, exported, re-timestamped or deleted what.

`record` is its one writer; nothing updates or deletes an event (the mapper refuses it). An export carries
the events of what it contains (`custody_lines`), so a third party reads who did what with each file.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from archive.db import copy_rows
from archive.models import CustodyEvent
from archive.timefmt import iso

ADDED, CAPTURED, EXPORTED, TIMESTAMPED, DELETED = "added", "captured", "exported", "timestamped", "deleted"


class CustodyError(Exception):
    """An attempt to change the custody record, which only grows."""


@event.listens_for(CustodyEvent, "before_update")
@event.listens_for(CustodyEvent, "before_delete")
def _append_only(mapper: Any, connection: Any, target: CustodyEvent) -> None:
    raise CustodyError("the custody record is append-only: events are never changed or deleted")


def command_actor(command: str) -> str:
    """Who runs a command on this machine: the OS user and host, and the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}: lastseen {command}"


def subject_hash(subject: str) -> str:
    """The subject's SHA-256: the indexed lookup key (subjects are URLs of any length)."""
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()


def record(session: Session, action: str, actor: str, subjects: Iterable[str], *, collection: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """Append one event per subject, with one statement (a batch of added sources is one COPY on PostgreSQL)."""
    rows = [{"action": action, "actor": actor, "collection": collection, "subject": subject,
             "subject_hash": subject_hash(subject), "detail": detail or {}} for subject in subjects]
    copy_rows(session, CustodyEvent.__table__, rows)


def events_about(session: Session, collection: str, subjects: Sequence[str]) -> list[CustodyEvent]:
    """A collection's events and those about any of subjects (its WARC files), oldest first."""
    hashes = [subject_hash(subject) for subject in subjects]
    query = select(CustodyEvent).where(or_(CustodyEvent.collection == collection,
                                           CustodyEvent.subject_hash.in_(hashes)))
    return list(session.scalars(query.order_by(CustodyEvent.at, CustodyEvent.id)))


def as_dict(item: CustodyEvent) -> dict[str, Any]:
    """An event as custody.jsonl and the API give it."""
    return {"at": iso(item.at), "action": item.action, "actor": item.actor, "collection": item.collection,
            "subject": item.subject, **({"detail": item.detail} if item.detail else {})}


def custody_lines(events: Iterable[CustodyEvent]) -> bytes:
    """custody.jsonl: one JSON event per line."""
    return "".join(json.dumps(as_dict(item), ensure_ascii=False, sort_keys=True) + "\n"
                   for item in events).encode("utf-8")
