"""The cache tiers on real Redis and real SQLite files, and the cache middleware on the sample index."""

from __future__ import annotations

import sqlite3
import time

import falcon.testing
import orjson
import pytest

from balise import Geocoder
from balise.config import Settings
from balise.http import create_app
from balise.http.resources import CACHED, JSON
from balise.ops import build
from balise.ops.breaker import Breaker
from balise.ops.cache.entry import Entry, Ttls, cache_key, pack, unpack
from balise.ops.cache.middleware import CacheMiddleware
from balise.ops.cache.tiers import MemoryTier, RedisTier, SqliteTier, TieredCache
from balise.ops.metrics import Metrics
from balise.ops.redis import RedisConnector
from balise.search.request import ReverseRequest, SearchRequest
from balise.values import redis_target


def entry(ttl: float = 60, body: bytes = b'{"features":[]}') -> Entry:
    return Entry(time.time() + ttl, (body,))


def connector(url: str, **options) -> RedisConnector:
    return RedisConnector.of(redis_target(url), Breaker(fail_max=3, reset_timeout=0.5), **options)


# --- keys and entries ------------------------------------------------------------------------


def test_key_normalizes_the_query_and_keeps_every_other_parameter():
    base = cache_key("/search", {"q": "12 Rue de Rivoli", "limit": "5"}, "v1")
    assert cache_key("/search", {"q": "  12  rue DE rivoli ", "limit": "5"}, "v1") == base
    assert cache_key("/search", {"limit": "5", "q": "12 rue de rivoli"}, "v1") == base  # order of params
    assert cache_key("/search", {"q": "12 rue de rivoli", "limit": "1"}, "v1") != base
    assert cache_key("/search", {"q": "12 rue de rivoli", "limit": "5", "type": "street"}, "v1") != base
    assert cache_key("/search", {"q": "12 rue de rivoli", "limit": "5"}, "v2") != base  # a new index
    assert cache_key("/reverse", {"q": "12 rue de rivoli", "limit": "5"}, "v1") != base
    # several values of one parameter are kept, in order
    assert (cache_key("/search", {"q": "a", "type": ["street", "locality"]}, "v1")
            != cache_key("/search", {"q": "a", "type": ["locality", "street"]}, "v1"))


def test_the_key_reads_a_query_as_the_engine_does(sample_index):
    """The key's text is the very text the engine reads a query as (``QueryText.text``):
    two queries share a key only when the engine reads them the same. Checked against the
    engine itself, so that a change in how it reads a query breaks this test."""
    from balise.ops.cache.entry import normalize_query
    from balise.search._query import QueryText

    geocoder = Geocoder.open(sample_index)
    engine = geocoder.engine
    probes = ["8 rue µ", "8 rue μ", "rue paris", "rue\x85paris", "  Rue  de RIVOLI ", "rue ſaint", "İstanbul",
              "rue\u2028x", "Œuvre ß", "12bis rue", "\u3000rue\u3000"]
    for q in probes:
        assert normalize_query(q) == QueryText(engine.pipeline, q).text, q
    assert normalize_query("8 rue µ") != normalize_query("8 rue μ")
    assert normalize_query("rue paris") != normalize_query("rue\x85paris")


def test_entries_pack_compactly_and_back():
    body = orjson.dumps({"features": [{"label": "x" * 40} for _ in range(30)]})
    split = Entry(time.time() + 10, (body[:100], body[100:]))
    blob = pack(split)
    assert len(blob) < len(body) / 3  # compressed (zstd or zlib)
    again = unpack(blob)
    assert again.parts == split.parts and abs(again.expires - split.expires) < 1e-6
    assert unpack(pack(entry(body=b"{}"))).parts == (b"{}",)  # small: stored as is
    assert unpack(b"garbage") is None


# --- L1 --------------------------------------------------------------------------------------


def test_memory_tier_is_bounded_by_entries_and_by_bytes_least_recently_used_first():
    tier = MemoryTier(max_entries=3, max_bytes=10_000)
    now = time.time()
    for key in (b"a", b"b", b"c"):
        tier.put(key, entry(), now)
    assert tier.get(b"a", now) is not None  # a is now the most recent
    tier.put(b"d", entry(), now)
    assert len(tier) == 3 and tier.get(b"b", now) is None and tier.get(b"a", now) is not None

    small = MemoryTier(max_entries=100, max_bytes=3 * (1000 + MemoryTier.OVERHEAD))
    for key in (b"1", b"2", b"3", b"4"):
        small.put(key, entry(body=b"x" * 1000), now)
    assert len(small) == 3 and small.bytes <= small.max_bytes and small.get(b"1", now) is None
    small.put(b"huge", entry(body=b"x" * 10_000), now)  # larger than the whole tier: not kept
    assert small.get(b"huge", now) is None and len(small) == 3


def test_memory_tier_forgets_expired_entries():
    tier = MemoryTier()
    now = time.time()
    tier.put(b"k", entry(ttl=5), now)
    assert tier.get(b"k", now + 4) is not None
    assert tier.get(b"k", now + 6) is None and len(tier) == 0


# --- L2 --------------------------------------------------------------------------------------


def test_redis_tier_sets_the_remaining_lifetime(redis_url, shared_redis):
    tier = RedisTier(connector(redis_url))
    now = time.time()
    tier.put(b"k" * 32, entry(ttl=300), now)
    got = tier.get(b"k" * 32, now)
    assert got is not None and got.parts == (b'{"features":[]}',)
    with shared_redis.client() as c:
        ttl_ms = c.pttl(RedisTier.PREFIX + b"k" * 32)
    assert 299_000 < ttl_ms <= 300_000
    assert tier.get(b"other", now) is None


def test_redis_tier_fails_open_on_a_dead_port():
    from tests.ops.conftest import free_port

    tier = RedisTier(connector(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2))
    now = time.time()
    for _ in range(10):
        tier.put(b"k", entry(), now)
        assert tier.get(b"k", now) is None
    assert tier.connector.breaker.state == "open"
    assert tier.connector.breaker.failures == 3 and tier.connector.breaker.skipped == 17


# --- L3 --------------------------------------------------------------------------------------


def test_sqlite_tier_persists_across_restarts_with_the_plans_pragmas(tmp_path):
    path = tmp_path / "cache" / "l3.sqlite"
    tier = SqliteTier(path, batch=2)
    now = time.time()
    tier.put(b"a", entry(), now)
    assert tier.get(b"a", now) is not None  # pending writes are visible
    tier.put(b"b", entry(ttl=-1), now - 5)  # batch full: written (already expired)
    tier.put(b"c", entry(), now)
    tier.close()  # flushes c

    again = SqliteTier(path)
    assert again.get(b"a", now) is not None and again.get(b"c", now) is not None
    assert again.get(b"b", now) is None  # expired
    assert again.count() == 3
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again.close()


def test_sqlite_tier_flushes_after_a_second_and_purges_expired_answers(tmp_path):
    tier = SqliteTier(tmp_path / "l3.sqlite", batch=1000, flush_after=1.0)
    tier.PURGE_EVERY = 1
    now = time.time()
    tier.put(b"old", entry(ttl=1), now)
    tier.put(b"new", entry(ttl=100), now + 2)  # a second after the first pending write: flushed
    assert tier.count() == 1  # "old" expired before the flush and was purged
    tier.close()


def test_sqlite_tier_fails_open_when_the_file_cannot_be_written(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    tier = SqliteTier(blocker / "l3.sqlite", batch=1)
    now = time.time()
    tier.put(b"a", entry(), now)  # no error
    assert tier.get(b"x", now) is None and tier.errors >= 1


# --- tiers together --------------------------------------------------------------------------


def test_tiers_are_consulted_in_order_and_filled_on_the_way_back(redis_url, tmp_path):
    metrics = Metrics()
    l1, l2, l3 = MemoryTier(), RedisTier(connector(redis_url)), SqliteTier(tmp_path / "l3.sqlite", batch=1)
    cache = TieredCache([l1, l2, l3], metrics)
    now = time.time()
    assert cache.get(b"key") is None
    l3.put(b"key", entry(ttl=100), now)  # only in L3 (as after a restart)
    found, tier = cache.get(b"key")
    assert tier == "l3"
    assert l2.get(b"key", now) is not None and l1.get(b"key", now) is not None  # filled
    assert cache.get(b"key")[1] == "l1"
    l1.close()
    assert cache.get(b"key")[1] == "l2"
    assert cache.get(b"key")[1] == "l1"
    assert cache.hits == {"l1": 2, "l2": 1, "l3": 1}
    assert cache.misses == {"l1": 3, "l2": 2, "l3": 1}
    samples = {(s.labels["tier"], s.labels["result"]): s.value
               for s in metrics.lookups.collect()[0].samples if s.name.endswith("_total")}
    assert samples[("l1", "hit")] == 2 and samples[("l3", "hit")] == 1 and samples[("l2", "miss")] == 2
    cache.close()


def test_an_answer_faster_than_a_tier_is_not_written_there():
    class Slow(MemoryTier):
        name = "slow"

    fast, slow = MemoryTier(), Slow()
    slow.costs.read, slow.costs.write = 0.0002, 0.0003  # a Redis round trip and a write
    cache = TieredCache([fast, slow])
    cache.put(b"cheap", entry(), compute_seconds=0.0001)
    cache.put(b"dear", entry(), compute_seconds=0.002)
    now = time.time()
    assert fast.get(b"cheap", now) and not slow.get(b"cheap", now)
    assert slow.get(b"dear", now)
    assert cache.skipped == {"l1": 0, "slow": 1}


def test_a_cache_without_tiers_misses_and_keeps_nothing():
    cache = TieredCache([])
    cache.put(b"k", entry())
    assert cache.get(b"k") is None and cache.snapshot() == {}


def test_cluster_keys_spread_over_slots_and_nodes(redis_cluster):
    tier = RedisTier(connector(redis_cluster.url))
    now = time.time()
    keys = [cache_key("/search", {"q": f"{n} rue de rivoli"}, "v1") for n in range(60)]
    for key in keys:
        tier.put(key, entry(), now)
    assert all(tier.get(key, now) is not None for key in keys)
    per_node = redis_cluster.keys_per_node("balise:cache:*")
    assert sum(per_node) >= 60 and all(count > 0 for count in per_node)
    tier.close()


# --- kinds and lifetimes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_geocoder(sample_index):
    return Geocoder.open(sample_index)


def test_the_engine_says_how_the_first_result_matched(sample_geocoder):
    """Lifetimes follow the match the engine reports: the first result's text against the query."""
    g = sample_geocoder

    def match(q: str, **options) -> str:
        return g.answer(SearchRequest(q, **options)).match

    assert match("34 rue de rivoli paris") == "exact"
    assert match("34 rue de rivolo paris") == "fuzzy"  # one edit: found by fuzzy matching
    assert match("zzzzqqqq") == "none"
    assert match("place des vosg", autocomplete=True) == "exact"  # a label it starts: text 0.9
    assert match("place des vosges paris") == "exact"
    assert g.answer(ReverseRequest(48.8566, 2.3522)).match == "exact"
    assert Ttls(1, 2, 3).of("exact") == 1 and Ttls(1, 2, 3).of("fuzzy") == 2 and Ttls(1, 2, 3).of("none") == 3


# --- the middleware, through the real app ----------------------------------------------------


def make_app(geocoder, **env):
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false", **env})
    app = create_app(geocoder, settings, with_ops=False)
    ops = build(geocoder, settings, CACHED, JSON)
    app.add_middleware(ops.middleware)
    return falcon.testing.TestClient(app), ops


def test_middleware_serves_hits_with_the_query_as_typed(sample_geocoder):
    client, ops = make_app(sample_geocoder)
    first = client.simulate_get("/search/", params={"q": "34 rue de Rivoli paris", "limit": "3"})
    again = client.simulate_get("/search", params={"q": "34  RUE DE RIVOLI PARIS", "limit": "3"})
    assert first.status_code == again.status_code == 200
    assert again.json["query"] == "34  RUE DE RIVOLI PARIS"
    assert again.json["features"] == first.json["features"]
    assert again.json == {**first.json, "query": "34  RUE DE RIVOLI PARIS"}
    assert again.content == orjson.dumps(sample_geocoder.search("34  RUE DE RIVOLI PARIS", limit=3,
                                                                autocomplete=True))
    assert ops.cache.hits["l1"] == 1 and ops.cache.misses["l1"] == 1
    other = client.simulate_get("/search", params={"q": "34 rue de rivoli paris", "limit": "1"})
    assert len(other.json["features"]) == 1 and ops.cache.misses["l1"] == 2  # another limit: another key

    point = {"lat": "48.8566", "lon": "2.3522"}
    reverse = client.simulate_get("/reverse", params=point)
    assert client.simulate_get("/reverse", params=point).content == reverse.content
    assert ops.cache.hits["l1"] == 2


def test_middleware_leaves_debug_errors_and_other_routes_alone(sample_geocoder):
    client, ops = make_app(sample_geocoder)
    for _ in range(2):
        assert client.simulate_get("/search", params={"q": "rivoli", "debug": "1"}).status_code == 200
        assert client.simulate_get("/search", params={"q": "rivoli", "limit": "-1"}).status_code == 400
        assert client.simulate_get("/health").status_code == 200
    assert ops.cache.hits == {"l1": 0} and ops.cache.misses == {"l1": 2}  # the 400 was looked up, not stored


def test_middleware_keys_on_the_index_version(sample_geocoder):
    class Swapped:
        """The same index served under another version (as after a data release)."""

        def __init__(self, geocoder, version):
            self.geocoder, self.version = geocoder, version

        def __getattr__(self, name):
            return getattr(self.geocoder, name)

    cache = TieredCache([MemoryTier()])
    old, new = Swapped(sample_geocoder, "old"), Swapped(sample_geocoder, "new")
    clients = []
    for geocoder in (old, new):
        app = create_app(geocoder, Settings.from_env({}), with_ops=False)
        app.add_middleware(CacheMiddleware(cache, geocoder, Ttls(), CACHED, JSON))
        clients.append(falcon.testing.TestClient(app))
    for client in clients:
        client.simulate_get("/search", params={"q": "rue de rivoli"})
    assert cache.misses == {"l1": 2} and cache.hits == {"l1": 0}
    clients[0].simulate_get("/search", params={"q": "rue de rivoli"})
    assert cache.hits == {"l1": 1}


def test_lifetimes_follow_the_kind_of_answer(sample_geocoder, redis_url, shared_redis):
    ttls = Ttls(exact=1000, fuzzy=100, not_found=10)
    l2 = RedisTier(connector(redis_url))
    l2.costs.observe = lambda kind, seconds: None  # every answer worth L2 here, however fast
    cache = TieredCache([MemoryTier(), l2])
    app = create_app(sample_geocoder, Settings.from_env({}), with_ops=False)
    middleware = CacheMiddleware(cache, sample_geocoder, ttls, CACHED, JSON)
    app.add_middleware(middleware)
    client = falcon.testing.TestClient(app)
    lifetimes = {}
    for kind, q in (("exact", "34 rue de rivoli paris"), ("fuzzy", "34 rue de rivolo paris"),
                    ("none", "zzzzqqqq")):
        client.simulate_get("/search", params={"q": q, "autocomplete": "0"})
        key = cache_key("/search", {"q": q, "autocomplete": "0"}, sample_geocoder.version)
        with shared_redis.client() as c:
            lifetimes[kind] = c.pttl(RedisTier.PREFIX + key) / 1000
        l1 = cache.tiers[0].get(key, time.time())
        assert abs((l1.expires - time.time()) - ttls.of(kind)) < 5
    assert 990 < lifetimes["exact"] <= 1000 and 90 < lifetimes["fuzzy"] <= 100
    assert 5 < lifetimes["none"] <= 10


def test_l3_answers_pending_in_a_worker_are_written_when_the_server_stops(sample_index, tmp_path):
    """A server worker is a multiprocessing child, which ends without running atexit: its
    pending L3 writes must still reach the file (multiprocessing's finalizers)."""
    import sqlite3

    from tests.servers import balise_serve

    db = tmp_path / "l3.sqlite"
    with balise_serve(sample_index, tmp_path, BALISE_CACHE_SQLITE=str(db), BALISE_RATE_LIMITS="",
                      BALISE_LOG_REQUESTS="false") as client:
        for n in range(1, 6):  # fewer than a batch: pending until the worker stops
            assert client.get("/search/", {"q": f"{n} rue de rivoli paris", "limit": 20}).status == 200
        with sqlite3.connect(db) as before:
            assert before.execute("SELECT count(*) FROM answers").fetchone()[0] == 0
    with sqlite3.connect(db) as after:
        assert after.execute("SELECT count(*) FROM answers").fetchone()[0] >= 3


def test_entries_are_packed_and_unpacked_by_several_threads_at_once():
    """A server worker runs THREADS requests at once: pack and unpack (zstd) must not share a
    zstandard object between threads (that corrupted memory: a segmentation fault). In a
    subprocess, so that a crash fails this test, not the whole run."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os, threading
        from balise.ops.cache.entry import Entry, pack, unpack
        bodies = [os.urandom(200) * (n % 7 + 4) for n in range(50)]
        bad = []
        def run():
            for n in range(20000):
                entry = Entry(1e10, (bodies[n % 50][:10], bodies[n % 50][10:]))
                if unpack(pack(entry)) != entry:
                    bad.append(n)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(bad))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "0", (done.returncode, done.stderr[-500:])

