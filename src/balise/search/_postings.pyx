# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled posting-list algebra: what Addok asks of Redis (ZINTERSTORE, ZREVRANGE) done on
sorted arrays of document numbers with their scores.

Every intersection walks the shortest list and gallops (exponential then binary search)
through the others, so its cost follows the rarest word, never the commonest: at France
scale "rue" is in 2.4 million documents, and intersecting it with a 500-document list reads
a few thousand of them. Scores are summed list by list in the order given (shortest first),
as floating-point sums must be for answers to stay identical.

The best ``limit`` documents are kept in a bounded heap (score descending, then document
number ascending, Redis's order), so a large intersection is never materialized.

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc

import numpy as np

ctypedef const uint32_t[::1] Docs
ctypedef const double[::1] Scores


cdef inline Py_ssize_t gallop(const uint32_t* a, Py_ssize_t lo, Py_ssize_t n, uint32_t x) noexcept nogil:
    """The first position >= lo whose value is >= x (n when none)."""
    cdef Py_ssize_t step = 1, hi = lo, mid
    if lo >= n or a[lo] >= x:
        return lo
    while True:  # a[lo] < x: find hi with a[hi] >= x
        hi = lo + step
        if hi >= n:
            hi = n
            break
        if a[hi] >= x:
            break
        lo = hi
        step *= 2
    lo += 1
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- a bounded heap of the best documents ---------------------------------------------------


cdef struct Entry:
    double score
    uint32_t doc


cdef inline bint worse(Entry a, Entry b) noexcept nogil:
    """Whether a ranks after b (lower score; equal scores: higher document number)."""
    return a.score < b.score or (a.score == b.score and a.doc > b.doc)


cdef struct Heap:
    Entry* items
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline void heap_push(Heap* h, double score, uint32_t doc) noexcept nogil:
    """Offer a document; the heap keeps the ``capacity`` best, its worst at the root."""
    cdef Entry e
    cdef Py_ssize_t i, parent, child
    e.score = score
    e.doc = doc
    if h.size < h.capacity:
        i = h.size
        h.size += 1
        while i > 0:
            parent = (i - 1) // 2
            if worse(e, h.items[parent]):
                h.items[i] = h.items[parent]
                i = parent
            else:
                break
        h.items[i] = e
        return
    if not worse(h.items[0], e):
        return
    i = 0
    while True:
        child = 2 * i + 1
        if child >= h.size:
            break
        if child + 1 < h.size and worse(h.items[child + 1], h.items[child]):
            child += 1
        if worse(h.items[child], e):
            h.items[i] = h.items[child]
            i = child
        else:
            break
    h.items[i] = e


cdef object heap_docs(Heap* h):
    """The documents of the heap, best first, as an int64 array."""
    cdef Py_ssize_t n = h.size, i, j
    cdef Entry e
    # Sort the few entries best first (insertion sort: at most a few hundred).
    for i in range(1, n):
        e = h.items[i]
        j = i - 1
        while j >= 0 and worse(h.items[j], e):
            h.items[j + 1] = h.items[j]
            j -= 1
        h.items[j + 1] = e
    out_array = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] out = out_array
    for i in range(n):
        out[i] = h.items[i].doc
    return out_array


# --- intersections ----------------------------------------------------------------------


cdef class Lists:
    """Sorted document lists with their scores, shortest first, as C pointers."""

    cdef const uint32_t** docs
    cdef const double** scores
    cdef Py_ssize_t* lengths
    cdef Py_ssize_t count
    cdef list keep  # the arrays, alive while the pointers are used

    def __cinit__(self, list arrays):
        cdef Py_ssize_t i
        cdef Docs d
        cdef Scores s
        self.count = len(arrays)
        self.keep = arrays
        self.docs = <const uint32_t**> malloc(max(self.count, 1) * sizeof(uint32_t*))
        self.scores = <const double**> malloc(max(self.count, 1) * sizeof(double*))
        self.lengths = <Py_ssize_t*> malloc(max(self.count, 1) * sizeof(Py_ssize_t))
        for i in range(self.count):
            d = arrays[i][0]
            s = arrays[i][1]
            self.lengths[i] = d.shape[0]
            self.docs[i] = &d[0] if d.shape[0] else NULL
            self.scores[i] = &s[0] if s.shape[0] else NULL

    def __dealloc__(self):
        free(self.docs)
        free(self.scores)
        free(self.lengths)


cdef inline Py_ssize_t shortest(Lists lists) noexcept nogil:
    cdef Py_ssize_t k, best = 0
    for k in range(1, lists.count):
        if lists.lengths[k] < lists.lengths[best]:
            best = k
    return best


cdef inline bint member(Lists lists, Py_ssize_t driver, Py_ssize_t i, Py_ssize_t* cursors,
                        double* total) noexcept nogil:
    """Whether the i-th document of the driver list is in every list; if so, total is its
    scores summed in the order of the lists (floating-point sums depend on the order)."""
    cdef uint32_t doc = lists.docs[driver][i]
    cdef Py_ssize_t k, pos
    cdef double sum = 0
    for k in range(lists.count):
        if k == driver:
            pos = i
        else:
            pos = gallop(lists.docs[k], cursors[k], lists.lengths[k], doc)
            cursors[k] = pos
            if pos >= lists.lengths[k] or lists.docs[k][pos] != doc:
                return False
        sum = lists.scores[k][pos] if k == 0 else sum + lists.scores[k][pos]
    total[0] = sum
    return True


def intersect(list arrays):
    """Documents in every list, with their scores summed in the order of the lists."""
    cdef Lists lists = Lists(arrays)
    if lists.count == 0:
        return np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.float64)
    cdef Py_ssize_t driver = shortest(lists)
    cdef Py_ssize_t n = lists.lengths[driver], i, found = 0
    docs_array = np.empty(n, dtype=np.uint32)
    scores_array = np.empty(n, dtype=np.float64)
    cdef uint32_t[::1] out_docs = docs_array
    cdef double[::1] out_scores = scores_array
    cdef Py_ssize_t* cursors = <Py_ssize_t*> malloc(lists.count * sizeof(Py_ssize_t))
    cdef double total
    with nogil:
        for i in range(lists.count):
            cursors[i] = 0
        for i in range(n):
            if member(lists, driver, i, cursors, &total):
                out_docs[found] = lists.docs[driver][i]
                out_scores[found] = total
                found += 1
    free(cursors)
    return docs_array[:found], scores_array[:found]


def intersect_best(list arrays, Py_ssize_t limit):
    """The best ``limit`` documents in every list (score summed in the order of the lists,
    descending, then number ascending), best first, as int64; without materializing the
    intersection."""
    cdef Lists lists = Lists(arrays)
    cdef Heap heap
    if lists.count == 0 or limit <= 0:
        return np.empty(0, dtype=np.int64)
    cdef Py_ssize_t driver = shortest(lists)
    cdef Py_ssize_t n = lists.lengths[driver], i
    if n == 0:
        return np.empty(0, dtype=np.int64)
    cdef Py_ssize_t* cursors = <Py_ssize_t*> malloc(lists.count * sizeof(Py_ssize_t))
    heap.items = <Entry*> malloc(limit * sizeof(Entry))
    heap.size = 0
    heap.capacity = limit
    cdef double total
    with nogil:
        for i in range(lists.count):
            cursors[i] = 0
        for i in range(n):
            if member(lists, driver, i, cursors, &total):
                heap_push(&heap, total, lists.docs[driver][i])
    free(cursors)
    try:
        return heap_docs(&heap)
    finally:
        free(heap.items)


def intersects(list arrays) -> bool:
    """Whether the lists have a document in common (stops at the first)."""
    cdef Lists lists = Lists(arrays)
    if lists.count == 0:
        return False
    cdef Py_ssize_t driver = shortest(lists), i, n = lists.lengths[driver]
    cdef Py_ssize_t* cursors = <Py_ssize_t*> malloc(lists.count * sizeof(Py_ssize_t))
    cdef double total
    cdef bint found = False
    with nogil:
        for i in range(lists.count):
            cursors[i] = 0
        for i in range(n):
            if member(lists, driver, i, cursors, &total):
                found = True
                break
    free(cursors)
    return found


def best(const uint32_t[::1] docs, const double[::1] scores, Py_ssize_t limit):
    """Positions of the best ``limit`` documents of one list, best first (int64)."""
    cdef Heap heap
    cdef Py_ssize_t n = docs.shape[0], i
    if limit <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if limit > n:
        limit = n
    # The heap holds positions: a position's document orders ties, as the list is sorted.
    heap.items = <Entry*> malloc(limit * sizeof(Entry))
    heap.size = 0
    heap.capacity = limit
    with nogil:
        for i in range(n):
            heap_push(&heap, scores[i], <uint32_t> i)
    try:
        return heap_docs(&heap)
    finally:
        free(heap.items)


def share_a_document(const uint32_t[::1] a, const uint32_t[::1] b) -> bool:
    """Whether two sorted lists have a document in common (Addok's pair sets)."""
    cdef Py_ssize_t i = 0, j = 0, na = a.shape[0], nb = b.shape[0]
    if na > nb:
        a, b = b, a
        na, nb = nb, na
    cdef bint shared = False
    if na == 0:
        return False
    with nogil:
        for i in range(na):
            j = gallop(&b[0], j, nb, a[i])
            if j >= nb:
                break
            if b[j] == a[i]:
                shared = True
                break
    return shared


def members(const uint32_t[::1] values, const uint32_t[::1] sorted_set):
    """For each value (sorted or not), whether it is in the sorted set (a bool array)."""
    cdef Py_ssize_t i, n = values.shape[0], m = sorted_set.shape[0], pos
    out_array = np.zeros(n, dtype=np.bool_)
    cdef uint8_t[::1] out = out_array.view(np.uint8)
    if m == 0:
        return out_array
    with nogil:
        for i in range(n):
            pos = gallop(&sorted_set[0], 0, m, values[i])
            out[i] = pos < m and sorted_set[pos] == values[i]
    return out_array
