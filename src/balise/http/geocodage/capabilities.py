"""``getCapabilities`` and ``completion/getCapabilities``: what this server serves, in the
service's shape (gpf-geocodeur config/capabilities/, api/capabilities/): the operations with
their parameters (from params.py), and the indexes served here with their fields; for the POI
index, its categories as the service lists them, each main category with the others found
with it (``{"administratif": ["commune", "mairie"], ...}``), read from the index itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...geocoder import Geocoder
from ...served import ADDRESS, POI, ServedIndexes
from .params import COMPLETION, SEARCH, listed, served_types
from .reading import Param

# The service's main categories (its BD TOPO mapping, MAIN_CATEGORIES), in its order.
MAIN_CATEGORIES = ("cimetière", "réservoir", "administratif", "construction", "hydrographie",
                   "élément topographique ou forestier", "transport", "poste de transformation",
                   "zone d'activité ou d'intérêt", "zone d'habitation")


def _field(name: str, description: str, kind: str = "string", queryable: bool = False, filter: bool = False,
           values: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "description": description, "type": kind, "queryable": queryable,
                           "filter": filter}
    if values is not None:
        out["values"] = values
    return out


ADDRESS_FIELDS = [
    _field("id", "identifiant de l’adresse (clef d’interopérabilité)"),
    _field("type", "type de résultat trouvé (housenumber, street, locality, municipality)", queryable=True,
           filter=True, values=["housenumber", "street", "locality", "municipality"]),
    _field("score", "valeur de 0 à 1 indiquant la pertinence du résultat"),
    _field("housenumber", "numéro avec indice de répétition éventuel (bis, ter, A, B)", queryable=True),
    _field("street", "nom de la voie", queryable=True),
    _field("name", "numéro éventuel et nom de voie ou lieu dit"),
    _field("postcode", "code postal", queryable=True, filter=True),
    _field("citycode", "code INSEE de la commune", queryable=True, filter=True),
    _field("city", "nom de la commune", queryable=True, filter=True),
    _field("district", "nom de l’arrondissement (Paris/Lyon/Marseille)"),
    _field("oldcitycode", "code INSEE de la commune ancienne (le cas échéant)"),
    _field("oldcity", "nom de la commune ancienne (le cas échéant)"),
    _field("context", "n° de département, nom de département et de région"),
    _field("label", "libellé complet de l’adresse"),
    _field("x", "coordonnées géographique en projection légale"),
    _field("y", "coordonnées géographique en projection légale"),
    _field("importance", "indicateur d’importance (champ technique)"),
]

POI_FIELDS = [
    _field("category", "le type du lieu", queryable=True, filter=True),
    _field("toponyme", "le toponyme", queryable=True),
    _field("postcode", "le code postal", queryable=True, filter=True),
    _field("citycode", "le code insee", queryable=True, filter=True),
    _field("city", "le nom de commune"),
    _field("extrafields", "champs supplémentaires formatés au format JSON. Contient notamment la valeur "
           "'cleabs' qui est l’identifiant unique dans la BD TOPO."),
    _field("truegeometry", "la géometrie réelle"),
]

COMPLETION_ADDRESS_FIELDS = [
    _field("country", "Le type du localisant proposé", values=["StreetAddress"]),
    _field("city", "Le nom de la commune"),
    _field("oldcity", "Nom de la commune ancienne absorbée (le cas échéant)"),
    _field("zipcode", "Code postal de l’adresse, de la voie ou de la commune", filter=True),
    _field("street", "Nom de la voie de l’adresse"),
    _field("classification", "Code classification de l’adresse. Vaudra toujours 7.", kind="integer"),
    _field("kind", "Le Type"),
    _field("metropole", "L'adresse est-elle située en France métropolitaine ?", kind="boolean", filter=True),
    _field("fulltext", "La proposition complète de localisant pour l’autocomplétion", queryable=True),
    _field("importance", "Indicateur d’importance du localisant servant au calcul du score. Issu de la Base "
           "Adresse Nationale.", kind="float"),
]

COMPLETION_POI_FIELDS = [
    _field("poiType", "Le type du lieu", filter=True),
    _field("classification", "La classification", kind="integer"),
    _field("fulltext", "La dénomination complète (nom+code postal+nom commune)"),
    _field("city", "Le nom de la commune"),
    _field("zipcode", "Le code postal de la commune"),
    _field("zipcodes", "Les codes postaux des communes", filter=True),
    _field("street", "Le nom du POI"),
    _field("kind", "Le type du POI"),
    _field("country", "Le type du localisant proposé", values=["PositionOfInterest"]),
    _field("metropole", "Le POI se trouve-t-il en France métropolitaine ?", kind="boolean", filter=True),
    _field("importance", "Le poids", kind="float"),
    _field("names", "Les noms du POI"),
]


def categories(geocoder: Geocoder) -> dict[str, list[str]]:
    """The categories of a POI index by main category (the service's categories summary): each
    document counts for its first main category; a category found without any main one is
    listed as one."""
    values = geocoder.filter_values("category")
    if not values:
        return {}
    mains = [m for m in MAIN_CATEGORIES if m in values]
    size = max(int(docs.max()) for docs in values.values() if len(docs)) + 1
    owner = np.full(size, -1, dtype=np.int32)
    for i, main in enumerate(mains):
        docs = values[main]
        free = docs[owner[docs] < 0]
        owner[free] = i
    summary: dict[str, list[str]] = {main: [] for main in mains}
    for name in sorted(values):
        if name in summary:
            continue
        owners = np.unique(owner[values[name]])
        for o in owners[owners >= 0]:
            summary[mains[int(o)]].append(name)
        if (owners < 0).any():
            summary.setdefault(name, [])
    return summary


class CategoryCache:
    """The categories of the POI index in service, computed once per version of it."""

    def __init__(self) -> None:
        self._cached: tuple[str, dict[str, list[str]]] | None = None

    def __call__(self, geocoder: Geocoder) -> dict[str, list[str]]:
        if self._cached is None or self._cached[0] != geocoder.version:
            self._cached = (geocoder.version, categories(geocoder))
        return self._cached[1]


def _parameter(key: str, param: Param, served: ServedIndexes, completion: bool) -> dict[str, Any]:
    """A parameter as the service's capabilities list it (its computeParameters, groupParamsByOperation)."""
    schema: dict[str, Any] = {"type": param.kind if completion else "number" if param.kind == "float"
                              else param.kind, "example": param.example}
    if not completion and key in ("indexes", "type"):
        schema["enum"] = [v for v in param.allowed if key != "indexes" or v in served]
    out: dict[str, Any] = {"name": param.name or key, "in": "query", "description": param.description,
                           "required": param.required}
    default = served_types(served) if completion and key == "type" else param.default
    if default is not None:
        out["default"] = list(default) if isinstance(default, (tuple, list)) else default
    out["schema"] = schema
    return out


def geocode(served: ServedIndexes, category_cache: CategoryCache) -> dict[str, Any]:
    """``getCapabilities``."""
    search = [_parameter(k, p, served, False) for k, p in SEARCH.items()
              if listed(k, p, served) and p.operation in ("", "search")]
    reverse = [_parameter(k, p, served, False) for k, p in SEARCH.items()
               if listed(k, p, served) and p.operation != "search"]
    indexes: list[dict[str, Any]] = [
        {"id": "address", "description": "adresses postales", "fields": ADDRESS_FIELDS}]
    if POI in served:
        fields = [{**POI_FIELDS[0], "values": category_cache(served.current(POI))}, *POI_FIELDS[1:]]
        indexes.append({"id": "poi", "description": "points d'intérêt", "fields": fields})
    return {
        "info": {"name": "Géocodage", "description": "Service de géocodage et géocodage inverse."},
        "api": {"name": "rest", "version": "1.0.0"},
        "operations": [
            {"id": "search", "description": "fournit les coordonnées géographiques d'un lieu (adresse, point "
             "d'intérêt, parcelle cadastrale...)", "url": "/search?", "methods": ["GET"],
             "parameters": search},
            {"id": "reverse", "description": "fournit des lieux (adresse, point d'intérêt, parcelle "
             "cadastrale...) à partir de coordonnées géographiques", "url": "/reverse?", "methods": ["GET"],
             "parameters": reverse},
        ],
        "indexes": indexes,
    }


def completion(served: ServedIndexes, category_cache: CategoryCache) -> dict[str, Any]:
    """``completion/getCapabilities``."""
    parameters = [_parameter(k, p, served, True) for k, p in COMPLETION.items() if listed(k, p, served)]
    indexes: list[dict[str, Any]] = []
    if ADDRESS in served:
        indexes.append({"id": "StreetAddress", "description": "adresses postales",
                        "fields": COMPLETION_ADDRESS_FIELDS})
    if POI in served:
        fields = [{**COMPLETION_POI_FIELDS[0], "values": category_cache(served.current(POI))},
                  *COMPLETION_POI_FIELDS[1:]]
        indexes.append({"id": "PositionOfInterest", "description": "points d'intérêt", "fields": fields})
    return {
        "info": {"name": "Autocompletion", "description": "Service d'autocompletion"},
        "api": {"name": "rest", "version": "1.0.0"},
        "operations": [{"id": "completion", "description": "fournit des suggestions d'objets géolocalisés "
                        "pouvant correspondre à la chaine de caractères entrée par l'utilisateur.",
                        "url": "/completion?", "methods": ["GET"], "parameters": parameters}],
        "indexes": indexes,
    }
