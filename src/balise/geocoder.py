"""The Python API: ``Geocoder.open(DIR).search(...)``; the CLI and HTTP layers call it.

Each call is a request (:mod:`balise.search.request`), checked when it is built, then run:
``search``, ``reverse`` and ``lookup`` build theirs from their arguments; the HTTP layer, the
CLI and CSV parse their input into requests and call :meth:`Geocoder.answer`, which also
says how the first result matched (for the cache). :class:`CurrentGeocoder` follows the
``current`` link of an index root, for a server that picks up new versions.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .index import IndexReader
from .index.format import filter_term
from .index.pointer import current_target, resolve
from .search import geojson, lookup
from .search._readings import best_candidates, features_of
from .search._search import Search
from .search.engine import Engine, Match, match_of
from .search.geojson import FROM_SOURCES, Credits, credits_of
from .search.request import LookupRequest, Request, ReverseRequest, SearchRequest
from .search.reverse import Reverse
from .text import make_pipeline

log = logging.getLogger(__name__)


class Answer(NamedTuple):
    """A geocodejson FeatureCollection, and how its first result matched the query."""

    collection: dict[str, Any]
    match: Match


class Geocoder:
    """Forward and reverse geocoding over one immutable index."""

    def __init__(self, index: IndexReader, credits: Credits = FROM_SOURCES) -> None:
        self.index = index
        self.credits = credits_of(index.manifest, credits)  # its answers' attribution and licence
        self.pipeline = make_pipeline(index.manifest.get("rules", "fr"))
        self.engine = Engine(index, self.pipeline)
        self.reverser = Reverse(index)
        self.ids = lookup.Lookup(index)

    @classmethod
    def open(cls, directory: Path | str, preload: bool = True, credits: Credits = FROM_SOURCES) -> Geocoder:
        """The index in ``directory``; ``preload``: its pages are read in a background
        thread meanwhile (:meth:`IndexReader.preload`), so that no early search waits for
        the disk. A server preloads in :meth:`warm` instead, before its workers fork.
        ``credits``: the attribution and licence of its answers, where set (else its sources')."""
        geocoder = cls(IndexReader(directory), credits)
        if preload:
            threading.Thread(target=geocoder.index.preload, name="balise-preload", daemon=True).start()
        return geocoder

    @property
    def version(self) -> str:
        return self.index.version

    def search(
        self,
        q: str,
        limit: int = 5,
        autocomplete: bool = False,
        lat: float | None = None,
        lon: float | None = None,
        filters: Mapping[str, Any] | None = None,
        debug: bool = False,
        bbox: Sequence[float] | None = None,
        geo_boost: str = "score",
        geo_radius: float | None = None,
    ) -> dict[str, Any]:
        """A geocodejson FeatureCollection of the best ``limit`` matches for ``q``.

        ``bbox`` (minlon, minlat, maxlon, maxlat) keeps results inside that box; ``geo_boost``
        (``score``, ``favor``, ``strict``) and ``geo_radius`` (km) say how the centre
        ``lat``/``lon`` counts: see :mod:`balise.search.area`.
        """
        request = SearchRequest(q, limit, autocomplete, lat, lon, dict(filters) if filters else {}, debug,
                                bbox, geo_boost, geo_radius)
        return self._collection(request, best_candidates(self.engine, request))

    def reverse(
        self,
        lat: float,
        lon: float,
        limit: int = 1,
        filters: Mapping[str, Any] | None = None,
        max_distance: float | None = None,
        bbox: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """A geocodejson FeatureCollection of the ``limit`` points nearest to (lat, lon),
        nearest first, each with its ``distance`` in metres.

        Unlike Addok, it answers however far the nearest point is, unless it is farther
        than ``max_distance`` metres. ``bbox`` (minlon, minlat, maxlon, maxlat) keeps the
        points inside that box. See :mod:`balise.search.reverse` for the filters.
        """
        request = ReverseRequest(lat, lon, limit, dict(filters or {}), max_distance, bbox)
        return self.answer(request).collection

    def lookup(self, ids: Sequence[str]) -> dict[str, Any]:
        """A geocodejson FeatureCollection of the documents and house numbers with these ids
        (at most 100), in the order asked, unknown ids left out: see :mod:`balise.search.lookup`."""
        return self.answer(LookupRequest(ids)).collection

    def answer(self, request: Request) -> Answer:
        """The answer to a request (checked when it was built)."""
        if isinstance(request, SearchRequest):
            return self._search(request)
        if isinstance(request, ReverseRequest):
            return self._reverse(request)
        return self._lookup(request)

    def first(self, request: SearchRequest) -> tuple[dict[str, Any] | None, float | None]:
        """The best feature of a search and the score of the next one (None when none):
        what a CSV row keeps (addok-csv's columns and ``result_score_next``), the same as
        :meth:`answer`'s first two features, without building the others (PERF: a row costs
        one feature, not ``limit``)."""
        found = best_candidates(self.engine, request)
        if not found:
            return None, None
        search, column = found[0]
        after = found[1][0].scorer.score_of(found[1][1]) if len(found) > 1 else None
        return search.scorer.feature(column), after

    def _search(self, request: SearchRequest) -> Answer:
        found = best_candidates(self.engine, request)
        return Answer(self._collection(request, found), match_of(found))

    def _collection(self, request: SearchRequest, found: list[tuple[Search, int]]) -> dict[str, Any]:
        """The FeatureCollection of a search's results (``search`` needs no match: PERF)."""
        if request.debug:
            features = [search.scorer.feature(i, debug_info(search, i)) for search, i in found]
        else:
            features = features_of(found)
        return geojson.collection(features, self.credits, request.q, request.filters, request.centre,
                                  request.limit)

    def _reverse(self, request: ReverseRequest) -> Answer:
        results = self.reverser.nearest(request.lat, request.lon, request.limit, request.filters,
                                        request.max_distance, request.box)
        features = [geojson.feature(r) for r in results]
        collection = geojson.collection(features, self.credits, filters=request.filters,
                                        limit=request.limit)
        return Answer(collection, "exact" if features else "none")

    def _lookup(self, request: LookupRequest) -> Answer:
        found = self.ids.find(list(request.ids))
        features = [geojson.feature(lookup.result(self.index, doc, hn)) for doc, hn in found]
        return Answer(geojson.collection(features, self.credits), "exact" if features else "none")

    # --- HOOK(poi): what an API that shows documents whole needs (http/geocodage/) ---------

    def documents(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """The documents with these ids as imported (lists kept, ``lon``/``lat`` included),
        in the order asked; None for an unknown id. Search answers flatten lists (Addok's
        geocodejson): the Géoplateforme's POI answers show them whole."""
        found: list[dict[str, Any] | None] = []
        for doc_id in ids:
            number = self.index.find_document(doc_id)
            found.append(self.index.document(number) if number >= 0 else None)
        return found

    def filter_values(self, name: str) -> dict[str, NDArray[np.uint32]]:
        """Every value of the filter ``name`` in this index (``category``, ``postcode``...),
        with the sorted numbers of the documents that have it."""
        prefix = filter_term(name, "")
        values: dict[str, NDArray[np.uint32]] = {}
        for term in self.index.prefix_range(prefix):
            values[self.index.terms[term][len(prefix):]] = self.index.postings(term)[0]
        return values

    def warm(self) -> None:
        """Read the index's pages, build the lazy structures and fill the first caches, so
        that a server does it once, before it forks, and its workers share them."""
        self.index.preload()
        self.reverser.warm()
        self.search("1 rue de la paix paris", autocomplete=True)


def debug_info(search: Search, column: int) -> dict[str, Any]:
    """What ``debug`` adds to a feature: tokens, candidates, score parts, the collectors' trace."""
    query = search.query
    return {
        "tokens": [t.value for t in query.tokens],
        "housenumbers": [str(t) for t in query.housenumbers],
        "common": [t.value for t in query.common],
        "not_found": [t.value for t in query.not_found],
        "candidates": search.scorer.candidates,
        "score_parts": {k: list(v) for k, v in search.scorer.parts(column).items()},
        "trace": search.trace,
    }


class CurrentGeocoder:
    """The geocoder of the index in service under ``path``, following ``current``.

    ``get()`` is cheap enough for every request: at most once per ``interval`` seconds
    it reads the link, and when the target changed a background thread opens (and
    warms) the new index, then swaps the reference. Until then, and for requests
    already running, the previous geocoder keeps answering: nothing waits.

    The server builds the holder in its master, and each worker inherits it, then follows
    the link on its own (and first of all when it starts: :meth:`refresh`).
    """

    def __init__(self, path: Path | str, interval: float = 1.0,
                 opener: Callable[[Path], Geocoder] | None = None, credits: Credits = FROM_SOURCES) -> None:
        self.path = Path(path)
        self.interval = interval
        self._open = opener or functools.partial(_open_warm, credits=credits)
        self._target = current_target(self.path)
        self._geocoder = self._open(resolve(self.path))
        self._next_check = time.monotonic() + interval
        self._reloading = threading.Lock()
        self._failed: str | None = None  # a target that would not open: not retried every second
        # A fork (the server's workers) copies the lock but not the thread that may hold it.
        after_fork = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (m := after_fork()) and m())

    def _after_fork(self) -> None:
        self._reloading = threading.Lock()
        self._next_check = 0.0  # a new worker looks at the link on its first request

    def get(self) -> Geocoder:
        """The geocoder to use for one request (call it once per request)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.interval
            target = current_target(self.path)
            if target not in (None, self._target, self._failed) and self._reloading.acquire(blocking=False):
                threading.Thread(target=self._reload, args=(target,), daemon=True,
                                 name="balise-index-reload").start()
        return self._geocoder

    def refresh(self) -> bool:
        """Follow the link now, in this thread; True if another version is now served.

        Run in each new server worker before its first request (``ops.process.at_worker_start``,
        http/app.py): a worker forked from a master that still holds an older version then
        never answers from it.
        """
        target = current_target(self.path)
        if target is None or target == self._target:
            return False
        with self._reloading:
            self._swap(target)
        return self._target == target

    def _reload(self, target: str) -> None:
        try:
            self._swap(target)
        finally:
            self._reloading.release()

    def _swap(self, target: str) -> None:
        try:
            geocoder = self._open(self.path / target)
        except Exception:  # logged once; the old version keeps serving
            self._failed = target
            log.exception("could not open index version %s; still serving %s", target, self._target)
        else:
            self._geocoder, self._target = geocoder, target  # the swap: one reference
            log.info("now serving index version %s from %s", target, self.path)

    @property
    def target(self) -> str | None:
        """The version name in service (the link target), None for a plain index directory."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # Delegation, so that code written for a Geocoder (create_app's resources) works
        # unchanged. NOTE: each attribute access may see a newer version: per request,
        # prefer ``geocoder = holder.get()`` once.
        return getattr(self.get(), name)


def _open_warm(directory: Path, credits: Credits = FROM_SOURCES) -> Geocoder:
    geocoder = Geocoder.open(directory, preload=False, credits=credits)  # warm() preloads, in this thread
    geocoder.warm()
    return geocoder
