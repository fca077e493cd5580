"""Keeping what a video says and shows in the WARC: JSON `metadata` records in a WARC file of their own.

Kept the way every WARC file is (crawler.upload.WarcStore, which a stage may not import): stored with its CDXJ
index, named by a `captured` custody event for each collection it holds records of, then stamped by the TSAs
configured. Only once the file is stored are its videos' rows written (the callbacks), so a row always points
at stored bytes; a file whose storing failed stays in the spool and is stored by the next round.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from archive import __version__
from archive.db import session_scope
from archive.evidence import CAPTURED, TimestampError, authorities, record, stamp_file
from archive.storage import StorageError, warc_key
from archive.warc import ClosedWarc, PreparedRecord, RollingWarcWriter, salvage, write_index
from archive.workspace import Workspace

logger = logging.getLogger(__name__)
PREFIX = "lastseen-words.text"  # a '.' no collection's spool prefix has: crawls' salvage never takes these files


class TextFiles:
    """The rolling WARC file of a round's text records; each closed file is kept, then its callbacks run."""

    def __init__(self, ws: Workspace, actor: str) -> None:
        self.ws, self.actor = ws, actor
        settings = ws.settings
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.tsas = list(authorities(settings))
        except TimestampError as exc:
            logger.error("text files will not be timestamped now: %s", exc)
            self.tsas = []
        self.waiting: list[tuple[str, str | None, Callable[[str], None]]] = []
        for left in (salvage(path) for path in sorted(settings.spool_dir.glob(PREFIX + "-*.warc.gz*"))):
            if left is not None:
                self._keep(left, [])
        warcinfo = {"software": f"lastseen/{__version__}", "format": "WARC File Format 1.1",
                    "operator": settings.operator or "unknown", "hostname": socket.gethostname(),
                    "description": "what kept videos say and show: transcripts and on-screen text"}
        self.writer = RollingWarcWriter(settings.spool_dir, prefix=PREFIX, max_size=settings.warc_max_size,
                                        warcinfo=warcinfo, on_close=self._closed)

    def add(self, prepared: PreparedRecord, collection: str | None, stored: Callable[[str], None]) -> None:
        """Append a record; `stored(uri)` runs once its file is kept."""
        info = self.writer.append(prepared)
        self.waiting.append((info.file_name, collection, stored))

    def close(self) -> None:
        """Keep the last file."""
        self.writer.close()

    def _closed(self, closed: ClosedWarc) -> None:
        mine = [item for item in self.waiting if item[0] == closed.path.name]
        self.waiting = [item for item in self.waiting if item[0] != closed.path.name]
        self._keep(closed, mine)

    def _keep(self, closed: ClosedWarc, items: list[tuple[str, str | None, Callable[[str], None]]]) -> None:
        """Store the file and its index, record it in custody, run what waited for it, stamp it."""
        try:
            now = datetime.now(UTC)
            cdxj = write_index(closed)
            self.ws.storage.put_file(warc_key(cdxj.name, now), cdxj, "application/x-cdxj")
            stored = self.ws.storage.put_file(warc_key(closed.path.name, now), closed.path, "application/warc")
            cdxj.unlink(missing_ok=True)
        except (StorageError, OSError) as exc:
            logger.error("text file %s stays in the spool: %s", closed.path, exc)
            return
        with session_scope(self.ws.sessions) as session:
            for collection in sorted({item[1] for item in items}, key=str) or [None]:
                record(session, CAPTURED, self.actor, [stored.uri], collection=collection,
                       detail={"sha256": stored.sha256, "size": stored.size, "records": closed.records})
        for item in items:
            item[2](stored.uri)
        Path(closed.path).unlink(missing_ok=True)
        if self.tsas:
            for outcome in stamp_file(self.ws, stored.uri, self.ws.storage.read(stored.key), self.tsas, self.actor):
                if not outcome.ok:
                    logger.warning("timestamping %s: %s (asked again by `lastseen timestamp`)", stored.uri,
                                   outcome.detail)
