"""Health endpoints for probes and people: live, ready, detailed.

- ``GET /health/live``: the process answers (a liveness probe restarts it otherwise).
  Nothing else is checked: a Redis outage must not restart every pod. It says nothing of
  the host (no pid).
- ``GET /health/ready``: the index is open and answers a tiny query (a readiness probe
  keeps traffic away until then); 503 otherwise.
- ``GET /health/detailed``: index, Redis, cache tiers, memory, disk and recent response
  times of this worker. ``healthy`` (200); ``degraded`` (200: the service still answers,
  e.g. Redis down, its breaker open, memory or disk nearly full); ``unhealthy`` (503: the
  index does not answer). Only for operators: direct connections from
  ``BALISE_HEALTH_NETWORKS`` (loopback by default), 403 for others (ops/access.py); host
  details (paths, pid, memory figures, Redis hosts) only with
  ``BALISE_HEALTH_HOST_DETAILS=true``.

``/health`` itself is Addok's (http/resources.py), unchanged.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import falcon
import orjson

from .. import __version__
from ..geocoder import CurrentGeocoder
from .breaker import RedisUnavailable

if TYPE_CHECKING:
    from ..geocoder import Geocoder
    from ..served import AnyGeocoder
    from .cache.tiers import SqliteTier, TieredCache
    from .redis import NoRedis, RedisConnector

JSON = "application/json; charset=utf-8"
PROBE_QUERY = "rue"  # any index answers it, quickly
LOW_DISK = 0.05  # free fraction under which the disk is reported unhealthy
HIGH_MEMORY = 0.9  # fraction of the cgroup memory limit above which memory is unhealthy


class ResponseTimes:
    """Durations of this worker's recent answers: the last ``size`` within ``window`` seconds.

    Also a falcon middleware that records every answer.
    """

    def __init__(self, size: int = 2048, window: float = 300.0) -> None:
        self.window = window
        self._times: deque[tuple[float, float]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float, now: float | None = None) -> None:
        with self._lock:
            self._times.append((time.monotonic() if now is None else now, seconds))

    def summary(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = sorted(s for t, s in self._times if now - t <= self.window)
        out: dict[str, Any] = {"count": len(recent), "window_seconds": self.window}
        for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            out[name] = round(_quantile(recent, q) * 1000, 3) if recent else None
        return out

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.health_start = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        start = req.context.get("health_start")
        if start is not None and not req.path.startswith("/health"):
            self.add(time.perf_counter() - start)


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


def _send(resp: falcon.Response, body: dict[str, Any], status: int = 200) -> None:
    resp.status = falcon.code_to_http_status(status)
    resp.data = orjson.dumps(body)
    resp.content_type = JSON
    resp.set_header("Cache-Control", "no-store")


def _current(geocoder: AnyGeocoder) -> Geocoder:
    return geocoder.get() if isinstance(geocoder, CurrentGeocoder) else geocoder


def check_index(geocoder: AnyGeocoder) -> dict[str, Any]:
    """The served index answers a tiny query (and how fast), or why not."""
    try:
        g = _current(geocoder)
        start = time.perf_counter()
        g.search(PROBE_QUERY, limit=1)
        seconds = time.perf_counter() - start
        manifest = g.index.manifest
        return {"healthy": True, "version": g.version, "built_at": manifest.get("built_at"),
                "documents": manifest.get("counts", {}).get("documents"),
                "query_ms": round(seconds * 1000, 3)}
    except Exception as error:  # whatever broke, the report says it
        return {"healthy": False, "error": f"{type(error).__name__}: {error}"}


class Live:
    """``GET /health/live``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(resp, {"status": "alive"})


class Ready:
    """``GET /health/ready``: every index served answers (``others``: those beside the address
    index, by name: a POI index)."""

    def __init__(self, geocoder: AnyGeocoder, others: Mapping[str, AnyGeocoder] | None = None) -> None:
        self.geocoder = geocoder
        self.others = dict(others or {})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        index = check_index(self.geocoder)
        others = {name: check_index(g) for name, g in self.others.items()}
        broken = next((c for c in (index, *others.values()) if not c["healthy"]), None)
        if broken is None:
            body: dict[str, Any] = {"status": "ready", "index": index["version"]}
            if others:
                versions = {n: c["version"] for n, c in others.items()}
                body["indexes"] = {"address": index["version"], **versions}
            _send(resp, body)
        else:
            _send(resp, {"status": "unready", "error": broken["error"]}, 503)


class Detailed:
    """``GET /health/detailed``: every check, and the overall status (to operators only:
    ops/access.py decides who may read it).

    ``host_details``: whether paths, pid, memory figures and Redis hosts are shown (a reader
    of the report learns the host's layout).
    """

    def __init__(self, geocoder: AnyGeocoder, redis: RedisConnector | NoRedis | None = None,
                 cache: TieredCache | None = None, times: ResponseTimes | None = None,
                 sqlite: SqliteTier | None = None, host_details: bool = False,
                 others: Mapping[str, AnyGeocoder] | None = None) -> None:
        self.geocoder = geocoder
        self.others = dict(others or {})  # the indexes served beside the address one, by name
        self.redis = redis
        self.cache = cache
        self.times = times or ResponseTimes()
        self.sqlite = sqlite
        self.host_details = host_details

    def checks(self) -> dict[str, Any]:
        index = check_index(self.geocoder)
        paths = [Path(_current(self.geocoder).index.path)] if index["healthy"] else []
        if self.sqlite is not None:
            paths.append(Path(self.sqlite.path).parent)
        checks: dict[str, Any] = {
            "index": index,
            **{f"index_{name}": check_index(g) for name, g in self.others.items()},
            "redis": self.check_redis(),
            "memory": check_memory(),
            "disk": check_disk(paths),
            "response_time": self.times.summary(),
        }
        if self.cache is not None:
            checks["cache"] = {"healthy": True, "tiers": self.cache.snapshot()}
        if self.sqlite is not None and "cache" in checks:
            checks["cache"]["l3_errors"] = self.sqlite.errors
        return checks

    def check_redis(self) -> dict[str, Any]:
        if self.redis is None or not self.redis.enabled:
            return {"healthy": True, "status": "disabled"}
        out: dict[str, Any] = {"target": self.redis.describe(), "breaker": self.redis.breaker.snapshot()}
        try:
            out.update(healthy=True, status="up", ping_ms=round(self.redis.ping() * 1000, 3))
        except RedisUnavailable:
            out.update(healthy=False, status="down")
        out["breaker"]["state"] = self.redis.breaker.state
        return out

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = self.checks()
        if not all(c["healthy"] for name, c in checks.items() if name.startswith("index")):
            status, code = "unhealthy", 503
        elif all(c.get("healthy", True) for c in checks.values()):
            status, code = "healthy", 200
        else:
            status, code = "degraded", 200
        body: dict[str, Any] = {
            "status": status,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "version": __version__,
            "checks": checks,
        }
        if self.host_details:
            body["pid"] = os.getpid()
        else:
            without_host_details(checks)
        _send(resp, body, code)


def without_host_details(checks: dict[str, Any]) -> None:
    """Keep the verdicts, drop what describes the host: paths, memory figures, Redis hosts,
    and error texts (which may name paths)."""
    checks["memory"] = {"healthy": checks["memory"]["healthy"]}
    checks["disk"] = {"healthy": checks["disk"]["healthy"]}
    checks["redis"].pop("target", None)
    for name, check in checks.items():
        if name.startswith("index") and "error" in check:
            check["error"] = check["error"].split(":", 1)[0]  # the exception's type


def check_memory() -> dict[str, Any]:
    """This process's resident memory, the machine's available memory, the cgroup's use."""
    out: dict[str, Any] = {"healthy": True}
    rss = _proc_kb(Path("/proc/self/status"), "VmRSS")
    if rss is not None:
        out["rss_mb"] = round(rss / 1024, 1)
    available = _proc_kb(Path("/proc/meminfo"), "MemAvailable")
    if available is not None:
        out["available_mb"] = round(available / 1024, 1)
    limit, usage = _cgroup_memory()
    if limit and usage is not None:
        out.update(cgroup_limit_mb=round(limit / 2**20, 1), cgroup_usage_mb=round(usage / 2**20, 1))
        out["healthy"] = usage / limit < HIGH_MEMORY
    return out


def _proc_kb(path: Path, field: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_memory(root: Path = Path("/sys/fs/cgroup")) -> tuple[int | None, int | None]:
    """(limit, usage) in bytes from cgroup v2; None where unknown or unlimited."""
    try:
        raw = (root / "memory.max").read_text().strip()
        usage = int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None, None
    return (None if raw == "max" else int(raw)), usage


def check_disk(paths: list[Path]) -> dict[str, Any]:
    """Free space where the index and the L3 cache live."""
    out: dict[str, Any] = {"healthy": True, "paths": {}}
    for path in paths:
        try:
            usage = shutil.disk_usage(path)
        except OSError as error:
            out["paths"][str(path)] = {"error": str(error)}
            out["healthy"] = False
            continue
        free = usage.free / usage.total if usage.total else 1.0
        out["paths"][str(path)] = {"free_mb": round(usage.free / 2**20, 1),
                                   "total_mb": round(usage.total / 2**20, 1), "free_ratio": round(free, 4)}
        if free < LOW_DISK:
            out["healthy"] = False
    return out

