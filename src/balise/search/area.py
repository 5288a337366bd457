"""Restricting results to an area: a box (``bbox``), a circle (``geo_boost`` with ``geo_radius``).

A result is inside when its own point is: the house number's, else its document's (a street's,
a locality's or a municipality's centre). Forward search filters while it collects candidates,
not after it ranks them (the compiled intersections test each document's extent against the
box, ``index._postings``), so that the best documents *inside* fill the bucket even when the
best of the whole country lie elsewhere; reverse search prunes the squares
of its grid that miss the area (:mod:`balise.search.reverse`).

``geo_boost`` is Addok's newest (docs/geographic_search.md of Addok's main branch):

- ``score`` (default): the centre ``lat``/``lon`` only adds to the score, as before;
- ``favor``: results within ``geo_radius`` km of the centre first, then results from anywhere
  (within ``bbox`` if given) to fill up to ``limit``;
- ``strict``: only results within ``geo_radius`` km of the centre.

``geo_radius`` defaults to 0.5 km, about the 3 x 3 block of geohash-7 cells Addok uses; it must
be over 0 and at most 100 km. ``favor`` and ``strict`` need a centre; ``score`` ignores the
radius. A box crossing the antimeridian (``minlon > maxlon``) is refused: no French address
needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidParameter
from . import scoring

if TYPE_CHECKING:
    from ..index import IndexReader

GEO_BOOSTS = ("score", "favor", "strict")
DEFAULT_RADIUS_KM = 0.5
MAX_RADIUS_KM = 100.0


@dataclass(frozen=True, slots=True)
class Area:
    """A box in degrees, optionally holding a circle (``centre`` (lon, lat), ``radius_km``):
    a point is inside when it is in the box and, for a circle, within the radius."""

    west: float
    south: float
    east: float
    north: float
    centre: tuple[float, float] | None = None
    radius_km: float = 0.0

    @classmethod
    def box(cls, bbox: Sequence[float], name: str = "bbox") -> Area:
        """The box ``(minlon, minlat, maxlon, maxlat)``; InvalidParameter (400) when it is not one."""
        if isinstance(bbox, (str, bytes)) or len(bbox) != 4:
            raise InvalidParameter(name, "must be 4 numbers: minlon,minlat,maxlon,maxlat")
        try:
            west, south, east, north = (_number(v) for v in bbox)
        except (TypeError, ValueError):
            raise InvalidParameter(name, "must be 4 finite numbers: minlon,minlat,maxlon,maxlat") from None
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
            raise InvalidParameter(name, "out of range (longitudes -180..180, latitudes -90..90)")
        if west > east or south > north:
            raise InvalidParameter(name, "minlon must not exceed maxlon, nor minlat maxlat")
        return cls(west, south, east, north)

    @classmethod
    def circle(cls, lon: float, lat: float, radius_km: float) -> Area:
        """Points within ``radius_km`` of (lon, lat), in the box that holds that circle."""
        radius_km = radius(radius_km)
        angle = radius_km / scoring.EARTH_RADIUS_KM
        dlat = math.degrees(angle)
        south, north = lat - dlat, lat + dlat
        if south <= -90 or north >= 90:
            west, east = -180.0, 180.0  # around a pole: every longitude
        else:
            dlon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
            west, east = lon - dlon, lon + dlon
            if west < -180 or east > 180:
                west, east = -180.0, 180.0  # across the antimeridian: the box is only a prefilter
        return cls(west, max(south, -90.0), east, min(north, 90.0), (lon, lat), radius_km)

    def __and__(self, other: Area) -> Area:
        """Points inside both (at most one of them a circle)."""
        if self.centre is not None and other.centre is not None:
            raise ValueError("two circles")
        circle = self if self.centre is not None else other
        return Area(max(self.west, other.west), max(self.south, other.south), min(self.east, other.east),
                    min(self.north, other.north), circle.centre, circle.radius_km)

    def contains(self, lon: float, lat: float) -> bool:
        if not (self.west <= lon <= self.east and self.south <= lat <= self.north):
            return False
        if self.centre is None:
            return True
        return scoring.haversine_km(lat, lon, self.centre[1], self.centre[0]) <= self.radius_km

    def contains_many(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        """:meth:`contains` of each point (arrays of longitudes and latitudes)."""
        inside = (lon >= self.west) & (lon <= self.east) & (lat >= self.south) & (lat <= self.north)
        if self.centre is not None and inside.any():
            at = np.flatnonzero(inside)
            km = scoring.haversine_km_array(lat[at], lon[at], self.centre[1], self.centre[0])
            inside[at] = km <= self.radius_km
        return inside

    def bounds(self, housenumbers: bool) -> tuple[float, float, float, float, bool]:
        """The box as the compiled intersections filter by it (``index._postings``): a
        document may answer when its extent meets the box (``housenumbers``: one of its house
        numbers may answer), else when its own point is in it. A circle is checked on the
        candidates, exactly (:meth:`contains`)."""
        return (self.west, self.south, self.east, self.north, housenumbers)

    def answering(self, index: IndexReader, doc: int, hn: int) -> int | None:
        """What answers for a candidate: its house number ``hn`` if inside, else the document
        itself (-1) if inside, else None."""
        if hn >= 0 and self.contains(*index.hn_lonlat(hn)):
            return hn
        if self.contains(*(float(v) for v in index.doc_lonlat[doc])):
            return -1
        return None

    def intersects_many(self, west: NDArray[np.float64], south: NDArray[np.float64],
                        east: NDArray[np.float64], north: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each rectangle (degrees, arrays) may hold a point inside: it meets the box."""
        return (west <= self.east) & (east >= self.west) & (south <= self.north) & (north >= self.south)


def _number(value: Any) -> float:
    if isinstance(value, bool):  # JSON's true is not 1
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"minlon,minlat,maxlon,maxlat"`` (HTTP, CLI, CSV) as numbers; checked by :meth:`Area.box`."""
    parts = str(text).split(",")
    if len(parts) != 4:
        raise InvalidParameter("bbox", "must be 4 numbers: minlon,minlat,maxlon,maxlat")
    try:
        west, south, east, north = (_number(p.strip()) for p in parts)
    except ValueError:
        raise InvalidParameter("bbox", "must be 4 finite numbers: minlon,minlat,maxlon,maxlat") from None
    return west, south, east, north


def radius(value: Any) -> float:
    """A ``geo_radius`` in km: over 0, at most 100."""
    try:
        km = _number(value)
    except (TypeError, ValueError):
        raise InvalidParameter("geo_radius", "must be a number of kilometres") from None
    if not 0 < km <= MAX_RADIUS_KM:
        raise InvalidParameter("geo_radius", f"out of range (over 0, at most {MAX_RADIUS_KM:g} km)")
    return km
