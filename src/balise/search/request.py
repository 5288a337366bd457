"""What is asked of the geocoder, checked once: a :class:`SearchRequest`, a
:class:`ReverseRequest` or a :class:`LookupRequest`.

Every way in (the Python API, HTTP, ``POST /batch``, the CLI, CSV rows) only parses its input
into one of these; building it checks every rule (ranges, filter names, the area), so the
rules live here and nowhere else, and the geocoder runs a request it can trust. A bad value
raises :class:`~balise.errors.InvalidParameter` (or ``QueryTooLong``): a 400 (413) over HTTP.
A request is not changed once built (PERF: not a frozen dataclass, whose every field is set
through ``object.__setattr__``: five times the cost of building it, on every query).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter, QueryTooLong
from .area import DEFAULT_RADIUS_KM, GEO_BOOSTS, Area, radius

QUERY_MAX_LENGTH = 200
MAX_LIMIT = 100
# Addok's /reverse/ takes any limit and answers the streets of the nine geohash cells around the
# point (a few dozen, rarely more); balise's answers the nearest points, at most this many (more
# is served as this many: 200 features take about 7 ms to build, 1,000 about 36 ms).
REVERSE_MAX_LIMIT = 200
FILTER_NAMES = ("type", "postcode", "citycode")
# HOOK(poi): the categories of points of interest (http/geocodage/); a category is one value,
# spaces included ("bureau de poste"), never split. Not an Addok parameter (FILTER_NAMES).
WHOLE_FILTER_NAMES = ("category",)
MAX_FILTER_VALUES = 10
MAX_IDS = 100

Filters = dict[str, list[str]]
Box = tuple[float, float, float, float]


def check_limit(value: Any, default: int) -> int:
    """A search's ``limit``: an integer from 1 to ``MAX_LIMIT``; 0 is ``default``, as Addok
    reads ``limit or 5``."""
    limit = _integer_limit(value) or default
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter("limit", f"out of range (1..{MAX_LIMIT})")
    return limit


def check_reverse_limit(value: Any, default: int) -> int:
    """A reverse's ``limit``: 0 is ``default`` (Addok's ``limit or 1``); any positive integer is
    taken, as Addok takes it, and served as at most ``REVERSE_MAX_LIMIT``."""
    limit = _integer_limit(value) or default
    if limit < 1:
        raise InvalidParameter("limit", "must be 0 (the default) or more")
    return min(limit, REVERSE_MAX_LIMIT)


def _integer_limit(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameter("limit", "The value must be an integer.") from None


def check_coordinate(name: str, value: Any, bound: float) -> float:
    """A latitude (``bound`` 90) or longitude (180): a finite number within the bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidParameter(name, "invalid value")
    if not -bound <= value <= bound:
        raise InvalidParameter(name, "out of range")
    return float(value)


def check_filters(filters: Mapping[str, Any] | None) -> Filters:
    """Filters as ``{name: [values]}``: known names only; a value may hold several values
    separated by spaces (but for ``WHOLE_FILTER_NAMES``); repeated values once, at most
    ``MAX_FILTER_VALUES`` a name."""
    out: Filters = {}
    for name, values in (filters or {}).items():
        if name not in FILTER_NAMES and name not in WHOLE_FILTER_NAMES:
            known = ", ".join(FILTER_NAMES + WHOLE_FILTER_NAMES)
            raise InvalidParameter(name, f"unknown filter; known: {known}")
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        if name in WHOLE_FILTER_NAMES:
            expanded = [text for value in values if (text := str(value).strip())]
        else:
            expanded = [v for value in values for v in str(value).split()]
        if expanded:
            out[name] = list(dict.fromkeys(expanded))[:MAX_FILTER_VALUES]
    return out


def check_box(bbox: Sequence[float] | None) -> Area | None:
    return None if bbox is None else Area.box(bbox)


@dataclass(slots=True)
class SearchRequest:
    """A forward search: the best ``limit`` matches for ``q``.

    ``lat``/``lon`` give a centre (both or it is ignored); ``bbox`` (minlon, minlat, maxlon,
    maxlat) keeps results inside that box; ``geo_boost`` (``score``, ``favor``, ``strict``)
    and ``geo_radius`` (km) say how the centre counts (:mod:`balise.search.area`).
    """

    q: str
    limit: int = 5
    autocomplete: bool = False
    lat: float | None = None
    lon: float | None = None
    filters: Filters = field(default_factory=dict)
    debug: bool = False
    bbox: Sequence[float] | None = None
    geo_boost: str = "score"
    geo_radius: float | None = None
    box: Area | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.q, str):
            raise InvalidParameter("q", "must be a string")
        if len(self.q) > QUERY_MAX_LENGTH:
            raise QueryTooLong(len(self.q), QUERY_MAX_LENGTH)
        self.limit = check_limit(self.limit, 5)
        if self.lon is not None:  # NOTE: lon first, as Addok checks them
            self.lon = check_coordinate("lon", self.lon, 180)
        if self.lat is not None:
            self.lat = check_coordinate("lat", self.lat, 90)
        self.filters = check_filters(self.filters) if self.filters else {}  # PERF: no call for none
        self.box = None if self.bbox is None else check_box(self.bbox)
        if self.geo_boost not in GEO_BOOSTS:
            raise InvalidParameter("geo_boost", f"must be one of {', '.join(GEO_BOOSTS)}")
        if self.geo_radius is not None:
            self.geo_radius = radius(self.geo_radius)
        if self.geo_boost != "score" and self.centre is None:
            raise InvalidParameter("geo_boost", f"{self.geo_boost} needs a centre: give lat and lon")

    @property
    def centre(self) -> tuple[float, float] | None:
        """(lon, lat) when both are given."""
        return None if self.lat is None or self.lon is None else (self.lon, self.lat)

    def areas(self) -> list[Area | None]:
        """The areas the search runs in, in turn, until it has ``limit`` results: one for
        ``score`` (the box, or None: anywhere) and ``strict``, two for ``favor`` (near, then
        the box)."""
        if self.geo_boost == "score" or self.centre is None:
            return [self.box]
        lon, lat = self.centre
        near = Area.circle(lon, lat, DEFAULT_RADIUS_KM if self.geo_radius is None else self.geo_radius)
        if self.box is not None:
            near = self.box & near
        return [near] if self.geo_boost == "strict" else [near, self.box]


@dataclass(slots=True)
class ReverseRequest:
    """The ``limit`` points nearest to (lat, lon), within ``max_distance`` metres if given,
    inside ``bbox`` if given, that pass the filters (:mod:`balise.search.reverse`)."""

    lat: float
    lon: float
    limit: int = 1
    filters: Filters = field(default_factory=dict)
    max_distance: float | None = None
    bbox: Sequence[float] | None = None
    box: Area | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.lon = check_coordinate("lon", self.lon, 180)
        self.lat = check_coordinate("lat", self.lat, 90)
        self.limit = check_reverse_limit(self.limit, 1)
        distance = self.max_distance
        if distance is not None:
            if isinstance(distance, bool) or not isinstance(distance, (int, float)) or math.isnan(distance):
                raise InvalidParameter("max_distance", "invalid value")
            if distance < 0:
                raise InvalidParameter("max_distance", "must be 0 or more (metres)")
        self.filters = check_filters(self.filters)
        self.box = check_box(self.bbox)


@dataclass(slots=True)
class LookupRequest:
    """The documents and house numbers with these ids (at most ``MAX_IDS``), in the order
    asked (:mod:`balise.search.lookup`)."""

    ids: Sequence[str]

    def __post_init__(self) -> None:
        ids: Iterable[Any] = [self.ids] if isinstance(self.ids, str) else self.ids
        ids = tuple(ids)
        if len(ids) > MAX_IDS:
            raise InvalidParameter("id", f"at most {MAX_IDS} ids")
        if not all(isinstance(i, str) for i in ids):
            raise InvalidParameter("id", "ids are strings")
        self.ids = ids


Request = SearchRequest | ReverseRequest | LookupRequest

