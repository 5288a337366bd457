"""The bucket of candidate documents and Addok's collectors, which fill it.

The chain (``COLLECTORS``) and its rules are Addok 1.3's: rare tokens first, common tokens
only to narrow an overflowing bucket, autocomplete on the last token, one-edit fuzzy
matching, groups of related words, and dropping tokens when the bucket is dry. What Addok
asks of Redis (ZINTERSTORE then ZREVRANGE) is the compiled intersection of ``index._postings``:
it walks the rarest list, so its cost never follows the commonest word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import product
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ..index._postings import best, members
from .query import COMMON_THRESHOLD, FilterKey, Pair, QueryToken

if TYPE_CHECKING:
    from .engine import Search

BUCKET_MIN = 10
BUCKET_MAX = 100
INTERSECT_LIMIT = 100_000
MIN_EDGE_NGRAMS = 3
MAX_EDGE_NGRAMS = 20
MANUAL_SCAN = 501  # Addok's manual_scan looks at the first 501 ids of the rarest list.
SMALL_BASE = 20_000  # fixed keys whose rarest list is this short are intersected once
GEOHASH = "geohash"

Key: TypeAlias = int | str | FilterKey  # a term number, the geohash block (GEOHASH), or a filter


class Bucket:
    """The candidate documents of one search, and the intersections that fill it."""

    def __init__(self, search: Search) -> None:
        # NOTE: no reference back to the search: a cycle would leave every search to the
        # cyclic GC, whose full passes paused France-scale queries for 10-35 ms.
        self.index = search.index
        self.postings = search.index.postings_lists
        self.query = search.query
        self.wanted = search.wanted
        self.arrays_of = search.query.arrays  # filters and the geohash block: key -> arrays
        self.filters = search.query.filters
        self.box = search.box  # the area results must lie in, if any
        self.docs: set[int] = set()
        self.keys: list[int] = []
        self.matched_keys: set[int] = set()
        self.trace = search.trace

    def __len__(self) -> int:
        return len(self.docs)

    def arrays(self, key: Key) -> Pair:
        """Sorted documents and scores of a key: a term number, a filter or the geohash."""
        if isinstance(key, int):
            return self.index.postings(key)
        return self.arrays_of[key]

    def _resolved(self, keys: Sequence[Key]) -> list[int | Pair]:
        """Keys as the compiled intersections take them: term numbers, or arrays."""
        return [k if isinstance(k, int) else self.arrays_of[k] for k in keys]

    def intersect(self, keys: Sequence[Key], limit: int = 0) -> list[int]:
        """Addok's ZINTERSTORE + ZREVRANGE: the best ``limit`` documents having every key."""
        if not limit > 0:
            limit = max(self.wanted, BUCKET_MAX)
        if not keys:
            return []
        keys = list(dict.fromkeys(list(keys) + self.filters))
        if len(keys) == 1 and not isinstance(keys[0], int):  # all members
            return self.postings.intersection(  # type: ignore[no-any-return]
                self._resolved(keys), False, self.box)[0].tolist()
        return self.postings.best(self._resolved(keys), limit, True, self.box)

    def add(self, keys: Sequence[Key], limit: int | None = None) -> None:
        self.matched_keys.update(k for k in keys if isinstance(k, int))
        limit = limit or (BUCKET_MAX - len(self.docs))
        self.docs.update(self.intersect(keys, limit))
        self.note("add_to_bucket", keys)

    def new(self, keys: Sequence[Key], limit: int = 0) -> None:
        self.matched_keys = {k for k in keys if isinstance(k, int)}
        self.docs = set(self.intersect(keys, limit))
        self.note("new_bucket", keys)

    def extend_with(self, keys: Sequence[Key], terms: Callable[[], Sequence[int]],
                    geohash: str | Literal[False] = False, stop_when: int = 0) -> None:
        """``add(keys + [term])`` for each of ``terms()``, as Addok's autocomplete and fuzzy do;
        ``stop_when`` 1 stops once the bucket overflows, 2 once it holds what is wanted.

        PERF: the fixed keys' intersection is made once when it is small (as Addok's pair
        sets prefilter such terms); when every fixed list is long, each term's list drives
        its own intersection, so "rue" and "de" are galloped through, never walked.
        """
        fixed = list(dict.fromkeys(list(keys) + ([geohash] if geohash else []) + self.filters))
        if not fixed:
            for term in terms():
                if stop_when == 1 and self.overflow or stop_when == 2 and not self.dry:
                    break
                self.add([term])
            return
        fixed_terms = [k for k in fixed if isinstance(k, int)]
        resolved = sorted(self._resolved(fixed), key=self.postings.length)  # Addok sums shortest first
        if self.postings.length(resolved[0]) <= SMALL_BASE:
            resolved = [self.postings.intersection(resolved, False, self.box)]
            empty = not len(resolved[0][0])  # type: ignore[index]  # resolved: this one pair
        else:
            empty = not self.postings.intersects(resolved, self.box)
        if empty:
            self.matched_keys.update(fixed_terms)
            return
        candidates = list(terms())
        tried = self.postings.extend(resolved, set(fixed_terms), candidates, self.docs, self.wanted,
                                     BUCKET_MAX, stop_when, self.box)
        if tried:
            self.matched_keys.update(fixed_terms)
            self.matched_keys.update(candidates[:tried])
        if self.trace is not None:
            for term in candidates[:tried]:
                self.note("add_to_bucket", fixed + [term])

    @property
    def full(self) -> bool:
        return self.wanted <= len(self.docs) < BUCKET_MAX

    @property
    def overflow(self) -> bool:
        return len(self.docs) >= BUCKET_MAX

    @property
    def dry(self) -> bool:
        return len(self.docs) < self.wanted

    @property
    def empty(self) -> bool:
        return not self.docs

    @property
    def pass_should_match_threshold(self) -> bool:
        return len(self.matched_keys) >= self.query.should_match_threshold

    def note(self, action: str, keys: Iterable[Key]) -> None:
        if self.trace is not None:
            self.trace.append(f"{action} {self.query.describe(keys)} -> {len(self.docs)}")


def without(keys: list[int], key: int) -> list[int]:
    """``keys`` less one occurrence of ``key`` (Addok's ``list.remove``: a word written
    twice is searched twice, and dropping it once keeps the other)."""
    out = list(keys)
    if key in out:
        out.remove(key)
    return out


# --- collectors (Addok's RESULTS_COLLECTORS, in order) --------------------------------------


def only_commons_but_geohash_try_autocomplete(s: Search) -> None:
    if s.geohash_key and s.query.only_commons:
        autocomplete(s, s.query.tokens, use_geohash=True)


def no_tokens_but_housenumbers_and_geohash(s: Search) -> None:
    if not s.query.tokens and s.query.housenumbers and s.geohash_key:
        s.bucket.new([s.geohash_key], BUCKET_MIN)


def no_available_tokens_abort(s: Search) -> bool | None:
    if not s.query.tokens:
        return True
    return None


def only_commons(s: Search) -> None:
    q, bucket = s.query, s.bucket
    if not q.only_commons:
        return
    keys: list[Key] = [t.tid for t in q.tokens]
    if s.geohash_key:
        keys.append(s.geohash_key)
    if len(keys) == 1 or s.geohash_key:
        bucket.add(keys)
    if bucket.dry and len(keys) > 1:
        q.tokens.sort(key=lambda t: t.frequency)
        keys = [t.tid for t in q.tokens]
        first = q.tokens[0]
        if first.frequency < INTERSECT_LIMIT:
            bucket.add(keys)
        else:
            bucket.docs.update(manual_scan(s, keys))


def manual_scan(s: Search, keys: list[Key]) -> set[int]:
    """Addok's scan of the rarest list's best ids, for intersections of huge lists."""
    docs, scores = s.bucket.arrays(keys[0])
    if s.box is not None:
        docs, scores = s.bucket.postings.intersection([s.bucket.arrays(keys[0])], False, s.box)
    candidates = docs[best(docs, scores, MANUAL_SCAN)]
    keep = np.ones(len(candidates), dtype=bool)
    for key in keys[1:] + s.query.filters:
        keep &= members(candidates, s.bucket.arrays(key)[0])
    return set(candidates[keep][: s.wanted].tolist())


def no_meaningful_but_common_try_autocomplete(s: Search) -> bool | None:
    q, bucket = s.query, s.bucket
    if not q.meaningful and q.common:
        autocomplete(s, q.common)
        q.meaningful = q.common[:1]
        if not bucket.pass_should_match_threshold:
            return False
        if bucket.full or bucket.overflow or s.has_cream():
            return True
    return None


def only_commons_try_autocomplete(s: Search) -> bool | None:
    if s.query.only_commons:
        autocomplete(s, s.query.tokens, skip_commons=True)
        if not s.bucket.empty:
            return True
    return None


def bucket_with_meaningful(s: Search) -> bool | None:
    q, bucket = s.query, s.bucket
    if not q.meaningful:
        return None
    if len(q.meaningful) == 1 and q.common and not q.filters:
        for token in q.common:
            if token not in q.meaningful:
                q.meaningful.append(token)
                break
    bucket.keys = [t.tid for t in q.meaningful]
    if bucket.empty:
        bucket.new(bucket.keys, BUCKET_MIN)
        if len(bucket) == BUCKET_MIN:
            bucket.new(bucket.keys)
        if not s.autocomplete and s.has_cream() and s.scorer.cream < BUCKET_MIN:
            return True
    else:
        bucket.add(bucket.keys)
    return None


def reduce_with_other_commons(s: Search) -> None:
    q, bucket = s.query, s.bucket
    if q.only_commons:
        return
    for token in q.common:
        if token not in q.meaningful and bucket.overflow:
            q.meaningful.append(token)
            bucket.keys = [t.tid for t in q.meaningful]
            bucket.new(bucket.keys)


def ensure_geohash_results_are_included_if_center_is_given(s: Search) -> None:
    if s.bucket.overflow and s.geohash_key:
        s.bucket.add(s.bucket.keys + [s.geohash_key], max(s.wanted, 10))


def autocomplete_meaningful(s: Search) -> None:
    if s.bucket.overflow or not s.autocomplete:
        return
    if s.geohash_key:
        autocomplete(s, s.query.meaningful, use_geohash=True)
    autocomplete(s, s.query.meaningful)


def autocomplete_candidates(s: Search, last: QueryToken | None) -> NDArray[np.int64]:
    """Terms the last token may be the beginning of (Addok's edge n-grams)."""
    if last is None or not MIN_EDGE_NGRAMS <= len(last.value) <= MAX_EDGE_NGRAMS:
        return np.empty(0, dtype=np.int64)
    found = s.index.prefix_range(last.value)
    terms = np.arange(found.start, found.stop, dtype=np.int64)
    return terms[terms != last.tid]  # type: ignore[no-any-return]  # numpy's != gives Any


def autocomplete(s: Search, tokens: list[QueryToken], skip_commons: bool = False, use_geohash: bool = False
                 ) -> None:
    last = s.query.last_token
    others = [t for t in tokens if not t.is_last]
    if any(t.tid < 0 for t in others):
        return  # Addok's pair sets of an unknown word are empty.
    candidates = autocomplete_candidates(s, last)
    if not len(candidates):
        return
    keys = [t.tid for t in others]
    start = s.index.post_start
    frequency = (start[candidates + 1] - start[candidates]).astype(np.int64)
    if len(tokens) == 1:
        order = np.lexsort((candidates, -s.index.term_maxscore[candidates]))
    else:
        order = np.lexsort((candidates, -frequency))
    if skip_commons:
        order = order[frequency[order] <= COMMON_THRESHOLD]
    chosen = candidates[order].tolist()
    last_not_found = last is not None and last.tid < 0
    # Once the bucket overflows it stays so: later candidates are skipped.
    geohash = s.geohash_key if use_geohash else False
    s.bucket.extend_with(keys, lambda: chosen, geohash, stop_when=0 if last_not_found else 1)


def fuzzy_collector(s: Search) -> None:
    q = s.query
    if s.fuzzy and not s.has_cream():
        if q.not_found:
            try_fuzzy(s, q.not_found)
        if s.bucket.dry and not s.has_cream():
            try_fuzzy(s, q.meaningful)
        if s.bucket.dry and not s.has_cream() and q.common:
            try_fuzzy(s, q.meaningful, include_common=False)


def try_fuzzy(s: Search, tokens: list[QueryToken], include_common: bool = True) -> None:
    bucket = s.bucket
    if not bucket.dry or not tokens:
        return
    tokens.sort(key=lambda t: len(t.value), reverse=True)
    allkeys = bucket.keys[:]
    if include_common:
        allkeys.extend(t.tid for t in s.query.common if t.tid not in bucket.keys)
    for try_one in tokens:
        if bucket.full:
            break
        keys = without(allkeys, try_one.tid)
        if try_one.isdigit():
            continue
        bucket.extend_with(keys, partial(s.engine.fuzzy_terms, try_one.value), stop_when=2)


def extend_results_extrapoling_relations(s: Search) -> None:
    if not s.bucket.dry:
        return
    q = s.query
    tokens = list(dict.fromkeys(q.meaningful + q.common))
    relations = sorted(
        manytomany_relations(s, tokens),
        key=lambda r: (sum(t.frequency for t in r) / len(r), [t.value for t in r]),
    )
    for relation in relations:
        s.bucket.add([t.tid for t in relation])
        if s.bucket.overflow:
            break


def co_occur(s: Search, a: QueryToken, b: QueryToken) -> bool:
    """Whether two tokens share a document (Addok's pair sets)."""
    if a.tid < 0 or b.tid < 0:
        return False
    return s.engine.co_occur(min(a.tid, b.tid), max(a.tid, b.tid))


def _grow(words: list[QueryToken], linked: dict[QueryToken, set[QueryToken]], cliques: list[set[QueryToken]],
          clique: set[QueryToken], candidates: set[QueryToken], excluded: set[QueryToken]) -> None:
    """Bron-Kerbosch with a pivot: every maximal clique of ``linked`` into ``cliques``.

    A function of its own, not a closure: a recursive closure is a reference cycle.
    """
    if not candidates and not excluded:
        cliques.append(clique)
        return
    pivot = max(candidates | excluded, key=lambda t: len(linked[t] & candidates))
    for t in [w for w in words if w in candidates - linked[pivot]]:
        _grow(words, linked, cliques, clique | {t}, candidates & linked[t], excluded & linked[t])
        candidates = candidates - {t}
        excluded = excluded | {t}


def manytomany_relations(s: Search, tokens: list[QueryToken]) -> list[list[QueryToken]]:
    """Groups of query words that share documents two by two (Addok's relations).

    NOTE: Addok grows one group greedily from each word, visiting words in the order
    of a Python set of strings, that is of their salted hashes; balise takes every
    maximal group (Bron-Kerbosch), which includes each group Addok can build.
    """
    words = list({t.value: t for t in tokens}.values())
    linked: dict[QueryToken, set[QueryToken]] = {t: set() for t in words}
    for i, t in enumerate(words):
        for o in words[i + 1 :]:
            if co_occur(s, t, o):
                linked[t].add(o)
                linked[o].add(t)
    cliques: list[set[QueryToken]] = []
    _grow(words, linked, cliques, set(), set(words), set())
    groups = [[t for t in words if t in c and not t.is_common] for c in cliques]
    groups = [g for g in groups if len(g) > 1]
    unique: list[list[QueryToken]] = []
    for group in sorted(groups, key=len, reverse=True):
        if not any(set(group) <= set(u) for u in unique):
            unique.append(group)
    return unique


def extend_results_reducing_tokens(s: Search) -> bool | None:
    q, bucket = s.query, s.bucket
    if bucket.full or s.has_cream():
        return True
    if not bucket.dry:
        return None
    if bucket.empty or len(q.meaningful) - 1 > q.should_match_threshold:
        q.meaningful.sort(key=lambda t: (2 if t.isdigit() else 1, t.frequency), reverse=True)
        for token in q.meaningful:
            bucket.add(without(bucket.keys, token.tid))
            if bucket.overflow:
                break
        if bucket.empty and len(q.meaningful) > 3:
            for token, token2 in product(q.meaningful, q.meaningful):
                if token is not token2:
                    bucket.add(without(without(bucket.keys, token.tid), token2.tid))
                    if bucket.overflow:
                        break
    return None


COLLECTORS: list[Callable[[Search], bool | None]] = [
    only_commons_but_geohash_try_autocomplete,
    no_tokens_but_housenumbers_and_geohash,
    no_available_tokens_abort,
    only_commons,
    no_meaningful_but_common_try_autocomplete,
    only_commons_try_autocomplete,
    bucket_with_meaningful,
    reduce_with_other_commons,
    ensure_geohash_results_are_included_if_center_is_given,
    autocomplete_meaningful,
    fuzzy_collector,
    extend_results_extrapoling_relations,
    extend_results_reducing_tokens,
]
