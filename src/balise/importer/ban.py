"""The official BAN CSV (``adresses-XX.csv[.gz]``, and the lieux-dits file): its rows as
addresses, read by header name."""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

from .assembly import Address
from .reading import LineReader, coordinates, float_or_none, split_line
from .report import ImportReport

BAN_LIEU_DIT_NUMERO = "99999"  # legacy BAN exports put named places (lieux-dits) on this number


# Columns read from a BAN CSV, by header name ("" when the file lacks one).
BAN_FIELDS = (
    "id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat",
    "x", "y", "code_insee_ancienne_commune", "nom_ancienne_commune", "nom_lieu_dit",
)  # fmt: skip


def ban_rows(lines: LineReader, report: ImportReport) -> Iterator[Address]:
    """Addresses of a BAN CSV (23-column `;` format, or the lieux-dits file), by header names."""
    width = 0
    pick: itemgetter[int | tuple[int, ...]] = itemgetter(0)  # the header's columns, once read
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
        row = split_line(line, ";")
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
    coords = coordinates(lon, lat)
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
        float_or_none(x), float_or_none(y), oldcode, oldname,
    )  # fmt: skip
