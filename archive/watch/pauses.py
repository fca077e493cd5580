"""Provider pauses: a provider that answered with a bot check or a rate limit is left alone for a while.

The pause is a row per provider (ProviderPause), so every process sees it: the checks skip that provider's
videos until it ends (no outcome stored: nothing was asked) and make them due again right after it. A run of
checks looks at the stored pauses again every RELOAD seconds, so a pause one worker stores stops the others'
batches already under way too.

A pause cannot starve its provider: a video that answers blocked while another of its provider answers (in the
last PROBE_FRESH seconds, or when asked then: the source alive most recently) is blocked alone, and pauses
nothing. A pause that ended stays stored until the provider answers again: its first check then is a probe of
the source alive most recently, not whichever video came first (a video rate-limited for good would pause
everything anew).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from archive.db import session_scope
from archive.models import ProviderPause, Source, Video
from archive.status import DEFINITIVE, Outcome
from archive.timefmt import iso
from archive.workspace import Workspace

RELOAD = 5.0  # seconds between looks at the pauses other processes stored
PROBE_FRESH = 60.0  # seconds a provider's answer to one video vouches that it answers us
ANSWERS = DEFINITIVE | {Outcome.OK}  # what a provider that answers us says (not a bot check, not an outage)


class ProviderPauses:
    """The pauses one run of checks knows of (loaded at its start, grown as providers refuse us); thread-safe."""

    def __init__(self, ws: Workspace, pause_for: float) -> None:
        self.ws = ws
        self.pause_for = timedelta(seconds=max(0.0, pause_for))
        self._until: dict[str, datetime] = {}  # stored pauses, held or ended (until the provider answers)
        self._answered: dict[str, float] = {}  # provider -> when (monotonic) one of its videos last answered
        self._probing: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._loaded_at = -RELOAD

    def load(self, now: datetime) -> None:
        """Take in the pauses stored by any process, held or ended."""
        with self._lock:
            self._loaded_at = time.monotonic()
        with session_scope(self.ws.sessions) as session:
            found = {row.provider: row.until for row in session.scalars(select(ProviderPause))}
        with self._lock:
            self._until.update(found)

    def ended(self, provider: str, now: datetime) -> bool:
        """True when the provider's pause is over but it has not answered since: probe it first."""
        with self._lock:
            until = self._until.get(provider)
        return until is not None and until <= now

    def answered(self, provider: str, now: datetime) -> None:
        """One of the provider's videos answered (not a bot check): an ended pause is over for good."""
        with self._lock:
            self._answered[provider] = time.monotonic()
            until = self._until.get(provider)
            if until is None or until > now:
                return
            del self._until[provider]
        with session_scope(self.ws.sessions) as session:
            session.execute(delete(ProviderPause).where(ProviderPause.provider == provider,
                                                        ProviderPause.until <= now))

    def answers(self, provider: str, now: datetime, exclude: int | None, ask: Callable[[int], bool]) -> bool | None:
        """Whether the provider answers us: a video of it answered in the last PROBE_FRESH seconds, else its
        source alive most recently (not `exclude`) is asked now (ask(source_id): True when it answered).
        False when it does not or a pause holds; None when it has no other source to ask. One probe at a time
        per provider: the checks waiting for it take its answer."""
        with self._lock:
            probing = self._probing.setdefault(provider, threading.Lock())
        with probing:
            with self._lock:
                if time.monotonic() - self._answered.get(provider, -PROBE_FRESH) < PROBE_FRESH:
                    return True
                if self._until.get(provider, now) > now:
                    return False
            with session_scope(self.ws.sessions) as session:
                probe = alive_most_recently(session, provider, exclude)
            return None if probe is None else ask(probe)

    def reopen(self, provider: str, now: datetime, source_id: int, ask: Callable[[int], bool]) -> bool:
        """Before a video of a provider whose pause ended: False (paused anew) when its source alive most
        recently is blocked too; True when that answers, or when there is none (this video then tells)."""
        if not self.ended(provider, now) or self.answers(provider, now, source_id, ask) is not False:
            return True
        self.pause(provider, now, f"{provider}: the probe after the pause was blocked")
        return False

    def after(self, provider: str, outcome: Outcome, now: datetime, detail: str, source_id: int,
              ask: Callable[[int], bool] | None) -> str:
        """What one video's answer means for its provider, as words for its check's detail: an answer vouches
        for it; a bot check or rate limit pauses it (when pausing is on), unless another of its videos answers
        (ask: how to ask one; None for a probe, which pauses nothing)."""
        if outcome in ANSWERS:
            self.answered(provider, now)
        if outcome is not Outcome.BLOCKED or ask is None or not self.pause_for:
            return ""
        if self.answers(provider, now, source_id, ask):
            return f"; blocked alone: other {provider} videos answer"
        until = self.pause(provider, now, detail)
        return f"; {provider} paused until {iso(until)}" if until is not None else ""

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


def alive_most_recently(session: Session, provider: str, exclude: int | None = None) -> int | None:
    """The provider's video whose last check (or capture) found it alive most recently: its probe."""
    query = (select(Source.id).join(Video, Video.source_id == Source.id)
             .where(Video.provider == provider, Source.last_seen_alive_at.is_not(None),
                    or_(Source.last_checked_at.is_(None), Source.last_seen_alive_at >= Source.last_checked_at))
             .order_by(Source.last_seen_alive_at.desc(), Source.id.desc()).limit(1))
    if exclude is not None:
        query = query.where(Source.id != exclude)
    return session.scalar(query)


def defer_sources(ws: Workspace, due_at: Mapping[int, datetime]) -> None:
    """Make skipped sources due again when their provider's pause ends."""
    if not due_at:
        return
    with session_scope(ws.sessions) as session:
        for source_id, when in due_at.items():
            session.execute(update(Source).where(Source.id == source_id).values(next_check_at=when))
