"""``searchgeom``: the geometry ``/reverse`` answers inside, checked as the service checks it
(gpf-geocodeur api/params/base.js, lib/geometries.js), and the tests of what lies inside.

Allowed: a GeoJSON ``Point``, ``LineString`` or ``Polygon``, or a ``Circle``
(``{"type": "Circle", "coordinates": [lon, lat], "radius": metres}``, radius over 0 and at most
1,000 m, as the service's api/params/base.js). The longer side of any other geometry's box is
at most 1,000 m. A bad one is a 400 whose
detail says why, in the service's words where it has them (``geometry type (X) not allowed``,
``geometry not valid: ...``, ``geometry is too big: ...``).

A result is inside when its point (a house number's, a street's, a POI's) touches the geometry,
within ``TOUCH_DEGREES`` (about a centimetre, the precision of the stored points), or, for a
POI that has a ``truegeometry``, when that geometry does. Distances are on the sphere of
``EARTH_RADIUS_M`` (turf's, which the service uses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

ALLOWED = ("Point", "LineString", "Polygon", "Circle")
EARTH_RADIUS_M = 6_371_008.8
MAX_BOX_M = 1000.0
MAX_RADIUS_M = 1000.0
TOUCH_DEGREES = 1e-7
CIRCLE_SIDES = 64


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def box_length_m(west: float, south: float, east: float, north: float) -> float:
    """The longer side of a box, in metres (the service's bboxMaxLength)."""
    return max(distance_m(west, south, west, north), distance_m(west, south, east, south))


@dataclass(frozen=True)
class SearchGeometry:
    """A checked ``searchgeom``: its kind, its shape (a circle as a polygon), its box, its centre."""

    kind: str
    shape: BaseGeometry
    centre: tuple[float, float]  # (lon, lat): a circle's centre, else the box's
    radius_m: float | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        west, south, east, north = self.shape.bounds
        return (west, south, east, north)

    def reach_m(self) -> float:
        """How far from the centre a point inside may be (metres)."""
        if self.radius_m is not None:
            return self.radius_m
        west, south, east, north = self.bounds
        lon, lat = self.centre
        return max(distance_m(lon, lat, x, y) for x in (west, east) for y in (south, north))

    def covers(self, lon: float, lat: float) -> bool:
        """Whether a point touches the geometry."""
        if self.radius_m is not None:
            return distance_m(self.centre[0], self.centre[1], lon, lat) <= self.radius_m + 1e-6
        return bool(shapely.dwithin(self.shape, Point(lon, lat), TOUCH_DEGREES))

    def intersects(self, geometry: dict[str, Any]) -> bool:
        """Whether a GeoJSON geometry (a POI's ``truegeometry``) touches this one."""
        try:
            other = shapely.make_valid(shape(geometry))
        except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.ShapelyError):
            return False
        return bool(shapely.dwithin(self.shape, other, TOUCH_DEGREES))


def _position(value: Any) -> tuple[float, float]:
    if not isinstance(value, list):
        raise ValueError(f"position should be an array, is a {type(value).__name__} instead")
    if len(value) < 2:
        raise ValueError("position must have 2 or more elements")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError("each element in a position must be a number")
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError("position out of range: longitude -180..180, latitude -90..90")
    return lon, lat


def _positions(value: Any, least: int, message: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or len(value) < least:
        raise ValueError(message)
    return [_position(v) for v in value]


def _geojson(geometry: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON Point, LineString or Polygon as a shape; ValueError as geojsonhint says."""
    if "coordinates" not in geometry:
        raise ValueError('"coordinates" member required')
    coordinates = geometry["coordinates"]
    kind = geometry["type"]
    if kind == "Point":
        return Point(_position(coordinates))
    if kind == "LineString":
        return LineString(_positions(coordinates, 2, "a line needs to have two or more coordinates to be "
                                     "valid"))
    if not isinstance(coordinates, list) or not coordinates:
        raise ValueError("a polygon needs an array of rings")
    rings = []
    for ring in coordinates:
        points = _positions(ring, 4, "a LinearRing of coordinates needs to have four or more positions")
        if ring[0] != ring[-1]:
            raise ValueError("the first and last positions in a LinearRing of coordinates must be the same")
        rings.append(points)
    return shapely.make_valid(Polygon(rings[0], rings[1:]))


def _circle(geometry: dict[str, Any]) -> SearchGeometry:
    """The service's validateCircle, then the circle as a polygon of ``CIRCLE_SIDES`` sides."""
    if "radius" not in geometry:
        raise ValueError("geometry not valid: radius property is missing")
    radius = geometry["radius"]
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius > 0:
        raise ValueError("geometry not valid: radius must be a positive float")
    if radius > MAX_RADIUS_M:
        raise ValueError(f"geometry not valid: circle radius must be a float between 0 and {MAX_RADIUS_M:g}")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 2:
        raise ValueError("geometry not valid: Coordinates must be an array of two entries")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coordinates):
        raise ValueError("geometry not valid: Coordinates must be an array of float numbers")
    lon, lat = float(coordinates[0]), float(coordinates[1])
    if not -180 <= lon <= 180:
        raise ValueError("geometry not valid: Longitude must be a float between -180 and 180")
    if not -85 <= lat <= 85:
        raise ValueError("geometry not valid: Latitude must be a float between -85 and 85")
    angle = math.degrees(float(radius) / EARTH_RADIUS_M)
    ring = [(lon + angle * math.sin(t) / math.cos(math.radians(lat)), lat + angle * math.cos(t))
            for t in (2 * math.pi * i / CIRCLE_SIDES for i in range(CIRCLE_SIDES))]
    return SearchGeometry("Circle", Polygon(ring), (lon, lat), float(radius))


def parse_searchgeom(value: Any) -> SearchGeometry:
    """A ``searchgeom`` (parsed JSON) checked; ValueError with the service's words."""
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError("geometry object must have a 'type' property")
    kind = value["type"]
    if kind not in ALLOWED:
        raise ValueError(f"geometry type ({kind}) not allowed")
    if kind == "Circle":
        return _circle(value)
    try:
        geometry = _geojson(value)
    except ValueError as error:
        raise ValueError(f"geometry not valid: {error}") from None
    west, south, east, north = geometry.bounds
    if box_length_m(west, south, east, north) > MAX_BOX_M:
        raise ValueError(f"geometry is too big: bbox max length must be less than {MAX_BOX_M:g}m")
    return SearchGeometry(str(kind), geometry, ((west + east) / 2, (south + north) / 2))
