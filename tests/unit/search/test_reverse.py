"""Reverse geocoding on the real dev data (Paris BAN + 23 BANO départements)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from balise.errors import InvalidParameter
from balise.search import reverse
from balise.search.scoring import haversine_km

HOTEL_DE_VILLE = (48.8566, 2.3522)  # lat, lon: the square in front of Paris's town hall


def nearest(geocoder, lat, lon, **options) -> list[dict]:
    return [f["properties"] for f in geocoder.reverse(lat, lon, **options)["features"]]


@pytest.fixture(scope="module")
def every_point(geocoder) -> tuple[np.ndarray, np.ndarray]:
    """Every point of the index: refs, and (lat, lon) in radians."""
    refs = geocoder.index.geo_ref.astype(np.int64)
    is_hn = refs < 0
    lonlat = np.empty((len(refs), 2))
    lonlat[is_hn] = geocoder.index.hn_lonlat_many(~refs[is_hn])
    lonlat[~is_hn] = geocoder.index.doc_lonlat[refs[~is_hn]]
    return refs, np.radians(lonlat[:, ::-1])


def brute_force_km(every_point, lat, lon, k, keep=None) -> np.ndarray:
    """The ``k`` smallest distances to every point (those of ``keep``): the truth."""
    refs, latlon = every_point
    if keep is not None:
        latlon = latlon[np.isin(refs, keep)]
    lat1, lon1 = latlon[:, 0], latlon[:, 1]
    lat2, lon2 = math.radians(lat), math.radians(lon)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * math.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    km = 2 * 6367.0 * np.arcsin(np.sqrt(a))
    return np.sort(np.partition(km, k)[:k] if len(km) > k else km)


def test_nearest_house_number_is_the_address_itself(geocoder):
    address = geocoder.search("34 Avenue de l'Opéra 75002 Paris", limit=1)["features"][0]
    lon, lat = address["geometry"]["coordinates"]
    p = nearest(geocoder, lat, lon)[0]
    assert p["id"] == address["properties"]["id"] == "75102_6904_00034"
    assert p["distance"] == 0
    assert p["score"] == 1.0


def test_shaped_like_addok_reverse(geocoder):
    """Addok 1.3.2 answers this point with this feature, to the last digit of the score."""
    fc = geocoder.reverse(*HOTEL_DE_VILLE, limit=1)
    assert list(fc) == ["type", "version", "features", "attribution", "licence", "limit"]
    feature = fc["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [2.352092, 48.856737]}
    assert feature["properties"] == {
        "label": "8 Place de l' Hotel de Ville - Esplanade de la Libération 75004 Paris",
        "score": 0.9999998823493853,
        "housenumber": "8",
        "id": "75104_4664_00008",
        "type": "housenumber",
        "name": "8 Place de l' Hotel de Ville - Esplanade de la Libération",
        "postcode": "75004",
        "citycode": "75104",
        "city": "Paris",
        "context": "75, Paris, Île-de-France",
        "importance": 0.59127,
        "district": "Paris 4e Arrondissement",
        "street": "Place de l' Hotel de Ville - Esplanade de la Libération",
        "distance": 17,
    }
    assert list(feature["properties"])[:3] == ["label", "score", "housenumber"]


def test_several_numbers_of_one_street(geocoder):
    """Addok keeps one result per street; the nearest points here are all on the square."""
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=3)
    assert [p["housenumber"] for p in results] == ["8", "6", "10"]
    assert {p["street"] for p in results} == {"Place de l' Hotel de Ville - Esplanade de la Libération"}
    assert all(p["name"] == f"{p['housenumber']} {p['street']}" for p in results)
    assert all(p["label"].startswith(p["housenumber"] + " ") for p in results)


def test_nearest_first_with_distance_and_addok_score(geocoder):
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=20)
    assert len(results) == 20
    distances = [p["distance"] for p in results]
    assert distances == sorted(distances)
    assert all(isinstance(d, int) for d in distances)
    for p in results:  # Addok's score_by_geo_distance, alone: exp(-(km / 50)²)
        assert p["score"] == pytest.approx(math.exp(-((p["distance"] / 1000 / 50) ** 2)), abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_brute_force(geocoder, every_point, seed):
    """The grid search finds exactly the nearest points, near data and far from it."""
    rng = np.random.default_rng(seed)
    index = geocoder.index
    for _ in range(40):
        if rng.random() < 0.5:  # near an address, up to a few km off
            hn = rng.integers(index.housenumber_count, size=1)
            lon, lat = index.hn_lonlat_many(hn)[0] + rng.normal(0, 0.03, 2)
        else:  # anywhere around mainland France and Corsica, sea included
            lat, lon = rng.uniform(41, 51.5), rng.uniform(-6, 10)
        limit = int(rng.integers(1, 12))
        got = [r.distance_km for r in geocoder.reverser.nearest(float(lat), float(lon), limit)]
        expected = brute_force_km(every_point, float(lat), float(lon), limit)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("filters", [
    {"type": ["street"]},
    {"type": ["municipality"]},
    {"type": ["housenumber"], "postcode": ["04000"]},
    {"citycode": ["75113"]},
])
def test_filtered_agrees_with_brute_force(geocoder, every_point, filters):
    every = allowed_refs(geocoder, filters)
    rng = np.random.default_rng(7)
    for lat, lon in zip(rng.uniform(42, 50, 15), rng.uniform(-2, 8, 15), strict=True):
        got = [r.distance_km for r in geocoder.reverser.nearest(float(lat), float(lon), 3, filters)]
        expected = brute_force_km(every_point, float(lat), float(lon), 3, every)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def allowed_refs(geocoder, filters) -> np.ndarray:
    """Every point the filters let answer, by their definition, over every point: a house
    number when its street passes postcode and citycode; a document's centre when its type is
    asked (or no type is) and it passes them."""
    index = geocoder.index
    refs = index.geo_ref.astype(np.int64)
    docs = np.where(refs >= 0, refs, index.housenumber_docs(np.where(refs < 0, ~refs, 0)))
    keep = np.ones(len(refs), dtype=bool)
    if types := filters.get("type"):
        typed = geocoder.filter_values("type")
        centres = [typed[t] for t in types if t in typed and t != "housenumber"]
        of_types = np.concatenate([*centres, np.empty(0, np.uint32)])
        keep &= np.where(refs < 0, "housenumber" in types, np.isin(refs, of_types))
    for name in ("postcode", "citycode"):
        if name in filters:
            values = geocoder.filter_values(name)
            keep &= np.isin(docs, np.concatenate([values[v] for v in filters[name] if v in values]))
    return refs[keep]


def test_type_housenumber_only(geocoder):
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=10, filters={"type": "housenumber"})
    assert len(results) == 10
    assert {p["type"] for p in results} == {"housenumber"}


def test_type_street_answers_street_centres(geocoder):
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=3, filters={"type": "street"})
    assert [p["name"] for p in results] == [
        "Place de l' Hotel de Ville - Esplanade de la Libération", "Rue de Lobau", "Pont d'Arcole"]
    assert all(p["type"] == "street" and "housenumber" not in p for p in results)
    assert all(p["street"] == p["name"] for p in results)


def test_types_mix(geocoder):
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=8, filters={"type": "housenumber street"})
    assert {p["type"] for p in results} == {"housenumber", "street"}
    municipalities = nearest(geocoder, *HOTEL_DE_VILLE, limit=2, filters={"type": ["municipality"]})
    assert [p["name"] for p in municipalities] == ["Paris 4e Arrondissement", "Paris 3e Arrondissement"]
    assert municipalities[0]["municipality"] == "Paris 4e Arrondissement"


def test_postcode_and_citycode(geocoder):
    # From the town hall (4th), the nearest point of the 15th arrondissement is km away.
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=5, filters={"postcode": "75015"})
    assert len(results) == 5 and {p["postcode"] for p in results} == {"75015"}
    assert results[0]["distance"] > 2000
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=3, filters={"citycode": ["75101", "75104"]})
    assert {p["citycode"] for p in results} <= {"75101", "75104"}
    both = nearest(geocoder, *HOTEL_DE_VILLE, limit=3, filters={"citycode": "04070", "type": "street"})
    assert {(p["citycode"], p["type"]) for p in both} == {("04070", "street")}


def test_filters_matching_nothing_answer_nothing_at_once(geocoder, monkeypatch):
    class NoGrid:
        def __getattr__(self, name):
            raise AssertionError("searched the grid for points no filter lets through")

    monkeypatch.setattr(geocoder.reverser, "grid", NoGrid())
    for filters in ({"type": "locality"}, {"postcode": "99999"}, {"citycode": "75101", "postcode": "04000"}):
        assert nearest(geocoder, 0.0, 0.0, filters=filters) == []


def test_always_answers_far_from_any_data(geocoder, every_point):
    """Addok answers nothing beyond its two rings of cells; balise the nearest point anyway."""
    (p,) = nearest(geocoder, 0.0, 0.0)
    assert p["distance"] > 3_000_000
    assert p["score"] == 0.0  # beyond 100 km, Addok's score is 0
    assert p["distance"] == int(brute_force_km(every_point, 0.0, 0.0, 1)[0] * 1000)
    # Antipodes and poles too.
    assert len(nearest(geocoder, -46.0, -178.0, limit=2)) == 2
    assert len(nearest(geocoder, 90.0, 0.0)) == 1
    assert len(nearest(geocoder, -90.0, 180.0)) == 1


def test_max_distance(geocoder):
    results = nearest(geocoder, *HOTEL_DE_VILLE, limit=100, max_distance=40)
    assert [p["housenumber"] for p in results] == ["8", "6", "10"]  # at 17, 32 and 38 m
    assert nearest(geocoder, *HOTEL_DE_VILLE, limit=100, max_distance=0) == []
    assert nearest(geocoder, 0.0, 0.0, max_distance=100_000) == []
    far = nearest(geocoder, 0.0, 0.0, max_distance=10_000_000)
    assert far == nearest(geocoder, 0.0, 0.0)


def test_envelope_keeps_filters_and_limit(geocoder):
    fc = geocoder.reverse(*HOTEL_DE_VILLE, limit=2, filters={"type": "street housenumber", "postcode": None})
    assert fc["filters"] == {"type": ["street", "housenumber"]}
    assert fc["limit"] == 2
    assert "query" not in fc and "center" not in fc  # as Addok's /reverse/


@pytest.mark.parametrize(("args", "options", "name"), [
    ((91.0, 2.0), {}, "lat"),
    ((-90.5, 2.0), {}, "lat"),
    ((48.0, 180.5), {}, "lon"),
    ((48.0, -181.0), {}, "lon"),
    ((float("nan"), 2.0), {}, "lat"),
    ((48.0, "2.3"), {}, "lon"),
    ((48.0, None), {}, "lon"),
    ((48.0, 2.0), {"limit": -1}, "limit"),
    ((48.0, 2.0), {"limit": "many"}, "limit"),
    ((48.0, 2.0), {"max_distance": -1}, "max_distance"),
    ((48.0, 2.0), {"filters": {"colour": "red"}}, "colour"),
])
def test_bad_parameters(geocoder, args, options, name):
    with pytest.raises(InvalidParameter) as raised:
        geocoder.reverse(*args, **options)
    assert raised.value.name == name
    assert raised.value.status == 400


def test_distances_match_addok_haversine(geocoder):
    lat, lon = 44.0919, 6.2355  # Digne-les-Bains
    for r in geocoder.reverser.nearest(lat, lon, 5):
        assert r.distance_km == haversine_km(float(r.doc["lat"]), float(r.doc["lon"]), lat, lon)


def test_ties_are_broken_the_same_whatever_the_order_of_the_points(geocoder):
    """Equidistant points (house numbers at one spot, a street's centre on one of them) come
    house numbers first, then by ref, in any order they are read."""
    index = geocoder.index
    xy = index.hn_lonlat_e7.view(np.int64).ravel()
    values, first, counts = np.unique(xy, return_index=True, return_counts=True)
    spot = first[np.flatnonzero(counts >= 3)[0]]
    tied = np.flatnonzero(xy == xy[spot])
    lon, lat = index.hn_lonlat(int(spot))
    refs = np.concatenate([~tied, [0, 1, 2]])  # and a few documents, elsewhere
    expected = sorted((~tied).tolist())[:2]
    rng = np.random.default_rng(0)
    for _ in range(20):
        found, km = geocoder.reverser.grid.nearest_of(rng.permutation(refs), lat + 1e-4, lon, 2)
        assert found == expected and km[0] == km[1]


def test_no_point_is_asked_for_none(geocoder):
    """A limit of 0 answers nothing; the compiled search refuses it (no room for an answer)."""
    assert geocoder.reverser.nearest(*HOTEL_DE_VILLE, limit=0) == []
    allowed = reverse.PointFilter({}, geocoder.reverser.documents)
    for search in (geocoder.reverser.grid.near, geocoder.reverser.grid.far):
        with pytest.raises(ValueError, match="limit must be at least 1"):
            search(*HOTEL_DE_VILLE, 0, math.inf, allowed)
