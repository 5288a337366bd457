"""The shapes of the service's answers and its merge, and POIs with a true geometry (a
Géoplateforme export built from BD TOPO) through the whole API on a real index."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from balise.http.geocodage import features
from balise.http.geocodage.operations import Found, merge


def feature(score=None, **properties):
    if score is not None:
        properties["score"] = score
    geometry = {"type": "Point", "coordinates": [2.0, 48.0]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def test_merge_by_score_stable_cut():
    a = Found([feature(0.9, id="a1"), feature(0.5, id="a2")], "exact")
    p = Found([feature(0.9, id="p1"), feature(0.7, id="p2")], "fuzzy")
    merged = merge([a, p], 3)
    assert [f["properties"]["id"] for f in merged.features] == ["a1", "p1", "p2"] and merged.match == "exact"
    assert merge([p, a], 1).match == "fuzzy"
    assert merge([Found([]), Found([])], 3) == Found([], "none")
    # Without a score (a reverse with no point): last, in order.
    unscored = merge([Found([feature(id="x")]), Found([feature(0.1, id="y")])], 5)
    assert [f["properties"]["id"] for f in unscored.features] == ["y", "x"]
    filtered = merge([a, p], 5, [lambda f: f["properties"]["id"] != "p1"])
    assert [f["properties"]["id"] for f in filtered.features] == ["a1", "p2", "a2"]


@pytest.mark.parametrize(("properties", "text"), [
    ({"name": "5 Rue de la Paix", "postcode": "75002", "city": "Paris"}, "5 Rue de la Paix, 75002 Paris"),
    ({"name": ["Bordeaux"], "postcode": ["33000", "33800"]}, "Bordeaux, 33000"),
    ({"name": ["Paris"]}, "Paris"),
    ({"name": ["Mairie"], "city": ["Aiglun"]}, "Mairie, Aiglun"),
    ({"street": "Rue X", "postcode": "04510"}, "Rue X, 04510"),
    ({"postcode": ["04510", "04000"], "city": "Aiglun"}, "04510,04000 Aiglun"),  # as JavaScript writes a list
    ({"city": []}, ""),
])
def test_fulltext_is_the_service_s(properties, text):
    assert features.fulltext(properties) == text


@pytest.mark.parametrize(("citycode", "expected"), [
    ("75056", True), ("97411", False), ("2A004", True), (["97411", "974"], False), (["75056", "75"], True),
    (None, None),
])
def test_metropole(citycode, expected):
    assert features.metropole(citycode) is expected


def test_territories():
    address = feature(postcode="97233", citycode="97229")
    assert features.in_territories(address, {"972"}) and features.in_territories(address, {"DOMTOM"})
    assert features.in_territories(address, {"97233"}) and not features.in_territories(address, {"METROPOLE"})
    poi = feature(citycode=["04001", "04"], territory="METROPOLE", postcode=["04510"])
    assert features.in_territories(poi, {"04"}) and features.in_territories(poi, {"METROPOLE"})
    assert not features.in_territories(poi, {"05"})
    assert features.departements_of(["97411", "974", "2A004"]) == ["974", "2A"]


def test_a_box_in_any_corner_order():
    assert features.in_box(feature(), (2.0, 48.0, 1.0, 47.0))
    assert not features.in_box(feature(), (2.1, 48, 3, 49))


PARK = {"type": "Polygon", "coordinates": [[[2.3320, 48.8440], [2.3420, 48.8440], [2.3420, 48.8490],
                                            [2.3320, 48.8490], [2.3320, 48.8440]]]}


@pytest.fixture(scope="module")
def client(tmp_path_factory, sample_index):
    """The API over the sample and a POI index of an export as the Géoplateforme builds it from
    BD TOPO: no id, ``truegeometry`` as JSON text, the point its centroid."""
    from balise import Geocoder
    from balise.config import Settings
    from balise.http import create_app
    from balise.importer.build import build_index
    from balise.importer.poi import export_pois, write_ndjson
    from balise.importer.report import ImportReport

    base = tmp_path_factory.mktemp("bdtopo")
    export = base / "poi.ndjson"
    rows = [{"name": ["Jardin du Luxembourg"], "toponym": "Jardin du Luxembourg",
             "category": ["parc", "espace vert"], "postcode": ["75006"], "citycode": ["75106", "75"],
             "city": ["Paris"], "classification": 2, "extrafields": {"cleabs": "PARC0001"},
             "territory": "METROPOLE", "truegeometry": json.dumps(PARK), "lon": 2.337, "lat": 48.8465,
             "importance": 0.9}]
    export.write_text("".join(json.dumps(r) + "\n" for r in rows))
    normalized = base / "normalized.ndjson"
    write_ndjson(export_pois(export, ImportReport()), normalized)
    build_index([normalized], base / "index", workers=1)
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false"})
    return falcon.testing.TestClient(create_app(Geocoder.open(sample_index), settings,
                                                poi=Geocoder.open(base / "index")))


def test_a_true_geometry_is_what_touches(client):
    """A triangle inside the park that misses its centroid (but holds it in its box): the
    park, by its polygon; the same triangle moved out of the park: nothing."""
    def reverse(coordinates):
        triangle = json.dumps({"type": "Polygon", "coordinates": [coordinates]})
        answer = client.simulate_get("/geocodage/reverse", params={"searchgeom": triangle, "index": "poi"})
        return [f["properties"]["extrafields"]["cleabs"] for f in answer.json["features"]]

    inside = [[2.3330, 48.8445], [2.3400, 48.8445], [2.3330, 48.8480], [2.3330, 48.8445]]
    assert reverse(inside) == ["PARC0001"]
    assert reverse([[x - 0.0095, y] for x, y in inside]) == []


def test_true_geometries_are_returned_as_the_service_does(client):
    found = client.simulate_get("/geocodage/search", params={"q": "jardin du luxembourg", "index": "poi",
                                                             "returntruegeometry": "true"}).json["features"]
    assert json.loads(found[0]["properties"]["truegeometry"]) == PARK  # search: JSON text
    near = client.simulate_get("/geocodage/reverse", params={"lon": 2.337, "lat": 48.8465, "index": "poi",
                                                              "returntruegeometry": "1"}).json["features"]
    assert near[0]["properties"]["truegeometry"] == PARK  # reverse: the object
    assert near[0]["properties"]["category"] == ["parc", "espace vert"]
