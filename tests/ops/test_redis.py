"""Redis from one URL: parsing, the plan's pool, per-process clients, Sentinel failover, Cluster."""

from __future__ import annotations

import os
import socket
import time

import pytest

from balise.ops.breaker import Breaker, RedisUnavailable
from balise.ops.cache.entry import Entry
from balise.ops.cache.tiers import RedisTier
from balise.ops.process import PerProcess, warm_all
from balise.ops.ratelimit import RateLimiter
from balise.ops.redis import NoRedis, RedisConnector
from balise.values import parse_redis_url as parse_url
from balise.values import rate_rules, redis_target
from tests.ops.conftest import wait_for


def test_urls():
    one = parse_url("redis://:secret@cache.local:6380/2")
    assert (one.kind, one.hosts, one.db) == ("standalone", (("cache.local", 6380),), 2)
    assert one.password == "secret"
    assert "secret" not in repr(one) and "secret" not in str(one.describe())
    assert parse_url("rediss://cache.local").hosts == (("cache.local", 6379),)
    sentinel = parse_url("redis+sentinel://s1:26379,s2:26379,[::1]:26380/balise/3")
    assert (sentinel.kind, sentinel.service_name, sentinel.db) == ("sentinel", "balise", 3)
    assert sentinel.hosts == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    cluster = parse_url("redis+cluster://user:pw@n1:7000,n2:7001")
    assert (cluster.kind, cluster.username, cluster.password) == ("cluster", "user", "pw")
    assert len(cluster.hosts) == 2
    for bad in ("http://x", "redis+sentinel://s1:1", "redis://a:1,b:2", "redis+cluster://a:1/0", "redis://h/x",
                "redis://"):
        with pytest.raises(ValueError):
            parse_url(bad)
    assert isinstance(RedisConnector.of(redis_target("  "), Breaker()), NoRedis)


def test_the_plans_pool_options(redis_url):
    connector = RedisConnector.of(redis_target(redis_url), Breaker(), timeout=0.3, max_connections=50)
    client = connector.client()
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    assert pool.max_connections == 50
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.3
    # one wait at most a call: no PING before it, no retry after a timeout (issue 19)
    assert kwargs["socket_keepalive"] is True and kwargs["health_check_interval"] == 0
    assert kwargs["retry"].get_retries() == 1
    assert kwargs["socket_keepalive_options"] == {socket.TCP_KEEPIDLE: 1, socket.TCP_KEEPINTVL: 3,
                                                  socket.TCP_KEEPCNT: 5}
    assert connector.ping() < 0.3


def test_no_redis_is_always_unavailable():
    with pytest.raises(RedisUnavailable):
        NoRedis().run("op", lambda client: client.get("k"))


def test_clients_are_never_shared_across_a_fork(redis_url):
    connector = RedisConnector.of(redis_target(redis_url), Breaker())
    parent = connector.client()
    connector.ping()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a client of its own, which works
        try:
            child = connector.client()
            ok = child is not parent and connector.ping() > 0 and connector.client() is child
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert connector.client() is parent and connector.ping() > 0  # the parent's still works


def test_post_fork_warms_the_new_process(redis_url, shared_redis):
    connector = RedisConnector.of(redis_target(redis_url), Breaker())
    assert not connector._client.built
    warm_all()  # what the server runs in each new worker
    assert connector._client.built
    with shared_redis.client() as c:
        assert c.info("clients")["connected_clients"] >= 2  # this client and ours


def test_per_process_values_are_rebuilt_after_reset():
    built = []
    holder = PerProcess(lambda: built.append(1) or len(built))
    assert holder.get() == 1 and holder.get() == 1
    holder.reset()
    assert holder.get() == 2


def test_sentinel_failover_resumes_writes_on_the_new_primary(sentinel_set):
    breaker = Breaker(fail_max=3, reset_timeout=0.2)
    connector = RedisConnector.of(redis_target(sentinel_set.url), breaker, timeout=0.2)
    tier = RedisTier(connector)
    limiter = RateLimiter(rate_rules("/search=1000/minute"), connector)
    assert limiter.check("/search", "1.1.1.1") is None and limiter.fallbacks == 0
    old_port = sentinel_set.primary.port
    tier.put(b"before", Entry(time.time() + 60, (b"1",)), time.time())
    with sentinel_set.primary.client() as c:
        assert c.exists(RedisTier.PREFIX + b"before")

    sentinel_set.primary.kill()
    errors = []
    deadline = time.monotonic() + 30
    written_on = None
    n = 0
    while time.monotonic() < deadline:
        n += 1
        key = f"after-{n}".encode()
        try:
            tier.put(key, Entry(time.time() + 60, (b"2",)), time.time())
            found = tier.get(key, time.time())
        except Exception as error:  # noqa: BLE001 - there must be none
            errors.append(error)
            break
        if found is not None:
            # NOTE: asked of the first sentinel, which may learn of the promotion a moment after
            # the one the client asked (each sentinel updates its view on its own): waited for
            written_on = wait_for(lambda: sentinel_set.primary_port() == sentinel_set.replica.port
                                  and sentinel_set.primary_port(), timeout=10, what="sentinels agreeing")
            break
        time.sleep(0.05)
    assert errors == []
    assert written_on == sentinel_set.replica.port != old_port  # promoted, and found by the client
    with sentinel_set.replica.client() as c:
        assert c.info("replication")["role"] == "master"
        assert c.exists(RedisTier.PREFIX + f"after-{n}".encode())
        assert c.exists(RedisTier.PREFIX + b"before")  # replicated before the failover
    assert breaker.failures >= 1  # the outage was seen and counted
    # rate limits, on the same connections, are counted on the new primary again
    fallbacks = limiter.fallbacks
    assert limiter.check("/search", "1.1.1.1") is None and limiter.fallbacks == fallbacks
    with sentinel_set.replica.client() as c:
        assert c.keys("LIMITS:*")
