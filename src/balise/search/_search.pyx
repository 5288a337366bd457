# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One forward search (compiled): the bucket of candidate documents and Addok's collectors,
which fill it.

The chain (``COLLECTORS``) and its rules are Addok 1.3's: rare tokens first, common tokens
only to narrow an overflowing bucket, autocomplete on the last token, one-edit fuzzy
matching, groups of related words, and dropping tokens when the bucket is dry. What Addok
asks of Redis (ZINTERSTORE then ZREVRANGE) is the intersection of ``index._postings``: it
walks the rarest list, so its cost never follows the commonest word.

A key of an intersection is a term number (>= 0), ``GEOHASH`` (the block of cells around a
centre) or a filter (``FILTER - i`` for the i-th): each resolves to a list of documents.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort

from itertools import product

import numpy as np

from ..index._postings cimport (
    MAX_KEYS,
    Area,
    Entry,
    Heap,
    List,
    Postings,
    all_of,
    any_of,
    best_of,
    gallop,
    heap_push,
    heap_sort,
    sort_by_length,
)
from ._docs cimport DocMap, docmap_clear, docmap_free, docmap_init, docmap_set
from ._query cimport Query, QueryText, QueryToken
from ._scorer cimport IndexView, Scorer

DEF BUCKET_MIN = 10
DEF BUCKET_MAX = 100
DEF INTERSECT_LIMIT = 100000
DEF MIN_EDGE_NGRAMS = 3
DEF MAX_EDGE_NGRAMS = 20
DEF MANUAL_SCAN = 501  # Addok's manual_scan looks at the first 501 ids of the rarest list.
DEF SMALL_BASE = 20000  # fixed keys whose rarest list is this short are intersected once
DEF COMMON_THRESHOLD = 10000
DEF GEOHASH = -1
DEF FILTER = -2
DEF MAX_SPECIAL = 8  # the geohash block and the filters (at most one per filter name)
DEF PAIRS_CACHE = 50000


cdef inline bint contains(const int64_t* keys, Py_ssize_t n, int64_t key) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if keys[i] == key:
            return True
    return False


cdef class Search:
    """One forward search: the query, the bucket, the scorer, and what Addok's collectors share."""

    cdef object engine
    cdef object index
    cdef Postings postings
    cdef readonly Query query
    cdef readonly Py_ssize_t wanted
    cdef readonly bint autocomplete
    cdef bint fuzzy
    cdef object lat, lon
    cdef public list trace
    cdef readonly object area
    cdef bint has_box
    cdef double box[4]
    cdef bint box_by_extent
    cdef readonly Scorer scorer
    # the bucket
    cdef DocMap docs
    cdef list keys  # the bucket's keys (term numbers)
    cdef set matched_keys
    # the lists of the keys that are not terms: GEOHASH, then the filters
    cdef List special[MAX_SPECIAL]
    cdef list special_arrays  # what they point into
    cdef int geohash  # -1 not looked at yet, 0 no centre or nothing near it, 1 the block

    def __cinit__(self):
        docmap_init(&self.docs, 256)

    def __dealloc__(self):
        docmap_free(&self.docs)

    def __init__(self, engine, QueryText text, Py_ssize_t limit=5, bint autocomplete=False, lat=None,
                 lon=None, dict filters=None, bint fuzzy=True, bint trailing_number_as_housenumber=False,
                 bint extract=True, area=None, bint trace=False):
        cdef Py_ssize_t i
        cdef const uint32_t[::1] docs
        cdef const double[::1] scores
        self.engine = engine
        self.index = engine.index
        self.postings = engine.index.postings_lists
        self.wanted = limit
        self.autocomplete = autocomplete
        self.fuzzy = fuzzy
        self.lat, self.lon = lat, lon
        self.trace = [] if trace else None
        self.query = Query(engine, text, filters or {}, trailing_number_as_housenumber, extract)
        self.area = area
        self.has_box = area is not None
        if area is not None:
            self.box[0], self.box[1], self.box[2], self.box[3] = area.west, area.south, area.east, area.north
            self.box_by_extent = bool(self.query.housenumber_key and self.query.check_housenumber)
        self.keys = []
        self.matched_keys = set()
        self.geohash = -1
        self.special_arrays = []
        for i in range(len(self.query.filter_docs)):
            ones = np.ones(len(self.query.filter_docs[i]))
            self.special_arrays.append(ones)
            docs = self.query.filter_docs[i]
            scores = ones
            self.special[1 + i].docs = &docs[0] if docs.shape[0] else NULL
            self.special[1 + i].scores = &scores[0] if scores.shape[0] else NULL
            self.special[1 + i].length = docs.shape[0]
        self.scorer = Scorer(engine.view, self.query, area, autocomplete, lat, lon, engine.other_postcodes,
                             self.trace)

    # --- keys and intersections ----------------------------------------------------------

    cdef list filters(self):
        return [FILTER - i for i in range(len(self.query.filter_keys))]

    cdef int geohash_key(self) except -2:
        """GEOHASH when a centre is given and documents lie in the block of cells around it,
        else 0 (no key)."""
        cdef const uint32_t[::1] docs
        cdef const double[::1] scores
        if self.geohash < 0:
            self.geohash = 0
            if self.lat is not None and self.lon is not None:
                near = self.index.docs_near(self.lon, self.lat)
                if len(near):
                    ones = np.ones(len(near))
                    self.special_arrays += [near, ones]
                    docs = near
                    scores = ones
                    self.special[0].docs = &docs[0]
                    self.special[0].scores = &scores[0]
                    self.special[0].length = docs.shape[0]
                    self.geohash = 1
        return GEOHASH if self.geohash else 0

    cdef inline List resolve(self, Py_ssize_t key) noexcept:
        if key >= 0:
            return self.postings.term(key)
        return self.special[-key - 1]

    cdef void set_area(self, Area* area) noexcept:
        self.postings.set_area(self.box if self.has_box else NULL, self.box_by_extent, area)

    cdef list unique(self, list keys):
        """keys, then the filters, each once, in order (Addok's dict.fromkeys)."""
        cdef list out = []
        for key in keys + self.filters() if self.query.filter_keys else keys:
            if key not in out:
                out.append(key)
        return out

    cdef int intersect_into(self, list keys, Py_ssize_t limit) except -1:
        """Addok's ZINTERSTORE + ZREVRANGE: the best ``limit`` documents having every key,
        added to the bucket."""
        cdef List lists[MAX_KEYS]
        cdef Heap heap
        cdef Area area
        cdef Py_ssize_t i, count, found
        cdef uint32_t* docs
        cdef double* scores
        if not limit > 0:
            limit = max(self.wanted, BUCKET_MAX)
        if not keys:
            return 0
        keys = self.unique(keys)
        count = len(keys)
        if count > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        for i in range(count):
            lists[i] = self.resolve(keys[i])
        self.set_area(&area)
        if count == 1 and keys[0] < 0:  # all members
            docs = <uint32_t*> malloc((lists[0].length + 1) * sizeof(uint32_t))
            scores = <double*> malloc((lists[0].length + 1) * sizeof(double))
            try:
                found = all_of(lists, 1, &area, docs, scores)
                for i in range(found):
                    docmap_set(&self.docs, docs[i], 0)
            finally:
                free(docs)
                free(scores)
            return 0
        sort_by_length(lists, count)
        heap.items = <Entry*> malloc(limit * sizeof(Entry))
        heap.size = 0
        heap.capacity = limit
        try:
            best_of(lists, count, &area, &heap)
            heap_sort(&heap)
            for i in range(heap.size):
                docmap_set(&self.docs, heap.items[i].doc, 0)
        finally:
            free(heap.items)
        return 0

    cdef int add(self, list keys, Py_ssize_t limit=0) except -1:
        for key in keys:
            if key >= 0:
                self.matched_keys.add(key)
        limit = limit or (BUCKET_MAX - self.docs.size)
        self.intersect_into(keys, limit)
        if self.trace is not None:
            self.note("add_to_bucket", keys)
        return 0

    cdef int new(self, list keys, Py_ssize_t limit=0) except -1:
        self.matched_keys = {k for k in keys if k >= 0}
        docmap_clear(&self.docs)
        self.intersect_into(keys, limit)
        if self.trace is not None:
            self.note("new_bucket", keys)
        return 0

    cdef int extend_with(self, list keys, object candidates, bint use_geohash, int stop_when) except -1:
        """``add(keys + [term])`` for each term of ``candidates`` (int64 term numbers, or a
        word: the terms one edit away from it, looked up only when needed), as Addok's
        autocomplete and fuzzy do; ``stop_when`` 1 stops once the bucket overflows, 2 once it
        holds what is wanted.

        PERF: the fixed keys' intersection is made once when it is small (as Addok's pair
        sets prefilter such terms); when every fixed list is long, each term's list drives
        its own intersection, so "rue" and "de" are galloped through, never walked.
        """
        cdef List lists[MAX_KEYS]
        cdef Heap heap
        cdef Area area
        cdef Py_ssize_t i, j, n, tried = 0, limit
        cdef uint32_t* base_docs = NULL
        cdef double* base_scores = NULL
        cdef int64_t term
        cdef bint empty
        cdef Py_buffer buffer
        cdef const int64_t* terms = NULL
        cdef Py_ssize_t count = 0
        cdef int geohash = self.geohash_key() if use_geohash else 0
        fixed = self.unique(keys + ([geohash] if geohash else []))
        if not fixed:
            self.terms_of(candidates, &buffer)
            terms, count = <const int64_t*> buffer.buf, buffer.len // sizeof(int64_t)
            try:
                for i in range(count):
                    if stop_when == 1 and self.docs.size >= BUCKET_MAX or stop_when == 2 and not self.docs.size < self.wanted:
                        break
                    self.add([terms[i]])
            finally:
                PyBuffer_Release(&buffer)
            return 0
        fixed_terms = {k for k in fixed if k >= 0}
        n = len(fixed)
        if n + 1 > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        cdef int64_t fixed_keys[MAX_KEYS]  # PERF: each candidate term is checked against them in C
        for i in range(n):
            fixed_keys[i] = fixed[i]
            lists[i] = self.resolve(fixed[i])
        cdef Py_ssize_t n_fixed = n
        sort_by_length(lists, n)  # Addok sums the shortest first
        self.set_area(&area)
        try:
            if lists[0].length <= SMALL_BASE:
                base_docs = <uint32_t*> malloc((lists[0].length + 1) * sizeof(uint32_t))
                base_scores = <double*> malloc((lists[0].length + 1) * sizeof(double))
                lists[0].length = all_of(lists, n, &area, base_docs, base_scores)
                lists[0].docs = base_docs
                lists[0].scores = base_scores
                n = 1
                empty = lists[0].length == 0
            else:
                empty = not any_of(lists, n, &area)
            if empty:
                self.matched_keys.update(fixed_terms)
                return 0
            self.terms_of(candidates, &buffer)
            terms, count = <const int64_t*> buffer.buf, buffer.len // sizeof(int64_t)
            heap.items = <Entry*> malloc(max(self.wanted, BUCKET_MAX) * sizeof(Entry))
            try:
                for i in range(count):
                    if ((stop_when == 1 and self.docs.size >= BUCKET_MAX)
                            or (stop_when == 2 and self.docs.size >= self.wanted)):
                        break
                    tried += 1
                    term = terms[i]
                    j = n
                    if not contains(fixed_keys, n_fixed, term):
                        lists[n] = self.postings.term(term)
                        j = n + 1
                    limit = BUCKET_MAX - self.docs.size
                    heap.capacity = limit if limit > 0 else max(self.wanted, BUCKET_MAX)
                    heap.size = 0
                    best_of(lists, j, &area, &heap)
                    for j in range(heap.size):
                        docmap_set(&self.docs, heap.items[j].doc, 0)
                if tried:
                    self.matched_keys.update(fixed_terms)
                    for i in range(tried):
                        self.matched_keys.add(terms[i])
                if self.trace is not None:
                    for i in range(tried):
                        self.note("add_to_bucket", fixed + [terms[i]])
            finally:
                free(heap.items)
                PyBuffer_Release(&buffer)
        finally:
            free(base_docs)
            free(base_scores)
        return 0

    cdef int terms_of(self, object candidates, Py_buffer* buffer) except -1:
        """The int64 terms of ``candidates`` (an array, or a word: its one-edit terms) as a
        buffer (PERF: not a typed memoryview, whose checks cost more than a short loop)."""
        if isinstance(candidates, str):
            candidates = self.engine.fuzzy_terms(candidates)
        PyObject_GetBuffer(candidates, buffer, PyBUF_C_CONTIGUOUS)
        return 0

    # --- the bucket's state -----------------------------------------------------------------

    cdef inline bint full(self) noexcept:
        return self.wanted <= self.docs.size < BUCKET_MAX

    cdef inline bint overflow(self) noexcept:
        return self.docs.size >= BUCKET_MAX

    cdef inline bint dry(self) noexcept:
        return self.docs.size < self.wanted

    cdef inline bint pass_should_match_threshold(self) noexcept:
        return len(self.matched_keys) >= self.query.should_match_threshold

    cdef bint has_cream(self) except -1:
        return self.scorer.has_cream(&self.docs)

    def note(self, action, keys=None):
        """A step of the collectors, in the trace (debug answers only)."""
        if self.trace is not None:
            self.trace.append(action if keys is None else f"{action} {self.describe(keys)} -> {self.docs.size}")

    def describe(self, keys) -> list:
        filters = self.query.filter_keys
        return [self.index.terms[k] if k >= 0 else "geohash" if k == GEOHASH else str(filters[FILTER - k])
                for k in keys]

    # --- running it ---------------------------------------------------------------------------

    def run(self) -> list:
        """Columns of the scorer's best candidates (at most the limit asked for)."""
        for i in range(len(COLLECTORS)):
            if run_collector(self, i):
                if self.trace is not None:
                    self.note(f"stop at {COLLECTORS[i]}")
                break
        self.scorer.convert(&self.docs)
        return self.scorer.best(self.wanted)

    @property
    def bucket_size(self) -> int:
        return self.docs.size


cdef class Pairs:
    """Whether two terms share a document (what Addok keeps as pair sets), cached: the
    relations collector asks it of every two words of a query."""

    cdef Postings postings
    cdef dict cache

    def __init__(self, Postings postings):
        self.postings = postings
        self.cache = {}

    cdef bint share(self, Py_ssize_t a, Py_ssize_t b) except -1:
        cdef object key = (min(a, b) << 32) | max(a, b)
        cdef object found = self.cache.get(key)
        if found is None:
            if len(self.cache) >= PAIRS_CACHE:
                self.cache.clear()
            found = self.cache[key] = self.postings.share_c(a, b)
        return found

    def __call__(self, Py_ssize_t a, Py_ssize_t b) -> bool:
        return self.share(a, b)


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
    if s.geohash_key() and s.query.only_commons:
        autocomplete(s, s.query.tokens, False, True)
    return False


cdef bint no_tokens_but_housenumbers_and_geohash(Search s) except -1:
    if not s.query.tokens and s.query.housenumbers and s.geohash_key():
        s.new([GEOHASH], BUCKET_MIN)
    return False


cdef bint only_commons(Search s) except -1:
    cdef Query q = s.query
    if not q.only_commons:
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
    if s.query.only_commons:
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
    if q.only_commons:
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
        manytomany_relations(s, tokens),
        key=lambda r: (sum(t.frequency for t in r) / len(r), [t.value for t in r]),
    )
    for relation in relations:
        s.add(tids(relation))
        if s.overflow():
            break
    return False


cdef extern from *:
    """static inline int balise_popcount64(unsigned long long v) { return __builtin_popcountll(v); }"""
    int popcount "balise_popcount64"(unsigned long long v) noexcept nogil


cdef list manytomany_relations(Search s, list tokens):
    """Groups of query words that share documents two by two (Addok's relations).

    NOTE: Addok grows one group greedily from each word, visiting words in the order
    of a Python set of strings, that is of their salted hashes; balise takes every
    maximal group (Bron-Kerbosch with a pivot, over bit sets), which includes each group
    Addok can build. The groups kept do not depend on the order cliques are found in: longer
    ones come first, a group is dropped when inside a kept one, and the collector sorts them.
    """
    cdef list words = list({t.value: t for t in tokens}.values())
    cdef Py_ssize_t i, j, n = len(words), width = (len(words) + 63) // 64
    cdef QueryToken a, b
    # linked[i * width:(i + 1) * width]: bit j set when words i and j share a document; then
    # the search's stack, three bit sets (clique, candidates, excluded) per depth.
    cdef uint64_t* linked = <uint64_t*> calloc(n * width + (n + 2) * 3 * width + 1, sizeof(uint64_t))
    cdef uint64_t* stack
    if linked == NULL:
        raise MemoryError()
    cliques = []
    try:
        for i in range(n):
            a = <QueryToken> words[i]
            for j in range(i + 1, n):
                b = <QueryToken> words[j]
                if a.tid >= 0 and b.tid >= 0 and (<Pairs> s.engine.pairs).share(a.tid, b.tid):
                    linked[i * width + j // 64] |= 1ULL << (j % 64)
                    linked[j * width + i // 64] |= 1ULL << (i % 64)
        stack = linked + n * width
        for i in range(n):  # every word a candidate
            stack[width + i // 64] |= 1ULL << (i % 64)
        grow(n, width, linked, stack, cliques)
    finally:
        free(linked)
    groups = []
    for clique in cliques:
        group = [words[i] for i in clique if not (<QueryToken> words[i]).is_common]
        if len(group) > 1:
            groups.append(group)
    unique = []
    for group in sorted(groups, key=len, reverse=True):
        if not any(set(group) <= set(u) for u in unique):
            unique.append(group)
    return unique


cdef inline bint has(const uint64_t* bits, Py_ssize_t i) noexcept nogil:
    return (bits[i // 64] >> (i % 64)) & 1


cdef int grow(Py_ssize_t n, Py_ssize_t width, const uint64_t* linked, uint64_t* level,
              list cliques) except -1:
    """Bron-Kerbosch with a pivot: every maximal clique of ``linked`` into ``cliques`` (each
    a list of word positions). ``level`` holds this call's clique, candidates and excluded
    bit sets, ``width`` words each; the next call's follow them.

    PERF: bit sets of C words, not Python ints."""
    cdef uint64_t* clique = level
    cdef uint64_t* candidates = level + width
    cdef uint64_t* excluded = level + 2 * width
    cdef uint64_t* deeper = level + 3 * width
    cdef const uint64_t* neighbours
    cdef Py_ssize_t i, w, best = -1, degree, most = -1
    cdef bint empty = True
    for w in range(width):
        if candidates[w] or excluded[w]:
            empty = False
            break
    if empty:
        cliques.append([i for i in range(n) if has(clique, i)])
        return 0
    for i in range(n):  # the pivot: the word with the most neighbours among the candidates
        if has(candidates, i) or has(excluded, i):
            degree = 0
            for w in range(width):
                degree += popcount(linked[i * width + w] & candidates[w])
            if degree > most:
                best, most = i, degree
    for i in range(n):
        if has(candidates, i) and not has(linked + best * width, i):
            neighbours = linked + i * width
            for w in range(width):
                deeper[w] = clique[w]
                deeper[width + w] = candidates[w] & neighbours[w]
                deeper[2 * width + w] = excluded[w] & neighbours[w]
            deeper[i // 64] |= 1ULL << (i % 64)
            grow(n, width, linked, deeper, cliques)
            candidates[i // 64] &= ~(1ULL << (i % 64))
            excluded[i // 64] |= 1ULL << (i % 64)
    return 0


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
