"""Redis faults under load, with real servers: ``balise serve`` (granian, 2 workers) on the
sample index, a real Redis or Sentinel set, client threads asking real queries.

- Redis SIGKILLed mid-run: no request fails, every answer is the one given with Redis up;
  the breaker opens, closes after Redis is back, and L2 serves hits again.
- Sentinel: the primary SIGKILLed mid-run: no request fails, every answer is the same; the
  replica is promoted and new answers are cached on it.

The server runs without L1 and with a rate limit far above the load: every request then
reads L2 and counts in Redis, so the outage touches every request, not a few.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import threading
import time
from collections.abc import Iterator

from balise.ops.cache.entry import cache_key
from balise.ops.cache.tiers import RedisTier
from tests.conftest import SAMPLE
from tests.ops.conftest import samples, total, wait_for
from tests.servers import Client, balise_serve

THREADS = 3  # clients; the machine may have 2 cores for all of it
WARMUP = 2.0  # seconds of load before the fault
OUTAGE = 2.5  # seconds Redis stays dead
AFTER = 1.5  # seconds of load once the breaker closed

Request = tuple[str, tuple[tuple[str, str], ...]]  # path and query parameters


def server_env(tmp_path, redis_url: str) -> dict[str, str]:
    return {
        "BALISE_REDIS_URL": redis_url,
        "BALISE_RATE_LIMITS": "*=1000000/minute",  # on (counted in Redis), never reached
        "BALISE_CACHE_ENTRIES": "0",  # no L1: every answer is looked up in L2
        "BALISE_BREAKER_RESET": "1",  # seconds open before a trial call (30 in production)
        "BALISE_REDIS_TIMEOUT": "0.2",
        "BALISE_LOG_REQUESTS": "false",
        "WORKER_TMP_DIR": str(tmp_path),  # metrics files
    }


def sample_requests() -> tuple[list[Request], list[Request]]:
    """Real queries from the bundled sample's streets: ~70 searches (numbers, names, prefixes,
    typos) and 8 reverses; then 20 searches the load never asks, for the writes after a
    failover: slow ones (a typo in every word, 20 results), so that they are worth caching."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        streets = [d for d in map(json.loads, f) if d["type"] == "street" and d.get("housenumbers")]
    load: list[Request] = []
    for i, street in enumerate(streets[:280:4]):
        name, numbers = street["name"], sorted(street["housenumbers"])
        postcode = street["postcode"] if isinstance(street["postcode"], str) else street["postcode"][0]
        q = (f"{numbers[len(numbers) // 2]} {name} {postcode} Paris", name, name.lower()[:-3],
             f"{numbers[0]} {name[:-1]}e paris")[i % 4]
        load.append(("/search/", (("q", q),)))
        if i % 9 == 0:
            load.append(("/reverse/", (("lat", str(street["lat"])), ("lon", str(street["lon"])))))
    fresh = [("/search/", (("q", f"{max(s['housenumbers'])} {typos(s['name'])} parix"), ("limit", "20")))
             for s in streets[301:321]]
    return load, fresh


def typos(text: str) -> str:
    """Each word of four letters or more with its last letter wrong."""
    return " ".join(w[:-1] + "x" if len(w) > 3 else w for w in text.split())


def ask(client: Client, request: Request) -> dict:
    response = client.get(request[0], dict(request[1]), timeout=10)
    assert response.status == 200, (request, response.status, response.body[:300])
    return response.json()


def metrics(client: Client) -> dict:
    return samples(client.get("/metrics", timeout=10).body.decode())


def breaker_state(client: Client) -> float:
    """The worst breaker of the live workers: 0 closed, 1 half-open, 2 open."""
    return total(metrics(client), "balise_redis_breaker_state")


def redis_check(client: Client) -> dict:
    """/health/detailed of whichever worker answers: overall status, Redis status, breaker."""
    body = client.get("/health/detailed", timeout=10).json()
    redis = body["checks"]["redis"]
    return {"status": body["status"], "redis": redis["status"], "breaker": redis["breaker"]["state"]}


def _loop(client: Client, requests: list[Request], start: int, stop: threading.Event, results: list) -> None:
    for i in range(start, start + 50_000):  # bounded, stopped long before
        if stop.is_set():
            return
        request = requests[i % len(requests)]
        try:
            response = client.get(request[0], dict(request[1]), timeout=10)
            outcome = (response.status, response.json() if response.status == 200 else response.body[:300])
        except Exception as error:  # noqa: BLE001 - a failed request is what the test counts
            outcome = (None, repr(error))
        results.append((time.monotonic(), request, *outcome))


@contextlib.contextmanager
def load(client: Client, requests: list[Request]) -> Iterator[list]:
    """THREADS clients asking ``requests`` in turn (each from its own offset) until the block
    ends; yields the list of (time, request, status, parsed body or error) they fill."""
    results: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=_loop, daemon=True,
                                args=(client, requests, n * len(requests) // THREADS, stop, results))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield results
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def check_answers(results: list, baseline: dict, start: float, end: float) -> int:
    """Every request a 200 with the baseline's answer; returns how many fell in [start, end]."""
    failed = [(r[1], r[2], r[3]) for r in results if r[2] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed, e.g. {failed[:3]}"
    different = [r[1] for r in results if r[3] != baseline[r[1]]]
    assert not different, f"{len(different)} of {len(results)} answers differ, e.g. {different[:3]}"
    return sum(start <= r[0] <= end for r in results)


def test_redis_killed_under_load(sample_index, redis_factory, tmp_path):
    """SIGKILL of Redis during a load run: zero failed requests, answers identical to the
    Redis-up run; the breaker opens, closes after Redis returns, and L2 serves hits again."""
    redis_server = redis_factory()
    requests, _ = sample_requests()
    with balise_serve(sample_index, tmp_path, **server_env(tmp_path, redis_server.url)) as client:
        baseline = {request: ask(client, request) for request in requests}
        before = metrics(client)
        assert total(before, "balise_redis_breaker_state") == 0
        health = redis_check(client)  # "healthy", unless this machine's memory or disk is short
        assert health["redis"] == "up" and health["breaker"] == "closed"
        assert total(before, "balise_cache_writes_total", tier="l2", result="stored") > 0
        with redis_server.client() as r:  # the limiter and the cache really use this Redis
            assert r.keys("LIMITS*") and r.keys(RedisTier.PREFIX + b"*")

        with load(client, requests) as results:
            time.sleep(WARMUP)
            killed = time.monotonic()
            redis_server.kill()
            wait_for(lambda: breaker_state(client) == 2, timeout=10, what="breaker open (/metrics)")
            opened = time.monotonic()
            down = wait_for(lambda: (c := redis_check(client))["redis"] == "down" and c, timeout=10,
                            what="/health/detailed: Redis down")
            assert down["status"] == "degraded"
            time.sleep(max(0.0, killed + OUTAGE - time.monotonic()))
            redis_server.start()  # the same port, empty
            back = time.monotonic()
            wait_for(lambda: breaker_state(client) == 0, timeout=20, what="breaker closed (/metrics)")
            closed = time.monotonic()
            l2_hits = total(metrics(client), "balise_cache_lookups_total", tier="l2", result="hit")
            wait_for(lambda: total(metrics(client), "balise_cache_lookups_total", tier="l2", result="hit")
                     > l2_hits, timeout=10, what="L2 hits again")
            time.sleep(AFTER)

        for _ in range(4):  # whichever worker answers: as before the kill
            assert redis_check(client) == health
        after = metrics(client)
        assert total(after, "balise_redis_breaker_opened_total") >= 1
        assert total(after, "balise_redis_failures_total", reason="error") > 0
        assert total(after, "balise_rate_limit_fallback_total") > 0  # limits held in memory meanwhile
        with redis_server.client() as r:
            assert r.keys(RedisTier.PREFIX + b"*")  # written again to the restarted Redis

    during = check_answers(results, baseline, killed, back)
    assert during > 20, "too few requests during the outage to tell"
    print(f"\nRedis killed: {len(results)} requests ({during} during the {back - killed:.1f} s outage), "
          f"0 failed, all as with Redis up; breaker open {opened - killed:.2f} s after the kill, "
          f"closed {closed - back:.2f} s after the restart; "
          f"{total(after, 'balise_redis_breaker_opened_total'):.0f} openings")


def test_sentinel_primary_killed_under_load(france_index, sentinel_set, tmp_path):
    """SIGKILL of the Sentinel primary during a load run: zero failed requests, answers
    identical; the replica is promoted and new answers are written to it.

    On the dev index (Paris and 23 départements), where a query with a typo in every word
    takes long enough to be worth an L2 write (on the bundled sample every answer is faster
    than a Redis read and write, and none would be written)."""
    requests, fresh = sample_requests()
    replica = sentinel_set.replica
    with balise_serve(france_index, tmp_path, **server_env(tmp_path, sentinel_set.url)) as client:
        baseline = {request: ask(client, request) for request in requests}
        assert breaker_state(client) == 0

        with load(client, requests) as results:
            time.sleep(WARMUP)
            killed = time.monotonic()
            sentinel_set.primary.kill()
            wait_for(lambda: sentinel_set.primary_port() == replica.port, timeout=30, interval=0.1,
                     what="failover to the replica")
            failed_over = time.monotonic()
            wait_for(lambda: breaker_state(client) == 0, timeout=20, what="breaker closed (/metrics)")
            closed = time.monotonic()
            time.sleep(AFTER)

        with replica.client() as r:
            assert r.info("replication")["role"] == "master"
            version = client.get("/health/detailed").json()["checks"]["index"]["version"]
            keys = [RedisTier.PREFIX + cache_key("/search", dict(params), version) for _, params in fresh]
            assert r.exists(*keys) == 0  # never asked before
            after = metrics(client)
            for request in fresh:
                ask(client, request)
            # NOTE: an answer is written only when computing it took longer than an L2 read and
            # a write (ops/cache/): some of these slow ones, maybe not all. All written are there.
            stored = total(metrics(client), "balise_cache_writes_total", tier="l2", result="stored") - total(
                after, "balise_cache_writes_total", tier="l2", result="stored")
            assert stored >= 1
            wait_for(lambda: r.exists(*keys) == stored, timeout=5, what="the new answers on the new primary")

    during = check_answers(results, baseline, killed, closed)
    assert during > 20, "too few requests during the failover to tell"
    print(f"\nSentinel primary killed: {len(results)} requests ({during} between the kill and the "
          f"breakers closed), 0 failed, all as before; failover {failed_over - killed:.2f} s, "
          f"breakers closed {closed - killed:.2f} s after the kill "
          f"({total(after, 'balise_redis_breaker_opened_total'):.0f} openings); "
          f"{stored:.0f} of {len(keys)} new answers written to the new primary")


def test_a_frozen_redis_costs_each_call_one_timeout_at_most(sample_index, redis_factory, tmp_path):
    """Redis frozen (SIGSTOP: it accepts connections and answers nothing) under 4 clients:
    every request waits for its own Redis calls at most (a rate limit, a cache read and
    write: 3 timeouts of 0.2 s), never for those of other threads queued before it, while
    the breaker counts failures and when its half-open trial runs (every second here).
    bb69054 (pybreaker holds its lock during a call, a timeout retried): up to 4.8 s."""
    redis_server = redis_factory()
    requests, fresh = sample_requests()
    env = {**server_env(tmp_path, redis_server.url), "BALISE_BREAKER_FAIL_MAX": "5"}
    with balise_serve(sample_index, tmp_path, **env) as client:
        for request in requests[:10]:
            ask(client, request)
        timed: list[float] = []
        stop = threading.Event()

        def loop(offset: int) -> None:
            for i in range(offset, offset + 10_000):
                if stop.is_set():
                    return
                request = (requests + fresh)[i % (len(requests) + len(fresh))]
                started = time.monotonic()
                ask(client, request)
                timed.append(time.monotonic() - started)

        threads = [threading.Thread(target=loop, args=(n * 17,), daemon=True) for n in range(4)]
        redis_server.signal(signal.SIGSTOP)
        try:
            for thread in threads:
                thread.start()
            time.sleep(4.0)  # the breaker opens, then half-opens every second: 3 trials or more
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            redis_server.signal(signal.SIGCONT)
    assert len(timed) > 50
    assert max(timed) < 3 * 0.2 + 0.4, sorted(timed)[-5:]
    print(f"\nfrozen Redis: {len(timed)} requests, slowest {max(timed) * 1000:.0f} ms")
