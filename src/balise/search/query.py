"""A forward query, read once: its tokens and what the index knows of them, its house
number, its filters.

A word the documents had is looked up in the index's lexicon (one hash probe gives the term
numbers it is searched as); only unknown words go through the synonyms and phonetics of
the text pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ..index import IndexReader
from ..text import Pipeline, Token, ascii_label
from ._textscore import Query as TextQuery

if TYPE_CHECKING:
    from .bucket import Key

COMMON_THRESHOLD = 10_000
MAX_MEANINGFUL = 10

Pair: TypeAlias = tuple[NDArray[np.uint32], NDArray[np.float64]]  # documents (ascending), their scores
FilterKey: TypeAlias = tuple[str, str, tuple[str, ...]]  # ("filter", name, values)


@dataclass(eq=False, slots=True)
class QueryToken:
    """A query token and what the index knows of it."""

    value: str
    raw: str
    position: list[int]
    is_last: bool
    tid: int
    frequency: int

    @property
    def is_common(self) -> bool:
        return self.frequency > COMMON_THRESHOLD

    def isdigit(self) -> bool:
        return self.value.isdigit()


class Query:
    """Tokens sorted as Addok's collectors want them: ``meaningful`` (the rarest, at most
    10), ``common`` (over 10,000 documents) and ``not_found``; house numbers apart."""

    def __init__(self, index: IndexReader, pipeline: Pipeline, text: str,
                 filters: dict[str, list[str]] | None = None,
                 trailing_number_as_housenumber: bool = False, extract: bool = True) -> None:
        self.index = index
        self.extract = extract
        self.pipeline = pipeline
        self.text = ascii_label(text.strip())
        self.housenumbers: list[Token] = []
        self.meaningful: list[QueryToken] = []
        self.common: list[QueryToken] = []
        self.not_found: list[QueryToken] = []
        self.filters: list[Key] = []  # keys of the filter postings, with their arrays in .arrays
        self.arrays: dict[FilterKey | str, Pair] = {}
        self._setup_filters(filters or {})
        self._tokenize(text, trailing_number_as_housenumber)
        self.housenumber_key = self._housenumber_key()
        self.words = set(self.text.split())
        self.postcodes = {w for w in self.words if len(w) == 5 and w.isdigit()}
        self.bigrams = TextQuery(self.text)

    def _setup_filters(self, filters: dict[str, list[str]]) -> None:
        types = set(filters.get("type") or [])
        self.check_housenumber = not types or "housenumber" in types
        self.only_housenumber = types == {"housenumber"}
        for name, values in sorted(filters.items()):
            values = sorted({str(v).strip() for v in values if str(v).strip()})
            if not values:
                continue
            key = ("filter", name, tuple(values))
            ids = [self.index.filter_id(name, v) for v in values]
            arrays = [self.index.postings(i) for i in ids if i >= 0]
            if len(arrays) == 1:
                docs = arrays[0][0]
            elif arrays:
                docs = np.unique(np.concatenate([a for a, _ in arrays]))
            else:
                docs = np.empty(0, dtype=np.uint32)
            self.arrays[key] = (docs, np.ones(len(docs)))
            self.filters.append(key)

    def _expand(self, words: list[Token]) -> list[list[tuple[str, int, int]]]:
        """(token, term number, frequency) of each word: from the lexicon (one compiled call
        for the known words), else from the pipeline."""
        index = self.index
        known = index.words.tokens_of([str(w) for w in words], index.terms, index.post_start)
        out = []
        for word, tokens in zip(words, known, strict=True):
            if tokens is None:
                tokens = []
                for t in self.pipeline.expand(word):
                    tid = index.term_id(t)
                    tokens.append((t, tid, index.frequency(tid) if tid >= 0 else 0))
            out.append(tokens)
        return out

    def _tokenize(self, text: str, trailing_number_as_housenumber: bool) -> None:
        words = self.pipeline.query_words(text.strip(), self.extract)
        self.last_token: QueryToken | None = None
        self.maybe_housenumbers = [w for w in words if w.kind and w.kind.startswith("maybe_")]
        as_number = {"housenumber"}
        if trailing_number_as_housenumber:
            as_number.add("maybe_housenumber")
        selected = []
        last_word = len(words) - 1
        for i, (word, expanded) in enumerate(zip(words, self._expand(words), strict=True)):
            for j, (value, tid, frequency) in enumerate(expanded):
                is_last = i == last_word and j == len(expanded) - 1
                if word.kind in as_number:
                    token = word if len(expanded) == 1 and value == word else word.update(value)
                    token.is_last = is_last
                    self.housenumbers.append(token)
                    continue
                if word.kind == "maybe_housenumber_suffix":
                    continue
                qt = QueryToken(value, word.raw, word.position, is_last, tid, frequency)
                if is_last:
                    self.last_token = qt
                selected.append(qt)
        if words and words[-1].kind == "housenumber":
            last = self.housenumbers[-1] if self.housenumbers else words[-1]
            self.last_token = QueryToken(str(last), last.raw, [], True, -1, 0)
        selected.sort(key=lambda t: len(t.value), reverse=True)
        for qt in selected:
            if qt.is_common:
                self.common.append(qt)
            elif qt.tid >= 0:
                self.meaningful.append(qt)
            else:
                self.not_found.append(qt)
        self.tokens = selected
        self.common.sort(key=lambda t: t.frequency)
        self.meaningful.sort(key=lambda t: t.frequency)
        self.common.extend(self.meaningful[MAX_MEANINGFUL:])
        self.meaningful = self.meaningful[:MAX_MEANINGFUL]
        self.should_match_threshold = math.ceil(2 / 3 * len(self.tokens))

    def _housenumber_key(self) -> str | None:
        """Key of the house number asked for: a flagged one, else one written after the street."""
        tokens = [t for t in self.housenumbers if t.kind == "housenumber"] or self.maybe_housenumbers
        if not tokens:
            return None
        ordered = sorted(tokens, key=lambda t: t.position)
        return self.pipeline.housenumber_key(" ".join(dict.fromkeys(t.raw for t in ordered)))

    @property
    def only_commons(self) -> bool:
        return bool(self.tokens) and len(self.tokens) == len(self.common)

    def describe(self, keys: Iterable[Key]) -> list[str]:
        return [self.index.terms[k] if isinstance(k, int) else str(k) for k in keys]
