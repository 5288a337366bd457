"""Stream address files (Addok NDJSON, BAN CSV, BANO CSV) as Addok import documents.

Files are read line by line (gzip or plain) and CSV rows are grouped one commune at a time,
so memory stays bounded by the largest commune. Bad lines are counted in the report and
skipped: one broken line must not lose a whole import.

Documents follow BAN's own Addok export (ban-plateforme ``distribute/writers/addok``), which
the reference files in shared/data/addok-ndjson reproduce: one municipality per commune, then
its streets with nested house numbers, and
``importance = round((ln(1 + population / 3) + ln(1 + distinct house numbers)) / 20, 5)``.
Street and municipality positions are the mean of their address points (as BAN does); the
COG centre is used only for a commune without numbered addresses. Without commune data the
population is unknown and taken as 3 per address, i.e. importance = ln(1 + addresses) / 20.
"""

from __future__ import annotations

import csv
import gzip
import math
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import IO, NamedTuple

import orjson

from balise.importer.communes import Communes, departement_of
from balise.importer.report import ImportReport
from balise.index.documents import invalid_reason

BAN_HEADER = "id;id_fantoir;numero;rep;nom_voie"
BAN_LIEUX_DITS_HEADER = "id;nom_lieu_dit;"
BANO_HEADER = "id,numero,voie,"
BAN_LIEU_DIT_NUMERO = "99999"  # legacy BAN exports put named places (lieux-dits) on this number
BANO_COLUMNS = 8
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


# --- reading --------------------------------------------------------------------------------


class _LineReader:
    """Decoded lines of a gzip or plain file, tracking the line number and compressed bytes read."""

    def __init__(self, path: str | Path, report: ImportReport) -> None:
        self.path = str(path)
        self.report = report
        self.lineno = 0
        self.line = ""
        self._raw: IO[bytes] | None = None
        self._base = report.bytes_read

    def consumed(self) -> None:
        """Publish the compressed bytes consumed so far (for progress bars)."""
        if self._raw is not None and not self._raw.closed:
            self.report.bytes_read = self._base + self._raw.tell()

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as raw:
            self._raw = raw
            stream = _decompressed(raw)
            try:
                for data in stream:
                    self.lineno += 1
                    try:
                        line = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = data.decode("utf-8", "replace")
                        self.report.bad(self.path, self.lineno, "invalid UTF-8", text)
                        continue
                    if self.lineno == 1:
                        line = line.lstrip("\ufeff")
                    self.line = line.rstrip("\r\n")
                    yield self.line
            except (EOFError, OSError, zlib.error) as exc:
                # Truncated or corrupt gzip: keep what was read, say where it stopped.
                reason = f"unreadable after this line ({type(exc).__name__}: {exc})"
                self.report.bad(self.path, self.lineno, reason, "")
            self.consumed()


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    """The bytes of a file opened in binary, gunzipped when it starts with gzip's magic."""
    gzipped = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[return-value]


def _sniff(path: str | Path) -> str:
    """First non-empty line of a file (gzip or plain), '' if none can be read."""
    with open(path, "rb") as raw:
        stream = _decompressed(raw)
        try:
            for data in stream:
                line = data.decode("utf-8", "replace").lstrip("\ufeff").strip()
                if line:
                    return line
        except (EOFError, OSError, zlib.error):
            pass
    return ""


def detect_format(path: str | Path) -> str:
    """'ndjson', 'ban' or 'bano', from the file name or else from its first line."""
    name = Path(path).name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        return "ndjson"
    first = _sniff(path)
    if first.startswith("{"):
        return "ndjson"
    if first.startswith((BAN_HEADER, BAN_LIEUX_DITS_HEADER)):
        return "ban"
    if first.startswith(BANO_HEADER) or len(_split(first, ",") or ()) == BANO_COLUMNS:
        return "bano"
    raise ValueError(f"{path}: unknown format (first line: {first[:80]!r})")


def _split(line: str, sep: str) -> list[str] | None:
    """Split one CSV line (None if its quotes are broken); never reads across lines."""
    if '"' not in line:
        return line.split(sep)
    try:
        return next(csv.reader((line,), delimiter=sep, strict=True))
    except (csv.Error, StopIteration):
        return None


def _coordinates(lon_text: str, lat_text: str) -> tuple[float, float] | None:
    """Parsed (lon, lat), or None when unparsable, not finite, out of range or (0, 0)."""
    try:
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        return None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0) or (lon == 0.0 and lat == 0.0):
        return None
    return lon, lat


def _float_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- NDJSON ---------------------------------------------------------------------------------


def _iter_ndjson(path: str | Path, report: ImportReport) -> Iterator[dict]:
    lines = _LineReader(path, report)
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            report.bad(lines.path, lines.lineno, "invalid JSON", line)
            continue
        reason = invalid_reason(doc)
        if reason:
            report.bad(lines.path, lines.lineno, reason, line)
            continue
        report.documents += 1
        report.housenumbers += len(doc.get("housenumbers") or ())
        lines.consumed()
        yield doc


# --- CSV rows -------------------------------------------------------------------------------


# Columns read from a BAN CSV, by header name ("" when the file lacks one).
BAN_FIELDS = (
    "id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat",
    "x", "y", "code_insee_ancienne_commune", "nom_ancienne_commune", "nom_lieu_dit",
)  # fmt: skip


def _ban_rows(lines: _LineReader, report: ImportReport) -> Iterator[Address]:
    """Addresses of a BAN CSV (23-column `;` format, or the lieux-dits file), by header names."""
    width, pick = 0, itemgetter(0)
    for line in lines:
        if not width:
            if not line.strip():
                continue
            header = line.split(";")
            if "id" not in header or "lon" not in header or "lat" not in header:
                report.bad(lines.path, lines.lineno, "not a BAN CSV header", line)
                return
            width = len(header)
            # A column the file lacks reads the "" appended after the last one.
            pick = itemgetter(*(header.index(f) if f in header else width for f in BAN_FIELDS))
            continue
        row = _split(line, ";")
        if row is None or len(row) != width:
            reason = f"{len(row)} columns, not {width}" if row else "broken quotes"
            report.bad(lines.path, lines.lineno, reason, line)
            continue
        row.append("")
        address = _ban_address(list(map(str.strip, pick(row))))
        if isinstance(address, str):
            report.bad(lines.path, lines.lineno, address, line)
        else:
            yield address


def _ban_address(fields: list[str]) -> Address | str:
    """The address of one BAN row (fields in BAN_FIELDS order), or why it is unusable."""
    uid, numero, rep, voie, postcode, citycode, city, lon, lat, x, y, oldcode, oldname, ld = fields
    coords = _coordinates(lon, lat)
    if coords is None:
        return "bad coordinates"
    if ld:  # lieux-dits file: one named place per line
        voie, number, street_id = ld, "", uid
    elif not numero:
        return "missing number" if voie else "empty street name"
    else:
        number = "" if numero == BAN_LIEU_DIT_NUMERO else numero + rep
        street_id = "_".join(uid.split("_", 2)[:2])
    if not voie:
        return "empty street name"
    if not uid or not citycode:
        return "missing id or INSEE code"
    return Address(
        street_id, voie, number, uid, postcode, citycode, city, coords[0], coords[1],
        _float_or_none(x), _float_or_none(y), oldcode, oldname,
    )  # fmt: skip


def _bano_rows(lines: _LineReader, report: ImportReport) -> Iterator[Address]:
    """Addresses of a BANO CSV: id,numero,voie,cp,ville,source,lat,lon (lat before lon)."""
    for line in lines:
        if not line.strip() or line.lstrip("\ufeff").startswith(BANO_HEADER):
            continue  # some BANO files repeat a header where per-commune files were joined
        row = _split(line, ",")
        if row is None or len(row) != BANO_COLUMNS:
            reason = f"{len(row)} columns, not {BANO_COLUMNS}" if row else "broken quotes"
            report.bad(lines.path, lines.lineno, reason, line)
            continue
        uid, numero, voie, postcode, city, _source, lat, lon = map(str.strip, row)
        coords = _coordinates(lon, lat)
        street_id = uid.split("-", 1)[0]
        if coords is None:
            report.bad(lines.path, lines.lineno, "bad coordinates", line)
        elif not voie:
            report.bad(lines.path, lines.lineno, "empty street name", line)
        elif len(street_id) < 6 or not numero:
            report.bad(lines.path, lines.lineno, "bad id or number", line)
        else:
            yield Address(street_id, voie, numero, uid, postcode, street_id[:5], city, coords[0], coords[1])


def _by_commune(rows: Iterable[Address]) -> Iterator[list[Address]]:
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


# --- documents ------------------------------------------------------------------------------


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


def _commune_info(rows: list[Address], communes: Communes | None) -> tuple[_Commune, dict]:
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
    municipality: dict = {
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


def _street(rows: list[Address], commune: _Commune, add_oldcity: bool) -> dict:
    """A street (or locality when it has no numbers) document from its rows."""
    first = rows[0]
    numbers = [r for r in rows if r.number]
    housenumbers: dict[str, dict] = {}
    for r in numbers:
        if r.number in housenumbers:
            continue  # a repeated number (BANO has some): the first one wins, as in BAN's files
        hn: dict = {"id": r.id, "lon": r.lon, "lat": r.lat}
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
    doc: dict = {
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


def _commune_documents(rows: list[Address], communes: Communes | None) -> Iterator[dict]:
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


def _iter_csv(path: str | Path, report: ImportReport, communes: Communes | None, fmt: str) -> Iterator[dict]:
    lines = _LineReader(path, report)
    rows = _ban_rows(lines, report) if fmt == "ban" else _bano_rows(lines, report)
    seen: set[str] = set()
    for group in _by_commune(rows):
        for doc in _commune_documents(group, communes):
            if doc["type"] == "municipality":
                if doc["id"] in seen:
                    continue  # unsorted file: the commune's first block already made it
                seen.add(doc["id"])
            report.documents += 1
            report.housenumbers += len(doc.get("housenumbers", ()))
            lines.consumed()
            yield doc


def iter_documents(
    path: str | Path, report: ImportReport, communes: Communes | None = None
) -> Iterator[dict]:
    """Addok import documents of one file, in the format found by detect_format."""
    try:
        fmt = detect_format(path)
    except ValueError:
        if _sniff(path):
            raise
        fmt = "ndjson"  # empty or unreadable file: the line reader reports it, yields nothing
    if fmt == "ndjson":
        return _iter_ndjson(path, report)
    return _iter_csv(path, report, communes, fmt)
