"""geocodejson output, shaped exactly like Addok's /search/ and /reverse/ answers."""

from __future__ import annotations

from typing import Any

from .result import Result

HIDDEN = ("lat", "lon", "_id", "housenumbers")
ATTRIBUTION = "BAN"
LICENCE = "ETALAB-2.0"


def first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and value else value


def feature(result: Result, original_type: str, debug: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = result.doc
    properties: dict[str, Any] = {"label": result.label or first(doc.get("name"))}
    properties["score"] = result.score
    if result.housenumber:
        properties["housenumber"] = result.housenumber
    for key, value in doc.items():
        value = first(value)
        if value and key not in HIDDEN and key[0] != "_":
            properties[key] = value
    if original_type and original_type not in properties:
        properties[original_type] = properties.get("name")
    if result.housenumber:
        properties["name"] = f"{result.housenumber} {properties.get('name')}"
    if result.distance_km is not None:
        properties["distance"] = int(result.distance_km * 1000)
    if debug is not None:
        properties["_debug"] = debug
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(doc["lon"]), float(doc["lat"])]},
        "properties": properties,
    }


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
