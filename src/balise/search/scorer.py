"""Candidates and results: each bucket document scored once, as Addok's result processors
do (house number, labels, text similarity, importance, distance to a centre), then the
best few turned into results.

Candidates are kept as columns (one list per property), not as objects: a search scores up
to a few hundred of them and returns five.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..index._lookup import housenumber_raws
from ..index.format import MULTI_POSTCODE, Document
from ..text import ascii_label
from ..text.french import housenumber_alternatives
from ..text.labels import Labels, as_list, make_labels, with_housenumber
from . import _textscore, scoring

if TYPE_CHECKING:
    from .engine import Search
    from .scoring import Floats

DROPPED = -2  # a candidate that cannot answer (outside the area, no house number asked for)


@dataclass(eq=False)
class Result:
    doc_number: int
    doc: Document
    housenumber: str | None = None
    label: str | None = None  # the label shown
    str_distance: float = 0.0
    distance_km: float | None = None
    score: float = 0.0
    parts: scoring.Parts = field(default_factory=dict)


class Scorer:
    """The scored candidates of one search."""

    def __init__(self, search: Search) -> None:
        # NOTE: what it needs of the search, copied: a reference back would be a cycle,
        # left to the cyclic GC (see Bucket).
        self.index = search.index
        self.query = search.query
        self.bucket = search.bucket
        self.area = search.area
        self.autocomplete = search.autocomplete
        self.lat, self.lon = search.lat, search.lon
        self.other_postcodes = search.engine.other_postcodes
        self.trace = search.trace
        self.position: dict[int, int] = {}  # document -> its column, or -1 (filtered out)
        self.docs: list[int] = []
        self.hns: list[int] = []
        self.trailing: list[bool] = []
        self.postcodes: list[str | None] = []  # the postcode asked for, among several
        # Scores by batch of candidates, joined into columns when the results are chosen.
        self.batches: list[tuple[Floats, Floats, Floats, Floats | None]] = []
        self.str_distance: Floats = np.empty(0)
        self.importance: Floats = np.empty(0)
        self.km: Floats | None = None
        self.score: Floats = np.empty(0)
        self.cream = 0

    def has_cream(self) -> bool:
        bucket = self.bucket
        if bucket.empty or bucket.overflow or len(bucket) > 10:
            return False
        self.convert()
        return self.cream > 0

    def convert(self) -> None:
        """Score every bucket document not scored yet."""
        new = sorted(d for d in self.bucket.docs if d not in self.position)
        if not new:
            return
        docs = np.asarray(new, dtype=np.int64)
        hns = self._match_housenumbers(docs).tolist()
        raws = housenumber_raws(np.asarray(hns, dtype=np.int64), self.index.hn_offsets, self.index.hn_blob)
        trailing = [False] * len(new)
        if self.query.maybe_housenumbers or self.area is not None or self.query.only_housenumber:
            self._adjust(new, hns, raws, trailing)  # PERF: a loop over candidates only then
        postcodes: list[str | None] = [None] * len(new)
        if self.query.postcodes:  # the postcode asked for, among a street's several ones
            several = np.flatnonzero(self.index.doc_flags[docs] & MULTI_POSTCODE).tolist()
            for i in several:
                postcodes[i] = self._asked_postcode(new[i])
        first = len(self.docs)
        kept = [i for i, hn in enumerate(hns) if hn != DROPPED]
        for i in range(len(new)):
            if hns[i] == DROPPED:
                self.position[new[i]] = -1
        self.position.update((new[i], first + k) for k, i in enumerate(kept))
        kept_docs = [new[i] for i in kept]
        kept_hns = [hns[i] for i in kept]
        self.trailing += [trailing[i] for i in kept]
        self.postcodes += [postcodes[i] for i in kept]
        special = [k for k, i in enumerate(kept) if trailing[i] or postcodes[i] is not None]
        numbers = [ascii_label(raws[i]).encode() if raws[i] and hns[i] >= 0 else None for i in kept]
        if not kept_docs:
            return
        self.docs += kept_docs
        self.hns += kept_hns
        batch = np.asarray(kept_docs, dtype=np.int64)
        text = _textscore.score_stored(self.query.bigrams, self.index.labels_blob, self.index.labels_offsets,
                                       batch, numbers, self.autocomplete)
        if special:
            labels = [self.labels(first + i)[1] for i in special]
            text[special] = _textscore.score_labels(self.query.bigrams, labels, self.autocomplete)
        importance = self.index.importance[batch]
        if self.lat is not None and self.lon is not None:
            lonlat = self.index.doc_lonlat[batch].copy()
            has_hn = np.asarray(kept_hns) >= 0
            if has_hn.any():
                lonlat[has_hn] = self.index.hn_lonlat_many(np.asarray(kept_hns)[has_hn])
            km = scoring.haversine_km_array(lonlat[:, 1], lonlat[:, 0], self.lat, self.lon)
            score = scoring.total_with_centre(text, importance, km)
        else:
            km = None
            score = scoring.total_without_centre(text, importance)
        self.batches.append((text, importance, score, km))
        self.cream += int(np.count_nonzero(text >= scoring.MATCH_THRESHOLD))

    def _columns(self) -> None:
        """The scores of every candidate, in column order (joined once, when needed)."""
        if len(self.batches) > 1:
            text, importance, score, km = zip(*self.batches, strict=True)
            self.batches = [(np.concatenate(text), np.concatenate(importance), np.concatenate(score),
                             None if km[0] is None else np.concatenate(km))]
        if self.batches:
            self.str_distance, self.importance, self.score, self.km = self.batches[0]

    def _adjust(self, docs: list[int], hns: list[int], raws: list[str | None], trailing: list[bool]) -> None:
        """Which house number answers for each candidate (DROPPED: none may answer): a
        number written after the street's name that is part of that name is not one; in an
        area, the house number if inside, else the place itself; with type=housenumber,
        only candidates with one."""
        maybe, area = bool(self.query.maybe_housenumbers), self.area
        for i, doc in enumerate(docs):
            hn = hns[i]
            trailing[i] = hn >= 0 and maybe
            if trailing[i] and self._number_in_name(doc):
                hn, trailing[i] = -1, False
            if area is not None:
                answering = area.answering(self.index, doc, hn)
                if answering is None:
                    hns[i] = DROPPED
                    continue
                if answering < 0 and hn >= 0:
                    hn, trailing[i] = -1, False
            if hn < 0 and self.query.only_housenumber:
                hn = DROPPED
            hns[i] = hn

    def _match_housenumbers(self, docs: NDArray[np.int64]) -> NDArray[np.int64]:
        key = self.query.housenumber_key
        if not self.query.check_housenumber or not key:
            return np.full(len(docs), -1, dtype=np.int64)
        found = self.index.find_housenumbers(docs, key)
        for alternative in housenumber_alternatives(key):
            missing = found < 0
            if not missing.any():
                break
            found[missing] = self.index.find_housenumbers(docs[missing], alternative)
        return found

    def _number_in_name(self, doc: int) -> bool:
        """Whether a trailing number of the query is part of this street's name: the
        query writes it no more often than the name does ("route nationale 7" is the
        road; "12p2 rue des rosiers 12p2" and "rue du 8 mai 1945 8" hold a house number)."""
        number = self.query.maybe_housenumbers[0].raw
        written = self.query.text.split().count(number)
        names = as_list(self.index.document(doc).get("name"))
        return any(written <= ascii_label(str(name)).split().count(number) for name in names)

    def _asked_postcode(self, doc: int) -> str | None:
        """The postcode a query asks for, among a street's several ones."""
        for p in self.other_postcodes(doc):
            if p in self.query.postcodes:
                return p
        return None

    def labels(self, i: int) -> Labels:
        """The labels of the candidate in column i."""
        doc, hn = self.docs[i], self.hns[i]
        housenumber = self.index.housenumber_raw(hn, doc) if hn >= 0 else None
        stored = self.index.labels(doc)
        if not self.trailing[i] and self.postcodes[i] is None:
            return with_housenumber(stored, {}, housenumber, False, None)
        return make_labels(self.index.document(doc), housenumber, self.trailing[i], self.postcodes[i], stored)

    def shown_label(self, i: int, housenumber: str | None) -> str:
        """The label shown for the candidate in column i (its house number's raw form given)."""
        if self.trailing[i] or self.postcodes[i] is not None:
            return self.labels(i)[0]
        shown = self.index.shown_label(self.docs[i])
        return f"{housenumber} {shown}" if housenumber else shown

    # --- results -------------------------------------------------------------------------

    def best(self, limit: int) -> list[int]:
        """Columns of the best candidates: score, then importance, then document number."""
        if not self.docs:
            return []
        self._columns()
        order = np.lexsort((np.asarray(self.docs), -self.importance, -self.score))[:limit]
        return [int(i) for i in order if self.score[i] >= scoring.MIN_SCORE]

    def result(self, i: int) -> Result:
        """The full result of a candidate: its document, with its house number merged in."""
        doc_number, hn = self.docs[i], self.hns[i]
        doc = dict(self.index.document(doc_number))
        self._prefer_queried_postcode(doc)
        km = float(self.km[i]) if self.km is not None else None
        str_distance, importance = float(self.str_distance[i]), float(self.importance[i])
        score = float(self.score[i])
        result = Result(doc_number, doc, str_distance=str_distance, distance_km=km, score=score)
        if hn >= 0:
            props = self.index.housenumber(hn, doc_number)
            result.housenumber = props.pop("raw")
            doc.update(props)
            doc["type"] = "housenumber"
        result.label = self.shown_label(i, result.housenumber)
        if self.trace is not None:  # only debug answers show them
            result.parts = scoring.score_parts(str_distance, importance, km)
        return result

    def _prefer_queried_postcode(self, doc: Document) -> None:
        """Show (and score with) the postcode the query names, not only the first one.

        Beyond Addok, whose labels always use a document's first postcode.
        """
        postcodes = doc.get("postcode")
        if isinstance(postcodes, list) and len(postcodes) > 1:
            asked = [p for p in postcodes if p in self.query.words]
            if asked:
                doc["postcode"] = asked + [p for p in postcodes if p not in asked]
