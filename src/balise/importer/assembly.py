"""Addresses (CSV rows) grouped into Addok import documents, as BAN's own export does: one
municipality per commune, then its streets and localities with nested house numbers.

``importance = round((ln(1 + population / 3) + ln(1 + distinct house numbers)) / 20, 5)``.
Street and municipality positions are the mean of their address points (as BAN does); the
COG centre is used only for a commune without numbered addresses. Without commune data the
population is unknown and taken as 3 per address, i.e. importance = ln(1 + addresses) / 20.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from ..index.format import Document
from .communes import Communes, departement_of

# Arrondissements of Paris, Lyon and Marseille, for when no commune data is given.
PLM_PARENTS = (("751", "75056", "Paris"), ("6938", "69123", "Lyon"), ("132", "13055", "Marseille"))


class Address(NamedTuple):
    """One located house number (or named place) read from a CSV line."""

    street_id: str
    name: str
    number: str  # house number key, "" for a named place (locality)
    id: str
    postcode: str
    citycode: str
    city: str
    lon: float
    lat: float
    x: float | None = None
    y: float | None = None
    oldcitycode: str = ""
    oldcity: str = ""


def by_commune(rows: Iterable[Address]) -> Iterator[list[Address]]:
    """Runs of consecutive rows of one commune: BAN and BANO files are sorted by commune, so
    memory stays bounded by the largest commune (an unsorted file gives several runs)."""
    group: list[Address] = []
    for row in rows:
        if group and row.citycode != group[0].citycode:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def importance(population: float, housenumbers: int = 0) -> float:
    """BAN's Addok importance: grows with the commune's population and the street's size."""
    return round((math.log1p(population / 3) + math.log1p(housenumbers)) / 20, 5)


def _centre(points: Iterable[Address]) -> tuple[float, float]:
    """Mean lon/lat rounded to 6 decimals (BAN's centroid), about 10 cm."""
    n, lon, lat = 0, 0.0, 0.0
    for p in points:
        n, lon, lat = n + 1, lon + p.lon, lat + p.lat
    return round(lon / n, 6), round(lat / n, 6)


def _slug(text: str) -> str:
    """Accent- and case-insensitive key, to spot two streets with the same name in a commune."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c if c.isalnum() else " " for c in text if c.isascii()).split())


def _plm_parent(citycode: str, communes: Communes | None) -> tuple[str, str] | None:
    """(code, name) of Paris, Lyon or Marseille for one of their arrondissements."""
    if communes is not None and citycode in communes:
        parent = communes.parent(citycode)
        return (parent, communes.name(parent) or parent) if parent else None
    for prefix, code, name in PLM_PARENTS:
        if citycode.startswith(prefix) and citycode != code:
            return code, name
    return None


class _Commune(NamedTuple):
    """What the documents of one commune share."""

    code: str
    name: str
    population: float  # estimated from the addresses when unknown
    context: str
    parent: tuple[str, str] | None


def _commune_info(rows: list[Address], communes: Communes | None) -> tuple[_Commune, Document]:
    """Shared commune fields, and its municipality document."""
    code = rows[0].citycode
    ref = communes.get(code) if communes is not None else None
    current = communes is not None and communes.is_current(code)
    name = ref.name if ref is not None else rows[0].city
    postcodes = list(ref.postcodes) if current and ref is not None else []
    if not postcodes:
        postcodes = sorted({r.postcode for r in rows if r.postcode})
    numbers = [r for r in rows if r.number]
    if communes is not None:
        # BAN uses the COG population, none (0) for a commune déléguée or an unknown code.
        population: float = (ref.population if current and ref is not None else None) or 0
        context = communes.context(code)
    else:
        # Unknown population: ~3 inhabitants per address, so importance = ln(1 + addresses) / 20.
        population = 3 * len(numbers)
        context = departement_of(code)
    located = numbers or rows
    centre = _centre(located)
    if not numbers and communes is not None:
        centre = communes.centre(code) or centre
    municipality: Document = {
        "id": code,
        "type": "municipality",
        "name": name,
        "postcode": postcodes,
        "citycode": code,
        "lon": centre[0],
        "lat": centre[1],
        "city": name,
        "context": context,
        "importance": importance(population),
    }
    if communes is not None:
        municipality["population"] = int(population)
    return _Commune(code, name, population, context, _plm_parent(code, communes)), municipality


def _street(rows: list[Address], commune: _Commune, add_oldcity: bool) -> Document:
    """A street (or locality when it has no numbers) document from its rows."""
    first = rows[0]
    numbers = [r for r in rows if r.number]
    housenumbers: dict[str, dict[str, str | float]] = {}
    for r in numbers:
        if r.number in housenumbers:
            continue  # a repeated number (BANO has some): the first one wins, as in BAN's files
        hn: dict[str, str | float] = {"id": r.id, "lon": r.lon, "lat": r.lat}
        if r.x is not None and r.y is not None:
            hn["x"], hn["y"] = r.x, r.y
        housenumbers[r.number] = hn
    name = first.name
    if add_oldcity and first.oldcity:
        name = f"{name} ({first.oldcity})"
    citycode: str | list[str] = commune.code
    city: str | list[str] = commune.name
    if commune.parent is not None:
        citycode = [commune.code, commune.parent[0]]
        city = [commune.parent[1], commune.name]
    elif first.oldcitycode:
        citycode = [commune.code, first.oldcitycode]
        city = [commune.name, first.oldcity] if first.oldcity else commune.name
    located = numbers or rows
    lon, lat = _centre(located)
    doc: Document = {
        "id": first.street_id,
        "type": "street" if numbers else "locality",
        "name": name,
        "postcode": first.postcode,
        "citycode": citycode,
        "city": city,
        "lon": lon,
        "lat": lat,
    }
    xs = [(r.x, r.y) for r in located if r.x is not None and r.y is not None]
    if xs:  # Lambert-93 centre: mean of the projected points (a street is small enough)
        doc["x"] = round(sum(x for x, _ in xs) / len(xs), 2)
        doc["y"] = round(sum(y for _, y in xs) / len(xs), 2)
    doc["context"] = commune.context
    doc["importance"] = importance(commune.population, max(len(housenumbers), 1))
    if numbers:
        doc["housenumbers"] = housenumbers
    if commune.parent is not None:
        doc["district"] = commune.name
    if first.oldcitycode:
        doc["oldcitycode"] = first.oldcitycode
        if first.oldcity:
            doc["oldcity"] = first.oldcity
    return doc


def commune_documents(rows: list[Address], communes: Communes | None) -> Iterator[Document]:
    """Municipality first, then its streets and localities in order of first appearance."""
    commune, municipality = _commune_info(rows, communes)
    yield municipality
    streets: dict[tuple[str, str, bool], list[Address]] = {}
    for r in rows:
        # A street id can carry two spellings of its name in BANO: BAN's export keeps both.
        streets.setdefault((r.street_id, r.name, not r.number), []).append(r)
    # Two streets of one name in a merged commune are told apart by the old commune's name.
    slugs: Counter[str] = Counter()
    if any(r.oldcity for r in rows):
        slugs.update(_slug(name) for _, name, _ in streets)
    for (_, name, _), street_rows in streets.items():
        yield _street(street_rows, commune, bool(slugs) and slugs[_slug(name)] > 1)
