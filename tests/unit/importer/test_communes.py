"""Commune reference data (importer/communes.py) on the real shared files."""

from __future__ import annotations

import pytest

from balise.importer.communes import Communes, departement_of
from tests.conftest import DATA

COMMUNES = DATA / "communes"


def test_departement_of_codes():
    assert departement_of("75101").startswith("75") and departement_of("2A004").startswith("2A")
    assert departement_of("97411").startswith("974")


@pytest.mark.skipif(not COMMUNES.exists(), reason="shared/data not beside the repo")
def test_communes_know_paris_and_its_arrondissements():
    communes = Communes.load(COMMUNES)
    assert "75056" in communes and communes.name("75056") == "Paris"
    assert communes.parent("75101") == "75056"
