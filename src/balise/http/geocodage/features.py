"""The shapes of the Géoplateforme's answers: features of each index, completion results, and the
completion's territory and box filters (gpf-geocodeur indexes/*/service/, api/operations/).

- address (search): Addok's geocodejson feature, as the service's Addok gives it.
- address (reverse): the place's fields, its ``lon``/``lat``, its ``distance`` in metres and,
  when a point was given, a ``score`` that falls from 1 to 0 over 10 km.
- poi (search): the POI's fields (lists kept: ``category``, ``postcode``...) and the score.
- poi (reverse): every stored field but the point, with ``distance`` and ``score`` as above.
- every feature of a merged answer: ``_type``, its index.
"""

from __future__ import annotations

from typing import Any

import orjson

from .geometry import distance_m

POI_FIELDS = ("name", "toponym", "category", "postcode", "citycode", "city", "extrafields", "classification",
              "territory")
POI_NOT_SHOWN = ("id", "type", "lon", "lat", "truegeometry", "housenumbers")
SCORE_DISTANCE_M = 10_000  # the reverse score is 0 beyond


def reverse_score(distance: float) -> float:
    """The service's computeScore: 1 at the point, 0 at 10 km and beyond."""
    return 1 - min(1.0, distance / SCORE_DISTANCE_M)


def point(feature: dict[str, Any]) -> tuple[float, float]:
    lon, lat = feature["geometry"]["coordinates"][:2]
    return float(lon), float(lat)


def as_json_text(geometry: dict[str, Any]) -> str:
    """A geometry as the JSON text the service's search puts in ``truegeometry``."""
    return orjson.dumps(geometry).decode()


def address_search(feature: dict[str, Any], true_geometry: bool) -> dict[str, Any]:
    properties = feature["properties"]
    if true_geometry:
        properties["truegeometry"] = as_json_text(feature["geometry"])
    properties["_type"] = "address"
    return feature


def poi_search(feature: dict[str, Any], doc: dict[str, Any], true_geometry: bool) -> dict[str, Any]:
    properties = {k: doc[k] for k in POI_FIELDS if k in doc}
    properties["score"] = feature["properties"]["score"]
    if true_geometry:
        properties["truegeometry"] = as_json_text(doc.get("truegeometry") or feature["geometry"])
    properties["_type"] = "poi"
    return {"type": "Feature", "geometry": feature["geometry"], "properties": properties}


def _distance(lon: float, lat: float, centre: tuple[float, float] | None) -> tuple[int, float | None]:
    if centre is None:
        return 0, None
    meters = round(distance_m(centre[0], centre[1], lon, lat))
    return meters, reverse_score(meters)


def address_reverse(feature: dict[str, Any], centre: tuple[float, float] | None) -> dict[str, Any]:
    lon, lat = point(feature)
    properties = {k: v for k, v in feature["properties"].items() if k not in ("score", "distance")}
    properties.update(lon=lon, lat=lat)
    properties["distance"], score = _distance(lon, lat, centre)
    if score is not None:
        properties["score"] = score
    properties["_type"] = "address"
    return {"type": "Feature", "geometry": feature["geometry"], "properties": properties}


def poi_reverse(doc: dict[str, Any], centre: tuple[float, float] | None, true_geometry: bool
                ) -> dict[str, Any]:
    lon, lat = float(doc["lon"]), float(doc["lat"])
    properties = {k: v for k, v in doc.items() if k not in POI_NOT_SHOWN}
    properties["distance"], score = _distance(lon, lat, centre)
    if score is not None:
        properties["score"] = score
    if true_geometry:
        properties["truegeometry"] = doc.get("truegeometry") or {"type": "Point", "coordinates": [lon, lat]}
    properties["_type"] = "poi"
    geometry = {"type": "Point", "coordinates": [lon, lat]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


# --- completion ------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _js_text(value: Any) -> str:
    """A value as JavaScript writes it into a string (a list: its items joined by commas)."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def poi_city(city: Any) -> Any:
    """The service's computePoiCity: the first city of a list, none for an empty one."""
    if isinstance(city, list):
        return city[0] if city else None
    return city or None


def fulltext(properties: dict[str, Any]) -> str:
    """The service's computeFulltext: "name, postcode city" (what a completion shows)."""
    name, street, postcode = properties.get("name"), properties.get("street"), properties.get("postcode")
    city = poi_city(properties.get("city"))
    first_name = name[0] if isinstance(name, list) and name else name if not isinstance(name, list) else None
    if first_name or street:
        text = str(first_name or street)
        if postcode:
            first_postcode = postcode[0] if isinstance(postcode, list) else postcode
            text += f", {first_postcode} {city}" if city else f", {first_postcode}"
        elif city:
            text += f", {city}"
        return text
    if postcode:
        return f"{_js_text(postcode)} {city}" if city else _js_text(postcode)
    return ""


def metropole(citycode: Any) -> bool | None:
    """The service's test: the code (for a list, its first two joined) sorts before "97"."""
    if not citycode:
        return None
    return (_js_text(citycode[:2]) if isinstance(citycode, list) else str(citycode)[:2]) < "97"


def completion_result(feature: dict[str, Any]) -> dict[str, Any]:
    """A feature of a completion as the service formats it (its formatResult); no null value."""
    properties = feature["properties"]
    x, y = point(feature)
    if properties["_type"] == "address":
        result: dict[str, Any] = {
            "x": x, "y": y, "country": "StreetAddress", "city": properties.get("city"),
            "oldcity": properties.get("oldcity") or "", "kind": properties.get("type"),
            "zipcode": properties.get("postcode"), "street": properties.get("street"),
            "metropole": metropole(properties.get("citycode")), "fulltext": fulltext(properties),
            "classification": 7,
        }
    else:
        category = as_list(properties.get("category"))
        city = poi_city(properties.get("city"))
        postcodes = properties.get("postcode")
        result = {
            "x": x, "y": y, "country": "PositionOfInterest", "names": properties.get("name"), "city": city,
            "zipcode": postcodes[0] if isinstance(postcodes, list) and postcodes else None,
            "zipcodes": postcodes, "metropole": metropole(properties.get("citycode")), "poiType": category,
            "street": city if {"administratif", "commune"} & set(category) else properties.get("toponym"),
            "kind": category[0] if category else "", "fulltext": fulltext(properties),
            "classification": properties.get("classification"),
        }
    return {k: v for k, v in result.items() if v is not None}


def departements_of(citycode: Any) -> list[str]:
    """The service's computeDepCodeFromCityCode: 3 characters for codes from 97, else 2."""
    return list(dict.fromkeys(str(c)[: 3 if str(c) >= "97" else 2] for c in as_list(citycode)))


def in_territories(feature: dict[str, Any], terr: set[str]) -> bool:
    """``terr``: a postcode, a département or METROPOLE / DOMTOM of the result."""
    properties = feature["properties"]
    if any(str(p) in terr for p in as_list(properties.get("postcode"))):
        return True
    departements = departements_of(properties.get("citycode"))
    if any(d in terr for d in departements):
        return True
    territory = properties.get("territory") or (
        ("DOMTOM" if any(d >= "97" for d in departements) else "METROPOLE") if departements else None)
    return territory in terr


def in_box(feature: dict[str, Any], box: tuple[float, float, float, float]) -> bool:
    """Whether the result's point is in the box (its edges included, its corners in any order)."""
    lon, lat = point(feature)
    west, east = sorted((box[0], box[2]))
    south, north = sorted((box[1], box[3]))
    return west <= lon <= east and south <= lat <= north
