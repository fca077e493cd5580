"""Per-host rate limits shared by every worker: the counts live in Redis, so ten workers are as polite as one.

``SharedRateLimiter`` is a ``RateLimiter`` (the checks' Fetcher takes either) whose slots are hits in a
moving window kept by the ``limits`` library in Redis (its Redis storage is atomic across processes and
machines), instead of this process's memory. A host's own pause (it answered HTTP 429) is kept in the same
Redis (a hash each process reads at most once a second), so every worker leaves that host alone until it
ends; the pause for everyone (a quota) stays per process.
"""

from __future__ import annotations

import math
import threading
import time
from functools import cache
from typing import Any

from archive.net.pacing import Clock, MonotonicClock, RateLimiter

NAMESPACE = "lastseen-host"
HOLDS = "lastseen-host-holds"  # a Redis hash: host -> until when (epoch seconds) it is left alone
HOLD_LOOK = 1.0  # seconds a process goes on what it last read of the holds (one HGETALL a second, whatever the hosts)
# Set a host's hold unless a longer one is there already, and drop the holds that have ended.
_HOLD_SCRIPT = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
"""
_MAX_WAIT_STEP = 1.0  # seconds between looks at a full window (another worker's hit may expire sooner)


def window_for(rate: float) -> tuple[int, int]:
    """(hits, seconds) of a moving window as close to ``rate`` per second as whole numbers allow, never faster:
    1.0 -> (1, 1); 5.0 -> (5, 1); 0.3 -> (1, 4); 2.5 -> (5, 2)."""
    if rate <= 0:
        raise ValueError("a shared limit needs a positive rate")
    seconds = math.ceil(1 / rate - 1e-9) if rate < 1 else (1 if float(rate).is_integer() else 2)
    return max(1, math.floor(rate * seconds + 1e-9)), seconds


_made_lock = threading.Lock()


@cache
def _made(redis_url: str) -> Any:
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    return MovingWindowRateLimiter(storage_from_string(redis_url))


@cache
def _client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url)


def _strategy(redis_url: str) -> tuple[Any, Any]:
    """One moving-window limiter and one Redis client per Redis URL and process (each holds a connection pool).

    Made under a lock: limits checks the redis package's version as it loads it, and a second thread importing
    redis at the same moment makes it read a half-loaded module (version 0.0.0) and refuse.
    """
    with _made_lock:
        return _made(redis_url), _client(redis_url)


class SharedRateLimiter(RateLimiter):
    """``rate`` requests a second per key across every process using the same Redis."""

    def __init__(self, redis_url: str, rate: float, clock: Clock | None = None) -> None:
        super().__init__(rate, clock or MonotonicClock())
        from limits import RateLimitItemPerSecond

        hits, seconds = window_for(rate)
        self.item = RateLimitItemPerSecond(hits, seconds, namespace=NAMESPACE)
        self.strategy, self.redis = _strategy(redis_url)
        self._hold = self.redis.register_script(_HOLD_SCRIPT)
        self._holds: dict[str, float] = {}  # host -> until (epoch seconds), as last read from Redis
        self._looked_at = -HOLD_LOOK
        self._looking = threading.Lock()

    def hold(self, key: str, seconds: float) -> None:
        """Pause this host for every process sharing the Redis, for `seconds` from now."""
        if seconds > 0:
            now = time.time()
            self._hold(keys=[HOLDS], args=[key, repr(now + seconds), repr(now)])
            with self._looking:
                self._holds = {**self._holds, key: max(self._holds.get(key, 0.0), now + seconds)}

    def held_for(self, key: str) -> float:
        """Seconds the host's shared pause still holds (0.0: none), as Redis said within the last HOLD_LOOK."""
        with self._looking:  # the threads wait for one read rather than go on what was known before it
            if time.monotonic() - self._looked_at > HOLD_LOOK:
                self._holds = {host.decode(): float(until) for host, until in self.redis.hgetall(HOLDS).items()}
                self._looked_at = time.monotonic()
            until = self._holds.get(key, 0.0)
        return max(0.0, until - time.time())

    def reserve(self, key: str = "") -> float:
        """Take the key's slot if one is free now (0.0); else the seconds until one may be, taking none."""
        wait = max(self.pause_remaining(), self.held_for(key))
        if wait > 0:
            return wait
        if self.strategy.hit(self.item, key):
            return 0.0
        stats = self.strategy.get_window_stats(self.item, key)
        return max(0.01, min(_MAX_WAIT_STEP, stats.reset_time - time.time()))

    def acquire(self, key: str = "") -> float:
        """Wait until the key has a free slot in the shared window, and take it; returns the seconds waited."""
        waited = 0.0
        while (wait := self.reserve(key)) > 0:
            self.clock.sleep(wait)
            waited += wait
        return waited


def host_limiter(redis_url: str, rate: float) -> RateLimiter:
    """The checks' per-host limiter: shared through Redis when a URL is given and the rate is limited."""
    if redis_url and rate > 0:
        return SharedRateLimiter(redis_url, rate)
    return RateLimiter(rate, MonotonicClock())
