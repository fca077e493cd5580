"""Keeping a closed WARC file: the one way every WARC file is kept, whoever wrote it (a crawl, the page
descriptions, the words stage's text records).

A closed file is stored with its CDXJ index (`store_warc`), the custody record gets a `captured` event naming
it for each collection it holds records of, what waited for it is recorded, and only then is it removed from the
spool and handed to the Timestamper, which stamps stored files by the TSAs of LASTSEEN_TSA_URLS on a thread of
its own: a slow or failing TSA only logs (`lastseen timestamp` and the scheduler's `timestamp` job ask again),
and never holds up what is being kept.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from archive.db import session_scope
from archive.evidence.custody import CAPTURED, record
from archive.evidence.stamping import stamp_file
from archive.evidence.timestamps import TimestampAuthority, TimestampError, authorities
from archive.storage import StoredObject, warc_key
from archive.warc import ClosedWarc, write_index
from archive.workspace import Workspace

logger = logging.getLogger(__name__)


def _uncounted(kept: int, failed: int) -> None:
    """What a Timestamper does with its counts when nobody counts them."""


class Timestamper:
    """Stamps stored files one after another on a thread; idle (no thread) when no TSA is configured."""

    def __init__(self, ws: Workspace, actor: str, counted: Callable[[int, int], None] = _uncounted) -> None:
        self.ws, self.actor, self.counted = ws, actor, counted
        self._tsas: list[TimestampAuthority] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Read the configured TSAs and start the thread when there are any."""
        try:
            self._tsas = list(authorities(self.ws.settings))
        except TimestampError as exc:
            logger.error("stored WARC files will not be timestamped now: %s", exc)
        if self._tsas:
            self._thread = threading.Thread(target=self._loop, name="warc-timestamp", daemon=True)
            self._thread.start()

    def put(self, uri: str) -> None:
        """Queue a stored file for its timestamps."""
        if self._tsas:
            self._queue.put(uri)

    def finish(self) -> None:
        """Wait until every queued file is stamped (or has failed)."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while (uri := self._queue.get()) is not None:
            self._stamp(uri)

    def _stamp(self, uri: str) -> None:
        """Ask every TSA for a token of one stored file; what fails is logged and asked again later."""
        key = self.ws.storage.key_of(uri)
        try:
            outcomes = stamp_file(self.ws, uri, self.ws.storage.read(key), self._tsas, self.actor)
        except Exception as exc:  # the database or storage failed: the file is asked for again later
            logger.error("timestamping %s failed (asked again by `lastseen timestamp`): %s", key, exc)
            self.counted(0, len(self._tsas))
            return
        for outcome in outcomes:
            if not outcome.ok:
                logger.warning("timestamping %s: %s (asked again by `lastseen timestamp`)", key, outcome.detail)
        kept = sum(outcome.ok for outcome in outcomes)
        self.counted(kept, len(outcomes) - kept)


def store_warc(ws: Workspace, closed: ClosedWarc) -> StoredObject:
    """Store a closed file and its CDXJ index; the stored file. Raises StorageError or OSError.

    The file is uploaded while its index is built and uploaded beside it: the last file of a crawl is stored
    after its last download, so both waits would add up in the crawl's time.
    """
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warc-put") as pool:
        warc = pool.submit(ws.storage.put_file, warc_key(closed.path.name, now), closed.path, "application/warc")
        cdxj = write_index(closed)
        ws.storage.put_file(warc_key(cdxj.name, now), cdxj, "application/x-cdxj")
        stored = warc.result()
    cdxj.unlink(missing_ok=True)
    return stored


class WarcStore:
    """The one way a closed WARC file is kept: stored with its index, in the custody record, then stamped."""

    def __init__(self, ws: Workspace, actor: str, stamper: Timestamper) -> None:
        self.ws, self.actor, self.stamper = ws, actor, stamper

    def keep(self, closed: ClosedWarc, collections: Iterable[str | None],
             recorded: Callable[[str], None]) -> StoredObject:
        """Store the file; a `captured` event for each collection it holds records of; recorded(uri) for what
        waited for it; then out of the spool and to the Timestamper. Raises StorageError or OSError (the file
        stays in the spool)."""
        stored = store_warc(self.ws, closed)
        with session_scope(self.ws.sessions) as session:
            for collection in collections:
                record(session, CAPTURED, self.actor, [stored.uri], collection=collection,
                       detail={"sha256": stored.sha256, "size": stored.size, "records": closed.records})
        recorded(stored.uri)
        closed.path.unlink(missing_ok=True)
        self.stamper.put(stored.uri)
        return stored
