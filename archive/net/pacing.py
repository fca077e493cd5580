"""Pacing of outbound requests, written once: clocks, one rate limiter, one backoff formula, Retry-After.

The checks (per host), the Wayback queue (per archive) and the crawl's and alerts' retries all pace
themselves with these. Time comes from an injectable ``Clock`` so tests never sleep.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Protocol

QUOTA_PAUSE = 3600.0  # over a quota without Retry-After: everyone waits an hour
THROTTLE_PAUSE = 300.0  # a 429 without Retry-After: the Wayback Machine blocks an IP for about 5 minutes
HOST_PAUSE = 60.0  # a checked host that answered 429 without Retry-After is left alone this long
HOST_PAUSE_CAP = 3600.0  # ...and at most this long, whatever its Retry-After says


# --- clocks ---------------------------------------------------------------------------------------

class Clock(Protocol):
    """Where pacing reads the time and waits."""

    def now(self) -> float:
        """Seconds; SystemClock's are since the epoch (wall time: quotas reset at UTC midnight)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait this long."""
        ...


class SystemClock:
    """Wall time: for deadlines that are dates (quotas, Retry-After dates, rows in the database)."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep; nothing for zero or less."""
        if seconds > 0:
            time.sleep(seconds)


class MonotonicClock(SystemClock):
    """Monotonic time: for spacing requests, which a wall clock set back must not stall."""

    def now(self) -> float:
        """Seconds from an arbitrary start, never going back."""
        return time.monotonic()


# --- backoff --------------------------------------------------------------------------------------

class Jitter(Protocol):
    """A source of uniform numbers in [0, 1): random.Random, the random module, or a test's fixed one."""

    def random(self) -> float:
        """The next number."""
        ...


def next_attempt_delay(attempt: int, retry_after: float | None = None, rng: Jitter | None = None, *,
                       base: float = 30.0, cap: float = 6 * 3600.0, factor: float = 2.0,
                       retry_after_cap: float = math.inf) -> float:
    """Seconds before retry number ``attempt`` (1 after the first failure): THE backoff formula.

    The bound is min(cap, base * factor**(attempt-1)); with ``rng`` the delay is uniform between 0 and
    the bound (full jitter), without it the bound itself. A positive Retry-After is a floor, never shortened
    by the jitter nor the cap (only by ``retry_after_cap``).
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    bound = min(cap, base * factor ** min(attempt - 1, 62))
    delay = rng.random() * bound if rng is not None else bound
    if retry_after is not None and retry_after > 0:
        return max(float(min(retry_after, retry_after_cap)), delay)
    return delay


@dataclass
class Backoff:
    """A retry policy for transient failures: the formula's parameters and how many attempts to make."""

    base: float = 30.0
    cap: float = 6 * 3600.0
    max_attempts: int = 6
    rng: Jitter | None = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``attempt``, honouring Retry-After."""
        return next_attempt_delay(attempt, retry_after, self.rng, base=self.base, cap=self.cap)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


# --- the rate limiter -----------------------------------------------------------------------------

class PauseSignal(Protocol):
    """An answer that may ask everyone to wait: over a quota, or throttled (HTTP 429), maybe with Retry-After."""

    @property
    def quota_exhausted(self) -> bool: ...

    @property
    def http_status(self) -> int | None: ...

    @property
    def retry_after(self) -> float | None: ...


class RateLimiter:
    """``rate`` slots a second per key (a host, or one key for everything), in bursts of ``burst``; a pause for all.

    ``reserve(key)`` hands out slots ``1/rate`` seconds apart (the first ``burst`` at once) and says how long
    the caller must wait for its slot, so threads queue fairly without holding the lock while they sleep;
    ``acquire(key)`` also waits. ``observe(answer)`` pauses every key when an answer says the account or
    address is over a quota, or throttles us (HTTP 429); ``hold(key, seconds)`` pauses one key (a host that
    answered 429). rate <= 0 means no limit but the pauses. One process only: a queue spread over several
    processes keeps its pause in the database, and SharedRateLimiter keeps the per-host ones in Redis.
    """

    def __init__(self, rate: float, clock: Clock | None = None, *, burst: float = 1.0,
                 quota_pause: float = QUOTA_PAUSE, throttle_pause: float = THROTTLE_PAUSE) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock: Clock = clock or SystemClock()
        self.tolerance = (max(1.0, float(burst)) - 1.0) * self.interval
        self.quota_pause = quota_pause
        self.throttle_pause = throttle_pause
        self.paused_until = 0.0
        self._full_at: dict[str, float] = {}  # key -> when its bucket is full again (its next free slot)
        self._held: dict[str, float] = {}  # key -> when its own pause ends
        self._lock = threading.Lock()

    def reserve(self, key: str = "") -> float:
        """Take the key's next slot; seconds to wait before using it (0 when one is free now)."""
        with self._lock:
            now = self.clock.now()
            paused = max(self.paused_until, self._held.get(key, 0.0))
            if not self.interval:
                return max(0.0, paused - now)
            full_at = max(self._full_at.get(key, now), now)
            start = max(now, full_at - self.tolerance, paused)
            self._full_at[key] = max(full_at, start) + self.interval
            return start - now

    def acquire(self, key: str = "") -> float:
        """Wait for the key's slot; returns the seconds waited."""
        wait = self.reserve(key)
        if wait > 0:
            self.clock.sleep(wait)
        return wait

    def pause_until(self, when: float) -> None:
        """Hold every key until ``when`` (a pause only ever grows)."""
        with self._lock:
            self.paused_until = max(self.paused_until, when)

    def hold(self, key: str, seconds: float) -> None:
        """Pause this key alone for `seconds` from now (a pause only ever grows)."""
        with self._lock:
            until = self.clock.now() + seconds
            self._held[key] = max(self._held.get(key, until), until)

    def held_for(self, key: str) -> float:
        """Seconds the key's own pause still holds (0.0: none)."""
        with self._lock:
            return max(0.0, self._held.get(key, 0.0) - self.clock.now())

    def pause_remaining(self) -> float:
        """Seconds the pause still holds."""
        return max(0.0, self.paused_until - self.clock.now())

    def observe(self, answer: PauseSignal) -> None:
        """Pause everyone for an answer over a quota or throttled (its Retry-After, else the default pause)."""
        if answer.quota_exhausted:
            default = self.quota_pause
        elif answer.http_status == 429:
            default = self.throttle_pause
        else:
            return
        self.pause_until(self.clock.now() + (answer.retry_after if answer.retry_after is not None else default))
