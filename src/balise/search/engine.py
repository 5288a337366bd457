"""Forward search: a query read once (``_query``), a bucket (``_search``) filled by Addok's
collectors (``_collectors``), candidates scored and the best returned (``_scorer``), all
compiled; here, what every search of an index shares and the choice between a query's readings.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any, Literal

from ..index import IndexReader
from ..index._lookup import one_edit_terms
from ..index.format import PLACE_TERM, Document, place_texts
from ..text import Pipeline
from ._collectors import collect
from ._query import QueryText, WordTokens, maybe_housenumbers
from ._relations import Pairs
from ._scorer import IndexView
from ._search import Search
from .area import Area
from .scoring import MATCH_THRESHOLD

Match = Literal["exact", "fuzzy", "none"]


class Engine:
    """What every search over one index shares: the index, the text rules, small caches."""

    def __init__(self, index: IndexReader, pipeline: Pipeline) -> None:
        self.index = index
        self.pipeline = pipeline
        self.view = IndexView(index)
        self.other_postcodes = lru_cache(maxsize=50_000)(self._other_postcodes)
        # Index terms one edit away from a word, in Addok's order of preference (int64).
        self.fuzzy_terms = lru_cache(maxsize=20_000)(partial(one_edit_terms, index.terms))
        self.pairs = Pairs(index.postings_lists)
        self.word_tokens = WordTokens(index, pipeline)

    def _other_postcodes(self, doc_number: int) -> tuple[str, ...]:
        """The postcodes of a street or locality that has several, else ().

        NOTE: a municipality is scored with its first postcode, as in Addok: scored
        with the one asked for, a town would outrank the streets of a query that
        names a street and a postcode ("rue x 20090 ajaccio").
        """
        if not self.index.has_several_postcodes(doc_number):
            return ()
        return tuple(self.index.document(doc_number)["postcode"])


def best_reading(engine: Engine, q: str, trace: bool = False, *, limit: int = 5, autocomplete: bool = False,
                 lat: float | None = None, lon: float | None = None, filters: dict[str, Any] | None = None,
                 area: Area | None = None) -> tuple[Search, list[int]]:
    """A query searched as written, then, when no answer matches it clearly, in the other
    ways it may be meant (beyond Addok); the reading whose best answer scores highest wins.

    - "Rue de Rivoli 12": a number after the street name may be the house number.
    - "Gradignan 33170 39 Rue du Moulin": Addok keeps the address out of a longer text
      ("SARL X 22 rue Y"), which drops a city written first; at the scale of France, "39 rue
      du moulin" alone is in hundreds of towns. A dropped part with a postcode is a place,
      not noise: it is kept. Other dropped text is kept only when it names the place of the
      answer it leads to ("Palais de la Porte Dorée 293 avenue Daumesnil" stays noise).
    Every reading is scored against the whole query, so their scores compare. The readings
    share the query's text (:class:`QueryText`). Returns the winner and the columns of its
    best candidates (``search.scorer.feature(i)`` builds one's answer).

    PERF: each Search is made with positional arguments (keywords cost ~0.5 us a call).
    """
    text = QueryText(engine.pipeline, q)
    dropped = text.dropped
    extract = not dropped or not any(len(w) == 5 and w.isdigit() for w in dropped.split())
    filters = filters or {}
    trailing = None
    if maybe_housenumbers(text.query_words(extract)):
        # PERF: read as a house number first; flagged, the number is one far more often
        # than part of the name, and a clear answer spares the other reading (not even built).
        trailing = Search(engine, text, limit, autocomplete, lat, lon, filters, True, True, extract, area,
                          trace)
        found = collect(trailing)
        if found and trailing.scorer.text_of(found[0]) >= MATCH_THRESHOLD:
            return trailing, found
    first = Search(engine, text, limit, autocomplete, lat, lon, filters, True, False, extract, area, trace)
    best = (first, collect(first))
    if trailing is not None and found and (not best[1] or trailing.scorer.score_of(found[0]) > top(best)):
        best = (trailing, found)
    if best[1] and best[0].scorer.text_of(best[1][0]) >= MATCH_THRESHOLD:
        return best
    if extract and dropped and could_name_a_place(engine, dropped):
        other = Search(engine, text, limit, autocomplete, lat, lon, filters, True, False, False, area, trace)
        columns = collect(other)
        if columns and (not best[1] or other.scorer.score_of(columns[0]) > top(best)) and \
                names_the_place(engine.pipeline, dropped, other.scorer.result(columns[0]).doc):
            best = (other, columns)
    return best


def top(reading: tuple[Search, list[int]]) -> float:
    """The score of a reading's first result."""
    search, columns = reading
    return search.scorer.score_of(columns[0])


def match_of(results: list[tuple[Search, int]]) -> Match:
    """How the first result (a search and a column of its scorer) matched the query:
    ``exact`` when its text matches it (scores ``MATCH_THRESHOLD`` or more, as
    :func:`best_reading` judges a clear match), ``fuzzy`` otherwise, ``none`` without results.
    The cache keeps answers for as long as this says."""
    if not results:
        return "none"
    search, i = results[0]
    return "exact" if search.scorer.text_of(i) >= MATCH_THRESHOLD else "fuzzy"


def could_name_a_place(engine: Engine, text: str) -> bool:
    """Whether every word of ``text`` is a word of some document's place and some document
    has them all: else no answer's place can be named by it (:func:`names_the_place`), and
    the reading that keeps it is not tried (PERF: "Ets Leroy, 12 rue ..." read twice)."""
    index = engine.index
    terms = [index.term_id(t) for t in engine.pipeline.index_tokens(text)]
    return (bool(terms) and min(terms) >= 0 and all(index.term_flags[t] & PLACE_TERM for t in terms)
            and index.postings_lists.intersects(terms))


def names_the_place(pipeline: Pipeline, text: str, doc: Document) -> bool:
    """Whether every word of ``text`` is a word of the document's place (its city,
    postcode, département...), compared as index tokens (so "St" is "Saint")."""
    place: set[str] = set()
    for value in place_texts(doc):
        place.update(pipeline.index_tokens(value))
    return set(pipeline.index_tokens(text)) <= place
