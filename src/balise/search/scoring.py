"""The score of a result, as Addok (with addok-france) computes it.

A result's score is the sum of its named scores over the sum of their ceilings: text
similarity (ceiling 1; compiled in ``_textscore``), importance (0.1) and, with a centre,
distance (0.1).
"""

from __future__ import annotations

from math import asin, cos, exp, radians, sin, sqrt
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from ..index.format import IMPORTANCE_WEIGHT

# Compiled, for many candidates at once (numpy's sines and arcsines, the rest in C):
from ._distance import EARTH_RADIUS_KM as EARTH_RADIUS_KM
from ._distance import GEO_DISTANCE_WEIGHT as GEO_DISTANCE_WEIGHT
from ._distance import haversine_km_array as haversine_km_array
from ._distance import total_with_centre as total_with_centre

MATCH_THRESHOLD = 0.9
MIN_SCORE = 0.1

Parts: TypeAlias = dict[str, tuple[float, float]]  # named scores: name -> (value, ceiling)
Floats: TypeAlias = NDArray[np.float64]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lon1, lat1, lon2, lat2 = map(radians, (lon1, lat1, lon2, lat2))
    a = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a))


def km_to_score(km: float) -> float:
    """1 near the centre, 0 beyond 100 km."""
    return 0.0 if km > 100 else exp(-((km / 50.0) ** 2))


def score_parts(str_distance: float, importance: float, distance_km: float | None) -> Parts:
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


def total(parts: Parts) -> float:
    """The score: the sum of the named scores over the sum of their ceilings."""
    return sum(v for v, _ in parts.values()) / sum(c for _, c in parts.values())


def total_without_centre(str_distance: Floats, importance: Floats) -> Floats:
    """:func:`total` of :func:`score_parts` for many candidates at once."""
    return (str_distance + importance * IMPORTANCE_WEIGHT) / (1.0 + IMPORTANCE_WEIGHT)
