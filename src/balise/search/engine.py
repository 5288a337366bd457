"""Forward search: a query read once (``query.py``), a bucket filled by Addok's collectors
(``bucket.py``), candidates scored and the best returned (``scorer.py``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..index import IndexReader
from ..index._lookup import one_edit_terms
from ..index.format import Document
from ..text import Pipeline
from .area import Area
from .bucket import COLLECTORS, GEOHASH, Bucket
from .query import Query
from .scorer import Result, Scorer
from .scoring import MATCH_THRESHOLD

Match = Literal["exact", "fuzzy", "none"]


class Engine:
    """What every search over one index shares: the index, the text rules, small caches."""

    def __init__(self, index: IndexReader, pipeline: Pipeline) -> None:
        self.index = index
        self.pipeline = pipeline
        self.other_postcodes = lru_cache(maxsize=50_000)(self._other_postcodes)
        self.fuzzy_terms = lru_cache(maxsize=20_000)(self._fuzzy_terms)
        self.co_occur = lru_cache(maxsize=8_000)(self._co_occur)

    def _fuzzy_terms(self, word: str) -> tuple[int, ...]:
        """Index terms one edit away from a word, in Addok's order of preference."""
        return one_edit_terms(self.index.terms, word)

    def _co_occur(self, a: int, b: int) -> bool:
        """Whether two terms share a document (what Addok keeps as pair sets)."""
        return self.index.postings_lists.share(a, b)

    def _other_postcodes(self, doc_number: int) -> tuple[str, ...]:
        """The postcodes of a street or locality that has several, else ().

        NOTE: a municipality is scored with its first postcode, as in Addok: scored
        with the one asked for, a town would outrank the streets of a query that
        names a street and a postcode ("rue x 20090 ajaccio").
        """
        if not self.index.has_several_postcodes(doc_number):
            return ()
        return tuple(self.index.document(doc_number)["postcode"])


class Search:
    """One forward search: what Addok's collectors share."""

    def __init__(
        self,
        engine: Engine,
        query: str,
        limit: int = 5,
        autocomplete: bool = False,
        lat: float | None = None,
        lon: float | None = None,
        filters: dict[str, list[str]] | None = None,
        fuzzy: bool = True,
        trailing_number_as_housenumber: bool = False,
        extract: bool = True,
        area: Area | None = None,
        trace: bool = False,
    ) -> None:
        self.engine = engine
        self.index = engine.index
        self.wanted = limit
        self.autocomplete = autocomplete
        self.fuzzy = fuzzy
        self.lat, self.lon = lat, lon
        self.trace: list[str] | None = [] if trace else None
        self.query = Query(engine.index, engine.pipeline, query, filters,
                           trailing_number_as_housenumber=trailing_number_as_housenumber, extract=extract)
        self.area = area
        housenumbers = bool(self.query.housenumber_key and self.query.check_housenumber)
        self.box = None if area is None else area.bounds(housenumbers)
        self.bucket = Bucket(self)
        self.scorer = Scorer(self)
        self._geohash_key: str | Literal[False] | None = None

    @property
    def geohash_key(self) -> str | Literal[False]:
        """The block of cells around the centre, as a key, when a centre is given."""
        if self._geohash_key is None:
            self._geohash_key = False
            if self.lat is not None and self.lon is not None:
                docs = self.index.docs_near(self.lon, self.lat)
                if len(docs):
                    self.query.arrays[GEOHASH] = (docs, np.ones(len(docs)))
                    self._geohash_key = GEOHASH
        return self._geohash_key

    def has_cream(self) -> bool:
        return self.scorer.has_cream()

    def note(self, message: str) -> None:
        if self.trace is not None:
            self.trace.append(message)

    def run(self) -> list[Result]:
        for collector in COLLECTORS:
            if collector(self):
                self.note(f"stop at {collector.__name__}")
                break
        self.scorer.convert()
        return [self.scorer.result(i) for i in self.scorer.best(self.wanted)]



def best_reading(engine: Engine, q: str, trace: bool = False, **options: Any) -> tuple[Search, list[Result]]:
    """A query searched as written, then, when no answer matches it clearly, in the other
    ways it may be meant (beyond Addok); the reading whose best answer scores highest wins.

    - "Rue de Rivoli 12": a number after the street name may be the house number.
    - "Gradignan 33170 39 Rue du Moulin": Addok keeps the address out of a longer text
      ("SARL X 22 rue Y"), which drops a city written first; at the scale of France, "39 rue
      du moulin" alone is in hundreds of towns. A dropped part with a postcode is a place,
      not noise: it is kept. Other dropped text is kept only when it names the place of the
      answer it leads to ("Palais de la Porte Dorée 293 avenue Daumesnil" stays noise).
    Every reading is scored against the whole query, so their scores compare.
    """
    dropped = engine.pipeline.dropped(q)
    extract = not any(len(w) == 5 and w.isdigit() for w in dropped.split())
    first = Search(engine, q, extract=extract, trace=trace, **options)
    trailing = None
    if first.query.maybe_housenumbers:
        # PERF: read as a house number first; flagged, the number is one far more often
        # than part of the name, and a clear answer spares the other reading.
        trailing = Search(engine, q, trailing_number_as_housenumber=True, extract=extract, trace=trace,
                          **options)
        found = trailing.run()
        if found and found[0].str_distance >= MATCH_THRESHOLD:
            return trailing, found
    best = (first, first.run())
    if trailing is not None and found and (not best[1] or found[0].score > best[1][0].score):
        best = (trailing, found)
    if best[1] and best[1][0].str_distance >= MATCH_THRESHOLD:
        return best
    if extract and dropped and could_name_a_place(engine, dropped):
        other = Search(engine, q, extract=False, trace=trace, **options)
        results = other.run()
        if results and (not best[1] or results[0].score > best[1][0].score) and \
                names_the_place(engine.pipeline, dropped, results[0].doc):
            best = (other, results)
    return best


def match_of(results: list[Result]) -> Match:
    """How the first result matched the query: ``exact`` when its text matches it (scores
    ``MATCH_THRESHOLD`` or more, as :func:`best_reading` judges a clear match), ``fuzzy``
    otherwise, ``none`` without results. The cache keeps answers for as long as this says."""
    if not results:
        return "none"
    return "exact" if results[0].str_distance >= MATCH_THRESHOLD else "fuzzy"


PLACE_FIELDS = ("city", "postcode", "citycode", "context", "district", "oldcity")


def could_name_a_place(engine: Engine, text: str) -> bool:
    """Whether some document has every word of ``text``: else no answer's place can be
    named by it (:func:`names_the_place`), and the reading that keeps it is not tried."""
    terms = [engine.index.term_id(t) for t in engine.pipeline.index_tokens(text)]
    return bool(terms) and min(terms) >= 0 and engine.index.postings_lists.intersects(terms)


def names_the_place(pipeline: Pipeline, text: str, doc: Document) -> bool:
    """Whether every word of ``text`` is a word of the document's place (its city,
    postcode, département...), compared as index tokens (so "St" is "Saint")."""
    fields = PLACE_FIELDS + (("name",) if doc.get("type") == "municipality" else ())
    place: set[str] = set()
    for name in fields:
        value = doc.get(name)
        for v in value if isinstance(value, list) else [value]:
            if v:
                place.update(pipeline.index_tokens(str(v)))
    return set(pipeline.index_tokens(text)) <= place
