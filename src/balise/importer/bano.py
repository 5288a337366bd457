"""BANO CSV (``bano-XX.csv[.gz]``): its rows as addresses."""

from __future__ import annotations

from collections.abc import Iterator

from .assembly import Address
from .formats import BANO_COLUMNS, BANO_HEADER
from .reading import LineReader, coordinates, split_line
from .report import ImportReport


def bano_rows(lines: LineReader, report: ImportReport) -> Iterator[Address]:
    """Addresses of a BANO CSV: id,numero,voie,cp,ville,source,lat,lon (lat before lon)."""
    for line in lines:
        if not line.strip() or line.lstrip("\ufeff").startswith(BANO_HEADER):
            continue  # some BANO files repeat a header where per-commune files were joined
        row = split_line(line, ",")
        if row is None or len(row) != BANO_COLUMNS:
            reason = f"{len(row)} columns, not {BANO_COLUMNS}" if row else "broken quotes"
            report.bad(lines.path, lines.lineno, reason, line)
            continue
        uid, numero, voie, postcode, city, _source, lat, lon = map(str.strip, row)
        coords = coordinates(lon, lat)
        street_id = uid.split("-", 1)[0]
        if coords is None:
            report.bad(lines.path, lines.lineno, "bad coordinates", line)
        elif not voie:
            report.bad(lines.path, lines.lineno, "empty street name", line)
        elif len(street_id) < 6 or not numero:
            report.bad(lines.path, lines.lineno, "bad id or number", line)
        else:
            yield Address(street_id, voie, numero, uid, postcode, street_id[:5], city, coords[0], coords[1])
