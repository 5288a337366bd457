"""The cache's entries and keys (ops/cache/entry.py), and the answer bytes the HTTP layer hands
it: cut around the query echo by construction, never by searching the bytes."""

from __future__ import annotations

import orjson

from balise.http.resources import encode
from balise.ops.cache.entry import Entry, Ttls, cache_key, pack, unpack
from balise.ops.cache.tiers import Costs


def test_an_answer_is_encoded_around_its_query_echo():
    collection = {"type": "FeatureCollection", "features": [{"properties": {"query": '"query":"x"'}}],
                  "query": "x", "filters": {"type": ["street"]}, "center": [0.0, 0.0], "limit": 5}
    body, parts = encode(collection)
    assert body == orjson.dumps(collection) and len(parts) == 2
    assert Entry(0, parts).body(orjson.dumps("other")) == orjson.dumps({**collection, "query": "other"})
    last = {"type": "FeatureCollection", "query": "x"}
    assert Entry(0, encode(last)[1]).body(b'"y"') == orjson.dumps({**last, "query": "y"})
    reverse = {"type": "FeatureCollection", "features": []}
    assert encode(reverse) == (orjson.dumps(reverse), (orjson.dumps(reverse),))


def test_keys_tell_a_centre_at_zero_from_no_centre():
    plain = cache_key("/search", {"q": "rue"}, "v1")
    assert cache_key("/search", {"q": "rue", "lon": "0", "lat": "0"}, "v1") != plain
    assert cache_key("/search", {"q": "rue", "lon": "0.0"}, "v1") != cache_key("/search", {"q": "rue"}, "v1")


def test_entries_pack_and_lifetimes_follow_the_match():
    entry = Entry(1e10, (b"a" * 300, b"b" * 10))
    assert unpack(pack(entry)) == entry and unpack(b"broken") is None
    assert [Ttls(3, 2, 1).of(m) for m in ("exact", "fuzzy", "none")] == [3, 2, 1]


def test_a_tier_cost_is_not_taken_over_by_one_slow_call():
    """A reconnection (hundreds of ms) among calls of 0.2 ms moves the tier's average by a
    bounded step, so the answers after it are still judged worth a write."""
    costs = Costs()
    for _ in range(50):
        costs.observe("read", 0.0002)  # the first, the connection's opening, is left out
    costs.observe("read", 0.5)
    assert costs.read <= 0.0002 * (1 + Costs.ALPHA * (Costs.OUTLIER - 1)) + 1e-12
    for _ in range(50):
        costs.observe("read", 0.0004)  # the tier really got slower: the average follows
    assert costs.read > 0.00035
