"""The indexes one server serves, by name (served.py): what the cache key and the health
checks see of them."""

from __future__ import annotations

import pytest

from balise import Geocoder
from balise.geocoder import CurrentGeocoder
from balise.served import ServedIndexes


def test_the_address_index_alone_keeps_its_version(sample_index):
    geocoder = Geocoder.open(sample_index, preload=False)
    served = ServedIndexes({"address": geocoder})
    assert served.names == ("address",) and served.version == geocoder.version
    assert served.current("address") is geocoder and "poi" not in served


def test_several_indexes(sample_index, alps_index):
    poi = CurrentGeocoder(alps_index)
    served = ServedIndexes({"poi": poi, "address": Geocoder.open(sample_index, preload=False)})
    assert served.names == ("address", "poi")  # address first, whatever the order given
    assert served.current("poi") is poi.get() and served.holder("poi") is poi
    address, other = served.version.split("+")
    assert address == "address=" + served.current("address").version and other == "poi=" + poi.get().version
    assert served.describe("poi")["counts"]["documents"] > 0
    with pytest.raises(ValueError):
        ServedIndexes({"poi": poi})


def test_the_server_credits_what_the_settings_say(sample_index):
    import falcon.testing

    from balise.config import Settings
    from balise.http.app import serve

    settings = Settings.from_env({"BALISE_INDEX": str(sample_index), "BALISE_ATTRIBUTION": "Ville de Paris",
                                  "BALISE_LICENCE": "ODbL", "BALISE_RATE_LIMITS": ""})
    client = falcon.testing.TestClient(serve(settings))
    for path, params in (("/search/", {"q": "rivoli"}), ("/reverse/", {"lat": "48.8566", "lon": "2.3522"}),
                         ("/lookup/", {"id": "75104_8249_00034"})):
        answer = client.simulate_get(path, params=params).json
        assert (answer["attribution"], answer["licence"]) == ("Ville de Paris", "ODbL"), path
    plain = falcon.testing.TestClient(serve(Settings.from_env({"BALISE_INDEX": str(sample_index)})))
    answer = plain.simulate_get("/search/", params={"q": "rivoli"}).json
    assert (answer["attribution"], answer["licence"]) == ("BAN", "ETALAB-2.0")
