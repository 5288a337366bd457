"""A result of a search, a reverse or a lookup, before it becomes a geocodejson feature."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..index.format import Document
from .scoring import Parts


@dataclass(eq=False)
class Result:
    doc_number: int
    doc: Document
    housenumber: str | None = None
    label: str | None = None  # the label shown
    str_distance: float = 0.0
    distance_km: float | None = None
    score: float = 0.0
    parts: Parts = field(default_factory=dict)
    original_type: str = ""  # the document's type as imported (a house number's: its street's)
