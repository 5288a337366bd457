"""The Python API: ``Geocoder.open(DIR).search(...)``; the CLI and HTTP layers call it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import InvalidParameter, QueryTooLong
from .index import IndexReader
from .search import geojson, lookup
from .search.area import Area, search_areas
from .search.engine import Engine, Search, best_reading
from .search.reverse import Reverse
from .search.scorer import Result
from .text import make_pipeline

QUERY_MAX_LENGTH = 200
MAX_LIMIT = 100
FILTER_NAMES = ("type", "postcode", "citycode")


def normalize_filters(filters: Mapping | None) -> dict[str, list[str]]:
    """Filters as {name: [values]}; a value may hold several space-separated values."""
    out: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name not in FILTER_NAMES:
            raise InvalidParameter(name, f"unknown filter; known: {', '.join(FILTER_NAMES)}")
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        expanded = [v for value in values for v in str(value).split()]
        if expanded:
            out[name] = list(dict.fromkeys(expanded))[:10]
    return out


def check_center(lat: float | None, lon: float | None) -> None:
    if lat is not None and not -90 <= lat <= 90:
        raise InvalidParameter("lat", "out of range")
    if lon is not None and not -180 <= lon <= 180:
        raise InvalidParameter("lon", "out of range")


class Geocoder:
    """Forward and reverse geocoding over one immutable index."""

    def __init__(self, index: IndexReader) -> None:
        self.index = index
        self.pipeline = make_pipeline(index.manifest.get("rules", "fr"))
        self.engine = Engine(index, self.pipeline)
        self.reverser = Reverse(index)
        self.ids = lookup.Lookup(index)

    @classmethod
    def open(cls, directory: Path | str) -> Geocoder:
        return cls(IndexReader(directory))

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
        filters: Mapping | None = None,
        debug: bool = False,
        bbox: Sequence[float] | None = None,
        geo_boost: str = "score",
        geo_radius: float | None = None,
    ) -> dict:
        """A geocodejson FeatureCollection of the best ``limit`` matches for ``q``.

        ``bbox`` (minlon, minlat, maxlon, maxlat) keeps results inside that box; ``geo_boost``
        (``score``, ``favor``, ``strict``) and ``geo_radius`` (km) say how the centre
        ``lat``/``lon`` counts: see :mod:`balise.search.area`.
        """
        if not isinstance(q, str):
            raise InvalidParameter("q", "must be a string")
        if len(q) > QUERY_MAX_LENGTH:
            raise QueryTooLong(len(q), QUERY_MAX_LENGTH)
        if not 1 <= int(limit) <= MAX_LIMIT:
            raise InvalidParameter("limit", f"out of range (1..{MAX_LIMIT})")
        limit = int(limit)
        check_center(lat, lon)
        filters = normalize_filters(filters)
        areas = search_areas(bbox, geo_boost, geo_radius, lat, lon)
        options = dict(limit=limit, autocomplete=autocomplete, lat=lat, lon=lon, filters=filters)
        found: list[tuple[Search, Result]] = []
        for area in areas if q.strip() else []:  # favor: near first, then anywhere to fill up to limit
            if len(found) >= limit:
                break
            seen = {(r.doc_number, r.housenumber) for _, r in found}
            search, results = best_reading(self.engine, q, trace=debug, area=area, **options)
            found += [(search, r) for r in results if (r.doc_number, r.housenumber) not in seen]
        features = []
        for search, result in found[:limit]:
            original = self.index.document(result.doc_number).get("type")
            info = None
            if debug:
                query = search.query
                info = {
                    "tokens": [t.value for t in query.tokens],
                    "housenumbers": [str(t) for t in query.housenumbers],
                    "common": [t.value for t in query.common],
                    "not_found": [t.value for t in query.not_found],
                    "candidates": len(search.scorer.position),
                    "score_parts": {k: list(v) for k, v in result.parts.items()},
                    "trace": search.trace,
                }
            features.append(geojson.feature(result, original, info))
        center = (lon, lat) if lat is not None and lon is not None else None
        return geojson.collection(features, query=q, filters=filters, center=center, limit=limit)

    def reverse(
        self,
        lat: float,
        lon: float,
        limit: int = 1,
        filters: Mapping | None = None,
        max_distance: float | None = None,
        bbox: Sequence[float] | None = None,
    ) -> dict:
        """A geocodejson FeatureCollection of the ``limit`` points nearest to (lat, lon),
        nearest first, each with its ``distance`` in metres.

        Unlike Addok, it answers however far the nearest point is, unless it is farther
        than ``max_distance`` metres. ``bbox`` (minlon, minlat, maxlon, maxlat) keeps the
        points inside that box. See :mod:`balise.search.reverse` for the filters.
        """
        for name, value in (("lat", lat), ("lon", lon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise InvalidParameter(name, "invalid value")
        check_center(lat, lon)
        if not 1 <= int(limit) <= MAX_LIMIT:
            raise InvalidParameter("limit", f"out of range (1..{MAX_LIMIT})")
        if max_distance is not None and not (isinstance(max_distance, (int, float)) and max_distance >= 0):
            raise InvalidParameter("max_distance", "must be a distance in metres, 0 or more")
        filters = normalize_filters(filters)
        area = None if bbox is None else Area.box(bbox)  # HOOK(area)
        results = self.reverser.nearest(float(lat), float(lon), int(limit), filters, max_distance, area)
        features = [geojson.feature(r, self.index.document(r.doc_number).get("type")) for r in results]
        return geojson.collection(features, filters=filters, limit=int(limit))

    def lookup(self, ids: Sequence[str]) -> dict:
        """A geocodejson FeatureCollection of the documents and house numbers with these ids
        (at most 100), in the order asked, unknown ids left out: see :mod:`balise.search.lookup`."""
        if isinstance(ids, str):
            ids = [ids]
        if len(ids) > lookup.MAX_IDS:
            raise InvalidParameter("id", f"at most {lookup.MAX_IDS} ids")
        if not all(isinstance(i, str) for i in ids):
            raise InvalidParameter("id", "ids are strings")
        found = self.ids.find(list(ids))
        features = [geojson.feature(lookup.result(self.index, doc, hn), self.index.document(doc).get("type"))
                    for doc, hn in found]
        return geojson.collection(features)

    def warm(self) -> None:
        """Build the lazy structures and fill the first caches, so that a server does it
        once, before it forks, and its workers share them."""
        self.reverser.warm()
        self.search("1 rue de la paix paris", autocomplete=True)
