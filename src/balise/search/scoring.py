"""Labels and scores of a candidate, as Addok (with addok-france) computes them.

A result's score is the sum of its named scores over the sum of their ceilings:
text similarity (ceiling 1), importance (0.1) and, with a centre, distance (0.1).
"""

from __future__ import annotations

from functools import lru_cache
from math import asin, cos, exp, radians, sin, sqrt

import numpy as np

from ..text import ascii_label

IMPORTANCE_WEIGHT = 0.1
GEO_DISTANCE_WEIGHT = 0.1
MATCH_THRESHOLD = 0.9
MIN_SCORE = 0.1
EARTH_RADIUS_KM = 6367.0  # Addok's value; kept so distances and scores agree.


def as_list(value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def make_labels(
    doc: dict,
    housenumber: str | None,
    number_last: bool = False,
    postcode: str | None = None,
    stored: Labels | None = None,
) -> Labels:
    """The label to show and the folded label variants to compare with the query.

    ``postcode`` replaces the document's first postcode (the one a query asked for).
    ``stored`` are the document's own labels, made at import (``IndexReader.labels``).
    PERF: names and cities come folded from the index (``_folded``, made at import),
    and the variants of a place are cached; a house number only prefixes them.
    """
    first_postcode = as_list(doc.get("postcode"))[0] if doc.get("postcode") else None
    if stored is not None and postcode in (None, first_postcode):
        return with_housenumber(stored, doc, housenumber, number_last, first_postcode)
    if postcode is None:
        postcode = first_postcode
    names, cities = as_list(doc.get("name")), as_list(doc.get("city")) if doc.get("city") else []
    folded_names, folded_cities = doc.get("_folded") or fold_fields(doc)
    name_parts = tuple(zip(names, folded_names, strict=True))
    city_parts = tuple(zip(cities, folded_cities, strict=True))
    postcode_part = (postcode, ascii_label(postcode)) if postcode else None
    base = labels_of(name_parts, city_parts, postcode_part, doc.get("type") == "municipality")
    return with_housenumber(base, doc, housenumber, number_last, postcode)


def with_housenumber(base: Labels, doc: dict, housenumber: str | None, number_last: bool,
                     postcode: str | None) -> Labels:
    """The labels of a place with a house number: addok-france puts "N label" before each."""
    if not housenumber:
        return base
    number = ascii_label(housenumber)
    shown = f"{housenumber} {base[0]}"
    folded = [v for label in base[1] for v in (f"{number} {label}".strip(), label)]
    if number_last:
        folded_names, folded_cities = doc.get("_folded") or fold_fields(doc)
        folded.append(f"{folded_names[0]} {number}")
        if postcode and folded_cities:
            folded.append(f"{folded_names[0]} {number} {ascii_label(postcode)} {folded_cities[0]}")
    return (shown, tuple(dict.fromkeys(folded)))


def fold_fields(doc: dict) -> list[list[str]]:
    """Folded names and cities of a document, as stored in the index under ``_folded``."""
    cities = as_list(doc.get("city")) if doc.get("city") else []
    return [[ascii_label(str(n)) for n in as_list(doc.get("name"))], [ascii_label(str(c)) for c in cities]]


# (label shown, folded variants best first). PERF: a plain tuple of strings, which the
# garbage collector stops tracking: tens of thousands of them sit in caches, and every
# tracked object lengthens each full collection (a tuple subclass would stay tracked).
Labels = tuple[str, tuple[str, ...]]


Part = tuple[str, str]  # (as written, folded)


@lru_cache(maxsize=100_000)
def labels_of(
    names: tuple[Part, ...], cities: tuple[Part, ...], postcode: Part | None, is_municipality: bool
) -> Labels:
    """Label variants of a place, best first (addok-france's make_labels), cached."""
    labels: list[tuple[Part, ...]] = []
    for name in names:
        for city in cities or (None,):
            group: list[tuple[Part, ...]] = []  # addok-france inserts each variant first
            if postcode and is_municipality:
                group[:0] = [(postcode, name), (name, postcode)]
            group.insert(0, (name,))
            if city and city[0] != name[0]:
                group[:0] = [(name, postcode, city), (name, postcode), (name, city)] if postcode else [
                    (name, city)
                ]
            labels.extend(group)
    shown = " ".join(raw for raw, _ in labels[0]) if labels else ""
    # Duplicates (streets of Paris have two cities) cannot change the score.
    folded = dict.fromkeys(" ".join(f for _, f in label if f) for label in labels)
    return (shown, tuple(folded))


def compare_ngrams(left: str, right: str) -> float:
    """Bigram similarity of python-ngram's ``NGram.compare(left, right, N=2, pad_len=0)``:
    shared bigrams (with multiplicity) over all bigram slots of both strings."""
    return float(ngram_similarities(right, [left])[0])


# Folded labels hold only [a-z0-9_ ]: give each byte a 6-bit class, so a bigram
# is a number under 4096 and a lookup table replaces searching.
_CLASS = np.full(256, 63, dtype=np.int32)
_CLASS[0] = 0  # label separator
for _i, _c in enumerate(b"abcdefghijklmnopqrstuvwxyz0123456789_ ", start=1):
    _CLASS[_c] = _i


def _bigram_codes(data: bytes) -> np.ndarray:
    c = _CLASS[np.frombuffer(data, dtype=np.uint8)]
    return (c[:-1] << 6) | c[1:]


class QueryBigrams:
    """The bigrams of a folded query, ready to be compared with many labels."""

    def __init__(self, query: str) -> None:
        self.query = query
        q = query.encode("ascii", "replace")
        self.length = len(q)
        counts: dict[int, int] = {}  # PERF: a query has a few dozen bigrams; np.unique costs more
        for code in _bigram_codes(q).tolist():
            counts[code] = counts.get(code, 0) + 1
        self.counts = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        self.slot = np.full(1 << 12, -1, dtype=np.int32)
        self.slot[list(counts)] = np.arange(len(counts))
        self.n_slots = len(counts)

    def similarities(self, labels: list[str]) -> np.ndarray:
        """``compare_ngrams(label, query)`` for many labels at once.

        PERF: the hot loop of scoring, done with numpy over all labels of all
        candidates: each label bigram is mapped to its slot among the query's
        bigrams; per label and slot, min(label count, query count) are shared.
        """
        out = np.zeros(len(labels))
        if not labels:
            return out
        if self.length < 2:
            if self.length == 1:
                out[[i for i, label in enumerate(labels) if label == self.query]] = 1.0
            return out
        lengths = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
        codes = _bigram_codes("\0".join(labels).encode("ascii", "replace"))
        slot = self.slot[codes]
        keep = slot >= 0  # Bigrams across two labels hold the separator: never kept.
        label_of = np.repeat(np.arange(len(labels)), lengths + 1)[: len(codes)]
        n = self.n_slots
        counts = np.bincount(label_of[keep] * n + slot[keep], minlength=len(labels) * n)
        same = np.minimum(counts.reshape(len(labels), n), self.counts).sum(axis=1)
        slots = (lengths - 1) + (self.length - 1) - same
        np.divide(same, slots, out=out, where=same > 0)
        return out


def ngram_similarities(query: str, labels: list[str]) -> np.ndarray:
    return QueryBigrams(query).similarities(labels)


def text_scores(query: QueryBigrams, folded: list[tuple[str, ...]], autocomplete: bool) -> list[float]:
    """Addok's str_distance of each candidate (given its folded labels) against the query."""
    counts = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
    similarity = query.similarities([label for labels in folded for label in labels])
    if not autocomplete:
        return first_matches(similarity, counts).tolist()
    # Autocomplete: a label the query is, starts or is inside of scores 1, 0.9 or 0.7; the
    # others are compared as above, scaled by 0.9.
    fallback = first_matches(similarity * 0.9, counts).tolist()
    q = query.query
    out = []
    for labels, other in zip(folded, fallback, strict=True):
        score = 0.0
        for label in labels:
            if q == label:
                score = max(score, 1.0)
            elif label.startswith(q):
                score = max(score, 0.9)
            elif q in label:
                score = max(score, 0.7)
        out.append(score or other)
    return out


def first_matches(similarities: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per candidate (``counts`` labels each, in order): the best similarity, looking no
    further than the first label that matches, as Addok does.

    Earlier labels are below the threshold, so that is the first match if there is one,
    else the best of all. PERF: numpy over every candidate at once.
    """
    out = np.zeros(len(counts))
    present = counts > 0
    if not present.any():
        return out
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out[present] = np.maximum.reduceat(similarities, starts[present])
    matched = np.flatnonzero(similarities >= MATCH_THRESHOLD)
    if len(matched):
        owner = np.searchsorted(starts, matched, side="right") - 1
        owners, first = np.unique(owner, return_index=True)
        out[owners] = similarities[matched[first]]
    return out


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lon1, lat1, lon2, lat2 = map(radians, (lon1, lat1, lon2, lat2))
    a = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a))


def km_to_score(km: float) -> float:
    """1 near the centre, 0 beyond 100 km."""
    return 0.0 if km > 100 else exp(-((km / 50.0) ** 2))


def score_parts(str_distance: float, importance: float, distance_km: float | None) -> dict:
    """Named scores as (value, ceiling), Addok's way."""
    if distance_km is None:
        return {
            "importance": (importance * IMPORTANCE_WEIGHT, IMPORTANCE_WEIGHT),
            "str_distance": (str_distance, 1.0),
        }
    # With a centre, distance matters more than text and importance.
    return {
        "importance": (importance * IMPORTANCE_WEIGHT * 0.1, IMPORTANCE_WEIGHT),
        "str_distance": (str_distance * 0.9, 1.0),
        "geo_distance": (km_to_score(distance_km) * GEO_DISTANCE_WEIGHT, GEO_DISTANCE_WEIGHT),
    }


def total(parts: dict) -> float:
    """The score: the sum of the named scores over the sum of their ceilings."""
    return sum(v for v, _ in parts.values()) / sum(c for _, c in parts.values())


def total_without_centre(str_distance: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """:func:`total` of :func:`score_parts` for many candidates at once."""
    return (str_distance + importance * IMPORTANCE_WEIGHT) / (1.0 + IMPORTANCE_WEIGHT)


def total_with_centre(str_distance: np.ndarray, importance: np.ndarray, km: np.ndarray) -> np.ndarray:
    geo = np.where(km > 100, 0.0, np.exp(-((km / 50.0) ** 2))) * GEO_DISTANCE_WEIGHT
    value = str_distance * 0.9 + importance * IMPORTANCE_WEIGHT * 0.1 + geo
    return value / (1.0 + IMPORTANCE_WEIGHT + GEO_DISTANCE_WEIGHT)


def haversine_km_array(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    lat1, lon1 = np.radians(lat1), np.radians(lon1)
    lat2, lon2 = radians(lat2), radians(lon2)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
