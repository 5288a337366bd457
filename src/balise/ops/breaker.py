"""The circuit breaker every Redis call goes through: Redis trouble costs at most a few calls.

Redis only holds a cache and rate-limit counters, so when it is slow or down balise keeps
answering without it (fail open). Without a breaker each request would still wait for a
connect or read timeout first; with one, after ``fail_max`` consecutive failures
(``BALISE_BREAKER_FAIL_MAX``, 5) the circuit opens and callers skip Redis at once, for
``reset_timeout`` seconds (``BALISE_BREAKER_RESET``, the plan's 30); then one trial call
goes through (half-open) and a success closes the circuit again by itself.

The state lives in process memory (pybreaker's default storage): a breaker that kept its
state in the Redis it protects would fail with it. Each worker decides for itself.

Callers see one exception, :class:`RedisUnavailable`, for "skipped" and "failed" alike,
and turn it into their fallback (a cache miss, an in-memory rate limit). Every failure
and every skipped call is counted (``balise_redis_failures_total``).

NOTE: pybreaker holds its lock during the guarded call, so the Redis calls of a worker's
threads (``THREADS``, 4 by default) run one at a time; a call lasts at most the Redis
timeout (``BALISE_REDIS_TIMEOUT``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
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
    """Runs Redis calls through a pybreaker ``CircuitBreaker`` and fails open."""

    def __init__(self, fail_max: int = 5, reset_timeout: float = 30.0, metrics: NullMetrics | None = None,
                 name: str = "redis") -> None:
        self.metrics = metrics or NullMetrics()
        self.failures = 0  # calls that failed (Redis errors)
        self.skipped = 0  # calls not made: the circuit was open
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            # NOTE: only Redis trouble counts; a bug in the caller's function is not an outage.
            exclude=[lambda error: not isinstance(error, REDIS_ERRORS)],
            listeners=[_StateListener(self.metrics)],
            name=name,
        )
        self.metrics.breaker_state(self.state)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        return self.breaker.current_state

    def call(self, op: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)``, or :class:`RedisUnavailable` if Redis is not usable.

        ``op`` names the operation in the metrics (``cache_get``, ``rate_limit``...).
        """
        try:
            return self.breaker.call(func, *args, **kwargs)
        except pybreaker.CircuitBreakerError as error:
            # Raised when the circuit is open, and by the very call that opens it.
            if error.__context__ is not None and isinstance(error.__context__, REDIS_ERRORS):
                self._failed(op)
            else:
                self.skipped += 1
                self.metrics.redis_failure(op, "open")
            raise RedisUnavailable(op) from error
        except REDIS_ERRORS as error:
            self._failed(op)
            raise RedisUnavailable(op) from error

    def _failed(self, op: str) -> None:
        self.failures += 1
        self.metrics.redis_failure(op, "error")

    def snapshot(self) -> dict:
        """State and counters of this process's breaker (for ``/health/detailed``)."""
        return {
            "state": self.state,
            "failures": self.failures,
            "skipped": self.skipped,
            "consecutive_failures": self.breaker.fail_counter,
        }


class _StateListener(pybreaker.CircuitBreakerListener):
    def __init__(self, metrics: NullMetrics) -> None:
        self.metrics = metrics

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.metrics.breaker_state(new_state.name)
