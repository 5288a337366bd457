"""Rate limits per client, shared by every worker and replica through Redis.

``BALISE_RATE_LIMITS`` holds rules split by ``;`` (read by ``values.rate_rules``), each
``PATH=LIMIT[,LIMIT...]`` in the notation of the ``limits`` library (``10/second``,
``100 per minute``...). A rule for a path covers the routes at and below it (``/search``
covers ``/search/csv``), however the request spelled its path (``//search``, ``/search/``);
``*`` covers every path, with one counter for all of them, paths that reach no route
included (a scanner's 404s count). Health probes (``/health...``) and ``/metrics`` are never
limited. Empty: no limits. The default,
``*=100/second,3000/minute;/search/csv=100000/hour;/reverse/csv=100000/hour``, lets one
backend client work at 50 requests a second for as long as it likes.

A request counts its work: 1, a ``POST /batch`` its items, a CSV upload its lines (the
resource charges them once it knows, :func:`charge`); against each limit at most the whole
limit (a batch of 100 under ``50/second`` counts 50), so that a request is never refused for
its size alone: ``BALISE_BATCH_MAX`` and ``BALISE_CSV_MAX_ROWS`` bound that.

The client is the address ``ops/clientip.py`` works out (behind trusted proxies, by hops);
an IPv6 client counts by its /64, the block one subscriber gets.

Counters use ``limits``' sliding-window-counter strategy (one Lua call a limit) on its
Redis, Sentinel or Cluster storage built from ``BALISE_REDIS_URL`` (a single server and
Sentinel share the cache's connection pool). Every call goes through the breaker; when
Redis is unavailable the check is made in this worker's memory instead (counted in
``balise_rate_limit_fallback_total``): limits then hold per worker, not per service.
NOTE: the memory counters are ours (:class:`MemoryWindows`), the same sliding window, not
``limits``' ``MemoryStorage``: that one keeps every client it ever saw until a timer thread
walks them all (a worker grew by ~1 KB per client, 290 MB for 390,000 clients); ours keep
the ``MEMORY_KEYS`` most recently seen, in bounded memory.

A refused request gets Addok's error shape, ``429 {"title", "description"}``, with
``Retry-After`` (seconds) and ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds) of the limit that was hit. PERF: these headers are
sent on refusals only; on other answers they would cost one more Redis call a limit.

PERF: each limit that covers a request is one Redis round trip (~150-250 us on loopback on
the dev machine; a few microseconds each in memory): the default puts two on ``/search``,
more than an L1 cache hit costs (~45 us). Fewer limits, or limits at the gateway, are
cheaper for a service that answers mostly from cache.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import falcon
import orjson
import redis
from limits import RateLimitItem
from limits.storage import RedisClusterStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from ..values import RateRule
from .breaker import RedisUnavailable
from .clientip import ClientAddress, rate_key
from .metrics import NullMetrics
from .process import PerProcess
from .redis import NoRedis, RedisConnector, connection_options

EXEMPT = ("/health", "/metrics")  # probes and scrapes: never limited
MEMORY_KEYS = 50_000  # counters kept per worker in memory (~300 bytes each), least recent dropped


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
        options.pop("health_check_interval")  # not a RedisCluster option (0 there anyway)
        options.update(auth)
        return RedisClusterStorage(f"redis+cluster://{hosts}", **options)
    # A single server or the Sentinel primary: the pool the cache uses already.
    client = connector.client()
    assert isinstance(client, redis.Redis)  # a cluster's storage is the one above
    return RedisStorage("redis://", connection_pool=client.connection_pool)


class MemoryWindows:
    """``limits``' sliding window counter in this process's memory, for the most recent
    ``max_keys`` counters: the count of the current window plus the previous one's, weighted
    by how much of it the sliding window still covers."""

    def __init__(self, max_keys: int = MEMORY_KEYS) -> None:
        self.max_keys = max_keys
        # each counter: [start of its window, count of the previous window, of this one]
        self._windows: OrderedDict[tuple[str, ...], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _window(self, key: tuple[str, ...], period: float, now: float) -> list[float]:
        start = now - now % period
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = [start, 0.0, 0.0]
            if len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
            if window[0] < start:
                window[1] = window[2] if start - window[0] == period else 0.0
                window[0], window[2] = start, 0.0
        return window

    @staticmethod
    def _weighted(window: list[float], period: float, now: float) -> float:
        return window[1] * (period - (now - window[0])) / period + window[2]

    def hit(self, limit: RateLimitItem, key: tuple[str, ...], cost: int = 1) -> bool:
        period, now = float(limit.get_expiry()), time.time()
        with self._lock:
            window = self._window(key, period, now)
            if self._weighted(window, period, now) + cost > limit.amount:
                return False
            window[2] += cost
            return True

    def stats(self, limit: RateLimitItem, key: tuple[str, ...]) -> tuple[float, int]:
        """(when the next request can pass, epoch seconds; how many are left now)."""
        period, now = float(limit.get_expiry()), time.time()
        with self._lock:
            window = self._window(key, period, now)
            remaining = int(limit.amount - self._weighted(window, period, now))
            return window[0] + period, max(0, remaining)

    def __len__(self) -> int:
        return len(self._windows)


class RateLimiter:
    """Checks the rules for one request: in Redis through the breaker, else in memory."""

    def __init__(self, rules: Sequence[RateRule], connector: RedisConnector | NoRedis | None = None,
                 metrics: NullMetrics | None = None) -> None:
        self.rules = list(rules)
        self.connector = connector or NoRedis()
        self.metrics = metrics or NullMetrics()
        self.fallbacks = 0
        self.memory: PerProcess[MemoryWindows] = PerProcess(MemoryWindows)
        self._redis: PerProcess[SlidingWindowCounterRateLimiter] | None = None
        if isinstance(self.connector, RedisConnector):
            connector_ = self.connector
            self._redis = PerProcess(lambda: SlidingWindowCounterRateLimiter(redis_storage(connector_)))

    def check(self, path: str, client: str, cost: int = 1, counted: int = 0) -> Refusal | None:
        """None if a request of ``cost`` units may go on (and counts it), else the limit it
        went over. Against each limit it counts at most the limit's amount; ``counted``:
        units of this request counted already (by an earlier call)."""
        for rule in self.rules:
            if not rule.covers(path):
                continue
            for limit in rule.limits:
                units = min(cost, limit.amount) - min(counted, limit.amount)
                if units <= 0:
                    continue
                allowed, in_redis = self._hit(limit, rule.path, client, units)
                if not allowed:
                    reset_at, remaining = self._stats(in_redis, limit, rule.path, client)
                    self.metrics.rate_limited(rule.path)
                    return Refusal(limit, rule.path, reset_at, remaining)
        return None

    def _hit(self, limit: RateLimitItem, scope: str, client: str, cost: int) -> tuple[bool, bool]:
        """(allowed, counted in Redis)."""
        if self._redis is not None:
            holder = self._redis
            try:
                allowed = self.connector.breaker.call(  # type: ignore[union-attr]
                    "rate_limit", lambda: holder.get().hit(limit, "balise", scope, client, cost=cost))
                return allowed, True
            except RedisUnavailable:
                self.fallbacks += 1
                self.metrics.rate_limit_fallback()
        return self.memory.get().hit(limit, (scope, client, str(limit)), cost), False

    def _stats(self, in_redis: bool, limit: RateLimitItem, scope: str, client: str) -> tuple[float, int]:
        if in_redis and self._redis is not None:
            holder = self._redis
            try:
                stats = self.connector.breaker.call(  # type: ignore[union-attr]
                    "rate_limit", lambda: holder.get().get_window_stats(limit, "balise", scope, client))
            except RedisUnavailable:
                return time.time() + limit.get_expiry(), 0
            return stats.reset_time, stats.remaining
        return self.memory.get().stats(limit, (scope, client, str(limit)))


def too_many(refusal: Refusal) -> falcon.HTTPTooManyRequests:
    """The 429 of a refusal: Addok's error shape, and the headers of the limit hit."""
    limit = refusal.limit
    return falcon.HTTPTooManyRequests(
        title="Too many requests",
        description=f"Rate limit exceeded: {limit} on {refusal.path}. Retry in {refusal.retry_after} s.",
        headers={
            "X-RateLimit-Limit": str(limit.amount),
            "X-RateLimit-Remaining": str(max(0, refusal.remaining)),
            "X-RateLimit-Reset": str(math.ceil(refusal.reset_at)),
        },
        retry_after=refusal.retry_after,
    )


def charge(req: falcon.Request, units: int) -> None:
    """Counts the work of a request that costs ``units`` (a batch's items, a CSV's lines)
    once its resource knows them, on top of the 1 counted when it arrived; raises 429 when
    that goes over a limit. Nothing happens without rate limits."""
    middleware: RateLimitMiddleware | None = req.context.get("rate_limits")
    if middleware is not None and units > 1:
        refusal = middleware.limiter.check(req.context.rate_route, req.context.rate_client, units, counted=1)
        if refusal is not None:
            raise too_many(refusal)


class RateLimitMiddleware:
    """Refuses a request over its limits with 429, before any work is done for it.

    NOTE: the rules are matched against the route the request reached (``/search``), not
    its raw path: the router also accepts ``//search``, ``/search/`` and other spellings,
    which must not escape the limit. Hence ``process_resource`` (after routing; before the
    cache answers a hit). A path that reaches no route counts under ``*`` once its 404 is
    made (falcon skips ``process_resource`` then), and becomes a 429 when over the limit.
    """

    def __init__(self, limiter: RateLimiter, client_address: ClientAddress | None = None) -> None:
        self.limiter = limiter
        self.client_address = client_address or ClientAddress()

    def _check(self, req: falcon.Request, route: str) -> Refusal | None:
        key = rate_key(self.client_address.of(req))
        req.context.rate_limits, req.context.rate_route, req.context.rate_client = self, route, key
        return self.limiter.check(route, key)

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict[str, Any]) -> None:
        route = req.uri_template or ""
        if not self.limiter.rules or req.method == "OPTIONS" or route.startswith(EXEMPT):
            return
        refusal = self._check(req, route)
        if refusal is not None:
            raise too_many(refusal)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if resource is not None or not self.limiter.rules or req.method == "OPTIONS":
            return
        refusal = self._check(req, "")
        if refusal is not None:
            error = too_many(refusal)
            resp.status = error.status
            resp.data = orjson.dumps(error.to_dict())
            resp.content_type = "application/json"
            resp.set_headers(error.headers or {})
