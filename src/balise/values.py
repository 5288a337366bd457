"""The converters of settings (:mod:`balise.config`) and the typed values they make.

Each converter takes the text of an environment variable and returns its value, or raises
``ValueError`` saying what a value looks like (``config`` adds the variable's name).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

from limits import RateLimitItem, parse_many

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError("true or false (also 1/0, yes/no, on/off)")


def integer(low: int | None = None, high: int | None = None, zero_or_from: int | None = None
            ) -> Callable[[str], int]:
    """An integer converter: within [low, high]; with ``zero_or_from``, 0 or at least that."""

    def convert(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"an integer from {low}" + (f" to {high}" if high is not None else ""))
        if zero_or_from is not None and 0 < value < zero_or_from:
            raise ValueError(f"0, or {zero_or_from} or more")
        return value

    return convert


def number(above: float | None = None) -> Callable[[str], float]:
    """A finite number converter, over ``above`` if given."""

    def convert(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("a number") from None
        if not math.isfinite(value) or (above is not None and value <= above):
            raise ValueError("a finite number" + (f" over {above:g}" if above is not None else ""))
        return value

    return convert


def choice(*allowed: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        word = text.strip().lower()
        if word not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return word

    return convert


def bind(text: str) -> str:
    """``host:port`` (``[v6]:port``; an empty host listens everywhere)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("host:port, the port 0 to 65535")
    return f"{host}:{int(port)}"


ADDOK_PATHS = ("/search", "/reverse", "/lookup", "/batch", "/status", "/health", "/openapi.json", "/static",
               "/metrics")


def path_prefix(text: str) -> str:
    """A URL path prefix (``/geocodage``, ``/api/geocodage``): ASCII letters, digits, ``-``, ``_``,
    ``.`` between slashes, not one of the Addok API's paths; empty: none."""
    prefix = text.strip().rstrip("/")
    if not prefix:
        return ""
    parts = prefix.split("/")
    if parts[0] or any(not p or p in (".", "..") or not all(c.isascii() and (c.isalnum() or c in "-_.")
                                                            for c in p) for p in parts[1:]):
        raise ValueError("a path such as /geocodage (letters, digits, - _ . between slashes), or empty")
    if any(prefix == p or prefix.startswith(p + "/") for p in ADDOK_PATHS):
        raise ValueError(f"{prefix} is a path of the Addok API")
    return prefix


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


def workers(text: str) -> int:
    """Server workers: the number given, else one per available CPU."""
    return integer(1)(text) if text.strip() else available_cpus()


# --- compression levels ----------------------------------------------------------------------

LEVELS = {"br": (0, 11), "gzip": (0, 9), "zstd": (1, 22)}
DEFAULT_LEVELS = MappingProxyType({"br": 4, "gzip": 6, "zstd": 3})


def compression_levels(text: str) -> Mapping[str, int]:
    """``"br=4,gzip=6"`` over the defaults."""
    levels = dict(DEFAULT_LEVELS)
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        bounds = LEVELS.get(name)
        if bounds is None or not value.lstrip("-").isdigit() or not bounds[0] <= int(value) <= bounds[1]:
            raise ValueError(f"br=N,gzip=N,zstd=N (br 0..11, gzip 0..9, zstd 1..22), not {item!r}")
        levels[name] = int(value)
    return MappingProxyType(levels)


# --- networks --------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A host name as DNS writes it: labels of letters, digits and '-', split by dots.
HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


@dataclass(frozen=True)
class Hosts:
    """Addresses and networks, and host names that stand for the addresses they resolve to
    (a Kubernetes headless Service names the pods behind it: ops/clientip.py resolves them
    while serving)."""

    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    def __str__(self) -> str:
        return ",".join([*map(str, self.networks), *self.names])


def networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` as networks."""
    found = hosts(text)
    if found.names:
        raise ValueError(f"IP addresses or networks, commas; not {found.names[0]!r}")
    return found.networks


def hosts(text: str) -> Hosts:
    """``"127.0.0.1, 10.0.0.0/8, gateway.example.svc"``: IP addresses, networks or host names."""
    found, names = [], []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            if not HOST_NAME.fullmatch(item) or item.replace(".", "").isdigit():
                raise ValueError(f"IP addresses, networks or host names, commas; not {item!r}") from None
            names.append(item.rstrip(".").lower())
    return Hosts(tuple(found), tuple(names))


def public_paths(text: str) -> tuple[str, ...]:
    """``"/search/*, /openapi.json"``: routes (``/x/*``: the route ``/x`` and those below it)."""
    found = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        base = item[:-2] if item.endswith("/*") else item
        if not item.startswith("/") or "*" in base or (base != "/" and base.endswith("/")):
            raise ValueError(f"routes such as /search/* or /health, commas; not {item!r}")
        found.append(item)
    return tuple(found)


# --- rate limits -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRule:
    """Limits on one path (and the paths below it), or on all of them (``*``)."""

    path: str
    limits: tuple[RateLimitItem, ...]

    def covers(self, path: str) -> bool:
        return self.path == "*" or path == self.path or path.startswith(self.path.rstrip("/") + "/")


def rate_rules(text: str) -> tuple[RateRule, ...]:
    """``"/search=10/second;*=100/minute,1000/hour"`` as rules (``limits``' notation)."""
    rules = []
    for chunk in (c.strip() for c in text.split(";")):
        if not chunk:
            continue
        path, sep, spec = chunk.partition("=")
        path = path.strip()
        if not sep or not (path == "*" or path.startswith("/")):
            raise ValueError(f"rules PATH=LIMITS or *=LIMITS split by ';', not {chunk!r}")
        try:
            items = tuple(parse_many(spec))
        except ValueError as error:
            raise ValueError(f"bad limits in {chunk!r}: {error}") from None
        rules.append(RateRule(path, items))
    return tuple(rules)


# --- Redis -----------------------------------------------------------------------------------

REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "redis+cluster")


@dataclass(frozen=True)
class RedisTarget:
    """What ``BALISE_REDIS_URL`` points to (see :mod:`balise.ops.redis`)."""

    kind: str  # "standalone", "sentinel" or "cluster"
    url: str = field(repr=False)  # may hold a password
    hosts: tuple[tuple[str, int], ...]
    service_name: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """The target without its credentials (for health reports and logs)."""
        out: dict[str, Any] = {"kind": self.kind, "hosts": [f"{h}:{p}" for h, p in self.hosts]}
        if self.service_name:
            out["service_name"] = self.service_name
        if self.db:
            out["db"] = self.db
        return out


def redis_target(url: str) -> RedisTarget | None:
    """The target of a Redis URL, None when empty."""
    return parse_redis_url(url.strip()) if url.strip() else None


def parse_redis_url(url: str) -> RedisTarget:
    """The target of a Redis URL; ``ValueError`` with the reason if it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"unknown Redis URL scheme {parts.scheme!r} in {url!r}; known: "
                         f"{', '.join(REDIS_SCHEMES)}")
    netloc = parts.netloc
    username = password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, _, secret = auth.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    try:
        hosts = tuple(_host_port(h) for h in netloc.split(",") if h)
    except ValueError:
        raise ValueError(f"a port is a number: {url!r}") from None
    if not hosts:
        raise ValueError(f"no host in Redis URL {url!r}")
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme == "redis+sentinel":
        if not path:
            raise ValueError(f"a Sentinel URL names its service (redis+sentinel://host:port/NAME): {url!r}")
        db = _db(path[1] if len(path) > 1 else "0", url)
        return RedisTarget("sentinel", url, hosts, path[0], db, username, password)
    if parts.scheme == "redis+cluster":
        if path:
            raise ValueError(f"a Redis Cluster has no database number: {url!r}")
        return RedisTarget("cluster", url, hosts, None, 0, username, password)
    if len(hosts) > 1:
        raise ValueError(f"one host in a redis:// URL (more: redis+sentinel://, redis+cluster://): {url!r}")
    return RedisTarget("standalone", url, hosts, None, _db(path[0] if path else "0", url), username, password)


def _host_port(text: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 6379) or ``[v6 address]:port``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "6379"
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = text, "6379"
    return host, int(port)


def _db(text: str, url: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"the database of a Redis URL is a number: {url!r}") from None
