"""Lookup by id: the documents and house numbers that have the ids asked for.

Documents are numbered in descending order of their id (index/format.py), so a document's
id is found by bisection of ``docs.id``. House-number ids in BAN, BANO and the France stand-in
start with their street's id (``75101_cfq3tf_00001``, ``040190070F-11B``): the street is found
by the prefixes of the id cut at ``_`` and ``-``, longest first, then the number among the
street's house numbers (one range, read one by one: at most a few thousand).

Found: every municipality, street and locality by its id, and every house number whose id is
its document's id, then ``_`` or ``-``, then anything. Not found: a house number whose id does
not start so (no source here does that), an id over ``MAX_ID_LENGTH`` characters. Unknown ids
are left out; an id asked twice answers twice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..text.labels import make_labels
from .result import Result

if TYPE_CHECKING:
    from ..index import IndexReader

MAX_IDS = 100
MAX_ID_LENGTH = 200
SEPARATORS = re.compile(r"[_-]")


class Lookup:
    """Ids to (document number, house number id or -1) over one index."""

    def __init__(self, index: IndexReader) -> None:
        self.index = index

    def find(self, ids: list[str]) -> list[tuple[int, int]]:
        """What each id names, in the order asked; unknown ids left out."""
        found = []
        for wanted in ids:
            if not wanted or len(wanted) > MAX_ID_LENGTH:
                continue
            hit = self._one(wanted)
            if hit is not None:
                found.append(hit)
        return found

    def _one(self, wanted: str) -> tuple[int, int] | None:
        doc = self.document(wanted)
        if doc >= 0:
            return doc, -1
        cuts = [m.start() for m in SEPARATORS.finditer(wanted)]
        for cut in reversed(cuts):  # the longest prefix first
            doc = self.document(wanted[:cut])
            if doc >= 0:
                hn = self.housenumber(doc, wanted)
                if hn >= 0:
                    return doc, hn
        return None

    def document(self, doc_id: str) -> int:
        """The number of the document with this id, or -1."""
        return self.index.find_document(doc_id)

    def housenumber(self, doc: int, hn_id: str) -> int:
        """The house number of document ``doc`` that has this id, or -1."""
        for hn in self.index.housenumber_range(doc):
            if self.index.housenumber(hn, doc).get("id") == hn_id:
                return hn
        return -1


def result(index: IndexReader, doc_number: int, hn: int) -> Result:
    """A found document or house number as a result, shaped as a search's (score 1: found by id)."""
    doc = index.document(doc_number)  # a new dict, this result's own
    original_type = str(doc.get("type") or "")
    housenumber = None
    if hn >= 0:
        props = index.housenumber(hn, doc_number)
        housenumber = props.pop("raw")
        doc.update(props)
        doc["type"] = "housenumber"
    label = make_labels(doc, housenumber, stored=index.labels(doc_number))[0]
    return Result(doc_number, doc, housenumber=housenumber, label=label, score=1.0,
                  original_type=original_type)
