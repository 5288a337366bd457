"""Tokens and the text pipeline shared by indexing and querying.

Country rules (see ``french.py``) provide what the pipeline runs: ``rules``, compiled, take a
query from its string to its words in context (noise cleaned, house numbers flagged) and
put a document field's words in context the same way; ``word_steps`` turn a word into the
tokens it is indexed and searched as (Addok's processor shape: a function from tokens to
tokens), and ``housenumber_key`` gives a house number's key. This module chains them and
caches what repeats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ._text import Word, ascii_label, fold

__all__ = ["Pipeline", "Rules", "Step", "Token", "Word", "ascii_label", "each", "fold", "normalize",
           "tokenize"]

WORD = re.compile(r"\w+")
EXPANSIONS_MAX = 500_000  # words whose tokens index_words keeps (France has ~90,000)


class Token(str):
    """A string with the little context the rules need.

    ``position`` is a list of ints: the position in the source text, then the
    position inside a synonym expansion, so sorting tokens by it keeps text order.
    """

    __slots__ = ("position", "is_first", "is_last", "raw", "kind")
    position: list[int]
    is_first: bool
    is_last: bool
    raw: str
    kind: str | None

    def __new__(
        cls,
        value: str,
        position: list[int] | int = 0,
        is_last: bool = False,
        raw: str | None = None,
        kind: str | None = None,
    ) -> Token:
        obj = str.__new__(cls, value)
        obj.position = list(position) if isinstance(position, list) else [position]
        obj.is_first = obj.position[0] == 0
        obj.is_last = is_last
        obj.raw = raw or value
        obj.kind = kind
        return obj

    def update(self, value: str, position: int | None = None, **changes: Any) -> Token:
        """Return a new token with ``value``, keeping this token's context."""
        token = Token(
            value,
            position=self.position[:],
            is_last=changes.get("is_last", self.is_last),
            raw=changes.get("raw", self.raw),
            kind=changes.get("kind", self.kind),
        )
        if position is not None:
            token.position.append(position)
        return token

    def __repr__(self) -> str:
        return f"<Token {str(self)!r} {self.kind or ''}>"


Step = Callable[[Iterable[Token]], Iterable[Token]]


def each(func: Callable[[Token], Token]) -> Step:
    """Turn a token -> token function into a pipeline step."""

    def step(tokens: Iterable[Token]) -> list[Token]:
        return [func(token) for token in tokens]

    step.__name__ = func.__name__
    return step


def tokenize(text: str) -> list[Token]:
    return [Token(word, position=i) for i, word in enumerate(WORD.findall(text))]


def normalize(tokens: Iterable[Token]) -> list[Token]:
    out = []
    for token in tokens:
        folded = fold(token)
        out.append(token if folded == token else token.update(folded))
    return out


class Rules(Protocol):
    """A country's compiled query rules (``text/french.py`` makes the French ones)."""

    def query_words(self, query: str, extract: bool = True) -> list[Word]: ...
    def clean_query(self, query: str, extract: bool = True) -> str: ...
    def dropped(self, query: str) -> str: ...
    # The same, of a query already folded (ascii_label): a search folds it once, finds where
    # its address starts once, and reads its words from there or whole.
    def address_start(self, q: str) -> int: ...
    def words(self, q: str) -> list[Word]: ...
    def context(self, words: list[Word]) -> list[Word]: ...


class Pipeline:
    """Turns document text and queries into index tokens.

    ``rules`` take a query to its words in context (:meth:`query_words`: noise cleaned, the
    address extracted from a longer text, house numbers and ordinals seen with their
    neighbours) and put a field's words in context the same way; ``word_steps`` rewrite each
    word alone (synonyms, phonetics), so what they make of a word can be looked up in the
    index's lexicon instead of computed again (:meth:`expand`).
    """

    def __init__(self, rules: Rules, word_steps: list[Step], housenumber_key: Callable[[str], str],
                 expand_word: Callable[[str], list[str]] | None = None) -> None:
        self.rules = rules
        self.word_steps = word_steps
        # the word steps on a plain string, when the rules give them so (PERF: a word the index
        # does not know, a typo, went through a Token per step: 3.4 us, 1.0 without)
        self.expand_word = expand_word
        self.housenumber_key = housenumber_key
        self._index_cache: dict[str, tuple[list[str], list[str]]] = {}
        self._expansions: dict[str, list[str]] = {}  # word -> expand(word) (expansion())
        # housenumber_key of the house numbers indexed (a dict is cheaper to read than its lru_cache)
        self.housenumber_keys: dict[str, str] = {}

    def run(self, tokens: Iterable[Token]) -> list[Token]:
        return self.expand_all(self.in_context(tokens))

    def in_context(self, tokens: Iterable[Token]) -> list[Token]:
        words = self.rules.context([Word(str(t), t.raw, t.kind, t.position[0]) for t in tokens])
        return [as_token(w) for w in words]

    def expand_all(self, tokens: Iterable[Token]) -> list[Token]:
        for step in self.word_steps:
            tokens = step(tokens)
        return list(tokens)

    def expand(self, word: str) -> list[str]:
        """The tokens one word is indexed and searched as (its synonyms, phonetics)."""
        if self.expand_word is not None:
            return self.expand_word(word)
        return [str(t) for t in self.expand_all([Token(word)])]

    def expansion(self, word: str) -> list[str]:
        """:meth:`expand`, cached (an import meets each word many times)."""
        expanded = self._expansions.get(word)
        if expanded is None:
            expanded = self.expand(word)
            if len(self._expansions) >= EXPANSIONS_MAX:
                self._expansions.clear()
            self._expansions[word] = expanded
        return expanded

    def index_tokens(self, text: str) -> list[str]:
        """Tokens a document field is indexed under (cached: fields repeat a lot)."""
        return self.index_words(text)[1]

    def index_words(self, text: str) -> tuple[list[str], list[str]]:
        """A document field's words (before :meth:`expand`) and its tokens."""
        cached = self._index_cache.get(text)
        if cached is None:
            # in_context(normalize(tokenize(text))), the words made at once
            found = [Word(fold(w), w, None, i) for i, w in enumerate(WORD.findall(text))]
            words = [w.value for w in self.rules.context(found)]
            # PERF: the word steps rewrite each word alone, so a text's tokens are its words'
            # (cached: a text is often new, its words seldom)
            tokens = []
            for word in words:
                tokens += self.expansion(word)
            cached = (words, tokens)
            if len(self._index_cache) < 200_000:
                self._index_cache[text] = cached
        return cached

    def dropped(self, query: str) -> str:
        """What the address extraction leaves out of a query (folded), or ''."""
        return self.rules.dropped(query)

    def clean_query(self, query: str, extract: bool = True) -> str:
        """The folded query after address extraction and noise cleaning, before its words."""
        return self.rules.clean_query(query, extract)

    def query_words(self, query: str, extract: bool = True) -> list[Word]:
        """A query's words in context (house numbers flagged), before :meth:`expand`."""
        return self.rules.query_words(query, extract)

    def query_tokens(self, query: str, extract: bool = True) -> list[Token]:
        """Tokens of a query, in text order, the last one flagged ``is_last``."""
        tokens = self.expand_all([as_token(w) for w in self.query_words(query, extract)])
        if tokens:
            tokens[-1].is_last = True
        return tokens


def as_token(word: Word) -> Token:
    return Token(word.value, word.position, raw=word.raw, kind=word.kind)
