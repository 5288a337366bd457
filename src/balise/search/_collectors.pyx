# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Addok's collectors (compiled), which fill a search's bucket (``_search.pyx``).

The chain (``COLLECTORS``) and its rules are Addok 1.3's: rare tokens first, common tokens
only to narrow an overflowing bucket, autocomplete on the last token, one-edit fuzzy
matching, groups of related words (``_relations.pyx``), and dropping tokens when the bucket
is dry. :func:`collect` runs it and returns the scorer's best candidates.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort

from itertools import product

import numpy as np

from ..index._postings cimport (
    MAX_KEYS,
    Area,
    Entry,
    Heap,
    List,
    all_of,
    gallop,
    heap_push,
    heap_sort,
)
from ._docs cimport docmap_set
from ._query cimport Query, QueryToken
from ._relations cimport Pairs, manytomany_relations
from ._search cimport BUCKET_MIN, GEOHASH, Search

DEF INTERSECT_LIMIT = 100000
DEF MIN_EDGE_NGRAMS = 3
DEF MAX_EDGE_NGRAMS = 20
DEF MANUAL_SCAN = 501  # Addok's manual_scan looks at the first 501 ids of the rarest list.
DEF COMMON_THRESHOLD = 10000
# The last collector that reads the bucket's matched keys (pass_should_match_threshold):
# after it, the search stops keeping them (PERF: a fuzzy word's every tried term was added).
DEF LAST_MATCHED_READER = 4  # no_meaningful_but_common_try_autocomplete


cpdef list collect(Search s):
    """Run the chain on a search; the columns of its scorer's best candidates (at most the
    limit asked for)."""
    cdef int i
    for i in range(len(COLLECTORS)):
        if run_collector(s, i):
            if s.trace is not None:
                s.note(f"stop at {COLLECTORS[i]}")
            break
        if i == LAST_MATCHED_READER:
            s.keep_matched = False
    s.scorer.convert(&s.docs)
    return s.scorer.best(s.wanted)


cdef list tids(list tokens):
    return [(<QueryToken> t).tid for t in tokens]


cdef list without(list keys, Py_ssize_t key):
    """``keys`` less one occurrence of ``key`` (Addok's ``list.remove``: a word written
    twice is searched twice, and dropping it once keeps the other)."""
    cdef list out = list(keys)
    if key in out:
        out.remove(key)
    return out


# --- collectors (Addok's RESULTS_COLLECTORS, in order) --------------------------------------


COLLECTORS = (
    "only_commons_but_geohash_try_autocomplete",
    "no_tokens_but_housenumbers_and_geohash",
    "no_available_tokens_abort",
    "only_commons",
    "no_meaningful_but_common_try_autocomplete",
    "only_commons_try_autocomplete",
    "bucket_with_meaningful",
    "reduce_with_other_commons",
    "ensure_geohash_results_are_included_if_center_is_given",
    "autocomplete_meaningful",
    "fuzzy_collector",
    "extend_results_extrapoling_relations",
    "extend_results_reducing_tokens",
)


cdef bint run_collector(Search s, int i) except -1:
    if i == 0:
        return only_commons_but_geohash_try_autocomplete(s)
    if i == 1:
        return no_tokens_but_housenumbers_and_geohash(s)
    if i == 2:
        return not s.query.tokens  # no_available_tokens_abort
    if i == 3:
        return only_commons(s)
    if i == 4:
        return no_meaningful_but_common_try_autocomplete(s)
    if i == 5:
        return only_commons_try_autocomplete(s)
    if i == 6:
        return bucket_with_meaningful(s)
    if i == 7:
        return reduce_with_other_commons(s)
    if i == 8:
        return ensure_geohash_results_are_included_if_center_is_given(s)
    if i == 9:
        return autocomplete_meaningful(s)
    if i == 10:
        return fuzzy_collector(s)
    if i == 11:
        return extend_results_extrapoling_relations(s)
    return extend_results_reducing_tokens(s)


cdef bint only_commons_but_geohash_try_autocomplete(Search s) except -1:
    if s.geohash_key() and s.query.commons_only():
        autocomplete(s, s.query.tokens, False, True)
    return False


cdef bint no_tokens_but_housenumbers_and_geohash(Search s) except -1:
    if not s.query.tokens and s.query.housenumbers and s.geohash_key():
        s.new([GEOHASH], BUCKET_MIN)
    return False


cdef bint only_commons(Search s) except -1:
    cdef Query q = s.query
    if not q.commons_only():
        return False
    cdef list keys = tids(q.tokens)
    cdef int geohash = s.geohash_key()
    if geohash:
        keys.append(geohash)
    if len(keys) == 1 or geohash:
        s.add(keys)
    if s.dry() and len(keys) > 1:
        q.tokens = sorted(q.tokens, key=lambda t: t.frequency)
        keys = tids(q.tokens)
        first = <QueryToken> q.tokens[0]
        if first.frequency < INTERSECT_LIMIT:
            s.add(keys)
        else:
            manual_scan(s, keys)
    return False


cdef int manual_scan(Search s, list keys) except -1:
    """Addok's scan of the rarest list's best ids, for intersections of huge lists."""
    cdef List lists[MAX_KEYS]
    cdef Heap heap
    cdef Area area
    cdef List first = s.resolve(keys[0])
    cdef Py_ssize_t i, k, found = 0, count
    cdef uint32_t doc
    cdef double total
    cdef uint32_t* docs = NULL
    cdef double* scores = NULL
    others = keys[1:] + s.filters()
    count = len(others)
    for k in range(count):
        lists[k] = s.resolve(others[k])
    s.set_area(&area)
    heap.items = <Entry*> malloc(MANUAL_SCAN * sizeof(Entry))
    heap.size = 0
    heap.capacity = MANUAL_SCAN
    try:
        if s.has_box:  # the first list's members in the box, then its best
            docs = <uint32_t*> malloc((first.length + 1) * sizeof(uint32_t))
            scores = <double*> malloc((first.length + 1) * sizeof(double))
            first.length = all_of(&first, 1, &area, docs, scores)
            first.docs = docs
            first.scores = scores
        for i in range(first.length):  # positions of the best, ties by position
            heap_push(&heap, first.scores[i], <uint32_t> i)
        heap_sort(&heap)
        for i in range(heap.size):
            doc = first.docs[heap.items[i].doc]
            if all_have(lists, count, doc) and found < s.wanted:
                docmap_set(&s.docs, doc, 0)
                found += 1
    finally:
        free(heap.items)
        free(docs)
        free(scores)
    return 0


cdef bint all_have(const List* lists, Py_ssize_t count, uint32_t doc) noexcept:
    cdef Py_ssize_t k, pos
    for k in range(count):
        pos = gallop(lists[k].docs, 0, lists[k].length, doc)
        if pos >= lists[k].length or lists[k].docs[pos] != doc:
            return False
    return True


cdef bint no_meaningful_but_common_try_autocomplete(Search s) except -1:
    cdef Query q = s.query
    if not q.meaningful and q.common:
        autocomplete(s, q.common, False, False)
        q.meaningful = q.common[:1]
        if not s.pass_should_match_threshold():
            return False
        if s.full() or s.overflow() or s.has_cream():
            return True
    return False


cdef bint only_commons_try_autocomplete(Search s) except -1:
    if s.query.commons_only():
        autocomplete(s, s.query.tokens, True, False)
        if s.docs.size:
            return True
    return False


cdef bint bucket_with_meaningful(Search s) except -1:
    cdef Query q = s.query
    if not q.meaningful:
        return False
    if len(q.meaningful) == 1 and q.common and not q.filter_keys:
        for token in q.common:
            if token not in q.meaningful:
                q.meaningful.append(token)
                break
    s.keys = tids(q.meaningful)
    if not s.docs.size:
        s.new(s.keys, BUCKET_MIN)
        if s.docs.size == BUCKET_MIN:
            s.new(s.keys)
        if not s.autocomplete and s.has_cream() and s.scorer.cream < BUCKET_MIN:
            return True
    else:
        s.add(s.keys)
    return False


cdef bint reduce_with_other_commons(Search s) except -1:
    cdef Query q = s.query
    if q.commons_only():
        return False
    for token in q.common:
        if token not in q.meaningful and s.overflow():
            q.meaningful.append(token)
            s.keys = tids(q.meaningful)
            s.new(s.keys)
    return False


cdef bint ensure_geohash_results_are_included_if_center_is_given(Search s) except -1:
    if s.overflow() and s.geohash_key():
        s.add(s.keys + [GEOHASH], max(s.wanted, 10))
    return False


cdef bint autocomplete_meaningful(Search s) except -1:
    if s.overflow() or not s.autocomplete:
        return False
    if s.geohash_key():
        autocomplete(s, s.query.meaningful, False, True)
    autocomplete(s, s.query.meaningful, False, False)
    return False


cdef struct Candidate:
    int64_t term
    double key


cdef int by_key_then_term(const void* a, const void* b) noexcept nogil:
    """Key descending, then term number ascending (numpy's lexsort of (terms, -key))."""
    cdef const Candidate* x = <const Candidate*> a
    cdef const Candidate* y = <const Candidate*> b
    if x.key != y.key:
        return -1 if x.key > y.key else 1
    return (x.term > y.term) - (x.term < y.term)


cdef int autocomplete(Search s, list tokens, bint skip_commons, bint use_geohash) except -1:
    """Terms the last token may be the beginning of (Addok's edge n-grams), most important
    (one token) or most frequent first, each added to the bucket with the other tokens."""
    cdef QueryToken last = s.query.last_token
    cdef Py_ssize_t i, n = 0, first, stop
    cdef Candidate* candidates
    cdef int64_t[::1] terms
    cdef uint64_t frequency
    cdef const uint64_t[::1] start
    cdef const double[::1] maxscore
    others = [t for t in tokens if not (<QueryToken> t).is_last]
    for t in others:
        if (<QueryToken> t).tid < 0:
            return 0  # Addok's pair sets of an unknown word are empty.
    if last is None or not MIN_EDGE_NGRAMS <= len(last.value) <= MAX_EDGE_NGRAMS:
        return 0
    found = s.index.prefix_range(last.value)
    first, stop = found.start, found.stop
    if stop <= first:
        return 0
    start = s.index.post_start
    maxscore = s.index.term_maxscore
    candidates = <Candidate*> malloc((stop - first) * sizeof(Candidate))
    try:
        for i in range(first, stop):
            if i == last.tid:
                continue
            frequency = start[i + 1] - start[i]
            if skip_commons and frequency > COMMON_THRESHOLD:
                continue
            candidates[n].term = i
            candidates[n].key = maxscore[i] if len(tokens) == 1 else <double> frequency
            n += 1
        if n == 0:
            return 0
        qsort(candidates, n, sizeof(Candidate), by_key_then_term)
        chosen = np.empty(n, dtype=np.int64)
        terms = chosen
        for i in range(n):
            terms[i] = candidates[i].term
    finally:
        free(candidates)
    # Once the bucket overflows it stays so: later candidates are skipped.
    s.extend_with(tids(others), chosen, use_geohash, 0 if last.tid < 0 else 1)
    return 0


cdef bint fuzzy_collector(Search s) except -1:
    cdef Query q = s.query
    if s.fuzzy and not s.has_cream():
        if q.not_found:
            try_fuzzy(s, q.not_found, True)
        if s.dry() and not s.has_cream():
            try_fuzzy(s, q.meaningful, True)
        if s.dry() and not s.has_cream() and q.common:
            try_fuzzy(s, q.meaningful, False)
    return False


cdef int try_fuzzy(Search s, list tokens, bint include_common) except -1:
    cdef QueryToken try_one
    if not s.dry() or not tokens:
        return 0
    tokens.sort(key=lambda t: len(t.value), reverse=True)
    allkeys = s.keys[:]
    if include_common:
        allkeys.extend(t.tid for t in s.query.common if t.tid not in s.keys)
    for t in tokens:
        try_one = <QueryToken> t
        if s.full():
            break
        keys = without(allkeys, try_one.tid)
        if try_one.digits:
            continue
        s.extend_with(keys, try_one.value, False, 2)
    return 0


cdef bint extend_results_extrapoling_relations(Search s) except -1:
    if not s.dry():
        return False
    cdef Query q = s.query
    tokens = list(dict.fromkeys(q.meaningful + q.common))
    relations = sorted(
        manytomany_relations(<Pairs> s.engine.pairs, tokens),
        key=lambda r: (sum(t.frequency for t in r) / len(r), [t.value for t in r]),
    )
    for relation in relations:
        s.add(tids(relation))
        if s.overflow():
            break
    return False


cdef bint extend_results_reducing_tokens(Search s) except -1:
    cdef Query q = s.query
    if s.full() or s.has_cream():
        return True
    if not s.dry():
        return False
    if not s.docs.size or len(q.meaningful) - 1 > q.should_match_threshold:
        q.meaningful.sort(key=lambda t: (2 if t.digits else 1, t.frequency), reverse=True)
        for token in q.meaningful:
            s.add(without(s.keys, (<QueryToken> token).tid))
            if s.overflow():
                break
        if not s.docs.size and len(q.meaningful) > 3:
            for token, token2 in product(q.meaningful, q.meaningful):
                if token is not token2:
                    s.add(without(without(s.keys, (<QueryToken> token).tid), (<QueryToken> token2).tid))
                    if s.overflow():
                        break
    return False
