"""Settings, read once from the environment (``BALISE_*``), one line each."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may keep busy: its CPU set, capped by the cgroup CPU quota.

    NOTE: not ``os.cpu_count()``, which counts the host's CPUs; a container limited to
    2 CPUs on a 64-core node would start 64 CPU-bound workers and be throttled.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, int(quota))  # rounded down: a partial CPU cannot carry a worker
    return max(cpus, 1)


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs allowed by cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None if unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # v2: "max 100000"
    except (OSError, ValueError):
        try:  # v1
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or int(period) <= 0:
        return None
    return int(quota) / int(period)


def _workers(value: str) -> int:
    """Server workers: the number given, else one per available CPU."""
    return int(value) if value.strip() else available_cpus()


def _keepalive(value: str) -> int:
    """Seconds, within what the server accepts (granian: 1 ms to 60 s)."""
    seconds = int(value)
    if not 1 <= seconds <= 60:
        raise ValueError(f"KEEPALIVE must be 1 to 60 seconds, not {seconds}")
    return seconds


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    convert: type | object = str


SETTINGS = [
    Setting("BALISE_INDEX", "var/index", "index directory served and searched by default"),
    Setting("BALISE_RULES", "fr", "text rules used when importing (country)"),
    Setting("BALISE_CORS_ORIGIN", "*", "Access-Control-Allow-Origin of every HTTP answer"),
    Setting("BALISE_CSV_MAX_BYTES", "50000000", "largest CSV upload in bytes (413 beyond; 0: no limit)", int),
    # The HTTP server (`balise serve`: granian, http/server.py).
    Setting("BIND", "127.0.0.1:7878", "address:port the server listens on", str),
    Setting("WORKERS", "", "worker processes; empty: one per CPU of the cgroup quota", _workers),
    Setting("THREADS", "4", "threads running the app in each worker (CSV uploads may use all but one)", int),
    Setting("KEEPALIVE", "30", "seconds for a request's headers to arrive, and an idle connection to stay "
            "open (1..60)", _keepalive),
    Setting("GRACEFUL_TIMEOUT", "30", "seconds a worker has to finish its requests when stopped", int),
    Setting("WORKER_MAX_RSS", "0", "MiB of memory after which a worker is replaced; 0: never", int),
    Setting("WORKER_LIFETIME", "0", "seconds after which a worker is replaced (60 or more); 0: never", int),
    Setting("WORKER_CHECK_INTERVAL", "30", "seconds between two checks of WORKER_MAX_RSS (1..300)", int),
    Setting("WORKER_TMP_DIR", "/dev/shm", "where the metrics of the workers are written (RAM, not disk)"),
    Setting("LOG_LEVEL", "info", "server log level (requests are logged by balise: BALISE_LOG_*)"),
    # Index roots and bundles (`balise bundle`, index/pointer.py, docs/deploy.md).
    Setting("BALISE_INDEX_KEEP", "2", "index versions kept under an index root, current included", int),
    Setting("BALISE_BUNDLE_URL", "", "index bundle fetched by `balise bundle fetch` when no URL is given"),
    Setting("BALISE_BUNDLE_SHA256", "", "expected sha256 of that bundle; empty: read from URL.sha256"),
    Setting("BALISE_FETCH_TIMEOUT", "30", "seconds any socket operation of a download may take", float),
    Setting("BALISE_FETCH_RETRIES", "6", "download retries without progress (backoff 1, 2, 4... s)", int),
    # The ops layer (balise/ops/, docs in its modules): Redis, cache tiers, rate limits, logs.
    Setting("BALISE_REDIS_URL", "", "Redis of the L2 cache and rate limits: redis[s]://, "
            "redis+sentinel://h:p[,h:p]/service[/db], redis+cluster://h:p[,h:p]; empty: none"),
    Setting("BALISE_REDIS_TIMEOUT", "0.25", "seconds a Redis connect or command may take (then: failure)",
            float),
    Setting("BALISE_REDIS_MAX_CONNECTIONS", "50", "Redis connections per worker (pool size)", int),
    Setting("BALISE_BREAKER_FAIL_MAX", "5", "consecutive Redis failures that open the circuit breaker", int),
    Setting("BALISE_BREAKER_RESET", "30", "seconds the breaker stays open before one trial call", float),
    Setting("BALISE_CACHE_ENTRIES", "10000", "L1 in-process cache: most answers per worker (0: no L1)", int),
    Setting("BALISE_CACHE_BYTES", "8000000", "L1 in-process cache: most bytes of answers per worker", int),
    Setting("BALISE_CACHE_SQLITE", "", "L3 persistent cache (SQLite file); empty: no L3"),
    Setting("BALISE_CACHE_TTL_EXACT", "86400", "seconds an exact match is cached (ops/cache.py)", int),
    Setting("BALISE_CACHE_TTL_FUZZY", "3600", "seconds any other match is cached", int),
    Setting("BALISE_CACHE_TTL_NOT_FOUND", "300", "seconds an answer without results is cached", int),
    Setting("BALISE_RATE_LIMITS", "/search=10/second;*=100/minute,1000/hour",
            "limits per client IP: PATH=LIMIT[,LIMIT] rules split by ';', '*' all paths; empty: none"),
    Setting("BALISE_TRUSTED_PROXIES", "", "proxies trusted for X-Forwarded-For: IPs or networks, commas"),
    Setting("BALISE_HEALTH_NETWORKS", "127.0.0.0/8,::1", "clients that may read /health/detailed: IPs or "
            "networks, commas (the client behind BALISE_TRUSTED_PROXIES); empty: nobody"),
    Setting("BALISE_HEALTH_HOST_DETAILS", "false", "show paths, pid, memory figures and Redis hosts in "
            "/health/detailed", _bool),
    Setting("BALISE_COMPRESS_MIN_SIZE", "500", "smallest answer in bytes that is compressed", int),
    Setting("BALISE_COMPRESS_LEVELS", "br=4,gzip=6,zstd=3", "compression level of each encoding"),
    Setting("BALISE_LOG_FORMAT", "json", "request log lines: json (one object a line) or text"),
    Setting("BALISE_LOG_REQUESTS", "true", "log one line per HTTP request", _bool),
    # POST /batch (http/batch.py) and the web page at / (http/web.py).
    Setting("BALISE_BATCH_MAX", "100", "most requests in one POST /batch (400 beyond)", int),
    Setting("BALISE_BATCH_MAX_BYTES", "1000000", "largest POST /batch body in bytes (413 beyond)", int),
    Setting("BALISE_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "map tiles of the web page at / (Leaflet URL template); empty: a map without tiles"),
    Setting("BALISE_TILES_ATTRIBUTION", '&copy; <a href="https://www.openstreetmap.org/copyright">'
            "OpenStreetMap</a> contributors", "attribution shown under those tiles (HTML)"),
]


@dataclass(frozen=True)
class Settings:
    """The values of ``SETTINGS``, field by field in the same order (defaults live there)."""

    index: str
    rules: str
    cors_origin: str
    csv_max_bytes: int
    bind: str
    workers: int
    threads: int
    keepalive: int
    graceful_timeout: int
    worker_max_rss: int
    worker_lifetime: int
    worker_check_interval: int
    worker_tmp_dir: str
    log_level: str
    index_keep: int
    bundle_url: str
    bundle_sha256: str
    fetch_timeout: float
    fetch_retries: int
    redis_url: str
    redis_timeout: float
    redis_max_connections: int
    breaker_fail_max: int
    breaker_reset: float
    cache_entries: int
    cache_bytes: int
    cache_sqlite: str
    cache_ttl_exact: int
    cache_ttl_fuzzy: int
    cache_ttl_not_found: int
    rate_limits: str
    trusted_proxies: str
    health_networks: str
    health_host_details: bool
    compress_min_size: int
    compress_levels: str
    log_format: str
    log_requests: bool
    batch_max: int
    batch_max_bytes: int
    tiles_url: str
    tiles_attribution: str

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for setting, f in zip(SETTINGS, fields(cls), strict=True):
            raw = env.get(setting.name, setting.default)
            values[f.name] = setting.convert(raw) if setting.convert is not str else raw
        return cls(**values)
