"""The record a WACZ carries beside the WARCs so a third party can rebuild the timeline without lastseen's
database: records/sources.jsonl (each source, its first-known evidence and copies), records/checks.jsonl (every
check: when, from where, what it found and why) and records/transitions.jsonl (every status change, with the
checks it rests on). One JSON object a line, sources in id order, checks and transitions in time order.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Check, StatusTransition
from archive.research.facts import DEFAULT_REGION, CheckFact, SourceFacts, TransitionFact, parse_iso
from archive.research.loading import collection_facts
from archive.timefmt import iso

SOURCES_FILE, CHECKS_FILE, TRANSITIONS_FILE = "records/sources.jsonl", "records/checks.jsonl", \
    "records/transitions.jsonl"
RECORD_FILES = (SOURCES_FILE, CHECKS_FILE, TRANSITIONS_FILE)


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


def collection_records(session: Session, collection_id: int) -> list[tuple[str, bytes]]:
    """The record files of a collection, as (name in the WACZ, content); one with nothing to say is left out."""
    sources, checks, transitions = bytearray(), bytearray(), bytearray()
    for batch in collection_facts(session, collection_id):
        urls = {item.id: item.url for item in batch}
        for item in batch:
            sources += _line(item.head())
        for line in _checks(session, urls):
            checks += _line(line)
        for line in _transitions(session, urls):
            transitions += _line(line)
    # An empty file is left out: frictionless (py-wacz's validator) refuses a .jsonl resource with no line.
    files = [(SOURCES_FILE, bytes(sources)), (CHECKS_FILE, bytes(checks)), (TRANSITIONS_FILE, bytes(transitions))]
    return [(name, data) for name, data in files if data]


def _checks(session: Session, urls: dict[int, str]) -> Iterator[dict[str, Any]]:
    for check in session.scalars(select(Check).where(Check.source_id.in_(list(urls)))
                                 .order_by(Check.source_id, Check.checked_at, Check.id)):
        yield {"check_id": check.id, "source_id": check.source_id, "url": urls[check.source_id],
               "at": iso(check.checked_at), "region": check.region or DEFAULT_REGION, "outcome": check.outcome,
               "http_status": check.http_status, "final_url": check.final_url, "detail": check.detail,
               "text_sha256": check.text_sha256, "payload_sha256": check.payload_sha256}


def _transitions(session: Session, urls: dict[int, str]) -> Iterator[dict[str, Any]]:
    for row in session.scalars(select(StatusTransition).where(StatusTransition.source_id.in_(list(urls)))
                               .order_by(StatusTransition.source_id, StatusTransition.at, StatusTransition.id)):
        yield {"transition_id": row.id, "source_id": row.source_id, "url": urls[row.source_id], "at": iso(row.at),
               "kind": row.kind, "from": row.from_status, "to": row.to_status, "reason": row.reason,
               "evidence": row.evidence}


def _lines(package: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with package.open(name) as stream:
        for raw in stream:
            if raw.strip():
                yield json.loads(raw)


def facts_from_wacz(path: Path) -> list[SourceFacts]:
    """The timeline's facts of every source, read back from a WACZ's record files alone (no database; a
    missing checks or transitions file is one with no line); ValueError when it carries no sources file."""
    with zipfile.ZipFile(path) as package:
        names = set(package.namelist())
        if SOURCES_FILE not in names:
            raise ValueError(f"{path.name} carries no {SOURCES_FILE}: exported by an older lastseen, or of a "
                             "collection without sources")
        facts = {item.id: item for item in map(SourceFacts.from_head, _lines(package, SOURCES_FILE))}
        for line in _lines(package, TRANSITIONS_FILE) if TRANSITIONS_FILE in names else ():
            facts[int(line["source_id"])].transitions.append(
                TransitionFact(parse_iso(line["at"]), line["kind"], line["from"], line["to"], line.get("reason")))
        for line in _lines(package, CHECKS_FILE) if CHECKS_FILE in names else ():
            facts[int(line["source_id"])].checks.append(
                CheckFact(parse_iso(line["at"]), line["outcome"], line.get("region") or DEFAULT_REGION))
    return [item.sort() for item in facts.values()]

