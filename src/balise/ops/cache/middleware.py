"""The cache as falcon middleware: ``GET`` answers looked up before their resource runs, and
stored after it, with the lifetime of how they matched."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import falcon
import orjson

from ...search.request import QUERY_MAX_LENGTH
from .entry import Cacheable, Entry, Ttls, cache_key, normalize_query
from .tiers import TieredCache

if TYPE_CHECKING:
    from ...served import AnyGeocoder, ServedIndexes


class CacheMiddleware:
    """Answers the cached routes from the cache, and caches their answers.

    ``endpoints`` maps each cached route to the parameters that change its answer (the HTTP
    layer knows them); ``content_type`` is what its answers are sent as. Looks up in
    ``process_resource`` (after routing, so the route is known and a hit skips the responder);
    stores in ``process_response`` a 200 whose resource handed over a :class:`Cacheable`
    (``req.context.cacheable``): its bytes and how it matched, so nothing is parsed or
    searched again here. Requests with ``debug`` are never cached. ``req.context.cache`` says
    ``l1``/``l2``/``l3`` (hit) or ``miss``.
    """

    def __init__(self, cache: TieredCache, geocoder: AnyGeocoder | ServedIndexes, ttls: Ttls,
                 endpoints: Mapping[str, Sequence[str]], content_type: str) -> None:
        self.cache = cache
        self.geocoder = geocoder
        self.ttls = ttls
        self.endpoints = dict(endpoints)
        self.content_type = content_type

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict[str, Any]) -> None:
        names = self.endpoints.get(req.uri_template or "")
        if names is None or req.method != "GET" or "debug" in req.params:
            return
        if "q" in names:
            text = str(req.params.get("q") or "")
            # A missing q (400), a blank one (no result) and one too long (413) are the
            # resource's to answer: they must not share a key with a query that is searched.
            if len(text) > QUERY_MAX_LENGTH or not normalize_query(text):
                return
        getter = getattr(self.geocoder, "get", None)
        geocoder = getter() if getter is not None else self.geocoder
        given = {n: req.params[n] for n in names if n in req.params}
        key = cache_key(req.uri_template or "", given, geocoder.version)
        found = self.cache.get(key)
        if found is None:
            req.context.cache = "miss"
            req.context.cache_key = key
            req.context.cache_start = time.perf_counter()
            return
        entry, tier = found
        q = req.get_param("q")
        resp.data = entry.body(orjson.dumps(q) if len(entry.parts) == 2 else b"")
        resp.content_type = self.content_type
        resp.complete = True
        req.context.cache = tier

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if req.context.get("cache") != "miss" or not req_succeeded or resp.status_code != 200:
            return
        cacheable: Cacheable | None = req.context.get("cacheable")
        if cacheable is None or resp.stream is not None:
            return
        compute = time.perf_counter() - req.context.cache_start
        entry = Entry(time.time() + self.ttls.of(cacheable.match), cacheable.parts)
        self.cache.put(req.context.cache_key, entry, compute)
