"""Rate limits per client IP, shared by every worker and replica through Redis.

``BALISE_RATE_LIMITS`` holds rules split by ``;`` (read by ``values.rate_rules``), each
``PATH=LIMIT[,LIMIT...]`` in the notation of the ``limits`` library (``10/second``,
``100 per minute``...). A rule for a path covers the routes at and below it (``/search``
covers ``/search/csv``), however the request spelled its path (``//search``, ``/search/``);
``*`` covers every path, with one counter for all of them. The default is the plan's:
``/search=10/second;*=100/minute,1000/hour``. Health probes (``/health...``) and
``/metrics`` are never limited. Empty: no limits.

NOTE: behind a gateway, set ``BALISE_TRUSTED_PROXIES`` (ops/clientip.py), or every client
shares the gateway's address and its limits.

Counters use ``limits``' sliding-window-counter strategy (one Lua call a limit) on its
Redis, Sentinel or Cluster storage built from ``BALISE_REDIS_URL`` (a single server and
Sentinel share the cache's connection pool). Every call goes through the breaker; when
Redis is unavailable the check is made in this worker's memory instead (counted in
``balise_rate_limit_fallback_total``): limits then hold per worker, not per service.

A refused request gets Addok's error shape, ``429 {"title", "description"}``, with
``Retry-After`` (seconds) and ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds) of the limit that was hit. PERF: these headers are
sent on refusals only; on other answers they would cost one more Redis call a limit.

PERF: each limit that covers a request is one Redis round trip (~150-250 us on loopback on
the dev machine; ~40 us each in memory): the plan's defaults put three on ``/search``, which
is more than an L1 cache hit costs (~45 us). Fewer limits, or limits at the gateway, are
cheaper for a service that answers mostly from cache.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import falcon
from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from ..values import RateRule
from .breaker import RedisUnavailable
from .clientip import ClientAddress
from .metrics import NullMetrics
from .process import PerProcess
from .redis import NoRedis, RedisConnector, connection_options

EXEMPT = ("/health", "/metrics")  # probes and scrapes: never limited


@dataclass(frozen=True)
class Refusal:
    """The limit a request went over, and when its window lets the client in again."""

    limit: RateLimitItem
    path: str
    reset_at: float  # epoch seconds
    remaining: int

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


def redis_storage(connector: RedisConnector) -> Storage:
    """``limits``' storage on the connector's Redis (call it through the breaker: it may connect)."""
    target = connector.target
    if target.kind == "cluster":
        hosts = ",".join(f"{h}:{p}" for h, p in target.hosts)
        auth = {k: v for k, v in (("username", target.username), ("password", target.password)) if v}
        options = connection_options(connector.timeout, connector.max_connections)
        options.pop("health_check_interval")  # not a RedisCluster option
        return RedisClusterStorage(f"redis+cluster://{hosts}", **auth, **options)
    # A single server or the Sentinel primary: the pool the cache uses already.
    return RedisStorage("redis://", connection_pool=connector.client().connection_pool)


class RateLimiter:
    """Checks the rules for one request: in Redis through the breaker, else in memory."""

    def __init__(self, rules: Sequence[RateRule], connector: RedisConnector | NoRedis | None = None,
                 metrics: NullMetrics | None = None) -> None:
        self.rules = list(rules)
        self.connector = connector or NoRedis()
        self.metrics = metrics or NullMetrics()
        self.fallbacks = 0
        self._memory: PerProcess[SlidingWindowCounterRateLimiter] = PerProcess(
            lambda: SlidingWindowCounterRateLimiter(MemoryStorage()))
        self._redis: PerProcess[SlidingWindowCounterRateLimiter] | None = None
        if isinstance(self.connector, RedisConnector):
            connector_ = self.connector
            self._redis = PerProcess(lambda: SlidingWindowCounterRateLimiter(redis_storage(connector_)))

    def check(self, path: str, client: str) -> Refusal | None:
        """None if the request may go on (and counts it), else the limit it went over."""
        for rule in self.rules:
            if not rule.covers(path):
                continue
            for limit in rule.limits:
                allowed, in_redis = self._hit(limit, rule.path, client)
                if not allowed:
                    reset_at, remaining = self._stats(in_redis, limit, rule.path, client)
                    self.metrics.rate_limited(rule.path)
                    return Refusal(limit, rule.path, reset_at, remaining)
        return None

    def _hit(self, limit: RateLimitItem, scope: str, client: str) -> tuple[bool, bool]:
        """(allowed, counted in Redis)."""
        if self._redis is not None:
            holder = self._redis
            try:
                allowed = self.connector.breaker.call(  # type: ignore[union-attr]
                    "rate_limit", lambda: holder.get().hit(limit, "balise", scope, client))
                return allowed, True
            except RedisUnavailable:
                self.fallbacks += 1
                self.metrics.rate_limit_fallback()
        return self._memory.get().hit(limit, "balise", scope, client), False

    def _stats(self, in_redis: bool, limit: RateLimitItem, scope: str, client: str) -> tuple[float, int]:
        if in_redis and self._redis is not None:
            holder = self._redis
            try:
                stats = self.connector.breaker.call(  # type: ignore[union-attr]
                    "rate_limit", lambda: holder.get().get_window_stats(limit, "balise", scope, client))
            except RedisUnavailable:
                return time.time() + limit.get_expiry(), 0
        else:
            stats = self._memory.get().get_window_stats(limit, "balise", scope, client)
        return stats.reset_time, stats.remaining


class RateLimitMiddleware:
    """Refuses a request over its limits with 429, before any work is done for it.

    NOTE: the rules are matched against the route the request reached (``/search``), not
    its raw path: the router also accepts ``//search``, ``/search/`` and other spellings,
    which must not escape the limit. A path that reaches no route counts under ``*`` only.
    Hence ``process_resource`` (after routing; before the cache answers a hit).
    """

    def __init__(self, limiter: RateLimiter, client_address: ClientAddress | None = None) -> None:
        self.limiter = limiter
        self.client_address = client_address or ClientAddress()

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict) -> None:
        route = req.uri_template or ""
        if not self.limiter.rules or req.method == "OPTIONS" or route.startswith(EXEMPT):
            return
        refusal = self.limiter.check(route, self.client_address(req))
        if refusal is None:
            return
        limit = refusal.limit
        raise falcon.HTTPTooManyRequests(
            title="Too many requests",
            description=f"Rate limit exceeded: {limit} on {refusal.path}. Retry in {refusal.retry_after} s.",
            headers={
                "X-RateLimit-Limit": str(limit.amount),
                "X-RateLimit-Remaining": str(max(0, refusal.remaining)),
                "X-RateLimit-Reset": str(math.ceil(refusal.reset_at)),
            },
            retry_after=refusal.retry_after,
        )
