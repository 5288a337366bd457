"""Labelled evaluation sets as a uniform list of ``Case``s, and ``judge`` for one result.

Two sources, both under <shared>/data/eval/:

* geocoder-tester France (``geocoder-tester-france/**/*.csv|yml``), one set per file, named
  ``gt:<path without extension>`` (e.g. ``gt:iledefrance/test_addresses``).
* official points (``official-points-dev.csv``): town halls and post offices with their
  official coordinates, two sets per ``source``: ``op:<source>@100m`` and ``op:<source>@500m``
  (success = the top result lies within that distance), and the same restricted to the rows
  whose ``citycode`` appears in the indexed NDJSON documents, ``op:<source>/in-data@...``
  (most town halls are in communes that the 2014-15 BANO files do not cover; BANO's
  pre-merger codes can also miss a current code).

Which geocoder-tester rows are kept (decided from the labels only, never from results):

1. dropped when geocoder-tester itself would not run it: ``skip`` set, or no ``query``;
2. dropped when an expected key is one neither Addok nor balise return (``osm_id``,
   ``osm_key``, ``osm_value``, ``type``, ...); ``country: France`` is removed from the
   expectations instead (all our data is in France, and geocodejson results here carry no
   ``country``);
3. located from the labels: each of expected postcode, expected city and expected coordinate
   gives a set of départements (postcode: communes holding it in the COG, else its prefix;
   city: every COG commune, delegated/associated commune or Paris arrondissement whose
   folded name equals it; coordinate: the commune whose bounding box holds it with the
   nearest centre). The candidate départements are the intersection of the sets given (their
   union when they disagree). A row with no such label is dropped ("no location"); a row is
   kept only when every candidate is Paris (75) or one of the 23 BANO départements.

Judging follows geocoder-tester (geocoders/geocoder-tester, base.py ``assert_search``, run with
``--loose-compare``): a case passes when one of the first ``limit`` features (limit 1 when the
file gives none) matches every expected property, strings compared after unidecode, lower
case and non-word characters turned to spaces, and lies within the tolerance of the expected
coordinate when there is one (haversine distance here, geopy's geodesic there).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from unidecode import unidecode

try:
    from addok_env import shared_data
except ImportError:  # imported as bench.evalsets
    from bench.addok_env import shared_data

COVERED = frozenset(
    {"75", "04", "05", "07", "08", "09", "12", "15", "19", "23", "24", "2A", "2B", "32", "43",
     "46", "48", "52", "55", "82", "90", "971", "972", "973"}
)  # fmt: skip
# Expected keys that the geocodejson features of Addok / balise can carry.
ANSWERABLE_KEYS = frozenset({"name", "housenumber", "street", "city", "postcode", "coordinate"})


@dataclass(frozen=True)
class Case:
    set_name: str
    query: str
    lat: float | None
    lon: float | None
    limit: int
    expected: dict
    tolerance_m: float | None
    expected_lonlat: tuple | None
    autocomplete: bool = False
    ref: str = field(default="", compare=False)  # file:row or source:id, for reports


# --- comparison and distance ------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]")


def normalize(s) -> str:
    """geocoder-tester's loose comparison key."""
    return _NON_WORD.sub(" ", unidecode(str(s).lower()))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


def feature_matches(case: Case, feature: dict) -> bool:
    props = feature.get("properties") or {}
    for key, value in case.expected.items():
        if normalize(props.get(key)) != normalize(value):
            return False
    if case.expected_lonlat is not None:
        lon, lat = feature["geometry"]["coordinates"][:2]
        dist = haversine_m(lon, lat, *case.expected_lonlat)
        if int(dist) > int(case.tolerance_m):
            return False
    return True


def judge(case: Case, feature_collection: dict | None) -> bool:
    """True when one of the first ``case.limit`` features satisfies the case."""
    features = (feature_collection or {}).get("features") or []
    return any(feature_matches(case, f) for f in features[: case.limit])


# --- locating labels --------------------------------------------------------------------


def _fold(name: str) -> str:
    return " ".join(normalize(name).split())


def _read_json_gz(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _dept_of_code(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


class Locator:
    """Maps expected postcode / city / coordinate to sets of département codes."""

    def __init__(self, data: Path):
        communes = _read_json_gz(data / "communes" / "communes-cog.json.gz")
        self.by_postcode: dict[str, set] = {}
        self.by_name: dict[str, set] = {}
        for c in communes:
            dept = c["departement"]
            for pc in c.get("codesPostaux", []):
                self.by_postcode.setdefault(pc, set()).add(dept)
            self.by_name.setdefault(_fold(c["nom"]), set()).add(dept)
        centres = _read_json_gz(data / "communes" / "commune-centers-bbox.json.gz")
        self.centres = [(_dept_of_code(code), c["center"], c["bbox"]) for code, c in centres.items()]
        self.grid: dict[tuple, list] = {}  # 0.1 degree cells -> communes whose bbox meets it
        for c in self.centres:
            x0, y0, x1, y1 = (math.floor(v * 10) for v in c[2])
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    self.grid.setdefault((x, y), []).append(c)

    def postcode(self, pc: str) -> set:
        pc = pc.strip()
        if not re.fullmatch(r"\d{5}", pc):
            return set()
        if pc in self.by_postcode:
            return set(self.by_postcode[pc])
        if pc.startswith("20"):
            return {"2A", "2B"}
        return {_dept_of_code(pc)}

    def city(self, name: str) -> set:
        return set(self.by_name.get(_fold(name), ()))

    def point(self, lon: float, lat: float) -> set:
        cell = self.grid.get((math.floor(lon * 10), math.floor(lat * 10)), ())
        inside = [c for c in cell if c[2][0] <= lon <= c[2][2] and c[2][1] <= lat <= c[2][3]]
        pool = inside or self.centres
        dept, _, _ = min(pool, key=lambda c: haversine_m(lon, lat, c[1][0], c[1][1]))
        return {dept}

    def departements(self, expected: dict, lonlat: tuple | None) -> set:
        hints = []
        if expected.get("postcode"):
            hints.append(self.postcode(str(expected["postcode"])))
        if expected.get("city"):
            hints.append(self.city(str(expected["city"])))
        if lonlat is not None:
            hints.append(self.point(*lonlat))
        hints = [h for h in hints if h]
        if not hints:
            return set()
        both = set.intersection(*hints)
        return both or set.union(*hints)


# --- geocoder-tester --------------------------------------------------------------------


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _rows_of(path: Path) -> list[tuple[str, dict]]:
    """(ref, row) pairs; each row has query, expected (dict), limit, lat, lon, skip."""
    rel = path.as_posix()
    if path.suffix == ".yml":
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return [
            (f"{rel}:{name}", {**s, "query": s.get("query", name), "expected": s["expected"]})
            for name, s in spec.items()
        ]
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter=";" if ";" in header else ",")
        out = []
        for i, row in enumerate(reader, start=2):
            expected = {
                k[len("expected_") :]: v for k, v in row.items() if k and k.startswith("expected_") and v
            }
            out.append((f"{rel}:{i}", {**row, "expected": expected}))
        return out


def geocoder_tester_cases(root: Path, locator: Locator, stats: Counter) -> list[Case]:
    cases = []
    for path in sorted(list(root.rglob("test_*.csv")) + list(root.rglob("test_*.yml"))):
        rel = path.relative_to(root)
        set_name = "gt:" + rel.with_suffix("").as_posix()
        for ref, row in _rows_of(path):
            ref = ref.replace(path.as_posix(), rel.as_posix())
            query = (row.get("query") or "").strip()
            if row.get("skip") or not query:
                stats["gt excluded: skip or no query"] += 1
                continue
            expected = {k: str(v).strip() for k, v in row["expected"].items() if str(v).strip()}
            if normalize(expected.get("country", "france")).strip() == "france":
                expected.pop("country", None)
            if set(expected) - ANSWERABLE_KEYS:
                stats["gt excluded: unanswerable expected key"] += 1
                continue
            lonlat = tolerance = None
            if "coordinate" in expected:
                lat, lon, tolerance = (float(x) for x in expected.pop("coordinate").split(","))
                lonlat = (lon, lat)
            if not expected and lonlat is None:
                stats["gt excluded: nothing expected"] += 1
                continue
            depts = locator.departements(expected, lonlat)
            if not depts:
                stats["gt excluded: no location"] += 1
                continue
            if not depts <= COVERED:
                stats["gt excluded: outside coverage"] += 1
                continue
            stats["gt kept"] += 1
            lat, lon = _float(row.get("lat")), _float(row.get("lon"))
            center = lat is not None and lon is not None and lat and lon
            cases.append(
                Case(
                    set_name=set_name,
                    query=query,
                    lat=lat if center else None,
                    lon=lon if center else None,
                    limit=int(row.get("limit") or 1),
                    expected=expected,
                    tolerance_m=tolerance,
                    expected_lonlat=lonlat,
                    autocomplete="autocomplete" in path.stem,
                    ref=ref,
                )
            )
    return cases


# --- official points --------------------------------------------------------------------


def indexed_citycodes(files: list[Path]) -> set:
    """Every citycode of the documents in the NDJSON(.gz) files that the engines index."""
    codes = set()
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                code = json.loads(line).get("citycode")
                codes.update(code if isinstance(code, list) else [code])
    return codes


def official_point_cases(path: Path, citycodes: set, tolerances=(100, 500)) -> list[Case]:
    """Sets op:<source>@<tolerance>m (every row) and op:<source>/in-data@<tolerance>m (rows
    whose citycode is one of the indexed documents' citycodes)."""
    cases = []
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for tolerance in tolerances:
        for row in rows:
            names = [row["source"]]
            if row["citycode"] in citycodes:
                names.append(row["source"] + "/in-data")
            for name in names:
                cases.append(
                    Case(
                        set_name=f"op:{name}@{tolerance}m",
                        query=row["query"],
                        lat=None,
                        lon=None,
                        limit=1,
                        expected={},
                        tolerance_m=float(tolerance),
                        expected_lonlat=(float(row["expected_lon"]), float(row["expected_lat"])),
                        ref=f"{row['source']}:{row['id']}",
                    )
                )
    return cases


def load_cases(data: Path | None = None, stats: Counter | None = None) -> list[Case]:
    """Every kept case of both sources; ``stats`` (a Counter) receives the filter counts."""
    data = Path(data or shared_data())
    stats = Counter() if stats is None else stats
    locator = Locator(data)
    cases = geocoder_tester_cases(data / "eval" / "geocoder-tester-france", locator, stats)
    citycodes = indexed_citycodes(sorted((data / "addok-ndjson").glob("*.ndjson.gz")))
    cases += official_point_cases(data / "eval" / "official-points-dev.csv", citycodes)
    return cases


if __name__ == "__main__":
    stats: Counter = Counter()
    cases = load_cases(stats=stats)
    for key, n in sorted(stats.items()):
        print(f"{n:6d}  {key}")
    for name, n in sorted(Counter(c.set_name for c in cases).items()):
        print(f"{n:6d}  {name}")
    print(f"{len(cases):6d}  cases")
