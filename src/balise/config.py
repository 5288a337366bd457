"""Settings, read once from the environment (``BALISE_*`` and the server's), one line each.

Each setting is declared once, as a field of :class:`Settings`: its variable, its default
(as written in the environment), its help and its converter. :meth:`Settings.from_env`
reads and converts them all when a program starts, and raises one :class:`SettingError`
that names every bad variable; the typed values are then passed down explicitly
(``create_app(geocoder, settings)``, ``ops.build(geocoder, settings)``...). Nothing reads the
environment at import. ``SETTINGS`` lists the declarations, in order, for docs and tests.
The converters and the typed values they make are in :mod:`balise.values`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .values import (
    Hosts,
    RateRule,
    RedisTarget,
    available_cpus,
    bind,
    boolean,
    choice,
    compression_levels,
    hosts,
    integer,
    number,
    path_prefix,
    public_paths,
    rate_rules,
    redis_target,
    workers,
)

__all__ = ["SETTINGS", "Setting", "SettingError", "Settings", "available_cpus"]


@dataclass(frozen=True)
class Setting:
    """One setting: its variable, its default as written in the environment, its help, the
    converter of its text (``ValueError`` when the text is not a value) and its field."""

    name: str
    default: str
    help: str
    convert: Callable[[str], Any] = str
    field: str = ""


class SettingError(ValueError):
    """Settings whose text is not a value; the message names each variable and why."""


def setting(name: str, default: str, help: str, convert: Callable[[str], Any] = str) -> Any:
    """A field of :class:`Settings`, read from the variable ``name``."""
    return field(metadata={"setting": Setting(name, default, help, convert)})


@dataclass(frozen=True)
class Settings:
    """Every setting, converted. Build it with :meth:`from_env`."""

    index: str = setting("BALISE_INDEX", "var/index", "index directory served and searched by default")
    rules: str = setting("BALISE_RULES", "fr", "text rules used when importing (country)")
    # The Géoplateforme's geocoding API (http/geocodage/, docs/geocodage.md).
    poi_index: str = setting("BALISE_POI_INDEX", "", "index directory (or root, as BALISE_INDEX) of points "
                             "of interest, served as index=poi by the Géoplateforme API; empty: none")
    # Addok's ATTRIBUTION and LICENCE: every answer's (search/geojson.py, docs/migrating-from-addok.md).
    attribution: str = setting("BALISE_ATTRIBUTION", "", "attribution of every answer; empty: the "
                               "producers of the index's sources (BAN, BANO; BAN for Addok NDJSON)")
    licence: str = setting("BALISE_LICENCE", "", "licence of every answer; empty: that of the index's "
                           "sources (BAN: ETALAB-2.0, BANO: ODbL)")
    geocodage_prefix: str = setting("BALISE_GEOCODAGE_PREFIX", "/geocodage", "path under which the "
                                    "Géoplateforme geocoding API is served; empty: not served", path_prefix)
    cors_origin: str = setting("BALISE_CORS_ORIGIN", "*", "Access-Control-Allow-Origin of every HTTP answer")
    csv_max_bytes: int = setting("BALISE_CSV_MAX_BYTES", "50000000",
                                 "largest CSV upload in bytes (413 beyond; 0: no limit)", integer(0))
    csv_max_rows: int = setting("BALISE_CSV_MAX_ROWS", "200000", "most lines in one CSV upload (413 "
                                "beyond; 0: no limit)", integer(0))
    spool_dir: str = setting("BALISE_SPOOL_DIR", "", "where CSV uploads over 1 MB wait while the form is "
                             "read; empty: the system's temporary directory (TMPDIR)")
    # Request bodies (POST /batch, CSV uploads: http/bodies.py).
    body_timeout: float = setting("BALISE_BODY_TIMEOUT", "10", "seconds a request body may take on top of "
                                  "what BALISE_BODY_MIN_RATE allows (408 after)", number(above=0))
    body_min_rate: int = setting("BALISE_BODY_MIN_RATE", "50000", "bytes per second a request body must "
                                 "keep up with, after BALISE_BODY_TIMEOUT", integer(1))
    client_uploads: int = setting("BALISE_CLIENT_UPLOADS", "2", "request bodies one client may be sending, "
                                  "and CSV files it may be having geocoded, at once in each worker (429 "
                                  "beyond)", integer(1))
    # The HTTP server (`balise serve`: granian, http/server.py).
    bind: str = setting("BIND", "127.0.0.1:7878", "address:port the server listens on", bind)
    workers: int = setting("WORKERS", "", "worker processes; empty: one per CPU of the cgroup quota", workers)
    threads: int = setting("THREADS", "4", "threads running the app in each worker (CSV uploads may use "
                           "all but one)", integer(1))
    keepalive: int = setting("KEEPALIVE", "30", "seconds for a request's headers to arrive, and an idle "
                             "connection to stay open (1..60)", integer(1, 60))
    max_connections: int = setting("MAX_CONNECTIONS", "0", "connections each worker holds at once, idle "
                                   "ones included (others wait to be accepted); 0: 10000, or fewer if "
                                   "the open-file limit is lower", integer(0))
    send_timeout: int = setting("SEND_TIMEOUT", "30", "seconds a client may leave an answer unread (its "
                                "window closed) before its connection is dropped; 0: the system's "
                                "(minutes)", integer(0, 3600))
    graceful_timeout: int = setting("GRACEFUL_TIMEOUT", "30",
                                    "seconds a worker has to finish its requests when stopped", integer(0))
    worker_max_rss: int = setting("WORKER_MAX_RSS", "0", "MiB of memory after which a worker is replaced; "
                                  "0: never", integer(0))
    worker_lifetime: int = setting("WORKER_LIFETIME", "0", "seconds after which a worker is replaced (60 or "
                                   "more); 0: never", integer(0, zero_or_from=60))
    worker_check_interval: int = setting(
        "WORKER_CHECK_INTERVAL", "30", "seconds between two checks of WORKER_MAX_RSS (1..300)",
        integer(1, 300))
    worker_tmp_dir: str = setting("WORKER_TMP_DIR", "/dev/shm",
                                  "where the metrics of the workers are written (RAM, not disk)")
    log_level: str = setting("LOG_LEVEL", "info", "server log level: critical, error, warning, info, debug "
                             "(requests are logged by balise: BALISE_LOG_*)",
                             choice("critical", "error", "warning", "warn", "info", "debug", "notset"))
    # Index roots and bundles (`balise bundle`, index/pointer.py, docs/deploy.md).
    index_keep: int = setting("BALISE_INDEX_KEEP", "2", "index versions kept under an index root, current "
                              "included", integer(1))
    bundle_url: str = setting("BALISE_BUNDLE_URL", "", "index bundle fetched by `balise bundle fetch` when "
                              "no URL is given")
    bundle_sha256: str = setting("BALISE_BUNDLE_SHA256", "", "expected sha256 of that bundle; empty: read "
                                 "from URL.sha256")
    fetch_timeout: float = setting("BALISE_FETCH_TIMEOUT", "30", "seconds any socket operation of a download "
                                   "may take", number(above=0))
    fetch_retries: int = setting("BALISE_FETCH_RETRIES", "6", "download retries without progress (backoff 1, "
                                 "2, 4... s)", integer(0))
    # The ops layer (balise/ops/, docs in its modules): Redis, cache tiers, rate limits, logs.
    redis: RedisTarget | None = setting(
        "BALISE_REDIS_URL", "", "Redis of the L2 cache and rate limits: redis[s]://, "
        "redis+sentinel://h:p[,h:p]/service[/db], redis+cluster://h:p[,h:p]; empty: none", redis_target)
    redis_timeout: float = setting("BALISE_REDIS_TIMEOUT", "0.25", "seconds a Redis connect or command may "
                                   "take (then: failure)", number(above=0))
    redis_max_connections: int = setting("BALISE_REDIS_MAX_CONNECTIONS", "50",
                                         "Redis connections per worker (pool size)", integer(1))
    breaker_fail_max: int = setting("BALISE_BREAKER_FAIL_MAX", "5",
                                    "consecutive Redis failures that open the circuit breaker", integer(1))
    breaker_reset: float = setting("BALISE_BREAKER_RESET", "30", "seconds the breaker stays open before one "
                                   "trial call", number(above=0))
    cache_entries: int = setting("BALISE_CACHE_ENTRIES", "10000", "L1 in-process cache: most answers per "
                                 "worker (0: no L1)", integer(0))
    cache_bytes: int = setting("BALISE_CACHE_BYTES", "8000000", "L1 in-process cache: most bytes of answers "
                               "per worker", integer(0))
    cache_sqlite: str = setting("BALISE_CACHE_SQLITE", "", "L3 persistent cache (SQLite file); empty: no L3")
    cache_ttl_exact: int = setting("BALISE_CACHE_TTL_EXACT", "86400", "seconds an answer whose first result "
                                   "matched the query exactly is cached (ops/cache/)", integer(0))
    cache_ttl_fuzzy: int = setting("BALISE_CACHE_TTL_FUZZY", "3600", "seconds any other answer with results "
                                   "is cached", integer(0))
    cache_ttl_not_found: int = setting("BALISE_CACHE_TTL_NOT_FOUND", "300",
                                       "seconds an answer without results is cached", integer(0))
    rate_limits: tuple[RateRule, ...] = setting(
        "BALISE_RATE_LIMITS", "*=100/second,3000/minute;/search/csv=100000/hour;/reverse/csv=100000/hour",
        "limits per client IP (IPv6: per /64): PATH=LIMIT[,LIMIT] rules split by ';', '*' all paths; a "
        "request counts its work (a batch its items, a CSV its lines), at most a whole limit; empty: none",
        rate_rules)
    trusted_proxies: Hosts = setting(
        "BALISE_TRUSTED_PROXIES", "", "proxies whose X-Forwarded-For is read: IPs, networks or host names "
        "(resolved every 30 s), commas", hosts)
    trusted_hops: int = setting("BALISE_TRUSTED_HOPS", "1", "proxies in front of balise that append to "
                                "X-Forwarded-For; the client is the address the farthest one saw",
                                integer(1, 10))
    health_networks: Hosts = setting(
        "BALISE_HEALTH_NETWORKS", "127.0.0.0/8,::1", "operators: clients that may read /metrics, "
        "/health/detailed, /status's details and routes outside BALISE_PUBLIC_PATHS, when they connect "
        "directly (not through a trusted proxy): IPs, networks or host names, commas; empty: nobody", hosts)
    public_paths: tuple[str, ...] = setting(
        "BALISE_PUBLIC_PATHS", "", "routes every client may reach (/x/*: /x and those below), commas; "
        "others answer 404 but to operators; empty: every route but /metrics and /health/detailed",
        public_paths)
    health_host_details: bool = setting("BALISE_HEALTH_HOST_DETAILS", "false", "show paths, pid, memory "
                                        "figures and Redis hosts in /health/detailed", boolean)
    compress_min_size: int = setting("BALISE_COMPRESS_MIN_SIZE", "500",
                                     "smallest answer in bytes that is compressed", integer(0))
    compress_levels: Mapping[str, int] = setting(
        "BALISE_COMPRESS_LEVELS", "br=4,gzip=6,zstd=3",
        "compression level of each encoding (br 0..11, gzip 0..9, zstd 1..22)", compression_levels)
    log_format: str = setting("BALISE_LOG_FORMAT", "json", "request log lines: json (one object a line) or "
                              "text", choice("json", "text"))
    log_requests: bool = setting("BALISE_LOG_REQUESTS", "true", "log one line per HTTP request", boolean)
    # POST /batch (http/jsonbatch.py) and the web page at / (http/web.py).
    batch_max: int = setting("BALISE_BATCH_MAX", "100", "most requests in one POST /batch (400 beyond)",
                             integer(1))
    batch_max_bytes: int = setting("BALISE_BATCH_MAX_BYTES", "1000000",
                                   "largest POST /batch body in bytes (413 beyond)", integer(1))
    tiles_url: str = setting(
        "BALISE_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "map tiles of the web page at / (Leaflet URL template); empty: a map without tiles")
    tiles_attribution: str = setting(
        "BALISE_TILES_ATTRIBUTION", '&copy; <a href="https://www.openstreetmap.org/copyright">'
        "OpenStreetMap</a> contributors", "attribution shown under those tiles (HTML)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every setting from ``env`` (default: the process environment), converted;
        :class:`SettingError` naming each variable whose text is not a value."""
        env = os.environ if env is None else env
        values, problems = {}, []
        for declared in SETTINGS:
            text = env.get(declared.name, declared.default)
            try:
                values[declared.field] = declared.convert(text)
            except ValueError as error:
                problems.append(f"{declared.name}={text!r}: {error}")
        if problems:
            raise SettingError("bad settings: " + "; ".join(problems))
        return cls(**values)


SETTINGS: tuple[Setting, ...] = tuple(replace(f.metadata["setting"], field=f.name) for f in fields(Settings))
