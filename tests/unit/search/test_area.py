"""Area restriction (``bbox``, ``geo_boost``, ``geo_radius``) on the real dev data: which
results come back, in which order, for which parameters. The specification of search/area.py
and of its hooks in the engine and in reverse."""

from __future__ import annotations

import numpy as np
import pytest

from balise.errors import InvalidParameter
from balise.search import reverse
from balise.search.area import DEFAULT_RADIUS_KM, Area, parse_bbox
from balise.search.scoring import haversine_km

HOTEL_DE_VILLE = (48.8566, 2.3522)  # lat, lon
PARIS = (2.22, 48.81, 2.47, 48.91)
DIGNE = (6.1, 44.0, 6.4, 44.2)
MALVAL = (1.876343, 46.339272, 1.896343, 46.359272)  # 0.01 degree around its Rue de l'Église
CHAMPIONNET_2 = (2.351692, 48.894209, 2.353692, 48.896209)  # its no. 2, 1 km from its centre
CHAMPIONNET = (2.33898, 48.894029, 2.34098, 48.896029)  # around its centre, not its no. 2


def features(fc: dict) -> list[dict]:
    return fc["features"]


def points(fc: dict) -> list[tuple[float, float]]:
    return [tuple(f["geometry"]["coordinates"]) for f in fc["features"]]


def inside(box, lon, lat) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


# --- the Area value ------------------------------------------------------------------------


def test_parse_bbox():
    assert parse_bbox("2.3,48.8,2.4,48.9") == (2.3, 48.8, 2.4, 48.9)
    assert parse_bbox(" -1.5 , 43 ,-1.4, 43.5 ") == (-1.5, 43.0, -1.4, 43.5)
    for bad in ("", "1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,3,nan", "1,2,inf,4", "1;2;3;4"):
        with pytest.raises(InvalidParameter) as raised:
            parse_bbox(bad)
        assert raised.value.name == "bbox"


@pytest.mark.parametrize("bbox", [
    (2.4, 48.8, 2.3, 48.9),  # minlon > maxlon (across the antimeridian: refused)
    (2.3, 48.9, 2.4, 48.8),  # minlat > maxlat
    (-181, 0, 0, 1), (0, -91, 1, 0), (0, 0, 181, 1), (0, 0, 1, 90.5),
    (0, 0, 1), (0, 0, 1, 1, 1), "0,0,1,1", (0, 0, float("nan"), 1), (0, 0, "x", 1), (0, 0, None, 1),
    (0, 0, True, 1),
])
def test_bad_boxes_are_400(bbox):
    with pytest.raises(InvalidParameter) as raised:
        Area.box(bbox)
    assert (raised.value.name, raised.value.status) == ("bbox", 400)


def test_a_circle_holds_exactly_the_points_within_its_radius():
    rng = np.random.default_rng(3)
    for lon, lat, km in ((2.35, 48.85, 0.5), (6.2, 44.1, 30), (-61.0, 14.6, 100), (179.9, 60.0, 50),
                         (0.0, 89.9, 40)):
        circle = Area.circle(lon, lat, km)
        lons = lon + rng.uniform(-3, 3, 4000) * km / 100
        lats = np.clip(lat + rng.uniform(-2, 2, 4000) * km / 100, -90, 90)
        lons = (lons + 180) % 360 - 180
        truth = np.array([haversine_km(a, o, lat, lon) <= km for o, a in zip(lons, lats, strict=True)])
        assert truth.any() and not truth.all()
        assert (circle.contains_many(lons, lats) == truth).all()
        one_by_one = [circle.contains(float(o), float(a)) for o, a in zip(lons, lats, strict=True)]
        assert one_by_one == truth.tolist()


def test_extent_holds_every_point_of_a_document(geocoder):
    index = geocoder.index
    hns = np.arange(index.housenumber_count)
    docs = index.housenumber_docs(hns)
    lonlat = index.hn_lonlat_many(hns)
    extent = index.doc_extent.astype(np.float64)
    for points, owners in ((lonlat, docs), (index.doc_lonlat, np.arange(index.doc_count))):
        west, south, east, north = extent[owners].T
        assert ((west <= points[:, 0]) & (points[:, 0] <= east)).all()
        assert ((south <= points[:, 1]) & (points[:, 1] <= north)).all()


# --- forward search --------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["rue de la paix", "12 rue de la paix", "place de l'eglise", "gare",
                               "rue", "8 bd du port", "avenue de la republique", "digne", "1", "rivoli"])
@pytest.mark.parametrize("box", [PARIS, DIGNE, MALVAL, (2.34, 48.85, 2.36, 48.86)])
def test_every_result_is_inside_the_box(geocoder, q, box):
    for autocomplete in (False, True):
        fc = geocoder.search(q, limit=20, autocomplete=autocomplete, bbox=box)
        assert all(inside(box, *p) for p in points(fc)), (q, box)


def test_the_box_filters_candidates_before_the_best_are_kept(geocoder):
    """Malval's Rue de l'Église is not among the 100 best of the whole index: the box finds it."""
    q = "rue de l'eglise"
    country = [f["properties"]["id"] for f in features(geocoder.search(q, limit=100))]
    assert len(country) == 100 and "231210001A" not in country
    (found,) = features(geocoder.search(q, limit=5, bbox=MALVAL))
    assert (found["properties"]["id"], found["properties"]["label"]) == (
        "231210001A", "Rue de l'Église 23220 Malval")
    assert found["properties"]["score"] > 0.9


def test_the_same_answer_as_without_a_box_when_the_box_holds_it(geocoder):
    for q in ("34 avenue de l'opera paris", "place des vosges", "rue de rivoli", "digne les bains"):
        plain = geocoder.search(q, limit=1)
        boxed = geocoder.search(q, limit=1, bbox=(-180, -90, 180, 90))
        assert boxed == plain
        lon, lat = points(plain)[0]
        around = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
        assert features(geocoder.search(q, limit=1, bbox=around)) == features(plain)


def test_a_house_number_answers_by_its_own_point(geocoder):
    """No. 2 of Rue Championnet lies 1 km east of the street's centre."""
    (number,) = features(geocoder.search("2 rue championnet paris", limit=3, bbox=CHAMPIONNET_2))
    assert (number["properties"]["id"], number["properties"]["type"]) == ("75118_1723_00002", "housenumber")
    assert features(geocoder.search("rue championnet", limit=3, bbox=CHAMPIONNET_2)) == []
    # Around the street's centre, the street answers, not its number 2 outside the box.
    (street,) = features(geocoder.search("2 rue championnet paris", limit=3, bbox=CHAMPIONNET))
    assert (street["properties"]["id"], street["properties"]["type"]) == ("75118_1723", "street")
    only_numbers = {"type": "housenumber"}
    assert features(geocoder.search("2 rue championnet paris", bbox=CHAMPIONNET, filters=only_numbers)) == []


def test_a_box_with_nothing_answers_nothing(geocoder):
    assert features(geocoder.search("rue de la paix", bbox=(-30, -10, -29, -9))) == []
    assert features(geocoder.search("1", bbox=(0, 0, 0, 0))) == []


def test_the_box_and_the_filters_together(geocoder):
    fc = geocoder.search("rue de rivoli", limit=10, bbox=PARIS, filters={"postcode": "75004"})
    assert features(fc) and {f["properties"]["postcode"] for f in features(fc)} == {"75004"}
    assert features(geocoder.search("rue de rivoli", bbox=DIGNE, filters={"postcode": "75004"})) == []


# --- geo_boost and geo_radius ------------------------------------------------------------------


def test_score_is_the_default(geocoder):
    for q in ("gare", "rue de la paix", "place des vosges"):
        plain = geocoder.search(q, lat=48.87, lon=2.33)
        assert geocoder.search(q, lat=48.87, lon=2.33, geo_boost="score") == plain
        assert geocoder.search(q, lat=48.87, lon=2.33, geo_boost="score", geo_radius=3) == plain


def test_strict_keeps_only_results_within_the_radius(geocoder):
    lat, lon = HOTEL_DE_VILLE
    for km in (0.2, DEFAULT_RADIUS_KM, 2, 20):
        fc = geocoder.search("rue", limit=30, lat=lat, lon=lon, geo_boost="strict", geo_radius=km)
        assert features(fc)
        assert all(f["properties"]["distance"] <= km * 1000 for f in features(fc))
    default = geocoder.search("rue", limit=30, lat=lat, lon=lon, geo_boost="strict")
    assert max(f["properties"]["distance"] for f in features(default)) <= DEFAULT_RADIUS_KM * 1000
    # Digne's Rue de la Paix is 580 km away.
    far = {"lat": lat, "lon": lon, "geo_boost": "strict", "geo_radius": 100}
    assert "Digne" not in str(geocoder.search("rue de la paix digne", **far))


def test_favor_puts_near_results_first_then_fills_from_anywhere(geocoder):
    lat, lon = 44.0919, 6.2355  # Digne-les-Bains
    near = geocoder.search("rue de la paix", limit=5, lat=lat, lon=lon, geo_boost="strict", geo_radius=5)
    favor = geocoder.search("rue de la paix", limit=5, lat=lat, lon=lon, geo_boost="favor", geo_radius=5)
    anywhere = geocoder.search("rue de la paix", limit=5, lat=lat, lon=lon)
    n = len(features(near))  # Digne's own Rue de la Paix, 4.9 km away
    assert n == 1 and len(features(favor)) == 5
    assert features(favor)[:n] == features(near)
    ids = [f["properties"]["id"] for f in features(favor)]
    assert len(set(ids)) == 5  # no result twice
    rest = [f for f in features(anywhere) if f["properties"]["id"] not in ids[:n]]
    assert features(favor)[n:] == rest[: 5 - n]


def test_favor_and_strict_stay_inside_the_box(geocoder):
    lat, lon = HOTEL_DE_VILLE
    box = (2.34, 48.85, 2.36, 48.86)
    for boost in ("favor", "strict"):
        fc = geocoder.search("rue", limit=20, lat=lat, lon=lon, geo_boost=boost, geo_radius=5, bbox=box)
        assert features(fc) and all(inside(box, *p) for p in points(fc))


@pytest.mark.parametrize(("options", "name"), [
    ({"geo_boost": "favor"}, "geo_boost"),  # no centre
    ({"geo_boost": "strict", "lat": 48.8}, "geo_boost"),
    ({"geo_boost": "near", "lat": 48.8, "lon": 2.3}, "geo_boost"),
    ({"geo_boost": "strict", "lat": 48.8, "lon": 2.3, "geo_radius": 0}, "geo_radius"),
    ({"geo_boost": "strict", "lat": 48.8, "lon": 2.3, "geo_radius": -1}, "geo_radius"),
    ({"geo_boost": "favor", "lat": 48.8, "lon": 2.3, "geo_radius": 100.5}, "geo_radius"),
    ({"geo_boost": "favor", "lat": 48.8, "lon": 2.3, "geo_radius": float("nan")}, "geo_radius"),
    ({"geo_radius": float("inf")}, "geo_radius"),
    ({"bbox": (1, 2, 0, 3)}, "bbox"),
])
def test_bad_geo_parameters_are_400(geocoder, options, name):
    with pytest.raises(InvalidParameter) as raised:
        geocoder.search("rue", **options)
    assert (raised.value.name, raised.value.status) == (name, 400)


# --- reverse -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_point(geocoder) -> tuple[np.ndarray, np.ndarray]:
    """Every point of the index: refs and (lon, lat)."""
    refs = geocoder.index.geo_ref.astype(np.int64)
    return refs, reverse._lonlat(geocoder.index, refs)


@pytest.mark.parametrize(("lat", "lon", "box"), [
    (*HOTEL_DE_VILLE, (2.34, 48.85, 2.36, 48.86)),  # the position inside the box
    (*HOTEL_DE_VILLE, (2.36, 48.80, 2.40, 48.84)),  # beside it
    (*HOTEL_DE_VILLE, DIGNE),  # 600 km away
    (44.0919, 6.2355, PARIS),
    (0.0, 0.0, MALVAL),
    (46.35, 1.886, (1.5, 46.0, 2.5, 47.0)),
])
def test_reverse_answers_the_nearest_points_inside_the_box(geocoder, every_point, lat, lon, box):
    refs, lonlat = every_point
    keep = (lonlat[:, 0] >= box[0]) & (lonlat[:, 0] <= box[2]) & (lonlat[:, 1] >= box[1]) & (
        lonlat[:, 1] <= box[3])
    km = np.array([haversine_km(a, o, lat, lon) for o, a in lonlat[keep]])
    truth = np.sort(km)[:5]
    found = features(geocoder.reverse(lat, lon, limit=5, bbox=box))
    assert len(found) == len(truth) == 5
    assert all(inside(box, *f["geometry"]["coordinates"]) for f in found)
    assert [f["properties"]["distance"] for f in found] == [int(k * 1000) for k in truth]


@pytest.mark.parametrize(("box", "points"), [((2.3515, 48.8562, 2.353, 48.8572), 5),
                                             ((2.3521, 48.8565, 2.3525, 48.8568), 0),
                                             ((2.352, 48.8566, 2.352, 48.8566), 0)])
def test_reverse_in_a_box_holding_fewer_points_than_asked(geocoder, every_point, box, points):
    """From inside a small box, every point of the box, nearest first (the near search stops
    with the first block that holds the box)."""
    refs, lonlat = every_point
    keep = (lonlat[:, 0] >= box[0]) & (lonlat[:, 0] <= box[2]) & (lonlat[:, 1] >= box[1]) & (
        lonlat[:, 1] <= box[3])
    lat, lon = (box[1] + box[3]) / 2, (box[0] + box[2]) / 2
    truth = sorted(int(haversine_km(a, o, lat, lon) * 1000) for o, a in lonlat[keep])
    found = features(geocoder.reverse(lat, lon, limit=50, bbox=box))
    assert len(truth) == points
    assert [f["properties"]["distance"] for f in found] == truth


def test_reverse_with_a_box_keeps_its_filters_and_max_distance(geocoder):
    box = (2.34, 48.85, 2.36, 48.86)
    streets = features(geocoder.reverse(*HOTEL_DE_VILLE, limit=3, bbox=box, filters={"type": "street"}))
    assert len(streets) == 3 and {f["properties"]["type"] for f in streets} == {"street"}
    assert features(geocoder.reverse(*HOTEL_DE_VILLE, bbox=DIGNE, max_distance=100_000)) == []
    in_75004 = {"postcode": "75004"}
    by_postcode = features(geocoder.reverse(*HOTEL_DE_VILLE, limit=3, bbox=box, filters=in_75004))
    assert by_postcode and all(f["properties"]["postcode"] == "75004" for f in by_postcode)
    assert all(inside(box, *f["geometry"]["coordinates"]) for f in by_postcode)


def test_reverse_prunes_the_squares_outside_the_box(geocoder):
    """A box far from the position, or empty, measures a few points, not the whole grid."""
    grid = geocoder.reverser.grid
    before = grid.measured
    assert features(geocoder.reverse(*HOTEL_DE_VILLE, bbox=(-30, -10, -29, -9))) == []
    assert grid.measured == before
    assert len(features(geocoder.reverse(0.0, 0.0, limit=3, bbox=MALVAL))) == 3
    assert grid.measured - before < 2_000 < len(geocoder.index.geo_ref) // 100


def test_bad_reverse_box_is_400(geocoder):
    with pytest.raises(InvalidParameter) as raised:
        geocoder.reverse(*HOTEL_DE_VILLE, bbox=(2, 48, 1, 49))
    assert raised.value.name == "bbox"
