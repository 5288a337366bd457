"""Answer cache in three tiers, consulted in order and filled on the way back.

- **L1** (:class:`MemoryTier`): an LRU in the worker's memory, bounded by entries *and*
  bytes (``BALISE_CACHE_ENTRIES``, 10,000; ``BALISE_CACHE_BYTES``, 8 MB: a worker's private
  memory is to grow by less than 30 MB, DESIGN.md): a hit costs microseconds.
- **L2** (:class:`RedisTier`): Redis, shared by every worker and replica, through the
  breaker: when Redis is down a lookup is a miss, never an error.
- **L3** (:class:`SqliteTier`): an optional SQLite file (``BALISE_CACHE_SQLITE``) that
  outlives restarts, one connection per worker opened after the fork.

What is cached is the HTTP answer itself (the JSON bytes of ``/search`` and ``/reverse``),
so that a hit skips parsing, geocoding and serializing. The key is the sha256 of the
endpoint, the index version and every parameter that changes the answer, the query
casefolded with its whitespace collapsed (the text pipeline folds case and spaces: 4,331
real queries and 4 variants of a quarter of them gave the same answers), so a new index
never serves an old answer. The answer echoes the query as typed (``"query": ...``): the
resource hands over its bytes in two parts, before and after that echo (``entry.Cacheable``),
and a hit puts the request's own query between them.

Modules: ``entry`` (entries, packing, keys, lifetimes), ``tiers`` (L1, L2, L3 and the tiered
cache), ``middleware`` (falcon). NOTE: this package imports none of them at import time
(``tiers`` loads prometheus_client, which must wait for ``ops.prepare_metrics_dir``).

Lifetimes by kind of answer (the plan's defaults):

- ``exact`` (``BALISE_CACHE_TTL_EXACT``, 24 h): the text of the first result matches the
  query (its ``str_distance`` is ``scoring.MATCH_THRESHOLD``, 0.9, or more);
- ``fuzzy`` (``BALISE_CACHE_TTL_FUZZY``, 1 h): any other answer with results;
- ``not_found`` (``BALISE_CACHE_TTL_NOT_FOUND``, 5 min): no result.

The engine says which (``Geocoder.answer`` returns it beside the answer; reverse and lookup
answers with results are ``exact``); the resource hands it to the middleware with the bytes.

Only what is worth it is cached (PERF): an answer goes into a tier only when computing it
took longer than one read plus one write of that tier, so that a single later hit repays
the write. Each tier measures its own costs as it runs (moving averages), so a Redis across
a network (slower) or on loopback (faster) is judged on what it really costs. Measured on the
2-core dev machine, busy (load 3), Paris + 23 départements, the 4,331 real queries of
``official-points-dev.csv`` and their coordinates for reverse, loopback Redis 7.0:

    computing    /search p10 1.15 ms, p50 2.4 ms, p90 7.8 ms; /reverse p10 0.35, p50 0.95 ms
    key          sha256 of the parameters ~6 us
    L1 get       ~0.5 us; a whole L1 hit through falcon and the middleware ~45 us
                 (an uncached /search through the same app: ~1,000 us)
    L2 Redis     get ~150-200 us, set ~250 us (a 1-2.5 KB answer packed to ~45%: zstd ~9 us,
                 unzstd ~6 us)
    L3 SQLite    get ~30 us (a miss ~15 us), put ~40 us in batches of 32 (~100-300 us alone)

So every search is worth L2 and L3 (none computes in under 0.45 ms), while ~18% of reverse
answers are faster to compute than a Redis read and write: those stay in L1 only. An L2
lookup adds ~7% to a typical search miss; L1 spares ~95% of a hit's time.
"""
