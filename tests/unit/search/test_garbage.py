"""Searches leave nothing to the cyclic garbage collector: no reference cycles, and caches that
keep no objects it must walk. Its full passes cost 10-40 ms at France scale and were the
slowest "queries" of the scale bench (bench/README.md, "France scale")."""

from __future__ import annotations

import gc

import pytest

SEARCHES = [
    ("34 Avenue de l'Opéra 75002 Paris", {}),
    ("rue de rivoli 12", {}),  # a number after the street: two readings
    ("Paris 75004 4 rue de la verrerie", {}),  # the city first
    ("8 bd du palais", {"autocomplete": True}),
    ("avenue de lopera", {}),  # a typo: fuzzy terms
    ("rue saint honore paris", {"lat": 48.86, "lon": 2.34}),
    ("rue de la paix", {"filters": {"citycode": ["75102"]}, "limit": 3}),
    ("place des vosges", {"bbox": (2.35, 48.85, 2.37, 48.86)}),
    ("12 rue du moulin gueret", {}),
    ("xqzt wvvb", {}),
]


def search_and_reverse(geocoder):
    for q, options in SEARCHES:
        geocoder.search(q, **options)
    geocoder.reverse(48.8566, 2.3522, limit=3)
    geocoder.reverse(45.83, 1.26, bbox=(2.0, 46.0, 2.1, 46.1))


@pytest.fixture
def collector_off():
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_searches_and_reverses_leave_no_reference_cycles(geocoder, collector_off):
    search_and_reverse(geocoder)  # what is built once (lazy attributes, imports) is not a search's
    gc.collect()
    search_and_reverse(geocoder)
    assert gc.collect() == 0


def test_words_seen_once_leave_no_tracked_objects_in_the_caches(geocoder):
    """A word the text rules meet is cached by its plain string: a Token as the key would keep
    the token, its position list and the key's tuple, three tracked objects a word."""
    geocoder.search("1 rue de la paix paris")  # the engine's own first-use objects
    gc.collect()
    before = len(gc.get_objects())
    for i in range(300):
        geocoder.search(f"{i} rue bzq{i} {i}bis 75001 paris {i}")
    gc.collect()
    assert len(gc.get_objects()) - before < 100
