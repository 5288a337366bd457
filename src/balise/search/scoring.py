"""Labels and scores of a candidate, as Addok (with addok-france) computes them.

A result's score is the sum of its named scores over the sum of their ceilings:
text similarity (ceiling 1), importance (0.1) and, with a centre, distance (0.1).
"""

from __future__ import annotations

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


def make_labels(doc: dict, housenumber: str | None, number_last: bool = False) -> list[str]:
    """Label variants, best first (addok-france's make_labels).

    ``number_last`` adds "Rue de Rivoli 12" variants, for queries written that way.
    """
    labels: list[str] = []
    cities = as_list(doc.get("city")) or [None]
    postcode = as_list(doc.get("postcode"))[0] if doc.get("postcode") else None
    is_municipality = doc.get("type") == "municipality"

    def add(group: list[str], label: str) -> None:
        group.insert(0, label)
        if housenumber:
            group.insert(0, f"{housenumber} {label}")

    for name in as_list(doc.get("name")):
        for city in cities:
            group: list[str] = []
            label = name
            if postcode and is_municipality:
                add(group, f"{label} {postcode}")
                add(group, f"{postcode} {label}")
            add(group, label)
            if city and city != label:
                add(group, f"{label} {city}")
                if postcode:
                    label = f"{label} {postcode}"
                    add(group, label)
                    label = f"{label} {city}"
                    add(group, label)
            labels.extend(group)
    if housenumber and number_last:
        name = as_list(doc.get("name"))[0]
        labels.extend([f"{name} {housenumber}", f"{name} {housenumber} {postcode} {cities[0]}"])
    return labels


def compare_ngrams(left: str, right: str) -> float:
    """Bigram similarity of python-ngram's ``NGram.compare(left, right, N=2, pad_len=0)``:
    shared bigrams (with multiplicity) over all bigram slots of both strings."""
    return float(ngram_similarities(right, [left])[0])


def _bigram_codes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    b = np.frombuffer(data, dtype=np.uint8).astype(np.uint16)
    codes = (b[:-1] << 8) | b[1:]
    valid = (b[:-1] != 0) & (b[1:] != 0)
    return codes, valid


def ngram_similarities(query: str, labels: list[str]) -> np.ndarray:
    """``compare_ngrams(label, query)`` for many labels at once.

    PERF: the hot loop of scoring; done with numpy over all labels of all
    candidates instead of one Python loop per label.
    """
    q = query.encode("ascii", "replace")
    encoded = [label.encode("ascii", "replace") for label in labels]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    out = np.zeros(len(labels))
    if len(q) < 2:
        if len(q) == 1:
            out[[i for i, e in enumerate(encoded) if e == q]] = 1.0
        return out
    q_codes, q_counts = np.unique(_bigram_codes(q)[0], return_counts=True)
    codes, valid = _bigram_codes(b"\0".join(encoded))
    label_of = np.repeat(np.arange(len(labels)), lengths + 1)[: len(codes)]
    codes, label_of = codes[valid], label_of[valid]
    pos = np.searchsorted(q_codes, codes)
    pos[pos >= len(q_codes)] = 0
    in_query = q_codes[pos] == codes
    codes, label_of, pos = codes[in_query], label_of[in_query], pos[in_query]
    # The k-th occurrence of a bigram in a label is shared if the query has k of them.
    order = np.lexsort((codes, label_of))
    codes, label_of, pos = codes[order], label_of[order], pos[order]
    new_group = np.ones(len(codes), dtype=bool)
    new_group[1:] = (codes[1:] != codes[:-1]) | (label_of[1:] != label_of[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(codes)), 0))
    rank = np.arange(len(codes)) - group_start
    shared = rank < q_counts[pos]
    same = np.bincount(label_of[shared], minlength=len(labels)).astype(np.float64)
    slots = (lengths - 1) + (len(q) - 1) - same
    np.divide(same, slots, out=out, where=same > 0)
    return out


def text_scores(query: str, labels_of: list[list[str]], autocomplete: bool) -> list[float]:
    """Addok's str_distance of each candidate (given its labels) against the folded query."""
    folded = [[ascii_label(label) for label in labels] for labels in labels_of]
    flat = [label for labels in folded for label in labels]
    similarity = ngram_similarities(query, flat).tolist()
    out, i = [], 0
    for labels in folded:
        sims = similarity[i : i + len(labels)]
        i += len(labels)
        if autocomplete:
            score = 0.0
            for label in labels:
                if query == label:
                    score = max(score, 1.0)
                elif label.startswith(query):
                    score = max(score, 0.9)
                elif query in label:
                    score = max(score, 0.7)
            if score:
                out.append(score)
                continue
            sims = [v * 0.9 for v in sims]
        out.append(_first_match(sims))
    return out


def _first_match(similarities: list[float]) -> float:
    """Best similarity, looking no further than the first label that matches."""
    best = 0.0
    for value in similarities:
        best = max(best, value)
        if value >= MATCH_THRESHOLD:
            break
    return best


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lon1, lat1, lon2, lat2 = map(radians, (lon1, lat1, lon2, lat2))
    a = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a))


def km_to_score(km: float) -> float:
    """1 near the centre, 0 beyond 100 km."""
    return 0.0 if km > 100 else exp(-((km / 50.0) ** 2))


def combine(str_distance: float, importance: float, distance_km: float | None) -> dict:
    """Score parts (value, ceiling) and the final score, Addok's way."""
    parts = {
        "importance": (importance * IMPORTANCE_WEIGHT, IMPORTANCE_WEIGHT),
        "str_distance": (str_distance, 1.0),
    }
    if distance_km is not None:
        parts["geo_distance"] = (km_to_score(distance_km) * GEO_DISTANCE_WEIGHT, GEO_DISTANCE_WEIGHT)
        # With a centre, distance matters more than text and importance.
        parts["str_distance"] = (str_distance * 0.9, 1.0)
        parts["importance"] = (parts["importance"][0] * 0.1, IMPORTANCE_WEIGHT)
    score = sum(v for v, _ in parts.values()) / sum(c for _, c in parts.values())
    return {"parts": parts, "score": score}
