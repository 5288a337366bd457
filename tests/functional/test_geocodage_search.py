"""The Géoplateforme API's ``/geocodage/search`` on a real server (the dev index and the POI
index of the real communes, town halls and post offices): every parameter, each 400 in the
service's shape, one index or several merged by score."""

from __future__ import annotations

import pytest

from balise.http.geocodage.geometry import distance_m

SEARCH = "/geocodage/search"


def search(server, **params):
    answer = server.get(SEARCH, params)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert list(body) == ["type", "features"] and body["type"] == "FeatureCollection"
    return body["features"]


def refused(server, path=SEARCH, **params) -> list[str]:
    """The detail of a 400 in the service's shape."""
    answer = server.get(path, params)
    assert answer.status == 400, (params, answer.status, answer.body)
    body = answer.json()
    assert set(body) == {"code", "message", "detail"} and body["code"] == 400, body
    assert body["message"] == "Failed parsing query"
    return body["detail"]


def test_an_address_as_the_service_answers_it(gpf_server):
    (first, *_) = search(gpf_server, q="5 rue de la paix paris")
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Point"
    p = first["properties"]
    assert p["id"] == "75102_6998_00005" and p["_type"] == "address" and p["type"] == "housenumber"
    assert (p["label"], p["housenumber"], p["street"], p["postcode"], p["citycode"], p["city"]) == (
        "5 Rue de la Paix 75002 Paris", "5", "Rue de la Paix", "75002", "75102", "Paris")
    assert 0 < p["score"] <= 1 and "truegeometry" not in p


def test_the_answer_is_the_addok_api_s_with_its_index(gpf_server):
    """Same engine, same answer: the Addok API's features, tagged with ``_type``."""
    for q in ("34 avenue de l opera paris", "rue de la mairie", "place des vosg", "aiglun"):
        ours = search(gpf_server, q=q, limit=10)
        addok = gpf_server.get("/search/", {"q": q, "limit": 10}).json()["features"]
        assert [f["properties"].pop("_type") for f in ours] == ["address"] * len(addok)
        assert ours == addok


@pytest.mark.parametrize(("q", "detail"), [
    ("ab", "q: must contain between 3 and 200 chars and start with a number or a letter"),
    ("x" * 201, "q: must contain between 3 and 200 chars and start with a number or a letter"),
    ("-rue de rivoli", "q: must contain between 3 and 200 chars and start with a number or a letter"),
    ("  ab  ", "q: must contain between 3 and 200 chars and start with a number or a letter"),  # trimmed
])
def test_q_is_checked(gpf_server, q, detail):
    assert refused(gpf_server, q=q) == [detail]


def test_q_is_required(gpf_server):
    assert refused(gpf_server) == ["q: required param"]
    assert refused(gpf_server, q="") == ["q: required param"]  # an empty value is no value


def test_q_may_start_with_an_accented_letter_or_a_digit_and_be_200_long(gpf_server):
    assert search(gpf_server, q="école")
    assert search(gpf_server, q="12 rue de rivoli")
    assert search(gpf_server, q="rue " + "x" * 196) == []


@pytest.mark.parametrize(("limit", "detail"), [
    ("0", "limit: must be an integer between 1 and 20"), ("21", "limit: must be an integer between 1 and 20"),
    ("-1", "limit: must be an integer between 1 and 20"), ("abc", "limit: unable to parse value as integer"),
    ("1.5", "limit: unable to parse value as integer"), ("05", "limit: unable to parse value as integer"),
])
def test_limit_is_checked(gpf_server, limit, detail):
    assert refused(gpf_server, q="rue de la mairie", limit=limit) == [detail]


def test_limit(gpf_server):
    assert len(search(gpf_server, q="rue de la mairie")) == 10  # the default
    assert len(search(gpf_server, q="rue de la mairie", limit=20)) == 20
    assert len(search(gpf_server, q="rue de la mairie", limit=1)) == 1
    assert len(search(gpf_server, q="rue de la mairie", limit="")) == 10  # empty: the default


@pytest.mark.parametrize(("params", "detail"), [
    ({"lat": "44.05"}, "lon/lat must be present together if defined"),
    ({"lon": "6.14"}, "lon/lat must be present together if defined"),
    ({"lat": "91", "lon": "6"}, "lat: must be a float between -90 and 90"),
    ({"lat": "44", "lon": "-181"}, "lon: must be a float between -180 and 180"),
    ({"lat": "44", "lon": "6e1"}, "lon: unable to parse value as float"),
    ({"lat": ".5", "lon": "6"}, "lat: unable to parse value as float"),
    ({"lat": "nan", "lon": "6"}, "lat: unable to parse value as float"),
])
def test_lat_lon_are_checked(gpf_server, params, detail):
    assert refused(gpf_server, q="rue de la mairie", **params) == [detail]


def test_lat_lon_favour_the_nearest(gpf_server):
    anywhere = search(gpf_server, q="place de la mairie", limit=1)[0]
    near = search(gpf_server, q="place de la mairie", limit=1, lat=44.0507, lon=6.1449)[0]
    assert near["properties"]["city"] == "Aiglun" != anywhere["properties"]["city"]
    assert distance_m(6.1449, 44.0507, *near["geometry"]["coordinates"]) < 1000
    assert "distance" in near["properties"]


def test_type(gpf_server):
    found = search(gpf_server, q="paris", type="municipality")
    assert found and {f["properties"]["type"] for f in found} == {"municipality"}
    found = search(gpf_server, q="rue de rivoli paris", type="street")
    assert found and {f["properties"]["type"] for f in found} == {"street"}
    assert refused(gpf_server, q="paris", type="town") == ["type: unexpected value 'town'"]


def test_postcode_and_citycode(gpf_server):
    found = search(gpf_server, q="rue de rivoli", postcode="75004")
    assert found and {f["properties"]["postcode"] for f in found} == {"75004"}
    found = search(gpf_server, q="place de la mairie", citycode="04001")
    assert found and {f["properties"]["citycode"] for f in found} == {"04001"}
    assert refused(gpf_server, q="rue", postcode="7500") == ["postcode: must contain 5 digits"]
    assert refused(gpf_server, q="rue", citycode="7510A") == ["citycode: not valid"]
    assert search(gpf_server, q="rue", citycode="2A004") is not None  # Corsica's codes are valid


def test_city_one_commune_filters_by_its_code(gpf_server):
    found = search(gpf_server, q="rue du temple", city="Toulaud")
    assert found and {f["properties"]["citycode"] for f in found} == {"07323"}


def test_city_several_communes_keeps_theirs(gpf_server):
    """"Aiglun" names two communes (04001, 06001): the name joins the query and only their
    results are kept, as the service does."""
    found = search(gpf_server, q="place de la mairie", city="aiglun")
    assert found and {f["properties"]["citycode"] for f in found} <= {"04001", "06001"}


@pytest.mark.parametrize(("params", "detail"), [
    ({"city": "Nowhereville-sur-Mer"}, "city: No matching cities found"),
    ({"city": "x" * 51}, "city: must contain between 1 and 50 chars"),
    ({"city": "Toulaud", "citycode": "07323"}, "city and citycode params cannot be used together"),
])
def test_city_is_checked(gpf_server, params, detail):
    assert refused(gpf_server, q="route d aubenas", **params) == [detail]


def test_one_index_of_points_of_interest(gpf_server):
    found = search(gpf_server, q="mairie aiglun", index="poi", limit=3)
    first = found[0]["properties"]
    assert {f["properties"]["_type"] for f in found} == {"poi"}
    # The service's POI fields, lists kept; no Addok label.
    assert set(first) == {"name", "toponym", "category", "postcode", "citycode", "city", "extrafields",
                          "classification", "territory", "score", "_type"}
    assert first["name"] == ["Mairie"] and first["category"] == ["administratif", "mairie"]
    assert first["city"] == ["Aiglun"] and first["citycode"] == ["04001", "04"]
    assert first["extrafields"]["cleabs"] == "mairie-04001"


def test_category(gpf_server):
    found = search(gpf_server, q="aubenas", index="poi", category="bureau de poste")
    assert found and all("bureau de poste" in f["properties"]["category"] for f in found)
    communes = search(gpf_server, q="mon", index="poi", category="commune", limit=20)
    assert len(communes) == 20 and all("commune" in f["properties"]["category"] for f in communes)
    assert search(gpf_server, q="aubenas", index="poi", category="cimetière") == []


def test_merged_indexes_by_score(gpf_server):
    found = search(gpf_server, q="mairie aiglun", index="address,poi", limit=20)
    kinds = [f["properties"]["_type"] for f in found]
    assert {"address", "poi"} <= set(kinds)
    scores = [f["properties"]["score"] for f in found]
    assert scores == sorted(scores, reverse=True)
    assert found[0]["properties"]["_type"] == "poi"  # the town hall itself before the streets
    only_address = search(gpf_server, q="mairie aiglun", limit=20)
    only_poi = search(gpf_server, q="mairie aiglun", index="poi", limit=20)
    best = sorted(only_address + only_poi, key=lambda f: -f["properties"]["score"])[:20]
    assert [f["properties"]["score"] for f in best] == scores
    # Either order of the names: the same merge (ties keep the order asked for).
    assert [f["properties"]["score"] for f in search(gpf_server, q="mairie aiglun", index="poi,address",
                                                     limit=20)] == scores


def test_filters_go_to_the_indexes_that_know_them(gpf_server):
    """``type`` filters addresses only; ``category`` points of interest only (the service's
    per-index filters); ``postcode`` both."""
    found = search(gpf_server, q="poste aubenas", index="address,poi", type="street",
                   category="bureau de poste", postcode="07200", limit=20)
    address = [f["properties"] for f in found if f["properties"]["_type"] == "address"]
    poi = [f["properties"] for f in found if f["properties"]["_type"] == "poi"]
    assert address and {p["type"] for p in address} == {"street"}
    assert {p["postcode"] for p in address} == {"07200"}
    assert poi and all("bureau de poste" in p["category"] and "07200" in p["postcode"] for p in poi)


def test_returntruegeometry(gpf_server):
    for params in ({"q": "5 rue de la paix paris"}, {"q": "mairie aiglun", "index": "poi"}):
        for value in ("true", "1", "yes", "TRUE"):
            (first, *_) = search(gpf_server, returntruegeometry=value, **params)
            import json

            assert json.loads(first["properties"]["truegeometry"]) == first["geometry"]
        assert "truegeometry" not in search(gpf_server, returntruegeometry="no", **params)[0]["properties"]
    assert refused(gpf_server, q="rue", returntruegeometry="maybe") == [
        "returntruegeometry: unable to parse value as boolean"]


def test_autocomplete(gpf_server):
    """On by default, as the service: the last word may be the start of a word."""
    assert search(gpf_server, q="place des vosg", limit=1)[0]["properties"]["name"] == "Place des Vosges"
    assert search(gpf_server, q="place des vosg", limit=1, autocomplete="true") == search(
        gpf_server, q="place des vosg", limit=1)
    off = search(gpf_server, q="place des vosg", limit=1, autocomplete="false")
    assert not off or off[0]["properties"]["score"] < search(gpf_server, q="place des vosg", limit=1)[0][
        "properties"]["score"]
    assert refused(gpf_server, q="rue", autocomplete="2") == [
        "autocomplete: unable to parse value as boolean"]


@pytest.mark.parametrize(("index", "detail"), [
    ("parcel", ["index: 'parcel' is not served here"]),
    ("address,parcel", ["index: 'parcel' is not served here"]),
    ("streets", ["index: unexpected value 'streets'"]),
])
def test_index_is_checked(gpf_server, index, detail):
    assert refused(gpf_server, q="rue de la paix", index=index) == detail


def test_structured_parcel_search(gpf_server):
    assert refused(gpf_server, q="rue de la paix", departmentcode="75") == [
        "q param and structured search cannot be used together"]
    assert refused(gpf_server, index="parcel", departmentcode="75", municipalitycode="056") == [
        "index: 'parcel' is not served here"]
    assert refused(gpf_server, q="rue", departmentcode="20", section="A_") == [
        "departmentcode: not valid", "section: not valid"]


def test_the_query_string_as_the_service_reads_it(gpf_server):
    """Names and values trimmed, the last of a repeated name, unknown names ignored; every
    problem listed at once, in the service's order."""
    assert len(search(gpf_server, q=" rue de la mairie ", limit=" 3 ")) == 3
    assert len(gpf_server.get(SEARCH, [("q", "rue de la mairie"), ("limit", "30"), ("limit", "2")]).json()[
        "features"]) == 2
    assert search(gpf_server, q="rue de la mairie", limit=2, foo="bar", postalCode="x")
    assert refused(gpf_server, q="ab", limit="99", index="nope", lat="100") == [
        "index: unexpected value 'nope'",
        "q: must contain between 3 and 200 chars and start with a number or a letter",
        "limit: must be an integer between 1 and 20", "lat: must be a float between -90 and 90"]


def test_other_methods_and_paths(gpf_server):
    assert gpf_server.request("POST", SEARCH).status == 405
    assert gpf_server.get("/geocodage/search/", {"q": "rue de la paix"}).status == 200
    assert gpf_server.get("/geocodage/nothing").status == 404
    preflight = gpf_server.request("OPTIONS", SEARCH, headers={"Origin": "https://example.org",
                                                              "Access-Control-Request-Method": "GET"})
    assert preflight.headers["access-control-allow-origin"] == "*"
