"""The Géoplateforme API's ``/geocodage/reverse`` on a real server: a point (the service's 100 m,
then 200 m), every ``searchgeom`` type (Point, LineString, Polygon, Circle) with every result
inside it, filters, merged indexes, and each 400."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape

from balise.http.geocodage.geometry import distance_m
from tests.functional.test_geocodage_search import refused

REVERSE = "/geocodage/reverse"
NOTRE_DAME = {"lon": 2.3488, "lat": 48.8534}
# Around Rue de la Paix, Paris 2e (about 150 m by 170 m): house numbers inside.
PAIX = {"type": "Polygon", "coordinates": [[[2.3300, 48.8680], [2.3320, 48.8680], [2.3320, 48.8695],
                                            [2.3300, 48.8695], [2.3300, 48.8680]]]}
AIGLUN_HALL = (6.14496994019, 44.0507011414)  # the town hall's official point (a POI)


def reverse(server, **params):
    answer = server.get(REVERSE, {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()})
    assert answer.status == 200, answer.body
    body = answer.json()
    assert list(body) == ["type", "features"] and body["type"] == "FeatureCollection"
    return body["features"]


def inside(feature, geometry) -> bool:
    lon, lat = feature["geometry"]["coordinates"]
    if geometry["type"] == "Circle":
        return distance_m(*geometry["coordinates"], lon, lat) <= geometry["radius"] + 1e-6
    return bool(shapely.dwithin(shape(geometry), shapely.Point(lon, lat), 1e-7))


def test_a_point(gpf_server):
    found = reverse(gpf_server, **NOTRE_DAME)
    assert len(found) == 10
    first = found[0]["properties"]
    assert first["postcode"] == "75004" and first["_type"] == "address"
    assert (first["lon"], first["lat"]) == tuple(found[0]["geometry"]["coordinates"])
    distances = [f["properties"]["distance"] for f in found]
    assert distances == sorted(distances) and distances[-1] <= 100
    assert all(isinstance(d, int) for d in distances)
    for f in found:  # the service's score: 1 at the point, 0 at 10 km
        assert f["properties"]["score"] == pytest.approx(1 - f["properties"]["distance"] / 10_000)
        measured = distance_m(NOTRE_DAME["lon"], NOTRE_DAME["lat"], *f["geometry"]["coordinates"])
        assert measured == pytest.approx(f["properties"]["distance"], abs=0.5)


def test_a_point_with_nothing_within_100_m_looks_within_200_m(gpf_server):
    found = reverse(gpf_server, lon=6.313324, lat=44.090308)
    assert found and all(100 < f["properties"]["distance"] <= 200 for f in found)


def test_a_point_with_nothing_within_200_m_has_no_answer(gpf_server):
    """Unlike the Addok API here, which always answers: the service looks 200 m around."""
    assert reverse(gpf_server, lon=-5.0, lat=46.0) == []
    assert gpf_server.get("/reverse/", {"lon": -5.0, "lat": 46.0}).json()["features"]


def test_limit_and_filters(gpf_server):
    assert len(reverse(gpf_server, limit=3, **NOTRE_DAME)) == 3
    streets = reverse(gpf_server, type="street", **NOTRE_DAME)
    assert streets and {f["properties"]["type"] for f in streets} == {"street"}
    found = reverse(gpf_server, postcode="75004", **NOTRE_DAME)
    assert {f["properties"]["postcode"] for f in found} == {"75004"}
    assert reverse(gpf_server, postcode="75001", **NOTRE_DAME) == []  # none of 75001 within 200 m
    assert reverse(gpf_server, citycode="75104", **NOTRE_DAME)
    near_hall = dict(zip(("lon", "lat"), AIGLUN_HALL, strict=True))
    assert {f["properties"]["citycode"] for f in reverse(gpf_server, city="Aiglun", **near_hall)} == {"04001"}
    assert refused(gpf_server, REVERSE, city="Aiglun", citycode="04001", **near_hall) == [
        "city and citycode params cannot be used together"]
    assert refused(gpf_server, REVERSE, limit=21, **NOTRE_DAME) == [
        "limit: must be an integer between 1 and 20"]


@pytest.mark.parametrize(("params", "detail"), [
    ({}, "At least lon/lat or searchgeom must be defined"),
    ({"lon": "2.35"}, "lon/lat must be present together if defined"),
    ({"lat": "48.85", "lon": "east"}, "lon: unable to parse value as float"),
    ({"index": "parcel", "lon": "2.35", "lat": "48.85"}, "index: 'parcel' is not served here"),
])
def test_point_parameters_are_checked(gpf_server, params, detail):
    assert refused(gpf_server, REVERSE, **params) == [detail]


def test_a_polygon(gpf_server):
    found = reverse(gpf_server, searchgeom=PAIX, limit=20)
    assert len(found) == 20 and all(inside(f, PAIX) for f in found)
    # Without lon/lat, no order: distance 0 and no score, as the service.
    assert all(f["properties"]["distance"] == 0 and "score" not in f["properties"] for f in found)
    assert len(reverse(gpf_server, searchgeom=PAIX, limit=5)) == 5


def test_a_polygon_ordered_from_a_point(gpf_server):
    found = reverse(gpf_server, searchgeom=PAIX, lon=2.3305, lat=48.8688, limit=20)
    assert all(inside(f, PAIX) for f in found)
    distances = [f["properties"]["distance"] for f in found]
    assert distances == sorted(distances) and distances[0] < 20
    # From a point outside the polygon too: still only what is inside.
    far = reverse(gpf_server, searchgeom=PAIX, lon=2.35, lat=48.86, limit=20)
    assert far and all(inside(f, PAIX) for f in far)


def test_a_concave_polygon_keeps_only_what_is_inside(gpf_server):
    notch = {"type": "Polygon", "coordinates": [[[2.3300, 48.8680], [2.3320, 48.8680], [2.3320, 48.8695],
                                                 [2.3310, 48.8687], [2.3300, 48.8695], [2.3300, 48.8680]]]}
    found = reverse(gpf_server, searchgeom=notch, limit=20)
    assert found and all(inside(f, notch) for f in found)
    assert len(found) < len(reverse(gpf_server, searchgeom=PAIX, limit=20)) or len(found) == 20


def test_a_circle(gpf_server):
    circle = {"type": "Circle", "coordinates": [2.3488, 48.8534], "radius": 80}
    found = reverse(gpf_server, searchgeom=circle, limit=20)
    assert found and all(inside(f, circle) for f in found)
    with_centre = reverse(gpf_server, searchgeom=circle, limit=20, **NOTRE_DAME)
    assert all(f["properties"]["distance"] <= 80 for f in with_centre)
    widest = {**circle, "radius": 1000}  # the service's most (a 2 km wide circle)
    found = reverse(gpf_server, searchgeom=widest, limit=20)
    assert len(found) == 20 and all(inside(f, widest) for f in found)


def test_point_and_line_are_for_points_of_interest(gpf_server):
    point = {"type": "Point", "coordinates": list(AIGLUN_HALL)}
    (hall,) = reverse(gpf_server, searchgeom=point, index="poi")
    assert hall["properties"]["extrafields"]["cleabs"] == "mairie-04001"
    assert hall["properties"]["distance"] == 0
    line = {"type": "LineString", "coordinates": [[6.1440, 44.0500], list(AIGLUN_HALL), [6.1460, 44.0515]]}
    found = reverse(gpf_server, searchgeom=line, index="poi")
    assert [f["properties"]["extrafields"]["cleabs"] for f in found] == ["mairie-04001"]
    beside = {"type": "LineString", "coordinates": [[6.1440, 44.0500], [6.1460, 44.0510]]}
    assert reverse(gpf_server, searchgeom=beside, index="poi") == []
    for geometry in (point, line):
        assert refused(gpf_server, REVERSE, searchgeom=json.dumps(geometry)) == [
            f"Geometry type '{geometry['type']}' not allowed for address index"]
        assert refused(gpf_server, REVERSE, searchgeom=json.dumps(geometry), index="poi,address") == [
            f"Geometry type '{geometry['type']}' not allowed for address index"]


def test_points_of_interest_inside_a_polygon_and_a_circle(gpf_server):
    around = {"type": "Polygon", "coordinates": [[[6.140, 44.047], [6.150, 44.047], [6.150, 44.054],
                                                  [6.140, 44.054], [6.140, 44.047]]]}
    found = reverse(gpf_server, searchgeom=around, index="poi")
    assert "mairie-04001" in [f["properties"]["extrafields"]["cleabs"] for f in found]
    assert all(inside(f, around) for f in found)
    circle = {"type": "Circle", "coordinates": list(AIGLUN_HALL), "radius": 50}
    found = reverse(gpf_server, searchgeom=circle, index="poi")
    assert [f["properties"]["extrafields"]["cleabs"] for f in found] == ["mairie-04001"]


def test_category_and_true_geometry_of_points_of_interest(gpf_server):
    circle = {"type": "Circle", "coordinates": list(AIGLUN_HALL), "radius": 50}
    assert reverse(gpf_server, searchgeom=circle, index="poi", category="bureau de poste") == []
    (hall,) = reverse(gpf_server, searchgeom=circle, index="poi", category="mairie",
                      returntruegeometry="true")
    p = hall["properties"]
    # Every stored field but the point (the service's POI reverse), the geometry as an object.
    assert p["truegeometry"] == {"type": "Point", "coordinates": list(AIGLUN_HALL)}
    assert p["importance"] > 0 and p["_type"] == "poi" and "lon" not in p and "id" not in p


def test_merged_reverse(gpf_server):
    found = reverse(gpf_server, lon=AIGLUN_HALL[0], lat=AIGLUN_HALL[1], index="address,poi", limit=20)
    assert found[0]["properties"]["_type"] == "poi" and found[0]["properties"]["distance"] < 5
    assert {"address", "poi"} <= {f["properties"]["_type"] for f in found}
    scores = [f["properties"]["score"] for f in found]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(("searchgeom", "detail"), [
    ("{", "searchgeom: unable to parse value as valid JSON or GeoJSON object"),
    ("42", "searchgeom: unable to parse value as valid JSON or GeoJSON object"),
    ("[1, 2]", "searchgeom: geometry object must have a 'type' property"),
    ('{"coordinates": [2.35, 48.85]}', "searchgeom: geometry object must have a 'type' property"),
    ('{"type": "MultiPolygon", "coordinates": []}', "searchgeom: geometry type (MultiPolygon) not allowed"),
    ('{"type": "Circle", "coordinates": [2.35, 48.85]}',
     "searchgeom: geometry not valid: radius property is missing"),
    ('{"type": "Circle", "coordinates": [2.35, 48.85], "radius": -1}',
     "searchgeom: geometry not valid: radius must be a positive float"),
    ('{"type": "Circle", "coordinates": [2.35, 48.85], "radius": "100"}',
     "searchgeom: geometry not valid: radius must be a positive float"),
    ('{"type": "Circle", "coordinates": [2.35, 48.85], "radius": 1000.5}',
     "searchgeom: geometry not valid: circle radius must be a float between 0 and 1000"),
    ('{"type": "Circle", "coordinates": [2.35], "radius": 100}',
     "searchgeom: geometry not valid: Coordinates must be an array of two entries"),
    ('{"type": "Circle", "coordinates": [2.35, 89], "radius": 100}',
     "searchgeom: geometry not valid: Latitude must be a float between -85 and 85"),
    ('{"type": "Polygon"}', 'searchgeom: geometry not valid: "coordinates" member required'),
    ('{"type": "Polygon", "coordinates": [[[2.33, 48.86], [2.331, 48.86], [2.331, 48.861]]]}',
     "searchgeom: geometry not valid: a LinearRing of coordinates needs to have four or more positions"),
    ('{"type": "Polygon", "coordinates": [[[2.33, 48.86], [2.331, 48.86], [2.331, 48.861], [2.33, 48.865]]]}',
     "searchgeom: geometry not valid: the first and last positions in a LinearRing of coordinates must be "
     "the same"),
    ('{"type": "Polygon", "coordinates": [[[2.33, 48.86], [2.331, "x"], [2.331, 48.861], [2.33, 48.86]]]}',
     "searchgeom: geometry not valid: each element in a position must be a number"),
    ('{"type": "Polygon", "coordinates": [[[2.33, 48.86], [2.35, 48.86], [2.35, 48.87], [2.33, 48.86]]]}',
     "searchgeom: geometry is too big: bbox max length must be less than 1000m"),
])
def test_searchgeom_is_checked(gpf_server, searchgeom, detail):
    assert refused(gpf_server, REVERSE, searchgeom=searchgeom) == [detail]
