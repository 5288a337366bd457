"""The Géoplateforme API's operations over the indexes served here: ``search``, ``reverse`` and
``completion``, each index asked through the Python API (``Geocoder.answer``), the answers
shaped as the service's (features.py) and merged as it merges them (gpf-geocodeur
api/merge.js): every feature tagged with its index (``_type``), the post-filters applied, then
sorted by score (a stable sort: ties keep the order of ``index``) and cut to ``limit``.

As the service, each index is asked for at least 10 results; ``completion`` asks for four times
``maximumResponses`` (at most 50) when ``terr`` or ``bbox`` will filter them.

``reverse`` answers inside a geometry: ``searchgeom`` when given, else a circle of 100 m around
``lon``/``lat``, or 200 m when nothing is that close (the service's two passes). The engine gives
the points nearest to the centre inside the geometry's box (at most ``CANDIDATES``); those that
touch the geometry, and pass the filters the engine does not know (``category``), are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...geocoder import Geocoder
from ...search.engine import Match
from ...search.request import MAX_LIMIT, ReverseRequest, SearchRequest
from ...served import ADDRESS, POI, ServedIndexes
from . import features
from .geometry import SearchGeometry
from .params import CompletionParams, SearchParams

ENGINE_FILTERS = {ADDRESS: ("type", "postcode", "citycode"), POI: ("postcode", "citycode", "category")}
INDEX_MIN_LIMIT = 10
COMPLETION_MAX_LIMIT = 50
CANDIDATES = MAX_LIMIT  # points a reverse search looks at in a geometry
FIRST_PASS_M, SECOND_PASS_M = 100, 200
BOX_MARGIN = 1e-6  # degrees around a geometry's box: its edges are inside

Feature = dict[str, Any]
PostFilter = Callable[[Feature], bool]


@dataclass
class Found:
    """Features of one or several indexes, and how the first matched (for the cache)."""

    features: list[Feature]
    match: Match = "none"


def merge(found: Iterable[Found], limit: int, post_filters: Iterable[PostFilter] = ()) -> Found:
    """The service's mergeResults: every feature filtered, then by score (none: last), the
    first ``limit``; the match of the answer the first feature came from."""
    tagged = [(f, answer.match) for answer in found for f in answer.features]
    for keep in post_filters:
        tagged = [(f, m) for f, m in tagged if keep(f)]
    tagged.sort(key=lambda fm: _descending_score(fm[0]))
    tagged = tagged[:limit]
    return Found([f for f, _ in tagged], tagged[0][1] if tagged else "none")


def _descending_score(feature: Feature) -> float:
    score = feature["properties"].get("score")
    return -score if isinstance(score, (int, float)) else float("inf")


def engine_filters(index: str, filters: dict[str, str], citycodes: Sequence[str] = ()
                   ) -> dict[str, list[str]]:
    """The filters of the request that this index's engine applies (the service's per-index FILTERS)."""
    out = {k: [v] for k, v in filters.items() if k in ENGINE_FILTERS[index]}
    if citycodes:
        out["citycode"] = list(citycodes)
    return out


def _search_index(geocoder: Geocoder, index: str, q: str, limit: int, autocomplete: bool,
                  centre: tuple[float, float] | None, filters: dict[str, list[str]], true_geometry: bool
                  ) -> Found:
    lon, lat = centre if centre is not None else (None, None)
    request = SearchRequest(q, max(limit, INDEX_MIN_LIMIT), autocomplete, lat, lon, filters)
    answer = geocoder.answer(request)
    found = answer.collection["features"]
    if index == ADDRESS:
        return Found([features.address_search(f, true_geometry) for f in found], answer.match)
    docs = geocoder.documents([f["properties"]["id"] for f in found])
    return Found([features.poi_search(f, doc, true_geometry) for f, doc in zip(found, docs, strict=True)
                  if doc is not None], answer.match)


def search(served: ServedIndexes, params: SearchParams) -> Found:
    """``/search``: each index searched, merged; several cities named by ``city``: only theirs."""
    assert params.q is not None
    answers = [_search_index(served.current(index), index, params.q, params.limit, params.autocomplete,
                             params.centre, engine_filters(index, params.filters), params.returntruegeometry)
               for index in params.indexes]
    post = [_in_cities(set(params.matching_cities))] if params.matching_cities else []
    return merge(answers, params.limit, post)


def _in_cities(codes: set[str]) -> PostFilter:
    def keep(feature: Feature) -> bool:
        citycode = feature["properties"].get("citycode")
        return any(str(c) in codes for c in (citycode if isinstance(citycode, list) else [citycode]) if c)
    return keep


def _candidates(params: SearchParams, filters: dict[str, list[str]], post_filtered: bool) -> ReverseRequest:
    """What the engine is asked: in a geometry, the points nearest to the centre (``lon``/``lat``,
    else the geometry's) inside its box; around a point, the nearest within 200 m."""
    geometry, centre = params.searchgeom, params.centre
    if geometry is not None:
        west, south, east, north = geometry.bounds
        box = (west - BOX_MARGIN, south - BOX_MARGIN, east + BOX_MARGIN, north + BOX_MARGIN)
        lon, lat = centre or geometry.centre
        reach = None if centre is not None else geometry.reach_m() + 1
        return ReverseRequest(lat, lon, CANDIDATES, filters, reach, box)
    assert centre is not None
    limit = CANDIDATES if post_filtered else max(params.limit, INDEX_MIN_LIMIT)
    return ReverseRequest(centre[1], centre[0], limit, filters, SECOND_PASS_M + 1)


def _reverse_index(geocoder: Geocoder, index: str, params: SearchParams) -> Found:
    geometry, centre = params.searchgeom, params.centre
    category = params.filters.get("category") if index == POI else None
    filters = engine_filters(index, {k: v for k, v in params.filters.items() if k != "category"},
                             params.citycodes)
    found = geocoder.answer(_candidates(params, filters, bool(category))).collection["features"]
    docs = geocoder.documents([f["properties"]["id"] for f in found]) if index == POI else [None] * len(found)
    shaped = []
    for feature, doc in zip(found, docs, strict=True):
        if index == POI:
            if doc is None or (category and category not in features.as_list(doc.get("category"))):
                continue
            if geometry is not None and not _touches(geometry, doc, feature):
                continue
            shaped.append(features.poi_reverse(doc, centre, params.returntruegeometry))
        else:
            if geometry is not None and not geometry.covers(*features.point(feature)):
                continue
            shaped.append(features.address_reverse(feature, centre))
    if geometry is None:  # the service's two passes: within 100 m, else within 200 m
        near = [f for f in shaped if f["properties"]["distance"] <= FIRST_PASS_M]
        shaped = near or [f for f in shaped if f["properties"]["distance"] <= SECOND_PASS_M]
    if centre is not None:
        # NOTE: at the same distance to the metre (the service rounds it), a street or a place
        # before a house number: the service's index lists a street before its numbers.
        shaped.sort(key=lambda f: (f["properties"]["distance"], f["properties"].get("type") == "housenumber"))
    return Found(shaped[: max(params.limit, INDEX_MIN_LIMIT)], "exact" if shaped else "none")


def _touches(geometry: SearchGeometry, doc: dict[str, Any], feature: Feature) -> bool:
    """A POI touches the geometry by its ``truegeometry`` when it has one, else by its point."""
    true_geometry = doc.get("truegeometry")
    if true_geometry:
        return geometry.intersects(true_geometry)
    return geometry.covers(*features.point(feature))


def reverse(served: ServedIndexes, params: SearchParams) -> Found:
    """``/reverse``: what lies inside the geometry in each index, nearest first, merged."""
    found = [_reverse_index(served.current(index), index, params) for index in params.indexes]
    return merge(found, params.limit)


def completion(served: ServedIndexes, params: CompletionParams) -> tuple[list[dict[str, Any]], Match]:
    """``/completion``: the indexes of ``type`` searched as the text is typed, filtered by
    ``terr`` and ``bbox``, merged, each result as the service formats it."""
    post: list[PostFilter] = []
    if params.terr:
        territories = set(params.terr)
        post.append(lambda f: features.in_territories(f, territories))
    if params.bbox is not None:
        box = params.bbox
        post.append(lambda f: features.in_box(f, box))
    limit = min(COMPLETION_MAX_LIMIT, 4 * params.limit) if post else params.limit
    answers = []
    for index in params.indexes:
        filters = {"category": [params.category]} if index == POI and params.category else {}
        answers.append(_search_index(served.current(index), index, params.text, limit, True, params.centre,
                                     filters, False))
    merged = merge(answers, params.limit, post)
    return [features.completion_result(f) for f in merged.features], merged.match
