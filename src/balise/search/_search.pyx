# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One forward search (compiled): its query, its bucket of candidate documents and the
intersections that fill it, its scorer. Addok's collectors, which decide what to intersect,
are in ``_collectors.pyx``.

What Addok asks of Redis (ZINTERSTORE then ZREVRANGE) is the intersection of
``index._postings``: it walks the rarest list, so its cost never follows the commonest word.
A key of an intersection is a term number (>= 0), ``GEOHASH`` (the block of cells around a
centre) or a filter (``FILTER - i`` for the i-th): each resolves to a list of documents.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int64_t, uint32_t
from libc.stdlib cimport free, malloc

import numpy as np

from ..index._postings cimport (
    MAX_KEYS,
    Area,
    Entry,
    Heap,
    List,
    all_of,
    any_of,
    best_of,
    heap_sort,
    sort_by_length,
)
from ._docs cimport docmap_clear, docmap_free, docmap_init, docmap_set
from ._query cimport Query, QueryText

DEF SMALL_BASE = 20000  # fixed keys whose rarest list is this short are intersected once


cdef inline bint contains(const int64_t* keys, Py_ssize_t n, int64_t key) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if keys[i] == key:
            return True
    return False


cdef class Search:
    """One forward search: the query, the bucket, the scorer, and what Addok's collectors share."""

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
        self.keep_matched = True
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
        if self.keep_matched:
            for key in keys:
                if key >= 0:
                    self.matched_keys.add(key)
        limit = limit or (BUCKET_MAX - self.docs.size)
        self.intersect_into(keys, limit)
        if self.trace is not None:
            self.note("add_to_bucket", keys)
        return 0

    cdef int new(self, list keys, Py_ssize_t limit=0) except -1:
        if self.keep_matched:
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
        sets prefilter such terms) and the terms' own lists are not shorter altogether
        (``shorter_alone``); else each term's list drives its own intersection, so "rue" and
        "de" are galloped through, never walked. A word's terms are looked up only once the
        fixed keys are known to share a document.
        """
        cdef List lists[MAX_KEYS]
        cdef Heap heap
        cdef Area area
        cdef Py_ssize_t i, j, n, tried = 0, limit
        cdef uint32_t* base_docs = NULL
        cdef double* base_scores = NULL
        cdef int64_t term
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
        fixed_terms = {k for k in fixed if k >= 0} if self.keep_matched else set()
        n = len(fixed)
        if n + 1 > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        cdef int64_t fixed_keys[MAX_KEYS]  # PERF: each candidate term is checked against them in C
        for i in range(n):
            fixed_keys[i] = fixed[i]
            lists[i] = self.resolve(fixed[i])
        cdef Py_ssize_t n_fixed = n
        cdef bint have_terms = False
        sort_by_length(lists, n)  # Addok sums the shortest first
        self.set_area(&area)
        try:
            if not any_of(lists, n, &area):
                self.matched_keys.update(fixed_terms)
                return 0
            self.terms_of(candidates, &buffer)
            have_terms = True
            terms, count = <const int64_t*> buffer.buf, buffer.len // sizeof(int64_t)
            if lists[0].length <= SMALL_BASE and not self.shorter_alone(lists[0].length, terms, count,
                                                                        fixed_keys, n_fixed):
                base_docs = <uint32_t*> malloc((lists[0].length + 1) * sizeof(uint32_t))
                base_scores = <double*> malloc((lists[0].length + 1) * sizeof(double))
                lists[0].length = all_of(lists, n, &area, base_docs, base_scores)
                lists[0].docs = base_docs
                lists[0].scores = base_scores
                n = 1
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
                if tried and self.keep_matched:
                    self.matched_keys.update(fixed_terms)
                    for i in range(tried):
                        self.matched_keys.add(terms[i])
                if self.trace is not None:
                    for i in range(tried):
                        self.note("add_to_bucket", fixed + [terms[i]])
            finally:
                free(heap.items)
        finally:
            if have_terms:
                PyBuffer_Release(&buffer)
            free(base_docs)
            free(base_scores)
        return 0

    cdef bint shorter_alone(self, Py_ssize_t base, const int64_t* terms, Py_ssize_t count,
                            const int64_t* fixed, Py_ssize_t n_fixed) noexcept:
        """Whether the candidate terms' lists are shorter altogether than the shortest fixed
        list (``base`` documents): then each term's list drives its own intersection with the
        fixed lists, and their intersection is never made (a term among them walks it).

        PERF: "provence" (4,400 streets) misspelt, beside "75", "paris", "rue" and "de": the
        fixed lists' intersection is every street of Paris (~80 us), its few neighbours'
        lists a few dozen documents. The sums are the same either way: the fixed lists' scores
        in their order, then the term's."""
        cdef Py_ssize_t i, total = 0
        for i in range(count):
            total += base if contains(fixed, n_fixed, terms[i]) else self.postings.term(terms[i]).length
            if total >= base:
                return False
        return True

    cdef int terms_of(self, object candidates, Py_buffer* buffer) except -1:
        """The int64 terms of ``candidates`` (an array, or a word: its one-edit terms) as a
        buffer (PERF: not a typed memoryview, whose checks cost more than a short loop)."""
        if isinstance(candidates, str):
            candidates = self.engine.fuzzy_terms(candidates)
        PyObject_GetBuffer(candidates, buffer, PyBUF_C_CONTIGUOUS)
        return 0

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

    @property
    def bucket_size(self) -> int:
        return self.docs.size
