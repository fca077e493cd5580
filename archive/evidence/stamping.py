"""Getting and keeping timestamp tokens of stored WARC files: ``<key>.tsr`` in storage, a row in the database.

A TSA that fails costs nothing but a line in the outcomes: the file keeps no token from it, and the next
`lastseen timestamp` (or scheduler round) asks again, since it asks every TSA that has not stamped a file yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from archive.db import session_scope
from archive.errors import NotFound
from archive.evidence.custody import CAPTURED, TIMESTAMPED, record
from archive.evidence.timestamps import Stamp, TimestampAuthority, TimestampError
from archive.models import Capture, Collection, CustodyEvent, Source, TimestampToken
from archive.storage import Storage, StorageError
from archive.timefmt import iso
from archive.workspace import Workspace

WARC_PREFIX = "warc/"


@dataclass(frozen=True)
class StampOutcome:
    """What one TSA did for one file: a token kept (its storage key) or why not."""

    file_uri: str
    tsa_url: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, str | bool]:
        return {"file": self.file_uri, "tsa": self.tsa_url, "ok": self.ok, "detail": self.detail}


def token_keys(storage: Storage, key: str) -> list[str]:
    """Keys of the tokens kept beside a stored file: ``<key>.tsr``, then ``<key>.2.tsr``, ``<key>.3.tsr``..."""
    pattern = re.compile(re.escape(key) + r"(\.\d+)?\.tsr")
    return [found for found in storage.keys(key + ".") if pattern.fullmatch(found)]


def _free_token_key(storage: Storage, key: str) -> str:
    """The first token key beside a file not yet taken (one file may have tokens from several TSAs)."""
    candidate, number = f"{key}.tsr", 1
    while storage.exists(candidate):
        number += 1
        candidate = f"{key}.{number}.tsr"
    return candidate


def keep_stamp(ws: Workspace, file_uri: str, file_sha256: str, stamp: Stamp, actor: str) -> str:
    """Store a granted token beside its file and record it (a row, a custody event); the token's storage key."""
    key = _free_token_key(ws.storage, ws.storage.key_of(file_uri))
    stored = ws.storage.put_bytes(key, stamp.der, "application/timestamp-reply")
    with session_scope(ws.sessions) as session:
        session.add(TimestampToken(file_uri=file_uri, file_sha256=file_sha256, tsa_url=stamp.tsa_url,
                                   token_uri=stored.uri, token_sha256=stored.sha256, token_size=stored.size,
                                   gen_time=stamp.gen_time))
        record(session, TIMESTAMPED, actor, [file_uri],
               detail={"sha256": file_sha256, "tsa": stamp.tsa_url, "token": stored.uri, "time": iso(stamp.gen_time)})
    return key


def stamp_file(ws: Workspace, file_uri: str, data: bytes, tsas: Sequence[TimestampAuthority],
               actor: str = "lastseen timestamp") -> list[StampOutcome]:
    """Ask each TSA for a token of a stored file's bytes and keep each one granted; never raises for a TSA."""
    sha256 = hashlib.sha256(data).hexdigest()
    outcomes = []
    for tsa in tsas:
        try:
            stamp = tsa.stamp(data)
        except TimestampError as exc:
            outcomes.append(StampOutcome(file_uri, tsa.url, False, str(exc)))
            continue
        outcomes.append(StampOutcome(file_uri, tsa.url, True, keep_stamp(ws, file_uri, sha256, stamp, actor)))
    return outcomes


def stamp_local(path: Path, tsas: Sequence[TimestampAuthority]) -> list[StampOutcome]:
    """Tokens of a local file (an export) from each TSA, beside it: ``FILE.tsr``, ``FILE.2.tsr``...; never raises
    for a TSA. Written whole or not at all (the file is renamed into place)."""
    data = path.read_bytes()
    outcomes = []
    for tsa in tsas:
        try:
            stamp = tsa.stamp(data)
        except TimestampError as exc:
            outcomes.append(StampOutcome(str(path), tsa.url, False, str(exc)))
            continue
        number = 1 + sum(outcome.ok for outcome in outcomes)
        token = path.with_name(f"{path.name}.tsr" if number == 1 else f"{path.name}.{number}.tsr")
        partial = token.with_name(f".{token.name}.tmp")
        partial.write_bytes(stamp.der)
        partial.replace(token)
        outcomes.append(StampOutcome(str(path), tsa.url, True, str(token)))
    return outcomes


def collection_warc_uris(ws: Workspace, collection: str) -> list[str]:
    """The WARC files holding a collection's records, oldest first: its captures' files, and every other file the
    custody record says was stored for it (its pages' metadata, files salvaged from a crawl that died)."""
    with session_scope(ws.sessions) as session:
        if session.scalar(select(Collection.id).where(Collection.name == collection)) is None:
            raise NotFound(f"no collection named {collection!r}")
        first = func.min(Capture.captured_at)
        captured = session.execute(select(Capture.warc_uri, first).join(Source).join(Collection)
                                   .where(Collection.name == collection).group_by(Capture.warc_uri)).all()
        stored = session.execute(select(CustodyEvent.subject, func.min(CustodyEvent.at))
                                 .where(CustodyEvent.collection == collection, CustodyEvent.action == CAPTURED)
                                 .group_by(CustodyEvent.subject)).all()
    since = dict(stored) | dict(captured)
    return sorted(since, key=lambda uri: (since[uri], uri))


def stored_warc_uris(ws: Workspace, collection: str | None = None) -> list[str]:
    """The stored WARC files: a collection's (collection_warc_uris), or every one in storage or the database."""
    if collection is not None:
        return sorted(collection_warc_uris(ws, collection))
    with session_scope(ws.sessions) as session:
        uris = set(session.scalars(select(Capture.warc_uri).distinct()))
    uris.update(ws.storage.uri(key) for key in ws.storage.keys(WARC_PREFIX) if key.endswith(".warc.gz"))
    return sorted(uris)


def timestamp_stored(ws: Workspace, tsas: Sequence[TimestampAuthority], collection: str | None = None,
                     actor: str = "lastseen timestamp") -> list[StampOutcome]:
    """Ask the TSAs for tokens of stored WARC files that none has stamped yet (failed TSAs are asked again).

    Each file is read whole once (rfc3161-client hashes the bytes itself); files roll at LASTSEEN_WARC_MAX_SIZE.
    """
    outcomes: list[StampOutcome] = []
    for uri in stored_warc_uris(ws, collection):
        with session_scope(ws.sessions) as session:
            done = set(session.scalars(select(TimestampToken.tsa_url).where(TimestampToken.file_uri == uri)))
        missing = [tsa for tsa in tsas if tsa.url not in done]
        if not missing:
            continue
        try:
            data = ws.storage.read(ws.storage.key_of(uri))
        except StorageError as exc:
            outcomes += [StampOutcome(uri, tsa.url, False, str(exc)) for tsa in missing]
            continue
        outcomes += stamp_file(ws, uri, data, missing, actor)
    return outcomes
