"""Stream address files (Addok NDJSON, BAN CSV, BANO CSV) as Addok import documents.

Files are read line by line (gzip or plain) and CSV rows are grouped one commune at a time,
so memory stays bounded by the largest commune. Bad lines are counted in the report and
skipped: one broken line must not lose a whole import.

Documents follow BAN's own Addok export (ban-plateforme ``distribute/writers/addok``), which
the reference files in shared/data/addok-ndjson reproduce (``assembly``).

Modules: ``reading`` (lines and fields), ``formats`` (which format a file is in), ``ndjson``,
``ban`` and ``bano`` (the three formats), ``assembly`` (CSV addresses into documents).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..index.format import Document
from .assembly import Address, by_commune, commune_documents, importance
from .ban import ban_rows
from .bano import bano_rows
from .communes import Communes
from .formats import detect_format
from .ndjson import iter_ndjson
from .reading import LineReader, first_line
from .report import ImportReport

__all__ = ["Address", "by_commune", "detect_format", "importance", "iter_documents"]


def _iter_csv(
    path: str | Path, report: ImportReport, communes: Communes | None, fmt: str
) -> Iterator[Document]:
    lines = LineReader(path, report)
    rows = ban_rows(lines, report) if fmt == "ban" else bano_rows(lines, report)
    seen: set[str] = set()
    for group in by_commune(rows):
        for doc in commune_documents(group, communes):
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
) -> Iterator[Document]:
    """Addok import documents of one file, in the format found by detect_format."""
    try:
        fmt = detect_format(path)
    except ValueError:
        if first_line(path):
            raise
        fmt = "ndjson"  # empty or unreadable file: the line reader reports it, yields nothing
    if fmt == "ndjson":
        return iter_ndjson(path, report)
    return _iter_csv(path, report, communes, fmt)
