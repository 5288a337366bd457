"""The parameters of the Géoplateforme's geocoding API, as the service defines them (gpf-geocodeur
api/params/base.js and autocomplete.js): their types, values, defaults and checks, with its
error texts; then the rules between them (``lon`` with ``lat``, ``city`` with ``citycode``...)
in the service's order, and the indexes asked for must be served here (``parcel`` never is).
How a query's values are read and a 400 made is in reading.py.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cities import cities
from .geometry import SearchGeometry, parse_searchgeom
from .reading import Param, bad, between, extract, matches, numbers, padded

INDEXES = ("address", "poi", "parcel")
ADDRESS_TYPES = ("housenumber", "street", "locality", "municipality")
COMPLETION_TYPES = ("PositionOfInterest", "StreetAddress")
COMPLETION_INDEXES = {"StreetAddress": "address", "PositionOfInterest": "poi"}
STRUCTURED = ("departmentcode", "municipalitycode", "oldmunicipalitycode", "districtcode", "section",
              "number", "sheet")


def _query_text(value: str) -> None:
    if not 3 <= len(value) <= 200 or not first_char_valid(value):
        raise ValueError("must contain between 3 and 200 chars and start with a number or a letter")


def first_char_valid(text: str) -> bool:
    """A letter (a character with a case) or an ASCII digit, as the service's isFirstCharValid."""
    first = text[:1]
    return first.lower() != first.upper() or "0" <= first <= "9"


def _city(value: str) -> None:
    if len(value) > 50:
        raise ValueError("must contain between 1 and 50 chars")


def _departmentcode(value: str) -> None:
    if len(value) != 2 or value == "20" or not (
            (value.isdigit() and "01" <= value <= "95") or value in ("97", "2A", "2B")):
        raise ValueError("not valid")


# The service's PARAMS, in its order (errors are listed in this order).
SEARCH = {
    "indexes": Param(
        "string", "index de recherche", "address,parcel,poi", name="index", array=True, allowed=INDEXES,
        default=("address",)),
    "searchgeom": Param(
        "object", "géométrie de recherche par intersection spatiale. Les géométries autorisées sont : Point, "
        "LineString, Polygon et Circle. LineString et Point sont inopérants pour l’index address.",
        '{"type":"Polygon","coordinates":[[[2.354550,48.837961],[2.354550,48.839232],[2.357211,48.839232],'
        '[2.357211,48.837961],[2.354550,48.837961]]]}', normalize=parse_searchgeom, operation="reverse"),
    "q": Param(
        "string", "chaîne décrivant la localisation à rechercher", "73 Avenue de Paris Saint-Mandé",
        validate=_query_text, operation="search"),
    "limit": Param(
        "integer", "nombre maximum de candidats retournés", "5", default=10,
        validate=between(1, 20, "an integer")),
    "lon": Param(
        "float", "longitude d’un localisant pour favoriser les candidats les plus proches", "2.327640",
        validate=between(-180, 180, "a float")),
    "lat": Param(
        "float", "latitude d’un localisant pour favoriser les candidats les plus proches", "48.835187",
        validate=between(-90, 90, "a float")),
    "type": Param(
        "string", "filtre pour l’index address. Il permet de filtrer par type de données adresse : numéro de "
        "maison, rue, commune, ...", "municipality", allowed=ADDRESS_TYPES),
    "postcode": Param(
        "string", "filtre pour les index address et poi. Il permet de filtrer les résultats par code postal",
        "94160", validate=matches(r"\d{5}", "must contain 5 digits")),
    "citycode": Param(
        "string", "filtre pour les index address et poi. Il permet de filtrer les résultats par code INSEE",
        "94067", validate=matches(r"\d{5}|\d[AB]\d{3}", "not valid")),
    "city": Param(
        "string", "filtre pour les index address et poi. Il permet de filtrer par nom de commune",
        "saint-mandé", validate=_city),
    "category": Param(
        "string", "filtre pour l’index poi. Il permet de filtrer par catégorie de poi", "administratif"),
    "returntruegeometry": Param(
        "boolean", "indique si la vraie géométrie doit être retournée", "false", default=False),
    "autocomplete": Param(
        "boolean", "indique si la recherche doit être réalisée en mode auto-complétion. Pertinent uniquement "
        "pour la saisie en direct d'utilisateurs", "false", default=True),
    # Parcels' structured search: read and checked as the service does, though no parcel index
    # is ever served here (index=parcel is a 400).
    "departmentcode": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par code de département", "94",
        validate=_departmentcode, capabilities=False),
    "municipalitycode": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par code de commune", "000",
        validate=matches(r"\d{2,3}", "not valid"), capabilities=False),
    "oldmunicipalitycode": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par code d’ancienne commune", "000",
        validate=matches(r"\d{3}", "not valid"), capabilities=False),
    "districtcode": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par code d’arrondissement", "105",
        validate=matches(r"\d{3}", "not valid"), capabilities=False),
    "section": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par section", "AC",
        validate=matches(r"\d{1,2}|[A-Z]{1,2}|0?[A-Z]", "not valid"), normalize=padded(2),
        capabilities=False),
    "number": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par feuille", "0035",
        validate=matches(r"\d{1,4}", "not valid"), normalize=padded(4), capabilities=False),
    "sheet": Param(
        "string", "filtre pour l’index parcel. Il permet de filtrer par feuille", "1",
        validate=matches(r"\d{1,2}", "not valid"), normalize=padded(2), capabilities=False),
}


def _terr(values: Any) -> None:
    if any(not terr_valid(v) for v in values):
        raise ValueError("unexpected value")


def terr_valid(value: str) -> bool:
    """METROPOLE, DOMTOM, a département's code or five digits (the service's isTerrValid)."""
    if value in ("METROPOLE", "DOMTOM") or value in cities().departements:
        return True
    return bool(re.fullmatch(r"\d{5}", value))


def _lonlat(value: list[float]) -> None:
    lon, lat = value
    if not -180 <= lon <= 180:
        raise ValueError("lon: must be a float between -180 and 180")
    if not -90 <= lat <= 90:
        raise ValueError("lat: must be a float between -90 and 90")


def _bbox(value: list[float]) -> None:
    for name, v, bound in zip(("xmin", "ymin", "xmax", "ymax"), value, (180, 90, 180, 90), strict=True):
        if not -bound <= v <= bound:
            raise ValueError(f"{name}: must be a float between -{bound} and {bound}")


# The service's AUTOCOMPLETE parameters, in its order.
COMPLETION = {
    "text": Param("string", "le texte devant être completé", "10 ru", required=True, validate=_query_text),
    "terr": Param(
        "string", "une limitation de la zone de recherche de localisants. Les valeurs acceptés sont "
        "METROPOLE, DOMTOM, les codes département et les codes communes (INSEE).", "75013", array=True,
        validate=_terr),
    "poiType": Param("string", "filtre sur le localisant pour le type de POI", "administratif"),
    "lonlat": Param(
        "custom", "coordonnées (longitude, latitude) d'un localisant pour favoriser les candidats les plus "
        "proches", "2.347640,48.835187", extract=numbers(2, "lon,lat"), validate=_lonlat),
    "type": Param(
        "string", "le type de localisant recherché, il est possible de spécifier plusieurs types séparés par "
        "une virgule", "PositionOfInterest", array=True, allowed=COMPLETION_TYPES, default=COMPLETION_TYPES),
    "maximumResponses": Param(
        "integer", "le nombre maximum de réponses que l'on souhaite voir retournées", "6", default=10,
        validate=between(1, 15, "an integer")),
    "bbox": Param(
        "custom", "filtre avec une bbox suivant l'ordre xmin, ymin, xmax, ymax",
        "48.573569106948469,27.837770518544438,48.417446881093412,27.381161181879751",
        extract=numbers(4, "xmin,ymin,xmax,ymax"), validate=_bbox),
}


def listed(key: str, param: Param, served: Container[str]) -> bool:
    """Whether this server describes a parameter: not the parcels', nor the POIs' without a POI
    index (capabilities, OpenAPI)."""
    return param.capabilities and (key not in ("category", "poiType") or "poi" in served)


def served_types(served: Container[str]) -> list[str]:
    """The completion's kinds of place this server serves (its default ``type``)."""
    return [t for t in COMPLETION_TYPES if COMPLETION_INDEXES[t] in served]


# --- requests ----------------------------------------------------------------------------------


@dataclass
class SearchParams:
    """``/search`` and ``/reverse``, checked."""

    indexes: list[str]
    limit: int
    q: str | None = None
    lon: float | None = None
    lat: float | None = None
    searchgeom: SearchGeometry | None = None
    filters: dict[str, str] = field(default_factory=dict)  # type, postcode, citycode, category
    citycodes: list[str] = field(default_factory=list)  # reverse: ``city`` as every matching code
    matching_cities: list[str] = field(default_factory=list)  # search: several cities matched
    returntruegeometry: bool = False
    autocomplete: bool = True

    @property
    def centre(self) -> tuple[float, float] | None:
        return None if self.lon is None or self.lat is None else (self.lon, self.lat)


def _common(query: Mapping[str, str], served: tuple[str, ...]) -> dict[str, Any]:
    values = extract(query, SEARCH)
    if ("lat" in values) != ("lon" in values):
        raise bad("lon/lat must be present together if defined")
    missing = [name for name in values["indexes"] if name not in served]
    if missing:
        raise bad(*(f"index: '{name}' is not served here" for name in missing))
    return values


def _params(values: dict[str, Any]) -> SearchParams:
    return SearchParams(
        indexes=values["indexes"], limit=values["limit"], q=values.get("q"), lon=values.get("lon"),
        lat=values.get("lat"), searchgeom=values.get("searchgeom"),
        filters={k: values[k] for k in ("type", "postcode", "citycode", "category") if k in values},
        returntruegeometry=values["returntruegeometry"], autocomplete=values["autocomplete"])


def _city_rules(values: dict[str, Any]) -> list[str]:
    """The codes of the communes ``city`` names (400 when none, or with ``citycode``)."""
    if "city" not in values:
        return []
    if "citycode" in values:
        raise bad("city and citycode params cannot be used together")
    found = cities().search(values["city"])
    if not found:
        raise bad("city: No matching cities found")
    return [c.code for c in found]


def search_params(query: Mapping[str, str], served: tuple[str, ...]) -> SearchParams:
    """``/search``'s parameters (the service's extractSearchParams)."""
    values = _common(query, served)
    if "q" in values and any(name in values for name in STRUCTURED):
        raise bad("q param and structured search cannot be used together")
    if "q" not in values:
        raise bad("q: required param")
    codes = _city_rules(values)
    params = _params(values)
    if len(codes) == 1:
        params.filters["citycode"] = codes[0]
    elif codes:
        params.matching_cities = codes
        params.q = f"{params.q} {values['city']}"
    return params


def reverse_params(query: Mapping[str, str], served: tuple[str, ...]) -> SearchParams:
    """``/reverse``'s parameters (the service's extractReverseParams)."""
    values = _common(query, served)
    params = _params(values)
    geometry = params.searchgeom
    if "address" in params.indexes and geometry is not None and geometry.kind not in ("Polygon", "Circle"):
        raise bad(f"Geometry type '{geometry.kind}' not allowed for address index")
    if params.lon is None and geometry is None:
        raise bad("At least lon/lat or searchgeom must be defined")
    params.citycodes = _city_rules(values)
    return params


@dataclass
class CompletionParams:
    """``/completion``, checked."""

    text: str
    indexes: list[str]
    limit: int
    terr: list[str] = field(default_factory=list)
    category: str | None = None
    centre: tuple[float, float] | None = None
    bbox: tuple[float, float, float, float] | None = None


def completion_params(query: Mapping[str, str], served: tuple[str, ...]) -> CompletionParams:
    """``/completion``'s parameters (the service's autocomplete extractParams). ``type``
    defaults to the kinds this server serves; one asked for and not served is a 400."""
    given = "type" in query and bool(query["type"].strip(" ,"))
    values = extract(query, COMPLETION)
    indexes = [COMPLETION_INDEXES[t] for t in values["type"]]
    if given:
        missing = [t for t, index in zip(values["type"], indexes, strict=True) if index not in served]
        if missing:
            raise bad(*(f"type: '{t}' is not served here" for t in missing))
    else:
        indexes = [i for i in indexes if i in served]
    lonlat, box = values.get("lonlat"), values.get("bbox")
    centre = (lonlat[0], lonlat[1]) if lonlat else (box[0] / 2 + box[2] / 2, box[1] / 2 + box[3] / 2) if box \
        else None
    return CompletionParams(text=values["text"], indexes=indexes, limit=values["maximumResponses"],
                            terr=values.get("terr", []), category=values.get("poiType"), centre=centre,
                            bbox=tuple(box) if box else None)
