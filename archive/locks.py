"""Named locks held across processes: a PostgreSQL advisory lock, or a lock file beside a SQLite database.

The scheduler holds `scheduler` so only one acts per database; a crawl holds `crawl:<collection>` so a
scheduled crawl and one started by hand never capture the same sources twice. A lock dies with its
holder (the server ends the session, the kernel drops the flock), so a killed process never blocks others.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

from archive.config import Settings


class LockError(Exception):
    """A lock that cannot be taken because another process holds it."""


class Lock(Protocol):
    """A process-wide named lock."""

    name: str

    def acquire(self) -> bool:
        """Take the lock if free; False if another process holds it."""
        ...

    def alive(self) -> bool:
        """Whether the lock is still held (a database connection can drop)."""
        ...

    def release(self) -> None:
        """Give the lock up; harmless when not held."""
        ...


def _key(*parts: str) -> int:
    """A signed 64-bit advisory lock key from names."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """pg_try_advisory_lock on a connection of its own, scoped to the database and schema."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None
        self._key: int | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        try:
            database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
            key = _key(str(database), str(schema), self.name)
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn, self._key = conn, key
        return True

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            conn.commit()
        except Exception:  # a dropped connection has released the lock already
            pass
        finally:
            conn.close()


class FileLock:
    """flock on a file beside the SQLite database (one machine, which is what SQLite allows anyway)."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        self.path = path.with_name(f"{path.name}.{safe}.lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def alive(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


def named_lock(settings: Settings, engine: Engine, name: str) -> Lock:
    """The right kind of lock for the configured database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(engine, name)
    database = url.database or ""
    path = Path(database) if database and database != ":memory:" else settings.data_dir / "lastseen.db"
    return FileLock(path, name)
