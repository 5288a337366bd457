"""Answers recorded before the compiled core and the France-scale work (tests/golden/record.py)
must come back unchanged: same ids in the same order, scores and distances within 1e-9.

A difference is accepted only where a rule below explains it; each rule says why:

- ``rounded_coordinates``: index format 3 keeps house-number coordinates as integers of
  1e-7 degree (under 1.1 cm; exact for the BAN's 6 decimals, BANO has up to 11). Where a
  house number's distance counts (reverse, or a search with a centre) a score moves by at
  most 2e-7 (reverse: d/dkm of exp(-(km/50)^2) is under 0.02) or 2e-8 (search: that times
  0.1 / 1.2), and a distance by at most 1 m (rounded to the metre). In reverse, points at
  the same distance (BANO puts a street's centre on one of its house numbers; two streets
  share a corner) then come in either order: each position keeps its distance, not
  necessarily its id.
- ``city_written_first``: Addok keeps the address out of a longer text ("SARL X 22 rue Y"),
  which also drops a city written first ("Gradignan 33170 39 Rue du Moulin"); balise keeps
  such a part when it holds a postcode or names the answer's place (search/engine.py,
  ``best_reading``). Accepted where the first answer stays the same (only the others,
  now from that city alone, change) or becomes the labelled one.
- ``parcel_housenumber``: a word such as "12P2" (the BAN's parcels: number 12, suffix p2)
  followed by the street's name that repeats it ("12P2 12P2 Rue des Rosiers") is a house
  number (text/french.py, PARCEL), so the answer becomes that house number of the street
  Addok answers, or the labelled one.
"""

from __future__ import annotations

import csv
import math
import re

import pytest

from tests.conftest import SHARED
from tests.golden import record

TOLERANCE = 1e-9
PARCEL = re.compile(r"\d{1,4}[a-z]{1,2}\d{1,3}")


def same(old: list, new: list) -> bool:
    if len(old) != len(new):
        return False
    for a, b in zip(old, new, strict=True):
        if a[0] != b[0] or any(not math.isclose(x, y, rel_tol=0, abs_tol=TOLERANCE)
                               for x, y in zip(a[1:], b[1:], strict=True)):
            return False
    return True


def rounded_coordinates(call: dict, old: list, new: list, expected: dict) -> bool:
    if len(old) != len(new):
        return False
    if call["op"] == "reverse":
        return all(abs(a[1] - b[1]) <= 1 and abs(a[2] - b[2]) <= 2e-7 for a, b in zip(old, new, strict=True))
    if call.get("lat") is None or call.get("lon") is None:
        return False
    return all(a[0] == b[0] and abs(a[1] - b[1]) <= 2e-8 for a, b in zip(old, new, strict=True))


def city_written_first(call: dict, old: list, new: list, expected: dict) -> bool:
    from balise.text import make_pipeline

    if call["op"] != "search" or not make_pipeline().dropped(call["q"]) or not new:
        return False
    return bool(old) and new[0][0] == old[0][0] or new[0][0] == expected.get(call["q"])


def parcel_housenumber(call: dict, old: list, new: list, expected: dict) -> bool:
    words = call["q"].lower().split()
    parcels = [a for a, b in zip(words, words[1:], strict=False) if a == b and PARCEL.fullmatch(a)]
    if call["op"] != "search" or not new or not parcels:
        return False
    return new[0][0] == expected.get(call["q"]) or bool(old) and new[0][0].startswith(old[0][0])


EXPLANATIONS = (rounded_coordinates, city_written_first, parcel_housenumber)


def differences(geocoder, records: list[dict], expected: dict | None = None) -> list[tuple[dict, list, list]]:
    """The changed answers that no rule explains (``expected``: the labelled answers)."""
    out = []
    for rec in records:
        call, old = rec["call"], rec["answer"]
        new = record.answer(geocoder, call)
        if not same(old, new) and not any(rule(call, old, new, expected or {}) for rule in EXPLANATIONS):
            out.append((call, old, new))
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
    diffs = differences(geocoder, record.load(record.FRANCE), expected)
    assert not diffs, f"{len(diffs)} changed answers, first: {diffs[:3]}"
