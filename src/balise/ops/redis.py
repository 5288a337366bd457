"""Redis from one URL (``BALISE_REDIS_URL``, read as a ``values.RedisTarget``): a single
server, Sentinel or Cluster.

- ``redis://[[user]:password@]host:port[/db]`` and ``rediss://`` (TLS): one server.
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]``: the
  primary Sentinel names, found again after a failover (redis-py's ``Sentinel``); the
  password is the primary's.
- ``redis+cluster://[[user]:password@]host:port[,host:port...]``: a Redis Cluster; keys are
  spread over its slots (redis-py's ``RedisCluster``).
- empty: no Redis (:class:`NoRedis`): the L2 cache is off and rate limits stay in memory.

The pool is the plan's: ``BALISE_REDIS_MAX_CONNECTIONS`` (50) per worker, TCP keepalive,
and connect and read timeouts of ``BALISE_REDIS_TIMEOUT`` seconds (0.25): Redis is a cache,
waiting long for it is worse than computing the answer again. A call waits for one timeout
at most: no health-check PING before it (the plan's 30 s checks doubled a call's wait on a
frozen Redis), no retry after a timeout; a connection found dead is replaced once, at once.

Connections are per process (:class:`~balise.ops.process.PerProcess`): the pool is built
on first use, or when a worker starts (``ops.post_fork``), in the worker, never in the master.
Every call goes through the breaker (:meth:`RedisConnector.run`), building the client
included: a Cluster client connects as it is built.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any, Literal, TypeAlias, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..values import RedisTarget
from .breaker import Breaker, RedisUnavailable
from .process import PerProcess

T = TypeVar("T")
Client: TypeAlias = "redis.Redis | RedisCluster"

# The plan's TCP keepalive (idle 1 s, probes every 3 s, 5 probes), by name: the plan's
# snippet used the numbers 1, 2, 3, which on Linux are TCP_NODELAY, TCP_MAXSEG, TCP_CORK.
KEEPALIVE_OPTIONS = {
    getattr(socket, name): value
    for name, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 5))
    if hasattr(socket, name)
}


def connection_options(timeout: float, max_connections: int) -> dict[str, Any]:
    """The plan's pool: 50 connections, keepalive, short timeouts; one wait at most a call.

    NOTE: ``retry_on_timeout=True`` of the plan is deprecated since redis-py 6, whose
    default instead retries 3 times with backoff up to 10 s: far too long for a cache
    that must fail open. One immediate retry on a connection error (a connection the server
    closed while idle) is kept; a timeout is not retried, so that a call never waits for
    more than one.
    """
    return {
        "max_connections": max_connections,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE_OPTIONS,
        "health_check_interval": 0,
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    }


def make_client(target: RedisTarget, timeout: float = 0.25, max_connections: int = 50) -> Client:
    """A redis-py client of the target (``Redis`` or ``RedisCluster``), with its own pool."""
    options = connection_options(timeout, max_connections)
    if target.kind == "standalone":
        pool = redis.ConnectionPool.from_url(target.url, **options)
        return redis.Redis(connection_pool=pool)
    if target.kind == "sentinel":
        sentinel = Sentinel(
            list(target.hosts),
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        # redis-py's master_for is typed Any; the service name is always set for a Sentinel URL.
        primary: redis.Redis = sentinel.master_for(target.service_name or "", db=target.db,
                                                   username=target.username, password=target.password,
                                                   **options)
        return primary
    # NOTE: ``retry`` here is the cluster's: one retry (redis-py's default is 3, with
    # backoff); the client follows MOVED/ASK redirections and slot changes by itself.
    # redis-py's ClusterNode.__init__ has no annotations.
    nodes = [ClusterNode(h, p) for h, p in target.hosts]  # type: ignore[no-untyped-call]
    return RedisCluster(startup_nodes=nodes, username=target.username, password=target.password, **options)


class RedisConnector:
    """This process's Redis client, and the breaker all its calls go through."""

    enabled: Literal[True] = True

    def __init__(self, target: RedisTarget, breaker: Breaker, timeout: float = 0.25,
                 max_connections: int = 50) -> None:
        self.target = target
        self.breaker = breaker
        self.timeout = timeout
        self.max_connections = max_connections
        self._client: PerProcess[Client] = PerProcess(
            lambda: make_client(target, timeout, max_connections), close=_close, warm=self._warm)

    @classmethod
    def of(cls, target: RedisTarget | None, breaker: Breaker, timeout: float = 0.25,
           max_connections: int = 50) -> RedisConnector | NoRedis:
        """A connector, or :class:`NoRedis` when there is no target (``BALISE_REDIS_URL`` empty)."""
        if target is None:
            return NoRedis()
        return cls(target, breaker, timeout, max_connections)

    def client(self) -> Client:
        """This process's client (built on first use; call it through the breaker)."""
        return self._client.get()

    def run(self, op: str, func: Callable[[Client], T]) -> T:
        """``func(client)`` through the breaker; :class:`RedisUnavailable` if Redis was not usable."""
        result: T = self.breaker.call(op, self._call, func)  # mypy infers Any for a generic method
        return result

    def _call(self, func: Callable[[Client], T]) -> T:
        try:
            client = self._client.get()
        except Exception:
            self._client.reset()  # a Cluster client that could not connect is built again next time
            raise
        return func(client)

    def ping(self) -> float:
        """Seconds a PING took; :class:`RedisUnavailable` if it could not be made."""
        start = time.perf_counter()
        self.run("ping", lambda client: client.ping())
        return time.perf_counter() - start

    def _warm(self) -> None:
        with contextlib.suppress(RedisUnavailable):
            self.ping()

    def close(self) -> None:
        self._client.reset()

    def describe(self) -> dict[str, Any]:
        return self.target.describe()


class NoRedis:
    """No Redis configured: every call is "unavailable", and nothing counts it as a failure."""

    enabled: Literal[False] = False
    target = None

    def run(self, op: str, func: Callable[[Client], T]) -> T:
        raise RedisUnavailable(op)

    def ping(self) -> float:
        raise RedisUnavailable("ping")

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"kind": "none"}


def _close(client: Client) -> None:
    client.close()
