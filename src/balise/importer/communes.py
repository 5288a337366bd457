"""French commune reference data (INSEE COG), used to name, place and rank municipalities."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# COG types that are live communes; other codes are "déléguées"/"associées" of a merged commune.
CURRENT_TYPES = ("commune-actuelle", "arrondissement-municipal")


@dataclass(frozen=True, slots=True)
class Commune:
    """One INSEE code as the COG describes it."""

    code: str
    name: str
    type: str
    departement: str
    region: str
    postcodes: tuple[str, ...]
    population: int | None
    parent: str | None  # Paris/Lyon/Marseille code for an arrondissement municipal


def departement_of(citycode: str) -> str:
    """Département code of an INSEE code: 3 characters overseas (97x, 98x), else 2 (2A, 2B)."""
    return citycode[:3] if citycode[:2] in ("97", "98") else citycode[:2]


def _read_json(path: Path) -> Any:
    """Read a JSON file, gzipped when its name says so (its shape is the caller's to say)."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return orjson.loads(data)


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON array file, parsed one line at a time when the file has one object
    per line (the COG files do): the whole parsed list would take ~80 MB more memory."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        first, second = f.readline().strip(), f.readline().strip()
        if first != b"[" or not second.startswith(b"{") or not second.endswith((b"}", b"},")):
            yield from orjson.loads(first + second + f.read())
            return
        for line in itertools.chain((second,), f):
            line = line.strip().rstrip(b",")
            if line and line != b"]":
                yield orjson.loads(line)


class Communes:
    """Lookups by INSEE code over the COG communes, départements and régions."""

    def __init__(
        self,
        communes: dict[str, Commune],
        departements: dict[str, tuple[str, str]],
        regions: dict[str, str],
        centres_path: Path | None = None,
    ) -> None:
        self._communes = communes
        self._departements = departements  # code -> (name, region code)
        self._regions = regions  # code -> name
        self._contexts: dict[str, str] = {}
        self._centres_path = centres_path
        self._centres: dict[str, tuple[tuple[float, float], tuple[float, ...]]] | None = None

    @classmethod
    def load(cls, path: str | Path) -> Communes:
        """Load a directory laid out like shared/data/communes (centres file is optional)."""
        path = Path(path)
        communes: dict[str, Commune] = {}
        for raw in _read_records(path / "communes-cog.json.gz"):
            code = raw["code"]
            known = communes.get(code)
            # A merged commune often shares its code with a commune déléguée: keep the live one.
            if known is not None and (known.type in CURRENT_TYPES or raw["type"] not in CURRENT_TYPES):
                continue
            communes[code] = Commune(
                code=code,
                name=raw["nom"],
                type=raw["type"],
                departement=raw.get("departement") or departement_of(code),
                region=raw.get("region") or "",
                postcodes=tuple(raw.get("codesPostaux") or ()),
                population=raw.get("population"),
                parent=raw.get("commune"),
            )
        departement_rows: list[dict[str, str]] = _read_json(path / "departements.json")
        departements = {d["code"]: (d["nom"], d.get("region") or "") for d in departement_rows}
        region_rows: list[dict[str, str]] = _read_json(path / "regions.json")
        regions = {r["code"]: r["nom"] for r in region_rows}
        centres = path / "commune-centers-bbox.json.gz"
        return cls(communes, departements, regions, centres if centres.exists() else None)

    def __len__(self) -> int:
        return len(self._communes)

    def __contains__(self, citycode: object) -> bool:
        return citycode in self._communes

    def codes(self) -> list[str]:
        """Every INSEE code known (live communes and arrondissements first kept)."""
        return list(self._communes)

    def get(self, citycode: str) -> Commune | None:
        return self._communes.get(citycode)

    def is_current(self, citycode: str) -> bool:
        """True for a live commune or arrondissement, False for a déléguée or unknown code."""
        commune = self._communes.get(citycode)
        return commune is not None and commune.type in CURRENT_TYPES

    def name(self, citycode: str) -> str | None:
        commune = self._communes.get(citycode)
        return commune.name if commune else None

    def postcodes(self, citycode: str) -> list[str]:
        commune = self._communes.get(citycode)
        return list(commune.postcodes) if commune else []

    def population(self, citycode: str) -> int | None:
        commune = self._communes.get(citycode)
        return commune.population if commune else None

    def _geo(self, citycode: str) -> tuple[tuple[float, float], tuple[float, ...]] | None:
        """Centre and bbox, loaded on first use: imports rarely need them (~20 MB)."""
        if self._centres is None:
            self._centres = {}
            if self._centres_path is not None:
                raw: dict[str, dict[str, list[float]]] = _read_json(self._centres_path)
                for code, geo in raw.items():
                    lon, lat = geo["center"]
                    self._centres[code] = ((float(lon), float(lat)), tuple(geo.get("bbox") or ()))
        return self._centres.get(citycode)

    def centre(self, citycode: str) -> tuple[float, float] | None:
        """(lon, lat) of the commune centre, as BAN uses for communes without addresses."""
        geo = self._geo(citycode)
        return geo[0] if geo else None

    def bbox(self, citycode: str) -> tuple[float, ...] | None:
        """(west, south, east, north) of the commune, when known."""
        geo = self._geo(citycode)
        return (geo[1] or None) if geo else None

    def parent(self, citycode: str) -> str | None:
        """Code of Paris, Lyon or Marseille for one of their arrondissements municipaux."""
        commune = self._communes.get(citycode)
        return commune.parent if commune else None

    def context(self, citycode: str) -> str:
        """ "75, Paris, Île-de-France": département code, département name, région name.

        Overseas départements repeat their name as région ("971, Guadeloupe, Guadeloupe"),
        as the reference Addok files do.
        """
        commune = self._communes.get(citycode)
        dep = commune.departement if commune else departement_of(citycode)
        cached = self._contexts.get(dep)
        if cached is None:
            parts = [dep]
            if dep in self._departements:
                dep_name, region = self._departements[dep]
                parts.append(dep_name)
                parts.append(self._regions.get(region, dep_name))
            cached = self._contexts[dep] = ", ".join(parts)
        return cached
