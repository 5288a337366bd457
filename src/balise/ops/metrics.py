"""Prometheus metrics, correct under the server's many worker processes.

Each worker is a process with its own counters; a scrape reaches one of them. In
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before
``prometheus_client`` is first imported: ``balise.ops.prepare_metrics_dir`` in
http/server.py does it) every process writes its values to files in that directory and
``/metrics`` adds them up, so any worker answers for all of them. Each scrape first drops
the live gauges of workers that are gone (:func:`forget_dead_workers`: the server has no
hook for a worker's exit). Outside a server (tests, one process) the values live in this
object's own registry.

Series (latencies in seconds, buckets from 0.5 ms: balise answers in milliseconds):

- ``balise_http_requests_total{endpoint,method,status}``, ``balise_http_request_duration_seconds{endpoint}``
- ``balise_cache_lookups_total{tier,result}`` (result: hit, miss), ``balise_cache_writes_total{tier,result}``
  (stored, skipped: not worth it, see ops/cache/)
- ``balise_redis_breaker_state`` (0 closed, 1 half-open, 2 open; the worst live worker),
  ``balise_redis_breaker_opened_total``, ``balise_redis_failures_total{op,reason}`` (reason:
  error, or open when the call was skipped)
- ``balise_rate_limited_total{scope}``, ``balise_rate_limit_fallback_total`` (checks made in
  process memory because Redis was unavailable)
- ``balise_index_info{version}``, ``balise_index_documents``, ``balise_index_housenumbers``,
  ``balise_index_built_timestamp_seconds``, ``balise_index_build_seconds``: read from the
  index at scrape time, so an index swapped in is seen at once.

``endpoint`` is the route template (``/search``), or ``other`` for unrouted paths, so that
scanners cannot create series without bound.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import falcon
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

if TYPE_CHECKING:
    from ..served import AnyGeocoder

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
                   0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))  # others: "other"


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class NullMetrics:
    """Records nothing: the twin every ops object uses when no metrics are wanted."""

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        pass

    def cache_lookup(self, tier: str, hit: bool) -> None:
        pass

    def cache_write(self, tier: str, stored: bool) -> None:
        pass

    def breaker_state(self, state: str) -> None:
        pass

    def redis_failure(self, op: str, reason: str) -> None:
        pass

    def rate_limited(self, scope: str) -> None:
        pass

    def rate_limit_fallback(self) -> None:
        pass


class Metrics(NullMetrics):
    """The series of balise, in a registry of their own (several apps may live in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # PERF: ``labels()`` costs more than the increment itself: children kept by labels.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._lookup_children: dict[tuple[str, bool], Counter] = {}
        self.requests = Counter("balise_http_requests", "HTTP requests answered",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("balise_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.lookups = Counter("balise_cache_lookups", "Lookups by tier: l1 memory, l2 redis, l3 sqlite",
                               ["tier", "result"], registry=r)
        self.writes = Counter("balise_cache_writes", "Answers written to a tier, or skipped: not worth it",
                              ["tier", "result"], registry=r)
        self.breaker = Gauge("balise_redis_breaker_state", "Redis breaker: 0 closed, 1 half-open, 2 open",
                             registry=r, multiprocess_mode="livemax")
        self.breaker_opened = Counter("balise_redis_breaker_opened", "Times the Redis breaker opened",
                                      registry=r)
        self.redis_failures = Counter("balise_redis_failures", "Redis calls failed or skipped (breaker open)",
                                      ["op", "reason"], registry=r)
        self.limited = Counter("balise_rate_limited", "Requests refused with 429", ["scope"], registry=r)
        self.fallback = Counter("balise_rate_limit_fallback",
                                "Rate-limit checks made in process memory (Redis unavailable)", registry=r)

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method if method in METHODS else "other", status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (self.requests.labels(key[0], key[1], str(status)),
                                              self.latency.labels(endpoint))
        children[0].inc()
        children[1].observe(seconds)

    def cache_lookup(self, tier: str, hit: bool) -> None:
        key = (tier, hit)
        child = self._lookup_children.get(key)
        if child is None:
            child = self._lookup_children[key] = self.lookups.labels(tier, "hit" if hit else "miss")
        child.inc()

    def cache_write(self, tier: str, stored: bool) -> None:
        self.writes.labels(tier, "stored" if stored else "skipped").inc()

    def breaker_state(self, state: str) -> None:
        self.breaker.set(BREAKER_STATES.get(state, 2))
        if state == "open":
            self.breaker_opened.inc()

    def redis_failure(self, op: str, reason: str) -> None:
        self.redis_failures.labels(op, reason).inc()

    def rate_limited(self, scope: str) -> None:
        self.limited.labels(scope).inc()

    def rate_limit_fallback(self) -> None:
        self.fallback.inc()


class IndexCollector:
    """The served index, read when scraped: version, size and build time."""

    def __init__(self, geocoder: AnyGeocoder) -> None:
        self.geocoder = geocoder

    def collect(self) -> Iterator[Metric]:
        manifest = self.geocoder.index.manifest
        counts = manifest.get("counts", {})
        info = GaugeMetricFamily("balise_index_info", "The served index (value 1)", labels=["version"])
        info.add_metric([str(self.geocoder.version)], 1)
        yield info
        for name, value, text in (
            ("documents", counts.get("documents"), "Documents in the served index"),
            ("housenumbers", counts.get("housenumbers"), "House numbers in the served index"),
            ("build_seconds", manifest.get("build_seconds"), "Seconds the served index took to build"),
            ("built_timestamp_seconds", _timestamp(manifest.get("built_at")), "When the index was built"),
        ):
            if value is not None:
                yield GaugeMetricFamily(f"balise_index_{name}", text, value=float(value))


def _timestamp(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


class MetricsMiddleware:
    """Counts every answer and its duration, by route template, method and status."""

    def __init__(self, metrics: NullMetrics) -> None:
        self.metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_start = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        start = req.context.get("metrics_start")
        if start is None:
            return
        endpoint = req.uri_template or "other"
        self.metrics.request(endpoint, req.method, resp.status_code, time.perf_counter() - start)


class MetricsResource:
    """``GET /metrics``: every worker's series (multiprocess mode) and the index's."""

    def __init__(self, metrics: Metrics, geocoder: AnyGeocoder) -> None:
        self.metrics = metrics
        self.index = IndexCollector(geocoder)

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        if multiprocess_mode():
            forget_dead_workers(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client: no annotations
        else:
            registry.register(_Forward(self.metrics.registry))
        registry.register(self.index)
        return registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        encoder, content_type = choose_encoder(req.get_header("Accept") or "")
        resp.data = encoder(self.registry())
        resp.content_type = content_type


class _Forward:
    """The series of another registry, as one collector (single-process mode)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.source = registry

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges of the processes that are gone (their counters stay); returns
    their pids. A glob and a signal 0 per file: cheap enough for every scrape."""
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        try:
            pid = int(os.path.basename(path)[:-3].rpartition("_")[2])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:  # alive, someone else's
            continue
    for pid in dead:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]  # prometheus_client: no annotations
    return sorted(dead)
