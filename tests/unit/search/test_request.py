"""Requests (search/request.py): every rule checked once, when a request is built; a centre
at longitude 0.0 or latitude 0.0 is a centre."""

from __future__ import annotations

import pytest

from balise.errors import InvalidParameter, QueryTooLong
from balise.search.request import REVERSE_MAX_LIMIT, LookupRequest, ReverseRequest, SearchRequest


@pytest.mark.parametrize(("options", "name"), [
    ({"limit": -1}, "limit"), ({"limit": "x"}, "limit"), ({"lat": 91.0}, "lat"),
    ({"lat": 100.0, "lon": 200.0}, "lon"),  # lon first, as Addok
    ({"lon": float("nan")}, "lon"), ({"lat": True}, "lat"), ({"filters": {"colour": "red"}}, "colour"),
    ({"bbox": (1, 2, 0, 3)}, "bbox"), ({"geo_boost": "near"}, "geo_boost"),
    ({"geo_boost": "favor"}, "geo_boost"), ({"geo_radius": 0}, "geo_radius"),
])
def test_search_rules(options, name):
    with pytest.raises(InvalidParameter) as raised:
        SearchRequest("rue", **options)
    assert raised.value.name == name


def test_search_normalizes_once():
    request = SearchRequest("rue", limit="3", filters={"type": "street locality street", "postcode": None})
    assert request.limit == 3 and request.filters == {"type": ["street", "locality"]}
    with pytest.raises(QueryTooLong):
        SearchRequest("x" * 201)
    with pytest.raises(InvalidParameter):
        SearchRequest(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("lat", "lon"), [(48.0, 0.0), (0.0, 2.0), (0.0, 0.0)])
def test_a_centre_at_zero_is_a_centre(lat, lon):
    request = SearchRequest("rue", lat=lat, lon=lon, geo_boost="strict")
    assert request.centre == (lon, lat)
    (area,) = request.areas()
    assert area is not None and area.centre == (lon, lat)


def test_limit_zero_is_the_default_and_reverse_takes_any_limit():
    assert SearchRequest("rue", limit=0).limit == 5 and ReverseRequest(48.0, 2.0, limit=0).limit == 1
    assert ReverseRequest(48.0, 2.0, limit=150).limit == 150
    assert ReverseRequest(48.0, 2.0, limit=10**30).limit == REVERSE_MAX_LIMIT
    with pytest.raises(InvalidParameter):
        SearchRequest("rue", limit=101)


def test_reverse_and_lookup_rules():
    assert ReverseRequest(0.0, 0.0).lat == 0.0
    for args, options, name in (((48.0, 2.0), {"max_distance": -1}, "max_distance"),
                                ((48.0, 2.0), {"max_distance": float("nan")}, "max_distance"),
                                ((48.0, None), {}, "lon"), ((48.0, 2.0), {"limit": -1}, "limit")):
        with pytest.raises(InvalidParameter) as raised:
            ReverseRequest(*args, **options)
        assert raised.value.name == name
    assert LookupRequest("04001").ids == ("04001",)
    with pytest.raises(InvalidParameter):
        LookupRequest(["a"] * 101)


def test_the_geocoder_scores_with_a_centre_on_the_greenwich_meridian(geocoder):
    answer = geocoder.search("rue de la mairie", lat=46.0, lon=0.0, debug=True)
    assert answer["center"] == [0.0, 46.0]
    assert "geo_distance" in answer["features"][0]["properties"]["_debug"]["score_parts"]
    near = geocoder.search("rue", lat=0.0, lon=0.0, geo_boost="strict", geo_radius=1)
    assert near["features"] == []  # nothing within 1 km of (0, 0): the centre was used
