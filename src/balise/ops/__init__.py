"""The production layer: cache tiers, Redis, breaker, rate limits, compression, metrics,
health, request logs. One concept per module, each with a null or in-memory twin, each
usable as falcon middleware or as a plain object:

    redis.py        one URL: a single Redis, Sentinel or Cluster; pools per process
    breaker.py      the circuit breaker around every Redis call; fails open, counts
    cache/          entries, keys and lifetimes; L1 memory, L2 Redis, L3 SQLite; middleware
    ratelimit.py    ``limits`` per client IP and path, Redis-shared, memory fallback; 429
    clientip.py     the client address behind trusted proxies, by hops
    access.py       operators only: /metrics, /health/detailed, routes outside the public paths
    compression.py  br / zstd / gzip on Accept-Encoding, streams included
    metrics.py      Prometheus, summed over the server's workers; ``/metrics``
    health.py       ``/health/live``, ``/health/ready``, ``/health/detailed``
    logging.py      one JSON (or text) line per request, with a request id
    process.py      resources built per process, never shared across a fork

The app factory calls :func:`install`; the server (http/server.py) calls
:func:`prepare_metrics_dir` in its master and :func:`post_fork` in each new worker.

NOTE: this module imports no submodule at import time, so that http/server.py can set
``PROMETHEUS_MULTIPROC_DIR`` (``prepare_metrics_dir``) before prometheus_client is loaded:
the library decides between single- and multi-process values when it is first imported.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import falcon
    from falcon._typing import SyncMiddleware

    from ..config import Settings
    from ..served import AnyGeocoder, ServedIndexes
    from .cache.tiers import SqliteTier, Tier, TieredCache
    from .clientip import ClientAddress
    from .health import ResponseTimes
    from .metrics import Metrics
    from .ratelimit import RateLimiter
    from .redis import NoRedis, RedisConnector

__all__ = ["Ops", "build", "install", "post_fork", "prepare_metrics_dir"]

RequestT = TypeVar("RequestT", bound="falcon.Request")  # the app's request class


@dataclass
class Ops:
    """The ops objects of one app, their middleware (in order) and their routes."""

    metrics: Metrics
    redis: RedisConnector | NoRedis
    cache: TieredCache
    limiter: RateLimiter
    times: ResponseTimes
    sqlite: SqliteTier | None
    middleware: list[SyncMiddleware[falcon.Request, falcon.Response]] = field(default_factory=list)
    routes: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        """Flush the L3 cache and close this process's connections."""
        self.cache.close()
        self.redis.close()


def build(geocoder: AnyGeocoder, settings: Settings, cached: Mapping[str, Sequence[str]] | None = None,
          content_type: str = "application/json", served: ServedIndexes | None = None,
          client: ClientAddress | None = None) -> Ops:
    """Every ops object for ``geocoder`` from ``settings`` (parsed and checked already, by
    ``Settings.from_env``); connects to nothing yet.

    ``cached``: the routes whose answers are cached, each with the parameters that change its
    answer; ``content_type``: what those answers are sent as (the HTTP layer knows both);
    ``served``: every index served (``balise.served.ServedIndexes``), when there are several:
    the cache keys hold all their versions, the health checks ask each.
    ``client``: who sent a request (default: from ``BALISE_TRUSTED_PROXIES`` and ``_HOPS``).
    """
    from . import logging as access_log
    from .access import Access
    from .breaker import Breaker
    from .cache.entry import Ttls
    from .cache.middleware import CacheMiddleware
    from .cache.tiers import MemoryTier, RedisTier, SqliteTier, TieredCache
    from .clientip import AddressSet, ClientAddress
    from .compression import CompressionMiddleware
    from .health import Detailed, Live, Ready, ResponseTimes
    from .metrics import Metrics, MetricsMiddleware, MetricsResource
    from .ratelimit import RateLimiter, RateLimitMiddleware
    from .redis import RedisConnector

    metrics = Metrics()
    breaker = Breaker(settings.breaker_fail_max, settings.breaker_reset, metrics)
    redis = RedisConnector.of(settings.redis, breaker, settings.redis_timeout, settings.redis_max_connections)
    tiers: list[Tier] = []
    if settings.cache_entries > 0 and settings.cache_bytes > 0:
        tiers.append(MemoryTier(settings.cache_entries, settings.cache_bytes))
    if isinstance(redis, RedisConnector):
        tiers.append(RedisTier(redis))
    sqlite = SqliteTier(settings.cache_sqlite) if settings.cache_sqlite else None
    if sqlite is not None:
        tiers.append(sqlite)
    cache = TieredCache(tiers, metrics)
    limiter = RateLimiter(settings.rate_limits, redis, metrics)
    client = client or ClientAddress(AddressSet(settings.trusted_proxies), settings.trusted_hops)
    times = ResponseTimes()
    ttls = Ttls(settings.cache_ttl_exact, settings.cache_ttl_fuzzy, settings.cache_ttl_not_found)
    logger = access_log.configure(settings.log_format)

    # NOTE: falcon runs process_request in this order and process_response in reverse:
    # the log and the metrics see the whole request, a 429 is decided before any work (a
    # refused route counts too), and the cache stores an answer before compression encodes it.
    middleware: list[SyncMiddleware[falcon.Request, falcon.Response]] = [
        access_log.AccessLogMiddleware(logger, client, enabled=settings.log_requests),
        MetricsMiddleware(metrics),
        times,
        *([RateLimitMiddleware(limiter, client)] if limiter.rules else []),  # PERF: none, no call
        Access(client, AddressSet(settings.health_networks), settings.public_paths),
        CompressionMiddleware(settings.compress_min_size, settings.compress_levels),
    ]
    if tiers and cached:  # with no tier, a miss would still pay for its key (~0.01 ms)
        middleware.append(CacheMiddleware(cache, served or geocoder, ttls, cached, content_type))
    others = {name: served.holder(name) for name in served.names[1:]} if served is not None else {}
    routes: dict[str, object] = {
        "/metrics": MetricsResource(metrics, geocoder),
        "/health/live": Live(),
        "/health/ready": Ready(geocoder, others),
        "/health/detailed": Detailed(geocoder, redis, cache, times, sqlite,
                                     host_details=settings.health_host_details, others=others),
    }
    return Ops(metrics, redis, cache, limiter, times, sqlite, middleware, routes)


def install(app: falcon.App[RequestT, falcon.Response], geocoder: AnyGeocoder, settings: Settings,
            cached: Mapping[str, Sequence[str]] | None = None, content_type: str = "application/json",
            served: ServedIndexes | None = None, client: ClientAddress | None = None) -> Ops:
    """Adds the ops middleware and routes to ``app`` (before it serves its first request);
    the arguments are :func:`build`'s."""
    ops = build(geocoder, settings, cached, content_type, served, client)
    app.add_middleware(ops.middleware)
    for path, resource in ops.routes.items():
        app.add_route(path, resource)
    return ops


def prepare_metrics_dir(base: str | None = None) -> str:
    """Sets ``PROMETHEUS_MULTIPROC_DIR`` (if unset: a new directory under ``base``, else the
    system's temporary directory) and empties it of an earlier run's files, once per master.

    Call it in the server's master, before the app (and prometheus_client) is imported.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        parent = base if base and os.path.isdir(base) else tempfile.gettempdir()
        path = os.path.join(parent, f"balise-metrics-{os.getpid()}")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        # ours: removed when this process (the master, not a forked worker) exits
        atexit.register(_remove_metrics_dir, path, os.getpid())
    # NOTE: once per master (a second call must not remove the files of running workers).
    if os.environ.get("BALISE_METRICS_DIR_OWNER") != str(os.getpid()):
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        os.environ["BALISE_METRICS_DIR_OWNER"] = str(os.getpid())
    return path


def _remove_metrics_dir(path: str, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def post_fork() -> None:
    """In a new worker, before its first request: open its own Redis and SQLite connections
    now (fail open), so that its first request does not pay for them, and run what else
    registered for this moment (``process.at_worker_start``). Nothing is inherited from the
    master."""
    from .process import warm_all

    warm_all()
