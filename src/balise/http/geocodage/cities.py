"""Commune names and codes for the ``city`` parameter and ``terr``, as the service has them.

The Géoplateforme resolves ``city`` against the COG (``@etalab/decoupage-administratif``:
current communes and arrondissements municipaux; its api/util/search-city.js): names folded,
candidates whose words start with the query's words, a Jaro-Winkler similarity of at least
0.85, best first. One match filters by its ``citycode``; several add the name to the query
and keep the results of those communes. ``terr`` takes département codes of the same COG.

The list ships with the package (``communes.csv.gz``: code, name; about 35,000 rows, made from
``../shared/data/communes``, Licence Ouverte): the service needs it whatever the indexes hold.
Rebuild it with ``python -m balise.http.geocodage.cities DIR`` when the COG changes.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from rapidfuzz.distance import JaroWinkler
from unidecode import unidecode

MIN_SIMILARITY = 0.85
RESOURCE = "communes.csv.gz"
DEPARTEMENT_HEADER = "#departements"
_NOT_ALNUM = re.compile(r"[^a-z\d]+")
_SAINT = re.compile(r"sainte?\s")


def normalize(text: str) -> str:
    """A name as compared: accents and case folded, punctuation as spaces, saint(e) as st."""
    return _SAINT.sub("st ", _NOT_ALNUM.sub(" ", unidecode(text).lower()))


@dataclass(frozen=True, slots=True)
class City:
    code: str
    name: str
    score: float


class Cities:
    """Communes by folded name; the départements' codes."""

    def __init__(self, communes: list[tuple[str, str]], departements: list[str]) -> None:
        self.names = {code: name for code, name in communes}
        self.folded = {code: normalize(name).strip() for code, name in communes}
        self.short: dict[str, list[str]] = {}  # folded names of 3 letters or fewer, matched whole
        words: list[tuple[str, str]] = []
        for code, folded in self.folded.items():
            if len(folded) <= 3:
                self.short.setdefault(folded, []).append(code)
            else:
                words += [(word, code) for word in set(folded.split())]
        words.sort()
        self.words = [w for w, _ in words]
        self.word_codes = [c for _, c in words]
        self.departements = frozenset(departements)

    def _with_prefix(self, prefix: str) -> set[str]:
        start = bisect.bisect_left(self.words, prefix)
        end = bisect.bisect_left(self.words, prefix + "\uffff", start)
        return set(self.word_codes[start:end])

    def search(self, text: str) -> list[City]:
        """The communes ``text`` names, best first (none under the similarity threshold)."""
        query = normalize(text).strip()
        if not query:
            return []
        if len(query) <= 3:
            candidates = set(self.short.get(query, ()))
        else:
            sets = [self._with_prefix(word) for word in query.split()]
            candidates = set.intersection(*sets) if sets else set()
        found = [City(code, self.names[code], JaroWinkler.similarity(query, self.folded[code]))
                 for code in candidates]
        return sorted((c for c in found if c.score >= MIN_SIMILARITY), key=lambda c: (-c.score, c.code))


@cache
def cities() -> Cities:
    """The list shipped with the package, read once per process."""
    text = gzip.decompress(files(__package__).joinpath(RESOURCE).read_bytes()).decode("utf-8")
    communes, departements = [], []
    rows = csv.reader(io.StringIO(text))
    for row in rows:
        if row and row[0] == DEPARTEMENT_HEADER:
            departements = row[1:]
        elif len(row) == 2:
            communes.append((row[0], row[1]))
    return Cities(communes, departements)


def build(directory: Path, out: Path) -> int:
    """Write the resource from a directory laid out like ``../shared/data/communes``: the
    COG's current communes and arrondissements municipaux (the service's list), and the
    départements' codes. Reproducible bytes; the number of communes."""
    import orjson

    raw = gzip.decompress((directory / "communes-cog.json.gz").read_bytes())
    rows = [r for r in orjson.loads(raw) if r["type"] in ("commune-actuelle", "arrondissement-municipal")]
    departements = [d["code"] for d in orjson.loads((directory / "departements.json").read_bytes())]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([DEPARTEMENT_HEADER, *departements])
    for row in sorted(rows, key=lambda r: r["code"]):
        writer.writerow([row["code"], row["nom"]])
    with open(out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) \
            as z:
        z.write(text.getvalue().encode("utf-8"))
    return len(rows)


if __name__ == "__main__":
    target = Path(__file__).with_name(RESOURCE)
    print(f"wrote {build(Path(sys.argv[1]), target):,} communes to {target}")
