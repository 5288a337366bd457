"""Forward search: Addok's collector chain over the memory-mapped index.

The chain (``COLLECTORS``) and its rules are Addok 1.3's: rare tokens first,
common tokens only to narrow an overflowing bucket, autocomplete on the last
token, one-edit fuzzy matching, and dropping tokens when the bucket is dry.
What Addok does with Redis sorted sets (ZINTERSTORE then ZREVRANGE) is done
here with numpy on sorted posting arrays, in process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import product

import numpy as np

from ..index import IndexReader
from ..text import Pipeline, Token, ascii_label
from ..text.french import housenumber_alternatives
from . import scoring
from .area import AreaFilter
from .fuzzy import one_edit
from .scoring import as_list

BUCKET_MIN = 10
BUCKET_MAX = 100
COMMON_THRESHOLD = 10_000
INTERSECT_LIMIT = 100_000
MAX_MEANINGFUL = 10
MIN_EDGE_NGRAMS = 3
MAX_EDGE_NGRAMS = 20
MANUAL_SCAN = 501  # Addok's manual_scan looks at the first 501 ids of the rarest list.

GEOHASH = "geohash"


@dataclass(eq=False)
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


@dataclass(eq=False)
class Result:
    doc_number: int
    doc: dict
    housenumber: str | None = None
    labels: scoring.Labels | None = None
    str_distance: float = 0.0
    distance_km: float | None = None
    score: float = 0.0
    parts: dict = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Candidate:
    """A scored bucket document; only the final few become a :class:`Result`."""

    doc_number: int
    hn: int  # matched house number, or -1
    trailing: bool  # the house number was written after the street name
    labels: scoring.Labels
    str_distance: float = 0.0
    distance_km: float | None = None
    importance: float = 0.0
    score: float = 0.0


class Engine:
    """What every search over one index shares: the index, the text rules, memoized labels."""

    def __init__(self, index: IndexReader, pipeline: Pipeline) -> None:
        self.index = index
        self.pipeline = pipeline
        self.candidate_labels = lru_cache(maxsize=50_000)(self._candidate_labels)
        self.other_postcodes = lru_cache(maxsize=200_000)(self._other_postcodes)
        self.fuzzy_terms = lru_cache(maxsize=20_000)(self._fuzzy_terms)

    def _candidate_labels(self, doc_number: int, hn: int, trailing: bool, postcode: str | None):
        housenumber = self.index.housenumber_raw(hn) if hn >= 0 else None
        stored = self.index.labels(doc_number)
        if not trailing and postcode is None:  # PERF: the usual case, without the document
            return scoring.with_housenumber(stored, {}, housenumber, False, None)
        doc = self.index.document(doc_number)
        return scoring.make_labels(doc, housenumber, trailing, postcode, stored)

    def _fuzzy_terms(self, word: str) -> tuple[int, ...]:
        """Index terms one edit away from a word, in Addok's order of preference."""
        ids = self.index.term_ids
        return tuple(ids[w] for w in one_edit(word) if w in ids)

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
    """One forward search; holds the state Addok's collectors share."""

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
        area: AreaFilter | None = None,
    ) -> None:
        self.engine = engine
        self.area = area  # HOOK(area): only results inside it (search/area.py)
        self.index = engine.index
        self.pipeline = engine.pipeline
        self.wanted = limit
        self.autocomplete = autocomplete
        self.fuzzy = fuzzy
        self.trailing_number_as_housenumber = trailing_number_as_housenumber
        self.lat, self.lon = lat, lon
        self.query = ascii_label(query.strip())
        self.scored: dict[int, Candidate | None] = {}  # None: dropped by a type filter
        self.cream = 0
        self.bucket: set[int] = set()
        self.meaningful: list[QueryToken] = []
        self.common: list[QueryToken] = []
        self.not_found: list[QueryToken] = []
        self.housenumbers: list[Token] = []
        self.keys: list = []
        self.matched_keys: set = set()
        self._arrays: dict = {}
        self._geohash_key: object = None
        self.trace: list[str] = []
        self._setup_filters(filters or {})
        self._tokenize(query)
        self.housenumber_key = self._housenumber_key()
        self.query_words = set(self.query.split())
        self.query_postcodes = {w for w in self.query_words if len(w) == 5 and w.isdigit()}
        self.bigrams = scoring.QueryBigrams(self.query)

    def _housenumber_key(self) -> str | None:
        """Key of the house number asked for: a flagged one, else one written after the street."""
        tokens = [t for t in self.housenumbers if t.kind == "housenumber"] or self.maybe_housenumbers
        if not tokens:
            return None
        ordered = sorted(tokens, key=lambda t: t.position)
        return self.pipeline.housenumber_key(" ".join(dict.fromkeys(t.raw for t in ordered)))

    # --- set-up -----------------------------------------------------------------

    def _setup_filters(self, filters: dict[str, list[str]]) -> None:
        types = set(filters.get("type") or [])
        self.check_housenumber = not types or "housenumber" in types
        self.only_housenumber = types == {"housenumber"}
        self.filters = []
        for name, values in sorted(filters.items()):
            values = sorted({str(v).strip() for v in values if str(v).strip()})
            if not values:
                continue
            key = ("filter", name, tuple(values))
            ids = [self.index.filter_id(name, v) for v in values]
            arrays = [self.index.postings(i) for i in ids if i >= 0]
            if arrays:
                docs = np.unique(np.concatenate([a for a, _ in arrays]))
            else:
                docs = np.empty(0, dtype=np.uint32)
            self._arrays[key] = (docs, np.ones(len(docs)))
            self.filters.append(key)

    def _tokenize(self, query: str) -> None:
        tokens = self.pipeline.query_tokens(query.strip())
        self.last_token = None
        selected = []
        self.maybe_housenumbers = [t for t in tokens if t.kind and t.kind.startswith("maybe_")]
        as_number = ("housenumber", "maybe_housenumber") if self.trailing_number_as_housenumber else (
            "housenumber",
        )
        for token in tokens:
            if token.kind in as_number:
                self.housenumbers.append(token)
                continue
            if token.kind == "maybe_housenumber_suffix":
                continue
            tid = self.index.term_id(str(token))
            qt = QueryToken(
                str(token),
                token.raw,
                token.position,
                token.is_last,
                tid,
                self.index.frequency(tid) if tid >= 0 else 0,
            )
            if token.is_last:
                self.last_token = qt
            selected.append(qt)
        if tokens and tokens[-1].kind == "housenumber":
            self.last_token = QueryToken(str(tokens[-1]), tokens[-1].raw, [], True, -1, 0)
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

    # --- keys and buckets -------------------------------------------------------------

    def arrays(self, key) -> tuple[np.ndarray, np.ndarray]:
        """Sorted documents and scores of a key: a term id, a filter or the geohash."""
        cached = self._arrays.get(key)
        if cached is None:
            cached = self._arrays[key] = self.index.postings(key)
        return cached

    @property
    def geohash_key(self):
        if self._geohash_key is None:
            self._geohash_key = False
            if self.lat and self.lon:
                docs = self.index.docs_near(self.lon, self.lat)
                if len(docs):
                    self._arrays[GEOHASH] = (docs, np.ones(len(docs)))
                    self._geohash_key = GEOHASH
        return self._geohash_key

    def intersect(self, keys: list, limit: int = 0) -> set[int]:
        """Addok's ZINTERSTORE + ZREVRANGE: the best ``limit`` documents having every key."""
        if not limit > 0:
            limit = max(self.wanted, BUCKET_MAX)
        if not keys:
            return set()
        keys = list(dict.fromkeys(list(keys) + self.filters))
        if len(keys) == 1 and not isinstance(keys[0], int):
            return set(self.intersection(keys)[0].tolist())  # A set: all members (HOOK(area): inside).
        return top(*self.intersection(keys), limit)

    def intersection(self, keys: list) -> tuple[np.ndarray, np.ndarray]:
        """Documents having every key, with their summed scores."""
        arrays = sorted((self.arrays(k) for k in keys), key=lambda a: len(a[0]))
        docs, scores = arrays[0]  # Smallest first: every step only shrinks.
        for other_docs, other_scores in arrays[1:]:
            if not len(docs):
                break
            docs, scores = intersect_sorted(docs, scores, other_docs, other_scores)
        if self.area is not None:  # HOOK(area): the bucket fills with documents inside only
            docs, scores = self.area.keep(docs, scores, bool(self.housenumber_key and self.check_housenumber))
        return docs, scores

    def add_to_bucket(self, keys: list, limit: int | None = None) -> None:
        self.matched_keys.update(k for k in keys if isinstance(k, int))
        limit = limit or (BUCKET_MAX - len(self.bucket))
        self.bucket.update(self.intersect(keys, limit))
        if self.trace is not None:
            self.note(f"add_to_bucket {self.describe(keys)} -> {len(self.bucket)}")

    def new_bucket(self, keys: list, limit: int = 0) -> None:
        self.matched_keys = {k for k in keys if isinstance(k, int)}
        self.bucket = self.intersect(keys, limit)
        if self.trace is not None:
            self.note(f"new_bucket {self.describe(keys)} -> {len(self.bucket)}")

    def extend_with(self, keys: list, terms: Callable[[], list[int]], use_geohash=False, stop=None) -> None:
        """``add_to_bucket(keys + [term])`` for each of ``terms()``, intersecting ``keys`` once.

        PERF: Addok prefilters such candidate terms with its pair sets; here the
        intersection of the fixed keys is computed once and each term is
        intersected with it (when it is empty, no term can add anything).
        """
        fixed = list(keys) + ([self.geohash_key] if use_geohash and self.geohash_key else [])
        fixed = list(dict.fromkeys(fixed + self.filters))
        if not fixed:
            for term in terms():
                if stop is not None and stop():
                    break
                self.add_to_bucket([term])
            return
        base_docs, base_scores = self.intersection(fixed)
        fixed_terms = [k for k in fixed if isinstance(k, int)]
        if not len(base_docs):
            self.matched_keys.update(fixed_terms)
            return
        # PERF: add_to_bucket(fixed + [term]) inlined: most terms add nothing, and the
        # generic path cost more than the intersection itself.
        for term in terms():
            if stop is not None and stop():
                break
            self.matched_keys.update(fixed_terms)
            self.matched_keys.add(term)
            if term in fixed:  # ZINTERSTORE counts a repeated key once
                docs, scores = base_docs, base_scores
            else:
                docs, scores = intersect_sorted(base_docs, base_scores, *self.arrays(term))
            if len(docs):
                limit = BUCKET_MAX - len(self.bucket)
                self.bucket.update(top(docs, scores, limit if limit > 0 else max(self.wanted, BUCKET_MAX)))
            if self.trace is not None:
                self.note(f"add_to_bucket {self.describe(fixed + [term])} -> {len(self.bucket)}")

    @property
    def bucket_full(self) -> bool:
        return self.wanted <= len(self.bucket) < BUCKET_MAX

    @property
    def bucket_overflow(self) -> bool:
        return len(self.bucket) >= BUCKET_MAX

    @property
    def bucket_dry(self) -> bool:
        return len(self.bucket) < self.wanted

    @property
    def bucket_empty(self) -> bool:
        return not self.bucket

    def has_cream(self) -> bool:
        if self.bucket_empty or self.bucket_overflow or len(self.bucket) > BUCKET_MIN:
            return False
        self.convert()
        return self.cream > 0

    @property
    def pass_should_match_threshold(self) -> bool:
        return len(self.matched_keys) >= self.should_match_threshold

    @property
    def only_commons(self) -> bool:
        return bool(self.tokens) and len(self.tokens) == len(self.common)

    def note(self, message: str) -> None:
        if self.trace is not None:
            self.trace.append(message)

    def describe(self, keys) -> list[str]:
        return [self.index.terms[k] if isinstance(k, int) else str(k) for k in keys]

    # --- running ------------------------------------------------------------------------

    def run(self) -> list[Result]:
        for collector in COLLECTORS:
            if collector(self):
                self.note(f"stop at {collector.__name__}")
                break
        self.convert()
        scored = [c for c in self.scored.values() if c is not None]
        scored.sort(key=lambda c: (-c.score, -c.importance, c.doc_number))
        return [self._result(c) for c in scored[: self.wanted] if c.score >= scoring.MIN_SCORE]

    def convert(self) -> None:
        """Score every bucket document not scored yet (Addok's result processors)."""
        new = sorted(d for d in self.bucket if d not in self.scored)
        if not new:
            return
        matches = self._match_housenumbers(np.asarray(new, dtype=np.uint32))
        batch = []
        for doc_number, hn in zip(new, matches, strict=True):
            candidate = self._candidate(doc_number, hn)
            self.scored[doc_number] = candidate
            if candidate is not None:
                batch.append(candidate)
        if not batch:
            return
        distances = scoring.text_scores(self.bigrams, [c.labels[1] for c in batch], self.autocomplete)
        numbers = np.fromiter((c.doc_number for c in batch), dtype=np.int64, count=len(batch))
        importance = self.index.importance[numbers]
        str_distance = np.asarray(distances)
        if self.lat is not None and self.lon is not None:
            lonlat = self.index.doc_lonlat[numbers].copy()
            hns = np.fromiter((c.hn for c in batch), dtype=np.int64, count=len(batch))
            has_hn = hns >= 0
            lonlat[has_hn] = self.index.hn_lonlat[hns[has_hn]]
            km = scoring.haversine_km_array(lonlat[:, 1], lonlat[:, 0], self.lat, self.lon)
            scores = scoring.total_with_centre(str_distance, importance, km)
            km = km.tolist()
        else:
            km = [None] * len(batch)
            scores = scoring.total_without_centre(str_distance, importance)
        for c, d, imp, k, score in zip(
            batch, distances, importance.tolist(), km, scores.tolist(), strict=True
        ):
            c.str_distance, c.importance, c.distance_km, c.score = d, imp, k, score
            if d >= scoring.MATCH_THRESHOLD:
                self.cream += 1

    def _match_housenumbers(self, docs: np.ndarray) -> list[int]:
        if not self.check_housenumber or not self.housenumber_key:
            return [-1] * len(docs)
        found = self.index.find_housenumbers(docs, self.housenumber_key)
        for alternative in housenumber_alternatives(self.housenumber_key):
            missing = found < 0
            if not missing.any():
                break
            found[missing] = self.index.find_housenumbers(docs[missing], alternative)
        return found.tolist()

    def _trailing_number_in_name(self, doc: dict) -> bool:
        """Whether a trailing number of the query is part of this street's name."""
        number = self.maybe_housenumbers[0].raw
        return any(number in ascii_label(str(name)).split() for name in as_list(doc.get("name")))

    def _candidate(self, doc_number: int, hn: int) -> Candidate | None:
        trailing = hn >= 0 and bool(self.maybe_housenumbers)
        if trailing and self._trailing_number_in_name(self.index.document(doc_number)):
            hn, trailing = -1, False
        if self.area is not None:  # HOOK(area): the point that answers must lie inside
            hn = self.area.answering(doc_number, hn)
            if hn is None:
                return None
            trailing = trailing and hn >= 0
        if hn < 0 and self.only_housenumber:
            return None
        postcode = self._asked_postcode(doc_number) if self.query_postcodes else None
        return Candidate(doc_number, hn, trailing,
                         self.engine.candidate_labels(doc_number, hn, trailing, postcode))

    def _asked_postcode(self, doc_number: int) -> str | None:
        """The postcode a query asks for, among a street's several ones."""
        for p in self.engine.other_postcodes(doc_number):
            if p in self.query_postcodes:
                return p
        return None

    def _result(self, c: Candidate) -> Result:
        """The full result of a candidate: its document, with its house number merged in."""
        doc = dict(self.index.document(c.doc_number))
        self._prefer_queried_postcode(doc)
        result = Result(c.doc_number, doc, labels=c.labels, str_distance=c.str_distance,
                        distance_km=c.distance_km, score=c.score)
        if c.hn >= 0:
            props = self.index.housenumber(c.hn)
            result.housenumber = props.pop("raw")
            doc.update(props)
            doc["type"] = "housenumber"
        result.parts = scoring.score_parts(c.str_distance, c.importance, c.distance_km)
        return result

    def _prefer_queried_postcode(self, doc: dict) -> None:
        """Show (and score with) the postcode the query names, not only the first one.

        Beyond Addok, whose labels always use a document's first postcode.
        """
        postcodes = doc.get("postcode")
        if isinstance(postcodes, list) and len(postcodes) > 1:
            asked = [p for p in postcodes if p in self.query_words]
            if asked:
                doc["postcode"] = asked + [p for p in postcodes if p not in asked]

    # --- helpers used by collectors ------------------------------------------------------

    def autocomplete_candidates(self, last: QueryToken | None) -> list[int]:
        """Terms the last token may be the beginning of (Addok's edge n-grams)."""
        if last is None or not MIN_EDGE_NGRAMS <= len(last.value) <= MAX_EDGE_NGRAMS:
            return []
        return [t for t in self.index.prefix_range(last.value) if t != last.tid]


def without(keys: list, key) -> list:
    """``keys`` less one occurrence of ``key`` (Addok's ``list.remove``: a word written
    twice is searched twice, and dropping it once keeps the other)."""
    out = list(keys)
    if key in out:
        out.remove(key)
    return out


def intersect_sorted(docs, scores, other_docs, other_scores):
    """Intersection of two sorted document arrays, summing their scores."""
    if not len(other_docs) or not len(docs):
        return docs[:0], scores[:0]
    if len(docs) > len(other_docs):
        docs, scores, other_docs, other_scores = other_docs, other_scores, docs, scores
    pos = np.searchsorted(other_docs, docs)
    pos[pos >= len(other_docs)] = 0
    hit = other_docs[pos] == docs
    return docs[hit], scores[hit] + other_scores[pos[hit]]


def top(docs: np.ndarray, scores: np.ndarray, limit: int) -> set[int]:
    """The ``limit`` best documents by score, ties to the lower number (Redis order)."""
    if len(docs) > limit:
        docs = docs[best(docs, scores, limit)]
    return set(docs.tolist())


def best(docs: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the ``limit`` best documents, best first, ties to the lower number.

    PERF: a partition finds the score of the last one kept, and only the kept ones are
    sorted: a full sort of a 30,000-document list took a millisecond.
    """
    if len(docs) > limit:
        kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        keep = scores > kth
        ties = np.flatnonzero(scores == kth)  # docs are sorted: the lowest numbers first
        keep[ties[: limit - np.count_nonzero(keep)]] = True
        chosen = np.flatnonzero(keep)
        return chosen[np.lexsort((docs[chosen], -scores[chosen]))]
    return np.lexsort((docs, -scores))


# --- collectors (Addok's RESULTS_COLLECTORS, in order) --------------------------------------


def only_commons_but_geohash_try_autocomplete(s: Search):
    if s.geohash_key and s.only_commons:
        autocomplete(s, s.tokens, use_geohash=True)


def no_tokens_but_housenumbers_and_geohash(s: Search):
    if not s.tokens and s.housenumbers and s.geohash_key:
        s.new_bucket([s.geohash_key], BUCKET_MIN)


def no_available_tokens_abort(s: Search):
    if not s.tokens:
        return True


def only_commons(s: Search):
    if not s.only_commons:
        return
    keys = [t.tid for t in s.tokens]
    if s.geohash_key:
        keys.append(s.geohash_key)
    if len(keys) == 1 or s.geohash_key:
        s.add_to_bucket(keys)
    if s.bucket_dry and len(keys) > 1:
        s.tokens.sort(key=lambda t: t.frequency)
        keys = [t.tid for t in s.tokens]
        first = s.tokens[0]
        if first.frequency < INTERSECT_LIMIT:
            s.add_to_bucket(keys)
        else:
            s.bucket.update(manual_scan(s, keys))


def manual_scan(s: Search, keys: list) -> set[int]:
    """Addok's scan of the rarest list's best ids, for intersections of huge lists."""
    docs, scores = s.intersection(keys[:1])  # HOOK(area): its documents inside, if any
    head = best(docs, scores, MANUAL_SCAN)
    candidates = docs[head]
    keep = np.ones(len(candidates), dtype=bool)
    for key in keys[1:] + s.filters:
        other = s.arrays(key)[0]
        pos = np.searchsorted(other, candidates)
        pos[pos >= len(other)] = 0
        keep &= other[pos] == candidates if len(other) else False
    return set(candidates[keep][: s.wanted].tolist())


def no_meaningful_but_common_try_autocomplete(s: Search):
    if not s.meaningful and s.common:
        autocomplete(s, s.common)
        s.meaningful = s.common[:1]
        if not s.pass_should_match_threshold:
            return False
        if s.bucket_full or s.bucket_overflow or s.has_cream():
            return True


def only_commons_try_autocomplete(s: Search):
    if s.only_commons:
        autocomplete(s, s.tokens, skip_commons=True)
        if not s.bucket_empty:
            return True


def bucket_with_meaningful(s: Search):
    if not s.meaningful:
        return
    if len(s.meaningful) == 1 and s.common and not s.filters:
        for token in s.common:
            if token not in s.meaningful:
                s.meaningful.append(token)
                break
    s.keys = [t.tid for t in s.meaningful]
    if s.bucket_empty:
        s.new_bucket(s.keys, BUCKET_MIN)
        if len(s.bucket) == BUCKET_MIN:
            s.new_bucket(s.keys)
        if not s.autocomplete and s.has_cream() and s.cream < BUCKET_MIN:
            return True
    else:
        s.add_to_bucket(s.keys)


def reduce_with_other_commons(s: Search):
    if s.only_commons:
        return
    for token in s.common:
        if token not in s.meaningful and s.bucket_overflow:
            s.meaningful.append(token)
            s.keys = [t.tid for t in s.meaningful]
            s.new_bucket(s.keys)


def ensure_geohash_results_are_included_if_center_is_given(s: Search):
    if s.bucket_overflow and s.geohash_key:
        s.add_to_bucket(s.keys + [s.geohash_key], max(s.wanted, 10))


def autocomplete_meaningful(s: Search):
    if s.bucket_overflow or not s.autocomplete:
        return
    if s.geohash_key:
        autocomplete(s, s.meaningful, use_geohash=True)
    autocomplete(s, s.meaningful)


def autocomplete(s: Search, tokens: list[QueryToken], skip_commons=False, use_geohash=False):
    last = s.last_token
    others = [t for t in tokens if not t.is_last]
    if any(t.tid < 0 for t in others):
        return  # Addok's pair sets of an unknown word are empty.
    candidates = s.autocomplete_candidates(last)
    if not candidates:
        return
    keys = [t.tid for t in others]
    if len(tokens) == 1:
        candidates.sort(key=lambda t: (-s.index.term_maxscore[t], t))
    else:
        candidates.sort(key=lambda t: (-s.index.frequency(t), t))
    if skip_commons:
        candidates = [t for t in candidates if s.index.frequency(t) <= COMMON_THRESHOLD]
    last_not_found = last is not None and last.tid < 0
    # Once the bucket overflows it stays so: later candidates are skipped.
    stop = None if last_not_found else (lambda: s.bucket_overflow)
    s.extend_with(keys, lambda: candidates, use_geohash=use_geohash, stop=stop)


def fuzzy_collector(s: Search):
    if s.fuzzy and not s.has_cream():
        if s.not_found:
            try_fuzzy(s, s.not_found)
        if s.bucket_dry and not s.has_cream():
            try_fuzzy(s, s.meaningful)
        if s.bucket_dry and not s.has_cream() and s.common:
            try_fuzzy(s, s.meaningful, include_common=False)


def try_fuzzy(s: Search, tokens: list[QueryToken], include_common=True):
    if not s.bucket_dry or not tokens:
        return
    tokens.sort(key=lambda t: len(t.value), reverse=True)
    allkeys = s.keys[:]
    if include_common:
        allkeys.extend(t.tid for t in s.common if t.tid not in s.keys)
    for try_one in tokens:
        if s.bucket_full:
            break
        keys = without(allkeys, try_one.tid)
        if try_one.isdigit():
            continue
        s.extend_with(keys, partial(s.engine.fuzzy_terms, try_one.value), stop=lambda: not s.bucket_dry)


def extend_results_extrapoling_relations(s: Search):
    if not s.bucket_dry:
        return
    tokens = list(dict.fromkeys(s.meaningful + s.common))
    relations = sorted(
        manytomany_relations(s, tokens),
        key=lambda r: (sum(t.frequency for t in r) / len(r), [t.value for t in r]),
    )
    for relation in relations:
        s.add_to_bucket([t.tid for t in relation])
        if s.bucket_overflow:
            break


def co_occur(s: Search, a: QueryToken, b: QueryToken) -> bool:
    """Whether two tokens share a document (Addok's pair sets)."""
    if a.tid < 0 or b.tid < 0:
        return False
    return s.index.co_occur(min(a.tid, b.tid), max(a.tid, b.tid))


def manytomany_relations(s: Search, tokens: list[QueryToken]) -> list[list[QueryToken]]:
    """Groups of query words that share documents two by two (Addok's relations).

    NOTE: Addok grows one group greedily from each word, visiting words in the order
    of a Python set of strings, that is of their salted hashes; balise takes every
    maximal group (Bron-Kerbosch), which includes each group Addok can build.
    """
    words = list({t.value: t for t in tokens}.values())
    linked = {t: {o for o in words if o is not t and co_occur(s, t, o)} for t in words}
    cliques: list[set[QueryToken]] = []

    def grow(clique: set, candidates: set, excluded: set) -> None:
        if not candidates and not excluded:
            cliques.append(clique)
            return
        pivot = max(candidates | excluded, key=lambda t: len(linked[t] & candidates))
        for t in [w for w in words if w in candidates - linked[pivot]]:
            grow(clique | {t}, candidates & linked[t], excluded & linked[t])
            candidates = candidates - {t}
            excluded = excluded | {t}

    grow(set(), set(words), set())
    groups = [[t for t in words if t in c and not t.is_common] for c in cliques]
    groups = [g for g in groups if len(g) > 1]
    unique: list[list[QueryToken]] = []
    for group in sorted(groups, key=len, reverse=True):
        if not any(set(group) <= set(u) for u in unique):
            unique.append(group)
    return unique


def extend_results_reducing_tokens(s: Search):
    if s.bucket_full or s.has_cream():
        return True
    if not s.bucket_dry:
        return
    if s.bucket_empty or len(s.meaningful) - 1 > s.should_match_threshold:
        s.meaningful.sort(key=lambda t: (2 if t.isdigit() else 1, t.frequency), reverse=True)
        for token in s.meaningful:
            keys = without(s.keys, token.tid)
            s.add_to_bucket(keys)
            if s.bucket_overflow:
                break
        if s.bucket_empty and len(s.meaningful) > 3:
            for token, token2 in product(s.meaningful, s.meaningful):
                if token is not token2:
                    keys = without(without(s.keys, token.tid), token2.tid)
                    s.add_to_bucket(keys)
                    if s.bucket_overflow:
                        break


COLLECTORS = [
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
