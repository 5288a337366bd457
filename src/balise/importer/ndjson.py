"""Addok's NDJSON import format (``.ndjson[.gz]``, BAN's ``adresses-addok-france.ndjson.gz``):
one document a line, checked by the index's own rule (``index.documents.invalid_reason``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..index.documents import invalid_reason
from .reading import LineReader
from .report import ImportReport


def iter_ndjson(path: str | Path, report: ImportReport) -> Iterator[dict[str, Any]]:
    lines = LineReader(path, report)
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
