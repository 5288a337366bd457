"""Scores as Addok computes them (search/scoring.py), and geocodejson (search/geojson.py)."""

from __future__ import annotations

import random

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
                                     distance_km=0.0, original_type="street"))
    props = feature["properties"]
    assert feature["geometry"]["coordinates"] == [0.0, 0.0]
    assert props["name"] == "3 Rue A" and props["postcode"] == "75001" and props["distance"] == 0
    assert "_folded" not in props and props["street"] == "Rue A"
    collection = geojson.collection([feature], geojson.credits_of({}), query="a", center=(0.0, 0.0), limit=1)
    assert collection["center"] == [0.0, 0.0] and collection["query"] == "a"


def test_a_number_and_its_label_score_as_when_compared_apart():
    """score_stored reads a label once for "<number> <label>" and "<label>" (without
    autocomplete): the scores are score_labels' of both strings, compared one by one."""
    from balise.search._textscore import Query, score_labels, score_stored

    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789 _"
    queries = ["12 rue de la paix 75002 paris", "3b av foch", "rr", "1 aa aa aa aa aa aa", "7 7 7 7"]
    for q in queries:
        query = Query(q)
        for _ in range(400):
            variants = ["".join(rng.choice(letters) for _ in range(rng.randint(0, 40))).strip()
                        for _ in range(rng.randint(1, 4))]  # folded labels: no edge spaces
            variants += [v for v in q.split()[rng.randint(0, 2):] if rng.random() < 0.3]
            number = rng.choice([None, "12", "3b", "7", "1", "12 bis"])
            blob = "\x1f".join(["shown"] + variants).encode()
            offsets = np.array([0, len(blob)], dtype=np.uint64)
            expected = [f"{number} {v}".strip() if number else v for v in variants]
            if number:
                expected = [s for v in variants for s in (f"{number} {v}".strip(), v)]
            extra = tuple(rng.choice(variants + [q, f"{q.split()[-1]} {number}"]).encode()
                          for _ in range(rng.randint(0, 2)))  # a number written last adds labels
            for autocomplete in (False, True):
                got = score_stored(query, np.frombuffer(blob, dtype=np.uint8), offsets,
                                   np.array([0], dtype=np.int64), [number.encode() if number else None],
                                   autocomplete, [extra])
                want = score_labels(query, [tuple(expected) + tuple(e.decode() for e in extra)], autocomplete)
                assert got[0] == want[0], (q, variants, number, extra, autocomplete)


def test_a_long_text_is_compared_as_python_ngram_does():
    """Past 256 distinct shared bigrams the comparison resets every count: each text is
    compared afresh (a long folded query, "北京..." folds to several letters a character)."""
    from collections import Counter

    from balise.search._textscore import Query, score_labels, score_stored

    def similarity(a: str, b: str) -> float:  # python-ngram's compare(a, b, N=2, pad_len=0)
        ours, theirs = (Counter(s[i:i + 2] for i in range(len(s) - 1)) for s in (a, b))
        same = sum(min(n, theirs[k]) for k, n in ours.items())
        return same / ((len(a) - 1) + (len(b) - 1) - same) if same else 0.0

    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789_ "
    q = "".join(rng.choice(letters) for _ in range(900))
    query = Query(q)
    for _ in range(200):
        label = "".join(rng.choice(letters) for _ in range(rng.randint(1, 1200))).strip() or "a"
        assert query.compare(label) == pytest.approx(similarity(q, label), abs=1e-12)
        blob = f"shown\x1f{label}".encode()
        offsets, docs = np.array([0, len(blob)], dtype=np.uint64), np.array([0], dtype=np.int64)
        stored = score_stored(query, np.frombuffer(blob, dtype=np.uint8), offsets, docs, [b"12"], False)
        assert stored[0] == score_labels(query, [(f"12 {label}", label)], False)[0]
