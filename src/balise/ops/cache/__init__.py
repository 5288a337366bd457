"""Answer cache in three tiers, consulted in order and filled on the way back.

- **L1** (:class:`MemoryTier`): an LRU in the worker's memory, bounded by entries *and*
  bytes (``BALISE_CACHE_ENTRIES``, ``BALISE_CACHE_BYTES``: a worker's private memory is to
  stay small, DESIGN.md): a hit costs microseconds.
- **L2** (:class:`RedisTier`): Redis, shared by every worker and replica, through the
  breaker: when Redis is down a lookup is a miss, never an error.
- **L3** (:class:`SqliteTier`): an optional SQLite file (``BALISE_CACHE_SQLITE``) that
  outlives restarts, one connection per worker opened after the fork.

What is cached is the HTTP answer itself (the JSON bytes of ``/search`` and ``/reverse``),
so that a hit skips parsing, geocoding and serializing. The key is the sha256 of the
endpoint, the index version and every parameter that changes the answer, the query as the
engine reads it (folded by the text pipeline's own function, so two queries share a key
only when the engine reads them the same: ``entry.normalize_query``), so a new index never
serves an old answer. The answer echoes the query as typed (``"query": ...``): the
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
a network (slower) or on loopback (faster) is judged on what it really costs; the costs this
rule was designed on are in bench/README.md ("Cache tier costs").
"""
