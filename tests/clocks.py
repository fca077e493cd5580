"""The one fake clock of the tests: time moves only when something sleeps or a test advances it."""

from __future__ import annotations

from datetime import UTC, datetime


class FakeClock:
    """A ``archive.net.pacing.Clock`` for tests: ``sleep`` only moves time on and records how long it was asked.

    ``now()`` gives epoch seconds (what pacing reads); ``utcnow()`` the same instant as an aware datetime, for
    code that is handed a datetime clock (alert delivery).
    """

    def __init__(self, start: float | datetime = 1_700_000_000.0) -> None:
        self.t = start.timestamp() if isinstance(start, datetime) else float(start)
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Seconds since the epoch, fake."""
        return self.t

    def utcnow(self) -> datetime:
        """now() as a UTC datetime."""
        return datetime.fromtimestamp(self.t, UTC)

    def sleep(self, seconds: float) -> None:
        """Record the wait and move time on by it, at once."""
        if seconds < 0:
            raise ValueError(f"negative sleep: {seconds}")
        self.sleeps.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Move time on without a sleep."""
        self.t += seconds
