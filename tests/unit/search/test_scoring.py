"""Scores as Addok computes them (search/scoring.py), and geocodejson (search/geojson.py)."""

from __future__ import annotations

import numpy as np
import pytest

from balise.index.format import IMPORTANCE_WEIGHT
from balise.search import geojson, scoring
from balise.search.result import Result


def test_one_importance_weight():
    assert scoring.IMPORTANCE_WEIGHT is IMPORTANCE_WEIGHT


def test_totals_agree_with_the_named_parts():
    text, importance, km = np.array([1.0, 0.5]), np.array([0.3, 0.9]), np.array([0.0, 120.0])
    for i in range(2):
        without = scoring.total(scoring.score_parts(text[i], importance[i], None))
        assert scoring.total_without_centre(text, importance)[i] == pytest.approx(without, abs=1e-12)
        with_centre = scoring.total(scoring.score_parts(text[i], importance[i], km[i]))
        assert scoring.total_with_centre(text, importance, km)[i] == pytest.approx(with_centre, abs=1e-12)
    assert scoring.km_to_score(0) == 1.0 and scoring.km_to_score(101) == 0.0
    assert scoring.haversine_km(48.85, 2.35, 48.85, 2.35) == 0.0


def test_a_feature_and_a_collection_are_addoks():
    doc = {"id": "x", "type": "street", "name": "Rue A", "postcode": ["75001", "75002"], "lon": 0.0,
           "lat": 0.0, "_folded": "x"}
    feature = geojson.feature(Result(0, doc, housenumber="3", label="3 Rue A", score=0.9,
                                     distance_km=0.0), "street")
    props = feature["properties"]
    assert feature["geometry"]["coordinates"] == [0.0, 0.0]
    assert props["name"] == "3 Rue A" and props["postcode"] == "75001" and props["distance"] == 0
    assert "_folded" not in props and props["street"] == "Rue A"
    collection = geojson.collection([feature], geojson.credits_of({}), query="a", center=(0.0, 0.0), limit=1)
    assert collection["center"] == [0.0, 0.0] and collection["query"] == "a"
