"""The Géoplateforme API's ``/geocodage/completion`` on a real server: the service's answer
(``status``, ``results`` with ``fulltext``, ``x``, ``y``, ``kind``...), every parameter
(``type``, ``maximumResponses``, ``terr``, ``poiType``, ``lonlat``, ``bbox``) and each 400."""

from __future__ import annotations

import pytest

from balise.http.geocodage.geometry import distance_m
from tests.functional.test_geocodage_search import refused

COMPLETION = "/geocodage/completion"


def complete(server, **params):
    answer = server.get(COMPLETION, params)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert list(body) == ["status", "results"] and body["status"] == "OK"
    return body["results"]


def test_an_address(gpf_server):
    first = complete(gpf_server, text="5 rue de la paix, par", type="StreetAddress", maximumResponses=2)[0]
    assert first == {"x": 2.330573, "y": 48.868811, "country": "StreetAddress", "city": "Paris",
                     "oldcity": "", "kind": "housenumber", "zipcode": "75002", "street": "Rue de la Paix",
                     "metropole": True, "fulltext": "5 Rue de la Paix, 75002 Paris", "classification": 7}


def test_a_point_of_interest(gpf_server):
    first = complete(gpf_server, text="bordea", type="PositionOfInterest")[0]
    assert first["fulltext"] == "Bordeaux, 33000"
    assert first["names"] == ["Bordeaux"] and first["zipcode"] == "33000" and "33800" in first["zipcodes"]
    assert first["poiType"] == ["administratif", "commune"] and first["kind"] == "administratif"
    assert first["classification"] == 1 and first["metropole"] is True and "city" not in first
    hall = complete(gpf_server, text="mairie aiglun", type="PositionOfInterest")[0]
    assert hall["fulltext"] == "Mairie, 04510 Aiglun"
    assert hall["street"] == "Aiglun"  # administratif: its city
    office = complete(gpf_server, text="bureau de poste toulaud", type="PositionOfInterest")[0]
    assert office["street"] == "Bureau de poste" and office["kind"] == "bureau de poste"  # its toponym


def test_both_kinds_by_default_merged_by_score(gpf_server):
    found = complete(gpf_server, text="paris", maximumResponses=15)
    assert found[0]["fulltext"] == "Paris" and found[0]["country"] == "PositionOfInterest"
    assert {"PositionOfInterest", "StreetAddress"} <= {r["country"] for r in found}


def test_maximum_responses(gpf_server):
    assert len(complete(gpf_server, text="rue de la mairie")) == 10
    assert len(complete(gpf_server, text="rue de la mairie", maximumResponses=15)) == 15
    assert len(complete(gpf_server, text="rue de la mairie", maximumResponses=1)) == 1


@pytest.mark.parametrize(("params", "detail"), [
    ({}, ["text: required param"]),
    ({"text": "pa"}, ["text: must contain between 3 and 200 chars and start with a number or a letter"]),
    ({"text": "paris", "maximumResponses": "16"}, ["maximumResponses: must be an integer between 1 and 15"]),
    ({"text": "paris", "maximumResponses": "0"}, ["maximumResponses: must be an integer between 1 and 15"]),
    ({"text": "paris", "type": "Street"}, ["type: unexpected value 'Street'"]),
    ({"text": "paris", "terr": "METROPOLE,FRANCE"}, ["terr: unexpected value"]),
    ({"text": "paris", "terr": "20"}, ["terr: unexpected value"]),  # Corsica is 2A and 2B
    ({"text": "paris", "lonlat": "2.35"}, ['lonlat: must be in the format "lon,lat"']),
    ({"text": "paris", "lonlat": "2.35,91"}, ["lonlat: lat: must be a float between -90 and 90"]),
    ({"text": "paris", "lonlat": "x,48"}, ["lonlat: unable to parse value as float"]),
    ({"text": "paris", "bbox": "2,48,3"}, ['bbox: must be in the format "xmin,ymin,xmax,ymax"']),
    ({"text": "paris", "bbox": "2,48,3,100"}, ["bbox: ymax: must be a float between -90 and 90"]),
])
def test_parameters_are_checked(gpf_server, params, detail):
    assert refused(gpf_server, COMPLETION, **params) == detail


def test_type(gpf_server):
    assert {r["country"] for r in complete(gpf_server, text="aubenas", type="PositionOfInterest")} == {
        "PositionOfInterest"}
    addresses = complete(gpf_server, text="aubenas", type="StreetAddress")
    assert {r["country"] for r in addresses} == {"StreetAddress"}
    both = complete(gpf_server, text="aubenas", type="StreetAddress,PositionOfInterest", maximumResponses=15)
    assert {r["country"] for r in both} == {"StreetAddress", "PositionOfInterest"}


def departement(result) -> str:
    zipcode = result["zipcode"]
    return zipcode[:3] if zipcode >= "97" else zipcode[:2]


@pytest.mark.parametrize(("terr", "check"), [
    ("07", lambda r: departement(r) == "07"),
    ("04,05", lambda r: departement(r) in ("04", "05")),
    ("07200", lambda r: r["zipcode"] == "07200" or "07200" in r.get("zipcodes", [])),
    ("DOMTOM", lambda r: r["metropole"] is False),
    ("METROPOLE", lambda r: r["metropole"] is True),
    ("972,05", lambda r: departement(r) in ("972", "05")),
])
def test_terr(gpf_server, terr, check):
    found = complete(gpf_server, text="rue de la mairie", terr=terr, maximumResponses=15)
    assert found and all(check(r) for r in found), found
    pois = complete(gpf_server, text="mairie", type="PositionOfInterest", terr=terr, maximumResponses=15)
    assert all(check(r) for r in pois), pois


def test_terr_finds_what_the_first_answers_miss(gpf_server):
    """Post-filtered, as the service, from four times as many results (at most 50)."""
    first = complete(gpf_server, text="rue de l eglise", maximumResponses=2)
    assert "52" not in {departement(r) for r in first}
    found = complete(gpf_server, text="rue de l eglise", terr="52", maximumResponses=2)
    assert found and {departement(r) for r in found} == {"52"}


def test_poi_type(gpf_server):
    found = complete(gpf_server, text="aubenas", type="PositionOfInterest", poiType="bureau de poste")
    assert found and all("bureau de poste" in r["poiType"] for r in found)
    assert complete(gpf_server, text="aubenas", type="PositionOfInterest", poiType="embouchure") == []


def test_lonlat(gpf_server):
    near = complete(gpf_server, text="place de la mairie", lonlat="6.1449,44.0507", maximumResponses=1)[0]
    assert near["fulltext"] == "Place de la Mairie, 04510 Aiglun"


def test_bbox(gpf_server):
    box = (6.10, 44.00, 6.20, 44.10)
    found = complete(gpf_server, text="place de la mairie", bbox=",".join(map(str, box)), maximumResponses=15)
    assert found and all(box[0] <= r["x"] <= box[2] and box[1] <= r["y"] <= box[3] for r in found)
    assert found[0]["fulltext"] == "Place de la Mairie, 04510 Aiglun"
    # Its centre favours the nearest, as lonlat does; its edges are inside.
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    assert distance_m(*centre, found[0]["x"], found[0]["y"]) < 15_000
    edges = f"{found[0]['x']},{found[0]['y']},6.2,44.1"
    assert complete(gpf_server, text="place de la mairie", bbox=edges)[0]["fulltext"] == found[0]["fulltext"]
    assert complete(gpf_server, text="rue de rivoli", bbox=",".join(map(str, box))) == []
