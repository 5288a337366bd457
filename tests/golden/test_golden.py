"""Answers recorded before the compiled core and the France-scale work (tests/golden/record.py)
must come back unchanged: same ids in the same order, scores and distances within 1e-9.

A difference is accepted only where a rule below explains it; each rule says why.
"""

from __future__ import annotations

import csv
import math

import pytest

from tests.conftest import SHARED
from tests.golden import record

TOLERANCE = 1e-9


def same(old: list, new: list) -> bool:
    if len(old) != len(new):
        return False
    for a, b in zip(old, new, strict=True):
        if a[0] != b[0] or any(not math.isclose(x, y, rel_tol=0, abs_tol=TOLERANCE)
                               for x, y in zip(a[1:], b[1:], strict=True)):
            return False
    return True


def differences(geocoder, records: list[dict]) -> list[tuple[dict, list, list]]:
    out = []
    for rec in records:
        new = record.answer(geocoder, rec["call"])
        if not same(rec["answer"], new):
            out.append((rec["call"], rec["answer"], new))
    return out


def test_dev_answers_unchanged(geocoder):
    diffs = differences(geocoder, record.load(record.DEV))
    assert not diffs, f"{len(diffs)} changed answers, first: {diffs[:3]}"


@pytest.fixture(scope="module")
def france_sample(tmp_path_factory):
    from balise import Geocoder
    from balise.importer.build import build_index

    tool = SHARED / "tools" / "make_france.py"
    if not tool.exists():
        pytest.skip(f"{tool} not found (../shared must sit beside the repo)")
    base = tmp_path_factory.mktemp("france-sample")
    data, queries = record.make_france_sample(tool, base)
    build_index([data], base / "index")
    with open(queries, newline="", encoding="utf-8") as f:
        expected = {row["query"]: row["expected_id"] for row in csv.DictReader(f)}
    return Geocoder.open(base / "index"), expected


def test_france_sample_answers_unchanged(france_sample):
    geocoder, expected = france_sample
    diffs = differences(geocoder, record.load(record.FRANCE))
    assert not diffs, f"{len(diffs)} changed answers, first: {diffs[:3]}"
