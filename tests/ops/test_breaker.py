"""The breaker around Redis, against a real Redis that is killed, frozen and started again."""

from __future__ import annotations

import signal
import time

import pytest

from balise.ops.breaker import Breaker, RedisUnavailable
from balise.ops.cache.entry import Entry
from balise.ops.cache.tiers import MemoryTier, RedisTier, TieredCache
from balise.ops.metrics import Metrics
from balise.ops.redis import RedisConnector
from balise.values import redis_target
from tests.ops.conftest import wait_for


def cache_on(url: str, reset_timeout: float = 0.5,
             timeout: float = 0.2) -> tuple[TieredCache, Breaker, Metrics]:
    metrics = Metrics()
    breaker = Breaker(fail_max=3, reset_timeout=reset_timeout, metrics=metrics)
    l2 = RedisTier(RedisConnector.of(redis_target(url), breaker, timeout=timeout))
    l2.costs.observe = lambda kind, seconds: None  # always worth it: these tests are about Redis
    return TieredCache([MemoryTier(), l2], metrics), breaker, metrics


def entry() -> Entry:
    return Entry(time.time() + 60, (b"{}",))


def value(metric, **labels) -> float:
    for sample in metric.collect()[0].samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()) and not sample.name.endswith("_created"):
            return sample.value
    return 0.0


def test_breaker_opens_when_redis_is_killed_and_closes_when_it_is_back(redis_factory):
    server = redis_factory()
    cache, breaker, metrics = cache_on(server.url)
    l1 = cache.tiers[0]
    cache.put(b"before", entry())
    assert cache.get(b"before")[1] == "l1"

    server.kill()
    errors = []
    started = time.monotonic()
    for n in range(200):  # the cache API never raises, and soon stops trying
        try:
            l1.close()
            cache.put(f"k{n}".encode(), entry())
            assert cache.get(b"before") is None  # L1 emptied, L2 unreachable: a miss
        except Exception as error:  # noqa: BLE001 - the point is that there is none
            errors.append(error)
    assert errors == []
    assert time.monotonic() - started < 2.0  # 3 failures cost at most a few timeouts, then skipped
    assert breaker.state == "open" and breaker.failures == 3 and breaker.skipped > 300
    assert value(metrics.breaker) == 2 and value(metrics.breaker_opened) == 1
    assert value(metrics.redis_failures, op="cache_set", reason="error") >= 1
    assert value(metrics.redis_failures, reason="open") > 0

    server.start()  # the same port
    time.sleep(0.6)  # reset_timeout: the next call is the trial
    cache.put(b"after", entry())
    assert breaker.state == "closed" and value(metrics.breaker) == 0
    l1.close()
    assert cache.get(b"after")[1] == "l2"


def test_breaker_opens_when_redis_is_frozen(redis_factory):
    server = redis_factory()
    cache, breaker, _ = cache_on(server.url, reset_timeout=30, timeout=0.1)
    cache.put(b"k", entry())
    server.signal(signal.SIGSTOP)  # alive, accepting nothing: each call waits for its timeout
    try:
        started = time.monotonic()
        for _ in range(50):
            cache.tiers[0].close()
            assert cache.get(b"k") is None
        assert breaker.state == "open"
        assert time.monotonic() - started < 3 * 2 * 0.1 + 1.0  # three timeouts (one retry each), then none
    finally:
        server.signal(signal.SIGCONT)


def test_half_open_failure_opens_again(redis_factory):
    server = redis_factory()
    cache, breaker, _ = cache_on(server.url, reset_timeout=0.3)
    server.kill()
    for _ in range(5):
        cache.get(b"k")
    assert breaker.state == "open"
    time.sleep(0.35)
    cache.get(b"k")  # the trial call fails
    assert breaker.state == "open" and breaker.failures == 4


def test_only_redis_errors_count():
    breaker = Breaker(fail_max=1)

    def bug():
        raise KeyError("not an outage")

    for _ in range(3):
        with pytest.raises(KeyError):
            breaker.call("op", bug)
    assert breaker.state == "closed" and breaker.failures == 0
    with pytest.raises(RedisUnavailable):
        breaker.call("op", lambda: (_ for _ in ()).throw(ConnectionError("down")))
    assert breaker.state == "open"


def test_a_worker_recovers_by_itself_under_load(redis_factory):
    """Kill Redis under a steady stream of lookups, start it again: lookups hit L2 again."""
    server = redis_factory()
    cache, breaker, _ = cache_on(server.url, reset_timeout=0.2)
    cache.put(b"k", entry())
    server.kill()
    restarted = False
    deadline = time.monotonic() + 10
    hits = 0
    while time.monotonic() < deadline and hits < 5:
        cache.tiers[0].close()
        found = cache.get(b"k")
        if not restarted and breaker.state == "open":
            server.start()
            restarted = True
            cache.put(b"k", entry())  # skipped or not: the breaker decides
        if restarted and found is None:
            cache.put(b"k", entry())
        hits += found is not None and found[1] == "l2"
        time.sleep(0.01)
    assert restarted and hits >= 5
    wait_for(lambda: breaker.state == "closed", what="breaker closed")
