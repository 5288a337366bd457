"""Lookup by id on the real dev data (Paris BAN ids, BANO ids): what is found, in which order."""

from __future__ import annotations

import numpy as np
import pytest

from balise.errors import InvalidParameter


def ids(fc: dict) -> list[str]:
    return [f["properties"]["id"] for f in fc["features"]]


def test_each_kind_by_its_id_in_the_order_asked(geocoder):
    asked = ["75102_6904_00034", "04001", "040190070F-11B", "75102_6904", "040190070F", "75104_7614_00012_p"]
    fc = geocoder.lookup(asked)
    assert ids(fc) == asked
    kinds = [f["properties"]["type"] for f in fc["features"]]
    assert kinds == ["housenumber", "municipality", "housenumber", "street", "street", "housenumber"]
    assert fc["features"][2]["properties"]["label"] == "11BIS Avenue Antoine Signoret 04400 Barcelonnette"
    assert fc["features"][5]["properties"]["housenumber"] == "12p"  # a suffixed BAN id
    assert {k for k in fc if k != "features"} == {"type", "version", "attribution", "licence"}


def test_unknown_and_odd_ids_are_left_out(geocoder):
    odd = ["", "nope", "75102_6904_99999", "75102_6904_", "040190070F-", "-", "_", "x" * 201,
           "75102_6904_00034" + "_" * 300, "\x00", "🏠", "75102\u00a06904", "../../etc/passwd", "04001 "]
    assert ids(geocoder.lookup(odd)) == []
    assert ids(geocoder.lookup(["nope", "04001", "nope", "04001"])) == ["04001", "04001"]


def test_a_feature_is_the_one_search_answers(geocoder):
    for q in ("34 avenue de l'opera paris", "place des vosges", "aiglun"):
        (searched,) = geocoder.search(q, limit=1)["features"]
        (found,) = geocoder.lookup([searched["properties"]["id"]])["features"]
        assert found["geometry"] == searched["geometry"]
        assert {**found["properties"], "score": None} == {**searched["properties"], "score": None}
        assert found["properties"]["score"] == 1.0


def test_every_document_and_house_number_is_found(geocoder):
    index = geocoder.index
    rng = np.random.default_rng(7)
    docs = [index.document(d)["id"] for d in rng.choice(index.doc_count, 300, replace=False).tolist()]
    assert ids(geocoder.lookup(docs[:100])) + ids(geocoder.lookup(docs[100:200])) == docs[:200]
    hns = rng.choice(index.housenumber_count, 300, replace=False).tolist()
    wanted = [index.housenumber(h)["id"] for h in hns]
    for start in range(0, 300, 100):
        assert ids(geocoder.lookup(wanted[start:start + 100])) == wanted[start:start + 100]
    assert geocoder.ids.find(wanted[:50]) == [(index.housenumber_doc(h), h) for h in hns[:50]]


def test_at_most_100_ids(geocoder):
    assert len(geocoder.lookup(["04001"] * 100)["features"]) == 100
    with pytest.raises(InvalidParameter) as raised:
        geocoder.lookup(["04001"] * 101)
    assert (raised.value.name, raised.value.status) == ("id", 400)
    with pytest.raises(InvalidParameter):
        geocoder.lookup(["04001", 4001])
    assert ids(geocoder.lookup("04001")) == ["04001"]  # one id


@pytest.fixture(scope="module")
def csv_geocoder(tmp_path_factory):
    """An index of the first rows of the official BAN CSV (Paris) and of a BANO CSV (90)."""
    import gzip

    from balise import Geocoder
    from balise.importer.build import build_index
    from tests.conftest import DATA

    ban, bano = DATA / "ban" / "adresses-75.csv.gz", DATA / "bano" / "bano-90.csv.gz"
    if not ban.exists() or not bano.exists():
        pytest.skip("data not found (../shared must sit beside the repo)")
    base = tmp_path_factory.mktemp("csv-lookup")
    for source, name in ((ban, "adresses-75.csv"), (bano, "bano-90.csv")):
        with gzip.open(source, "rt", encoding="utf-8") as f:
            (base / name).write_text("".join(f.readlines()[:2001]), encoding="utf-8")
    build_index([base / "adresses-75.csv", base / "bano-90.csv"], base / "index", DATA / "communes")
    return Geocoder.open(base / "index"), base


def test_house_numbers_of_ban_and_bano_csv_by_their_ids(csv_geocoder):
    geocoder, base = csv_geocoder
    ban = [line.split(";")[0] for line in (base / "adresses-75.csv").read_text().splitlines()[1:]]
    bano = [line.split(",")[0] for line in (base / "bano-90.csv").read_text().splitlines()]
    assert ban[0] == "75101_cfq3tf_00001" and bano[0] == "900010003F-1"
    for wanted in (ban[:100], ban[-100:], bano[:100], bano[-100:]):
        fc = geocoder.lookup(wanted)
        assert ids(fc) == wanted and {f["properties"]["type"] for f in fc["features"]} == {"housenumber"}
    (first,) = geocoder.lookup(["75101_cfq3tf_00001"])["features"]
    assert first["properties"]["label"] == "1 Avenue du Général Lemonnier 75001 Paris"
