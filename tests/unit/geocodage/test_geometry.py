"""``searchgeom`` checked as the service checks it, and what lies inside."""

from __future__ import annotations

import pytest

from balise.http.geocodage.geometry import box_length_m, distance_m, parse_searchgeom


def test_distances_are_the_service_s():
    # turf's haversine (6,371,008.8 m): one degree of latitude.
    assert distance_m(2.0, 48.0, 2.0, 49.0) == pytest.approx(111_195.08, abs=0.01)
    assert box_length_m(2.0, 48.0, 2.01, 48.005) == pytest.approx(distance_m(2.0, 48.0, 2.01, 48.0))


def test_a_circle():
    circle = parse_searchgeom({"type": "Circle", "coordinates": [2.35, 48.85], "radius": 100})
    assert circle.kind == "Circle" and circle.centre == (2.35, 48.85) and circle.reach_m() == 100
    east = 2.35 + 99.9 / distance_m(2.35, 48.85, 2.36, 48.85) * 0.01
    assert circle.covers(east, 48.85) and not circle.covers(2.35, 48.8510)
    west, south, east_edge, north = circle.bounds
    assert distance_m(2.35, south, 2.35, north) == pytest.approx(200, rel=0.01)


def test_a_polygon_with_a_hole():
    ring = [[2.330, 48.868], [2.332, 48.868], [2.332, 48.870], [2.330, 48.870], [2.330, 48.868]]
    hole = [[2.3305, 48.8685], [2.3315, 48.8685], [2.3315, 48.8695], [2.3305, 48.8695], [2.3305, 48.8685]]
    polygon = parse_searchgeom({"type": "Polygon", "coordinates": [ring, hole]})
    assert polygon.covers(2.3302, 48.8682) and not polygon.covers(2.331, 48.869)
    assert polygon.covers(2.330, 48.869)  # on the edge
    assert polygon.reach_m() == pytest.approx(distance_m(2.331, 48.869, 2.332, 48.870), rel=1e-4)


def test_points_and_lines_touch_within_a_centimetre():
    line = parse_searchgeom({"type": "LineString", "coordinates": [[2.33, 48.86], [2.34, 48.86]]})
    assert line.covers(2.335, 48.86) and line.covers(2.335, 48.86 + 5e-8) and not line.covers(2.335, 48.8601)
    point = parse_searchgeom({"type": "Point", "coordinates": [2.33, 48.86]})
    assert point.covers(2.33, 48.86) and not point.covers(2.3301, 48.86)


def test_true_geometries_of_points_of_interest():
    circle = parse_searchgeom({"type": "Circle", "coordinates": [2.35, 48.85], "radius": 100})
    park = {"type": "Polygon", "coordinates": [
        [[2.349, 48.849], [2.36, 48.849], [2.36, 48.86], [2.349, 48.86], [2.349, 48.849]]]}
    assert circle.intersects(park)
    assert not circle.intersects({"type": "Point", "coordinates": [2.36, 48.86]})
    assert not circle.intersects({"type": "Nonsense"}) and not circle.intersects({"coordinates": 1})


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Point", "coordinates": [2.3]}, "position must have 2 or more elements"),
    ({"type": "Point", "coordinates": "2.3,48"}, "position should be an array"),
    ({"type": "Point", "coordinates": [200, 48]}, "position out of range"),
    ({"type": "LineString", "coordinates": [[2.3, 48.8]]}, "a line needs to have two or more coordinates"),
    ({"type": "Polygon", "coordinates": []}, "a polygon needs an array of rings"),
    ({"type": "Circle", "coordinates": [2.3, 48.8], "radius": True}, "radius must be a positive float"),
    ({"type": "Circle", "coordinates": ["2.3", 48.8], "radius": 10}, "Coordinates must be an array of float"),
    ({"type": "Circle", "coordinates": [181, 48.8], "radius": 10}, "Longitude must be a float between"),
    ({"type": "LineString", "coordinates": [[2.3, 48.8], [2.3, 48.81]]}, "geometry is too big"),
])
def test_bad_geometries(geometry, message):
    with pytest.raises(ValueError, match=message):
        parse_searchgeom(geometry)


def test_a_self_crossing_polygon_is_made_valid():
    bow = parse_searchgeom({"type": "Polygon", "coordinates": [
        [[2.33, 48.86], [2.331, 48.861], [2.331, 48.86], [2.33, 48.861], [2.33, 48.86]]]})
    assert bow.covers(2.3302, 48.8605) and not bow.covers(2.3305, 48.8609)
