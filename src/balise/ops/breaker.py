"""The circuit breaker every Redis call goes through: Redis trouble costs at most a few calls,
and no call waits longer than its own timeout.

Redis only holds a cache and rate-limit counters, so when it is slow or down balise keeps
answering without it (fail open). Without a breaker each request would still wait for a
connect or read timeout first; with one, after ``fail_max`` consecutive failures
(``BALISE_BREAKER_FAIL_MAX``, 5) the circuit opens and callers skip Redis at once, for
``reset_timeout`` seconds (``BALISE_BREAKER_RESET``, the plan's 30); then one trial call
goes through (half-open) while the others still skip, and a success closes the circuit
again by itself.

The state lives in process memory: a breaker that kept its state in the Redis it protects
would fail with it. Each worker decides for itself.

Callers see one exception, :class:`RedisUnavailable`, for "skipped" and "failed" alike,
and turn it into their fallback (a cache miss, an in-memory rate limit). Every failure
and every skipped call is counted (``balise_redis_failures_total``).

NOTE: why not pybreaker (used until issue 19). It holds its lock for the whole guarded call,
so the Redis calls of a worker's threads ran one at a time: with Redis frozen (SIGSTOP), a
request waited for the timeouts of the calls queued before its own, up to 4.8 s while the
breaker counted failures, and 0.7-1 s behind each half-open trial every 30 s. Here the lock
guards the state only; calls run side by side, each bounded by ``BALISE_REDIS_TIMEOUT``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from .metrics import NullMetrics

T = TypeVar("T")

# What Redis trouble looks like: redis-py's errors (connection, timeout, response...),
# its cluster errors (``RedisClusterException`` is no ``RedisError``: "cannot connect to
# the cluster" is one) and socket errors some paths let through.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.RedisError, redis.exceptions.RedisClusterException, OSError)


class RedisUnavailable(Exception):
    """Redis was not used for this call: the breaker is open, or the call failed."""


class Breaker:
    """Runs Redis calls, counts their failures, and skips them while the circuit is open."""

    def __init__(self, fail_max: int = 5, reset_timeout: float = 30.0, metrics: NullMetrics | None = None,
                 name: str = "redis", clock: Callable[[], float] = time.monotonic) -> None:
        self.fail_max, self.reset_timeout, self.name, self.clock = fail_max, reset_timeout, name, clock
        self.metrics = metrics or NullMetrics()
        self.failures = 0  # calls that failed (Redis errors)
        self.skipped = 0  # calls not made: the circuit was open
        self.fail_counter = 0  # consecutive failures
        self._state = "closed"
        self._opened_at = 0.0
        self._trial = False  # a half-open trial call is running
        self._lock = threading.Lock()  # NOTE: held to read or change the state, never during a call
        self.metrics.breaker_state(self._state)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._state == "open" and self.clock() - self._opened_at >= self.reset_timeout:
            self._set("half-open")
        return self._state

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.metrics.breaker_state(state)

    def call(self, op: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)``, or :class:`RedisUnavailable` if Redis is not usable.

        ``op`` names the operation in the metrics (``cache_get``, ``rate_limit``...).
        """
        with self._lock:
            state = self._current()
            trial = state == "half-open" and not self._trial
            if state == "open" or (state == "half-open" and not trial):
                self.skipped += 1
                self.metrics.redis_failure(op, "open")
                raise RedisUnavailable(op)
            self._trial = self._trial or trial
        try:
            result = func(*args, **kwargs)
        except REDIS_ERRORS as error:
            self._failed(op, trial)
            raise RedisUnavailable(op) from error
        except BaseException:
            # NOTE: only Redis trouble counts; a bug in the caller's function is not an outage.
            if trial:
                with self._lock:
                    self._trial = False
            raise
        with self._lock:
            self.fail_counter = 0
            if trial:
                self._trial = False
                self._set("closed")
        return result

    def _failed(self, op: str, trial: bool) -> None:
        self.metrics.redis_failure(op, "error")
        with self._lock:
            self.failures += 1
            self.fail_counter += 1
            if trial:
                self._trial = False
            if trial or (self._state == "closed" and self.fail_counter >= self.fail_max):
                self._opened_at = self.clock()
                self._set("open")

    def snapshot(self) -> dict[str, Any]:
        """State and counters of this process's breaker (for ``/health/detailed``)."""
        with self._lock:
            return {
                "state": self._current(),
                "failures": self.failures,
                "skipped": self.skipped,
                "consecutive_failures": self.fail_counter,
            }
