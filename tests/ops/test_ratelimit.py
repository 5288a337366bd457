"""Rate limits: shared through a real Redis (and Cluster), in memory when Redis is down, and
the 429 a real WSGI server sends."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import time

import falcon
import falcon.testing
import pytest

from balise.ops.breaker import Breaker
from balise.ops.clientip import ClientAddress
from balise.ops.metrics import Metrics
from balise.ops.ratelimit import RateLimiter, RateLimitMiddleware
from balise.ops.redis import RedisConnector
from balise.values import networks, rate_rules, redis_target
from tests.ops.conftest import free_port


def limiter(rules: str, url: str = "", metrics: Metrics | None = None) -> RateLimiter:
    connector = RedisConnector.of(redis_target(url), Breaker(fail_max=2, reset_timeout=30), timeout=0.2)
    return RateLimiter(rate_rules(rules), connector, metrics)


def test_rules():
    rules = rate_rules("/search=10/second; *=100/minute,1000/hour")
    assert [(r.path, [str(i) for i in r.limits]) for r in rules] == [
        ("/search", ["10 per 1 second"]), ("*", ["100 per 1 minute", "1000 per 1 hour"])]
    assert rules[0].covers("/search") and rules[0].covers("/search/csv") and not rules[0].covers("/searches")
    assert rules[1].covers("/reverse")
    assert rate_rules("") == () and rate_rules(" ; ") == ()
    for bad in ("search=1/second", "/search", "/search=often", "*=10/fortnight"):
        with pytest.raises(ValueError):
            rate_rules(bad)


def test_limits_apply_per_client_and_per_path_in_memory():
    rl = limiter("/search=3/minute;*=5/minute")
    assert [rl.check("/search", "1.1.1.1") is None for _ in range(4)] == [True, True, True, False]
    assert rl.check("/search", "2.2.2.2") is None  # another client
    # the overall limit counted the 3 searches let through (a refused one stops at its first limit)
    assert [rl.check("/reverse", "1.1.1.1") is None for _ in range(2)] == [True, True]
    refused = rl.check("/reverse", "1.1.1.1")
    assert refused is not None and refused.path == "*" and refused.limit.amount == 5
    assert 1 <= refused.retry_after <= 60
    assert RateLimiter([]).check("/search", "1.1.1.1") is None  # no rules: every request goes on


SUBPROCESS = textwrap.dedent("""
    import sys
    from balise.ops.breaker import Breaker
    from balise.ops.ratelimit import RateLimiter
    from balise.ops.redis import RedisConnector
    from balise.values import rate_rules, redis_target
    connector = RedisConnector.of(redis_target(sys.argv[1]), Breaker())
    rl = RateLimiter(rate_rules("/search=30/minute"), connector)
    allowed = sum(rl.check("/search", "9.9.9.9") is None for _ in range(40))
    print(allowed, rl.fallbacks)
""")


def test_two_processes_share_the_limits_through_redis(redis_url):
    command = [sys.executable, "-c", SUBPROCESS, redis_url]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [tuple(map(int, p.communicate(timeout=60)[0].split())) for p in procs]
    assert sum(allowed for allowed, _ in results) == 30  # not 2 x 30
    assert all(fallbacks == 0 for _, fallbacks in results)


def test_cluster_shares_limits_across_slots(redis_cluster):
    rl = limiter("/search=5/minute", redis_cluster.url)
    other = limiter("/search=5/minute", redis_cluster.url)  # another worker
    clients = [f"10.0.0.{n}" for n in range(12)]
    for client in clients:
        assert sum(lim.check("/search", client) is None for lim in (rl, other) for _ in range(4)) == 5
    assert rl.fallbacks == other.fallbacks == 0
    assert all(count > 0 for count in redis_cluster.keys_per_node("LIMITS:*"))  # spread over the nodes


def test_memory_fallback_when_redis_is_down():
    metrics = Metrics()
    rl = limiter("/search=3/minute", f"redis://127.0.0.1:{free_port()}/0", metrics)
    started = time.monotonic()
    assert [rl.check("/search", "1.1.1.1") is None for _ in range(5)] == [True, True, True, False, False]
    assert time.monotonic() - started < 2
    assert rl.fallbacks == 5 and rl.connector.breaker.state == "open"
    assert metrics.fallback._value.get() == 5


def test_memory_fallback_when_redis_dies_midway(redis_factory):
    server = redis_factory()
    rl = limiter("/search=4/minute", server.url)
    assert rl.check("/search", "1.1.1.1") is None and rl.fallbacks == 0
    server.kill()
    results = [rl.check("/search", "1.1.1.1") is None for _ in range(6)]
    assert results == [True, True, True, True, False, False]  # counted anew, in memory
    assert rl.fallbacks == 6


def test_client_address_behind_trusted_proxies():
    def request(remote: str, forwarded: str | None = None) -> falcon.Request:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return falcon.Request(falcon.testing.create_environ(remote_addr=remote, headers=headers))

    direct = ClientAddress(networks(""))
    assert direct(request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"  # no proxy trusted: header ignored
    behind = ClientAddress(networks("10.0.0.0/8, 127.0.0.1"))
    assert behind(request("10.1.2.3", "198.51.100.7")) == "198.51.100.7"
    # by hops, not ranges: the client is what the proxy saw, private or not; the hops a
    # client writes on the left are its own word: ignored
    assert behind(request("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9")) == "10.9.9.9"
    assert behind(request("10.1.2.3", "127.0.0.1, 10.0.3.7")) == "10.0.3.7"
    two = ClientAddress(networks("10.0.0.0/8"), hops=2)  # a load balancer, then the gateway
    assert two(request("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9")) == "198.51.100.7"
    assert two(request("10.1.2.3", "198.51.100.7")) == "198.51.100.7"
    assert behind(request("203.0.113.9", "198.51.100.7")) == "203.0.113.9"  # not from a proxy
    assert behind(request("10.1.2.3")) == "10.1.2.3"
    assert behind(request("10.1.2.3", "::ffff:198.51.100.7")) == "198.51.100.7"
    assert behind(request("10.1.2.3", "198.51.100.7:4711")) == "198.51.100.7"
    with pytest.raises(ValueError):
        networks("10.0.0.0/33")


def test_trusted_proxies_by_name_follow_what_the_name_resolves_to():
    """A host name (a headless Service of the gateway's pods) stands for its addresses,
    resolved when the app is built and again in the background as pods come and go; a name
    that resolves to nothing trusts nobody."""
    import ipaddress

    from balise.ops.clientip import AddressSet
    from balise.values import hosts

    assert ipaddress.ip_address("127.0.0.1") in AddressSet(hosts("localhost"))  # the real resolver
    pods = {ipaddress.ip_address("10.244.0.5")}
    trusted = AddressSet(hosts("gateway.example.svc, 192.0.2.0/24"), resolver=lambda name: set(pods),
                         refresh=0.05)
    behind = ClientAddress(trusted)

    def request(remote: str) -> falcon.Request:
        return falcon.Request(falcon.testing.create_environ(remote_addr=remote,
                                                            headers={"X-Forwarded-For": "198.51.100.7"}))

    assert behind(request("10.244.0.5")) == "198.51.100.7" and behind(request("192.0.2.9")) == "198.51.100.7"
    pods.clear()
    pods.add(ipaddress.ip_address("10.244.0.6"))  # the pod was replaced
    deadline = time.monotonic() + 5
    while behind(request("10.244.0.6")) != "198.51.100.7" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert behind(request("10.244.0.6")) == "198.51.100.7" and behind(request("10.244.0.5")) == "10.244.0.5"
    nowhere = AddressSet(hosts("nowhere.invalid"))
    assert not nowhere.resolved and nowhere.unresolved == {"nowhere.invalid"}


def get(host: str, port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def test_429_with_headers_from_a_real_server(serve, redis_url):
    class Hello:
        def on_get(self, req, resp):
            resp.media = {"hello": "world"}

    app = falcon.App(middleware=[RateLimitMiddleware(limiter("/search=2/minute;*=3/minute", redis_url),
                                                     ClientAddress(networks("127.0.0.1")))])
    app.add_route("/search", Hello())
    app.add_route("/reverse", Hello())
    app.add_route("/health/live", Hello())
    host, port = serve(app)
    assert [get(host, port, "/search")[0] for _ in range(2)] == [200, 200]
    status, headers, body = get(host, port, "/search")
    assert status == 429
    assert json.loads(body) == {"title": "Too many requests", "description": json.loads(body)["description"]}
    assert "2 per 1 minute" in json.loads(body)["description"]
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit"] == "2" and headers["x-ratelimit-remaining"] == "0"
    assert time.time() < int(headers["x-ratelimit-reset"]) <= time.time() + 61
    assert get(host, port, "/reverse")[0] == 200  # the overall limit: 3 of 3
    assert get(host, port, "/reverse")[0] == 429
    assert get(host, port, "/search", {"X-Forwarded-For": "198.51.100.7"})[0] == 200  # another client
    assert all(get(host, port, "/health/live")[0] == 200 for _ in range(5))  # probes are never limited
