"""The Géoplateforme API's parameters read as the service reads them (its api/params/
and api/util/params.js tests are the model): types, values, defaults, the rules between them."""

from __future__ import annotations

import pytest

from balise.http.geocodage.cities import cities, normalize
from balise.http.geocodage.params import (
    COMPLETION,
    SEARCH,
    completion_params,
    first_char_valid,
    reverse_params,
    search_params,
)
from balise.http.geocodage.reading import GeocodageError, parse_value, single_values

BOTH = ("address", "poi")


def detail(call, *args):
    with pytest.raises(GeocodageError) as caught:
        call(*args)
    error = caught.value
    assert error.to_dict() == {"code": 400, "message": "Failed parsing query", "detail": error.detail}
    return error.detail


@pytest.mark.parametrize(("text", "kind", "value"), [
    (" 12 ", "integer", 12), ("-3", "integer", -3), ("0", "integer", 0), ("1.5", "float", 1.5),
    ("+2.", "float", 2.0), ("YES", "boolean", True), ("0", "boolean", False), ("  ", "string", None),
    ('{"type": "Point"}', "object", {"type": "Point"}), ("[1]", "object", [1]),
])
def test_values(text, kind, value):
    assert parse_value(text, kind) == value


@pytest.mark.parametrize(("text", "kind"), [
    ("012", "integer"), ("1e3", "integer"), ("9007199254740993", "integer"), (".5", "float"),
    ("1e5", "float"), ("inf", "float"), ("oui", "boolean"), ("12", "object"), ("{", "object"),
    ('"x"', "object"),
])
def test_bad_values(text, kind):
    with pytest.raises(ValueError):
        parse_value(text, kind)


def test_first_character():
    assert all(first_char_valid(t) for t in ("rue", "École", "9 rue", "Ωmega"))
    assert not any(first_char_valid(t) for t in ("-rue", " rue", "'rue", "٣ rue", ""))


def test_single_values():
    assert single_values({" q ": [" a ", " b "], "limit": " 3 "}) == {"q": "b", "limit": "3"}


def test_search_defaults():
    params = search_params({"q": "rue de la paix"}, BOTH)
    assert (params.indexes, params.limit, params.autocomplete, params.returntruegeometry) == (
        ["address"], 10, True, False)
    assert params.centre is None and params.filters == {}


def test_search_indexes_deduplicated_in_order():
    assert search_params({"q": "rue", "index": "poi,address,poi,"}, BOTH).indexes == ["poi", "address"]


def test_rules_between_parameters():
    assert detail(search_params, {"q": "rue", "lat": "1"}, BOTH) == [
        "lon/lat must be present together if defined"]
    assert detail(search_params, {"q": "rue", "index": "poi"}, ("address",)) == [
        "index: 'poi' is not served here"]
    assert detail(reverse_params, {"lat": "1", "lon": "2", "index": "parcel,poi"}, ("address",)) == [
        "index: 'parcel' is not served here", "index: 'poi' is not served here"]
    assert detail(search_params, {"q": "rue", "sheet": "1"}, BOTH) == [
        "q param and structured search cannot be used together"]


def test_city():
    one = search_params({"q": "rue du temple", "city": "toulaud"}, BOTH)
    assert one.filters == {"citycode": "07323"} and one.q == "rue du temple"
    several = search_params({"q": "place de la mairie", "city": "Aiglun"}, BOTH)
    assert set(several.matching_cities) == {"04001", "06001"} and several.q == "place de la mairie Aiglun"
    assert reverse_params({"lon": "6", "lat": "44", "city": "Aiglun"}, BOTH).citycodes == ["04001", "06001"]


def test_the_communes_of_city():
    assert normalize("Saint-Étienne-de-Tinée") == "st etienne de tinee"
    assert [c.code for c in cities().search("Paris")][0] == "75056"
    assert [c.code for c in cities().search("eze")] == ["06059"]  # three letters: whole names only
    assert cities().search("") == [] and cities().search("zzzzz") == []
    assert {"2A", "2B", "971", "976"} <= cities().departements and "20" not in cities().departements


def test_completion():
    params = completion_params({"text": "paris", "lonlat": "2.35,48.85", "terr": "75,75,DOMTOM"}, BOTH)
    assert params.indexes == ["poi", "address"] and params.centre == (2.35, 48.85)
    assert params.terr == ["75", "DOMTOM"] and params.limit == 10
    boxed = completion_params({"text": "paris", "bbox": "2,48,3,49"}, ("address",))
    assert boxed.indexes == ["address"] and boxed.centre == (2.5, 48.5) and boxed.bbox == (2, 48, 3, 49)
    assert detail(completion_params, {"text": "paris", "type": "PositionOfInterest"}, ("address",)) == [
        "type: 'PositionOfInterest' is not served here"]


def test_every_parameter_has_a_description_and_an_example():
    for definitions in (SEARCH, COMPLETION):
        for param in definitions.values():
            assert len(param.description) > 10 and param.example
