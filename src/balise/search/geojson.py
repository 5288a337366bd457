"""geocodejson output, shaped exactly like Addok's /search/ and /reverse/ answers."""

from __future__ import annotations

from typing import Any

from . import _geojson
from .result import Result

ATTRIBUTION = "BAN"
LICENCE = "ETALAB-2.0"


def feature(result: Result, original_type: str, debug: dict[str, Any] | None = None) -> dict[str, Any]:
    """The feature of a result whose document has its house number merged in (reverse,
    lookup); a search builds its features from its candidates (``Scorer.feature``)."""
    return _geojson.feature(result.doc, None, result.housenumber, result.label, result.score,
                            result.distance_km, original_type, None, debug)


def collection(
    features: list[dict[str, Any]],
    query: str | None = None,
    filters: dict[str, list[str]] | None = None,
    center: tuple[float, float] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "version": "draft",
        "features": features,
        "attribution": ATTRIBUTION,
        "licence": LICENCE,
    }
    if query:
        out["query"] = query
    if filters:
        out["filters"] = filters
    if center:
        out["center"] = list(center)
    if limit:
        out["limit"] = limit
    return out
