"""Provider pauses: a provider that answered with a bot check or a rate limit is left alone for a while.

The pause is a row per provider (ProviderPause), so every process sees it: the checks skip that provider's
videos until it ends (no outcome stored: nothing was asked) and make them due again right after it. A run of
checks looks at the stored pauses again every RELOAD seconds, so a pause one worker stores stops the others'
batches already under way too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.models import ProviderPause, Source
from archive.workspace import Workspace

RELOAD = 5.0  # seconds between looks at the pauses other processes stored


def active_pauses(session: Session, now: datetime) -> dict[str, ProviderPause]:
    """The pauses that still hold at `now`, by provider."""
    return {row.provider: row for row in session.scalars(select(ProviderPause).where(ProviderPause.until > now))}


class ProviderPauses:
    """The pauses one run of checks knows of (loaded at its start, grown as providers refuse us); thread-safe."""

    def __init__(self, ws: Workspace, pause_for: float) -> None:
        self.ws = ws
        self.pause_for = timedelta(seconds=max(0.0, pause_for))
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._loaded_at = -RELOAD

    def load(self, now: datetime) -> None:
        """Take in the pauses stored by any process that still hold at `now`."""
        with self._lock:
            self._loaded_at = time.monotonic()
        with session_scope(self.ws.sessions) as session:
            found = {provider: row.until for provider, row in active_pauses(session, now).items()}
        with self._lock:
            self._until.update(found)

    def until(self, provider: str, now: datetime) -> datetime | None:
        """When the provider's pause ends, if one holds at `now` (stored by this or any other process)."""
        with self._lock:
            stale = time.monotonic() - self._loaded_at > RELOAD
            if stale:
                self._loaded_at = time.monotonic()  # one thread looks; the others go on with what is known
        if stale:
            self.load(now)
        with self._lock:
            until = self._until.get(provider)
        return until if until is not None and until > now else None

    def pause(self, provider: str, now: datetime, reason: str) -> datetime | None:
        """Pause the provider from `now` (stored at once, for every process); None when pausing is off."""
        if not self.pause_for:
            return None
        until = now + self.pause_for
        with self._lock:
            if self._until.get(provider, now) > until:
                return self._until[provider]
            self._until[provider] = until
        with session_scope(self.ws.sessions) as session:
            row = session.get(ProviderPause, provider)
            if row is None:
                session.add(ProviderPause(provider=provider, until=until, since=now, reason=reason[:2000]))
            elif row.until < until:
                row.until, row.since, row.reason = until, now, reason[:2000]
        return until


def defer_sources(ws: Workspace, due_at: Mapping[int, datetime]) -> None:
    """Make skipped sources due again when their provider's pause ends."""
    if not due_at:
        return
    with session_scope(ws.sessions) as session:
        for source_id, when in due_at.items():
            session.execute(update(Source).where(Source.id == source_id).values(next_check_at=when))
