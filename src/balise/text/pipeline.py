"""Tokens and the text pipeline shared by indexing and querying.

A pipeline is a list of steps, each a function from an iterable of tokens to an
iterable of tokens (Addok's processor shape). Country rules (see ``french.py``)
provide the steps; this module only knows how to chain them and cache results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from unidecode import unidecode

WORD = re.compile(r"\w+")
NON_WORD = re.compile(r"[^\w]")
SPACES = re.compile(r" {2,}")


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


def _latin_table() -> dict[int, str]:
    # PERF: unidecode walks a string character by character in Python; French
    # text is Latin-1 and Latin Extended-A, folded here by one str.translate.
    return {c: unidecode(chr(c)) for c in range(0xC0, 0x180)}


LATIN = _latin_table()


def fold(s: str) -> str:
    """Lowercase and strip accents (Œ -> oe, ß -> ss...), as unidecode does."""
    s = s.lower()
    if s.isascii():
        return s
    s = s.translate(LATIN)
    return s if s.isascii() else unidecode(s)


def normalize(tokens: Iterable[Token]) -> list[Token]:
    out = []
    for token in tokens:
        folded = fold(token)
        out.append(token if folded == token else token.update(folded))
    return out


@lru_cache(maxsize=32_768)
def ascii_label(s: str) -> str:
    """Folded text with punctuation turned to single spaces: what labels are compared as."""
    return SPACES.sub(" ", NON_WORD.sub(" ", fold(s))).strip()


class Pipeline:
    """Turns document text and queries into index tokens.

    ``extract`` finds where the address starts in a longer text ("SARL X 22 rue Y"); a
    search may skip it (a city written first is not noise). ``query_steps`` rewrite the
    whole query before it is tokenized (noise cleaning); ``context_steps`` rewrite the
    token stream, each token seen with its neighbours (house numbers, ordinals);
    ``word_steps`` rewrite each token alone (synonyms, phonetics), so what they make of a
    word can be looked up in the index's lexicon instead of computed again (:meth:`expand`).
    """

    def __init__(
        self,
        context_steps: list[Step],
        word_steps: list[Step],
        query_steps: list[Callable[[str], str]],
        housenumber_key: Callable[[str], str],
        extract: Callable[[str], int] | None = None,
    ) -> None:
        self.context_steps = context_steps
        self.word_steps = word_steps
        self.query_steps = query_steps
        self.extract = extract
        self.housenumber_key = housenumber_key
        self._index_cache: dict[str, tuple[list[str], list[str]]] = {}

    def run(self, tokens: Iterable[Token]) -> list[Token]:
        return self.expand_all(self.in_context(tokens))

    def in_context(self, tokens: Iterable[Token]) -> list[Token]:
        for step in self.context_steps:
            tokens = step(tokens)
        return list(tokens)

    def expand_all(self, tokens: Iterable[Token]) -> list[Token]:
        for step in self.word_steps:
            tokens = step(tokens)
        return list(tokens)

    def expand(self, word: str) -> list[str]:
        """The tokens one word is indexed and searched as (its synonyms, phonetics)."""
        return [str(t) for t in self.expand_all([Token(word)])]

    def index_tokens(self, text: str) -> list[str]:
        """Tokens a document field is indexed under (cached: fields repeat a lot)."""
        return self.index_words(text)[1]

    def index_words(self, text: str) -> tuple[list[str], list[str]]:
        """A document field's words (before :meth:`expand`) and its tokens."""
        cached = self._index_cache.get(text)
        if cached is None:
            words = self.in_context(normalize(tokenize(text)))
            cached = ([str(w) for w in words], [str(t) for t in self.expand_all(words)])
            if len(self._index_cache) < 200_000:
                self._index_cache[text] = cached
        return cached

    def dropped(self, query: str) -> str:
        """What the address extraction leaves out of a query (folded), or ''."""
        q = ascii_label(query)
        start = self.extract(q) if self.extract else 0
        return q[:start].strip()

    def clean_query(self, query: str, extract: bool = True) -> str:
        """The folded query after address extraction and noise cleaning, before tokenizing."""
        q = ascii_label(query)
        if extract and self.extract:
            q = q[self.extract(q) :]
        for step in self.query_steps:
            q = step(q)
        return q

    def query_words(self, query: str, extract: bool = True) -> list[Token]:
        """A query's words in context (house numbers flagged), before :meth:`expand`."""
        return self.in_context(normalize(tokenize(self.clean_query(query, extract))))

    def query_tokens(self, query: str, extract: bool = True) -> list[Token]:
        """Tokens of a query, in text order, the last one flagged ``is_last``."""
        tokens = self.expand_all(self.query_words(query, extract))
        if tokens:
            tokens[-1].is_last = True
        return tokens
