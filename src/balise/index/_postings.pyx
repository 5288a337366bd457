# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled posting-list algebra: what Addok asks of Redis (ZINTERSTORE, ZREVRANGE) done on
sorted arrays of document numbers with their scores.

Every intersection walks the shortest list and gallops (exponential then binary search)
through the others, so its cost follows the rarest word, never the commonest: at France
scale "rue" is in 2.4 million documents, and intersecting it with a 500-document list reads
a few thousand of them. A list that lacks a document moves the walk on to its own next one
(``next_common``): documents are numbered commune by commune, so the lists of one search
cluster, and whole départements are skipped at once. Scores are summed list by list in the
order given (Addok's: shortest first), as floating-point sums must be for answers to stay
identical.

The best ``limit`` documents are kept in a bounded heap (score descending, then document
number ascending, Redis's order), so a large intersection is never materialized.

A key is a term number (its postings in the index's arrays) or a pair of arrays (a filter,
the block around a centre, an intersection made earlier).

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

import numpy as np


cdef class Postings:
    """The posting lists of an index (``post.*``): each term's documents, ascending, with
    their scores. The search reads them in C (:meth:`term`); Python asks little of them.

    NOTE: no state between calls, so threads of one server worker may share it.
    """

    def __cinit__(self, start, docs, scores, lonlat, extent):
        self.start = start
        self.docs = docs if len(docs) else np.zeros(1, dtype=np.uint32)
        self.scores = scores if len(scores) else np.zeros(1, dtype=np.float64)
        self.lonlat = lonlat.reshape(-1) if len(lonlat) else np.zeros(2, dtype=np.float64)
        self.extent = extent.reshape(-1) if len(extent) else np.zeros(4, dtype=np.float32)

    cdef List term(self, Py_ssize_t term) noexcept nogil:
        cdef List out
        cdef uint64_t first = self.start[term]
        out.length = self.start[term + 1] - first
        out.docs = &self.docs[0] + first
        out.scores = &self.scores[0] + first
        return out

    cdef void set_area(self, const double* box, bint by_extent, Area* out) noexcept nogil:
        """``box``: NULL, or (west, south, east, north); ``by_extent``: a document is allowed
        when its extent meets the box, else when its own point is in it."""
        out.mode = 0
        out.lonlat = &self.lonlat[0]
        out.extent = &self.extent[0]
        if box != NULL:
            out.west, out.south, out.east, out.north = box[0], box[1], box[2], box[3]
            out.mode = 2 if by_extent else 1

    cdef bint share_c(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        cdef List x = self.term(a), y = self.term(b), swap
        cdef Py_ssize_t i, j = 0
        if x.length > y.length:
            swap = x
            x = y
            y = swap
        for i in range(x.length):
            j = gallop(y.docs, j, y.length, x.docs[i])
            if j >= y.length:
                return False
            if y.docs[j] == x.docs[i]:
                return True
        return False

    def frequency(self, Py_ssize_t term) -> int:
        return self.start[term + 1] - self.start[term]

    def share(self, Py_ssize_t a, Py_ssize_t b) -> bool:
        """Whether two terms have a document in common (Addok's pair sets)."""
        return self.share_c(a, b)

    def intersects(self, list terms) -> bool:
        """Whether the terms have a document in common (stops at the first)."""
        cdef List lists[MAX_KEYS]
        cdef Area area
        cdef Py_ssize_t i, count = len(terms)
        if count > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        for i in range(count):
            lists[i] = self.term(terms[i])
        cdef bint found
        self.set_area(NULL, False, &area)
        with nogil:
            found = any_of(lists, count, &area)
        return found

    def intersection(self, list terms):
        """The documents every term has, ascending, with their scores summed list by list,
        shortest first (what a search adds to its bucket; for tests and explanations)."""
        cdef List lists[MAX_KEYS]
        cdef Area area
        cdef Py_ssize_t i, found, count = len(terms)
        if not 0 < count <= MAX_KEYS:
            raise ValueError(f"1 to {MAX_KEYS} keys")
        for i in range(count):
            lists[i] = self.term(terms[i])
        sort_by_length(lists, count)
        self.set_area(NULL, False, &area)
        docs_array = np.empty(lists[0].length, dtype=np.uint32)
        scores_array = np.empty(lists[0].length, dtype=np.float64)
        cdef uint32_t[::1] docs = docs_array
        cdef double[::1] scores = scores_array
        if lists[0].length == 0:
            return docs_array, scores_array
        with nogil:
            found = all_of(lists, count, &area, &docs[0], &scores[0])
        return docs_array[:found], scores_array[:found]
