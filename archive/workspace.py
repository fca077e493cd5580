"""A workspace: the settings with the database and storage they name, opened once and shared."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from archive.config import ConfigError, Settings
from archive.db import open_database
from archive.net.guard import parse_allow
from archive.storage import Storage, open_storage


class Workspace:
    """What every command needs; the database is migrated and the storage checked on first use."""

    def __init__(self, settings: Settings) -> None:
        try:  # a bad allow-list fails here, before any work, not at the first outbound request
            parse_allow(settings.allow_networks)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.settings = settings

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory of the migrated database."""
        return open_database(self.settings.database_url)

    @property
    def engine(self) -> Engine:
        """The database engine behind the sessions."""
        engine: Engine = self.sessions.kw["bind"]
        return engine

    @cached_property
    def storage(self) -> Storage:
        """The checked storage backend (a missing bucket fails here, before any work)."""
        storage = open_storage(self.settings)
        storage.check()
        return storage

    def check(self) -> None:
        """Open the database and the storage now, so a bad setting fails before any work."""
        for opened in ("sessions", "storage"):
            getattr(self, opened)

    def close(self) -> None:
        """Release database connections."""
        if "sessions" in self.__dict__:
            bind = self.sessions.kw.get("bind")
            if bind is not None:
                bind.dispose()
