"""Keeping what a video says and shows in the WARC: JSON `metadata` records in a WARC file of their own.

Kept the one way every WARC file is (archive.evidence.keeping.WarcStore): stored with its CDXJ index, named by a
`captured` custody event for each collection it holds records of, then stamped by the TSAs configured. Only
once the file is stored are its videos' rows written (the callbacks), so a row always points at stored bytes; a
file whose storing failed stays in the spool and is stored by the next round.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from archive import __version__
from archive.evidence.keeping import Timestamper, WarcStore
from archive.storage import StorageError
from archive.warc import ClosedWarc, PreparedRecord, RollingWarcWriter, salvage
from archive.workspace import Workspace

logger = logging.getLogger(__name__)
PREFIX = "lastseen-words.text"  # a '.' no collection's spool prefix has: crawls' salvage never takes these files


class TextFiles:
    """The rolling WARC file of a round's text records; each closed file is kept, then its callbacks run."""

    def __init__(self, ws: Workspace, actor: str) -> None:
        settings = ws.settings
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self.stamper = Timestamper(ws, actor)
        self.stamper.start()
        self.store = WarcStore(ws, actor, self.stamper)
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
        """Keep the last file, and wait for the timestamps of the round's files."""
        try:
            self.writer.close()
        finally:
            self.stamper.finish()

    def _closed(self, closed: ClosedWarc) -> None:
        mine = [item for item in self.waiting if item[0] == closed.path.name]
        self.waiting = [item for item in self.waiting if item[0] != closed.path.name]
        self._keep(closed, mine)

    def _keep(self, closed: ClosedWarc, items: list[tuple[str, str | None, Callable[[str], None]]]) -> None:
        """Keep the file; then run what waited for it."""
        def recorded(uri: str) -> None:
            for item in items:
                item[2](uri)

        try:
            self.store.keep(closed, sorted({item[1] for item in items}, key=str) or [None], recorded)
        except (StorageError, OSError) as exc:
            logger.error("text file %s stays in the spool: %s", closed.path, exc)
