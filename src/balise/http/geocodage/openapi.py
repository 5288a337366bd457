"""The OpenAPI documents of the Géoplateforme API as served here: ``{prefix}/openapi`` (search,
reverse, getCapabilities) and ``{prefix}/completion/openapi`` (completion and its
getCapabilities), as the service splits them, written from the parameters of params.py so that
they say what this server reads. JSON (the service serves YAML and a Swagger page).
"""

from __future__ import annotations

from typing import Any

from ...served import ServedIndexes
from .params import COMPLETION, COMPLETION_TYPES, SEARCH, listed, served_types
from .reading import Param

JSON_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = {"type": "object", "required": ["code", "message"], "properties": {
    "code": {"type": "integer", "example": 400},
    "message": {"type": "string", "example": "Failed parsing query"},
    "detail": {"type": "array", "items": {"type": "string"}}}}
FEATURES = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"type": "string", "enum": ["FeatureCollection"]},
    "features": {"type": "array", "items": {"type": "object", "required": ["type", "geometry", "properties"],
                                            "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["Point"]},
            "coordinates": {"type": "array", "items": {"type": "number"}}}},
        "properties": {"type": "object", "description": "the fields of the place; `_type`: its index; "
                       "`score`; `distance` in metres (reverse)", "properties": {
            "_type": {"type": "string", "enum": ["address", "poi"]}, "score": {"type": "number"}}}}}}}}
COMPLETION_ANSWER = {"type": "object", "required": ["status", "results"], "properties": {
    "status": {"type": "string", "enum": ["OK", "Error"]},
    "results": {"type": "array", "items": {"type": "object", "properties": {
        "x": {"type": "number"}, "y": {"type": "number"}, "fulltext": {"type": "string"},
        "country": {"type": "string", "enum": list(COMPLETION_TYPES)}, "kind": {"type": "string"},
        "city": {"type": "string"}, "zipcode": {"type": "string"}, "street": {"type": "string"},
        "metropole": {"type": "boolean"}, "classification": {"type": "integer"}}}}}}
CAPABILITIES = {"type": "object", "required": ["info", "api", "operations", "indexes"], "properties": {
    "info": {"type": "object"}, "api": {"type": "object"},
    "operations": {"type": "array", "items": {"type": "object"}},
    "indexes": {"type": "array", "items": {"type": "object"}}}}


def _parameter(key: str, param: Param, served: ServedIndexes) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": JSON_TYPES.get(param.kind, "string")}
    if param.allowed and not param.array:
        schema["enum"] = list(param.allowed)
    default = served_types(served) if key == "type" and param.array else param.default  # completion
    if default is not None:
        schema["default"] = ",".join(default) if isinstance(default, (tuple, list)) else default
    description = param.description
    if param.array:
        allowed = f" ({', '.join(v for v in param.allowed if key != 'indexes' or v in served)})" \
            if param.allowed else ""
        description += f"; several values separated by commas{allowed}"
    return {"name": param.name or key, "in": "query", "required": param.required, "description": description,
            "schema": schema, "example": param.example}


def _operation(summary: str, parameters: list[dict[str, Any]], answer: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters, "responses": {
        "200": _json(answer, "successful operation"), "400": _json(ERROR, "a parameter is not valid")}}}


def _capabilities(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": _json(CAPABILITIES, "successful operation")}}}


def _document() -> dict[str, Any]:
    return {"get": {"summary": "This OpenAPI document", "responses": {"200": _json({"type": "object"},
                                                                                    "the document")}}}


def geocode_document(prefix: str, served: ServedIndexes, version: str) -> dict[str, Any]:
    search = [_parameter(k, p, served) for k, p in SEARCH.items()
              if listed(k, p, served) and p.operation in ("", "search")]
    reverse = [_parameter(k, p, served) for k, p in SEARCH.items()
               if listed(k, p, served) and p.operation != "search"]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Service de géocodage (balise)", "version": version, "description":
                 "The Géoplateforme's geocoding API (data.geopf.fr/geocodage), served by balise over its own "
                 f"indexes: {', '.join(served.names)}. Parcels are not served (index=parcel is a 400)."},
        "servers": [{"url": prefix or "/"}],
        "paths": {
            "/getCapabilities": _capabilities("What this server serves"),
            "/openapi": _document(),
            "/search": _operation("Geocoding: places matching a text", search, FEATURES),
            "/reverse": _operation("Reverse geocoding: places at a point or inside a geometry", reverse,
                                   FEATURES),
        },
    }


def completion_document(prefix: str, served: ServedIndexes, version: str) -> dict[str, Any]:
    parameters = [_parameter(k, p, served) for k, p in COMPLETION.items() if listed(k, p, served)]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Autocompletion (balise)", "version": version,
                 "description": "The Géoplateforme's completion API, served by balise."},
        "servers": [{"url": f"{prefix}/completion"}],
        "paths": {
            "/getCapabilities": _capabilities("What this server serves"),
            "/openapi": _document(),
            "/": _operation("Suggestions for a text being typed", parameters, COMPLETION_ANSWER),
        },
    }
