"""Shared fixtures: paths to the real data beside the repo, and indexes built once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
DATA = SHARED / "data"
SAMPLE = REPO / "data" / "sample" / "paris-centre.ndjson.gz"
PARIS_NDJSON = DATA / "addok-ndjson" / "paris-75.ndjson.gz"
BANO_NDJSON = DATA / "addok-ndjson" / "bano-23-departements.ndjson.gz"
COMMUNES = DATA / "communes"
OFFICIAL_POINTS = DATA / "eval" / "official-points-dev.csv"
SAMPLE_POI = REPO / "data" / "sample" / "poi-paris.ndjson.gz"


def build(tmp_path_factory, name: str, *files: Path) -> Path:
    from balise.importer.build import build_index

    missing = [f for f in files if not f.exists()]
    if missing:
        pytest.skip(f"data not found: {missing[0]} (../shared must sit beside the repo)")
    directory = tmp_path_factory.mktemp(name) / "index"
    build_index(list(files), directory)
    return directory


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The bundled sample (Paris 1st to 4th arrondissements)."""
    return build(tmp_path_factory, "sample", SAMPLE)


@pytest.fixture(scope="session")
def sample_poi_index(tmp_path_factory) -> Path:
    """The bundled sample's points of interest (Paris: its communes, town halls, post offices)."""
    return build(tmp_path_factory, "sample-poi", SAMPLE_POI)


@pytest.fixture(scope="session")
def france_index(tmp_path_factory) -> Path:
    """Paris BAN and the 23 BANO départements, as Addok NDJSON: the dev data set."""
    return build(tmp_path_factory, "france", PARIS_NDJSON, BANO_NDJSON)


@pytest.fixture(scope="session")
def geocoder(france_index):
    from balise import Geocoder

    return Geocoder.open(france_index)


@pytest.fixture(scope="session")
def poi_ndjson(tmp_path_factory) -> Path:
    """Points of interest from the real files, as `balise make-poi` writes them: every commune
    of France, the town halls and post offices of the dev départements."""
    from balise.importer.communes import Communes
    from balise.importer.poi import commune_pois, official_point_pois, write_ndjson
    from balise.importer.report import ImportReport

    if not (COMMUNES.exists() and OFFICIAL_POINTS.exists()):
        pytest.skip("data not found: ../shared/data/communes, eval/official-points-dev.csv")
    communes, report = Communes.load(COMMUNES), ImportReport()
    out = tmp_path_factory.mktemp("poi") / "poi.ndjson.gz"
    points = official_point_pois(OFFICIAL_POINTS, communes, report)
    write_ndjson([*commune_pois(COMMUNES, communes, report), *points], out)
    return out


@pytest.fixture(scope="session")
def poi_index(tmp_path_factory, poi_ndjson) -> Path:
    """The POI index of those points (`balise import`)."""
    return build(tmp_path_factory, "poi-index", poi_ndjson)
