"""Forward search: a query read once (``_query``), a bucket (``_search``) filled by Addok's
collectors (``_collectors``), candidates scored and the best returned (``_scorer``), the
choice between a query's readings (``_readings``), all compiled; here, what every search of
an index shares.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Literal

from ..index import IndexReader
from ..index._lookup import one_edit_terms
from ..text import Pipeline
from ._query import WordTokens
from ._relations import Pairs
from ._scorer import IndexView
from ._search import Search
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


def match_of(results: list[tuple[Search, int]]) -> Match:
    """How the first result (a search and a column of its scorer) matched the query:
    ``exact`` when its text matches it (scores ``MATCH_THRESHOLD`` or more, as
    :func:`._readings.best_reading` judges a clear match), ``fuzzy`` otherwise, ``none`` without results.
    The cache keeps answers for as long as this says."""
    if not results:
        return "none"
    search, i = results[0]
    return "exact" if search.scorer.text_of(i) >= MATCH_THRESHOLD else "fuzzy"
