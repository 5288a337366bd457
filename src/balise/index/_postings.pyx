# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled posting-list algebra: what Addok asks of Redis (ZINTERSTORE, ZREVRANGE) done on
sorted arrays of document numbers with their scores.

Every intersection walks the shortest list and gallops (exponential then binary search)
through the others, so its cost follows the rarest word, never the commonest: at France
scale "rue" is in 2.4 million documents, and intersecting it with a 500-document list reads
a few thousand of them. Scores are summed list by list in the order given (Addok's: shortest
first), as floating-point sums must be for answers to stay identical.

The best ``limit`` documents are kept in a bounded heap (score descending, then document
number ascending, Redis's order), so a large intersection is never materialized.

A key is a term number (its postings in the index's arrays) or a pair of arrays (a filter,
the block around a centre, an intersection made earlier).

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

DEF MAX_KEYS = 256


cdef struct List:
    const uint32_t* docs
    const double* scores
    Py_ssize_t length


# Documents allowed by a box (degrees): mode 0 all, 1 those whose own point is in it, 2 those
# whose extent (their point and their house numbers') meets it.
cdef struct Area:
    int mode
    double west, south, east, north
    const double* lonlat
    const float* extent


cdef inline bint allowed(const Area* area, uint32_t doc) noexcept nogil:
    cdef double x, y
    if area.mode == 0:
        return True
    if area.mode == 1:
        x = area.lonlat[2 * doc]
        y = area.lonlat[2 * doc + 1]
        return area.west <= x <= area.east and area.south <= y <= area.north
    return (area.extent[4 * doc] <= area.east and area.extent[4 * doc + 2] >= area.west
            and area.extent[4 * doc + 1] <= area.north and area.extent[4 * doc + 3] >= area.south)


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


cdef void heap_sort(Heap* h) noexcept nogil:
    """Order the entries best first (insertion sort: a heap holds a few hundred)."""
    cdef Py_ssize_t i, j
    cdef Entry e
    for i in range(1, h.size):
        e = h.items[i]
        j = i - 1
        while j >= 0 and worse(h.items[j], e):
            h.items[j + 1] = h.items[j]
            j -= 1
        h.items[j + 1] = e


# --- intersections ----------------------------------------------------------------------


cdef inline Py_ssize_t shortest(List* lists, Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t k, best = 0
    for k in range(1, count):
        if lists[k].length < lists[best].length:
            best = k
    return best


cdef inline bint member(List* lists, Py_ssize_t count, Py_ssize_t driver, Py_ssize_t i,
                        Py_ssize_t* cursors, double* total) noexcept nogil:
    """Whether the i-th document of the driver list is in every list; if so, total is its
    scores summed in the order of the lists."""
    cdef uint32_t doc = lists[driver].docs[i]
    cdef Py_ssize_t k, pos
    cdef double sum = 0
    for k in range(count):
        if k == driver:
            pos = i
        else:
            pos = gallop(lists[k].docs, cursors[k], lists[k].length, doc)
            cursors[k] = pos
            if pos >= lists[k].length or lists[k].docs[pos] != doc:
                return False
        sum = lists[k].scores[pos] if k == 0 else sum + lists[k].scores[pos]
    total[0] = sum
    return True


cdef void best_of(List* lists, Py_ssize_t count, const Area* area, Heap* heap) noexcept nogil:
    """Offer every document of the intersection (in the area) to the heap."""
    cdef Py_ssize_t cursors[MAX_KEYS]
    cdef Py_ssize_t driver = shortest(lists, count), i
    cdef double total
    for i in range(count):
        cursors[i] = 0
    for i in range(lists[driver].length):
        if member(lists, count, driver, i, cursors, &total) and allowed(area, lists[driver].docs[i]):
            heap_push(heap, total, lists[driver].docs[i])


cdef class Postings:
    """The posting lists of an index, and the intersections of Addok's collectors.

    NOTE: no state between calls (each call has its lists on the stack and its own heap),
    so threads of one server worker may share it.
    """

    cdef const uint64_t[::1] start
    cdef const uint32_t[::1] docs
    cdef const double[::1] scores
    cdef const double[::1] lonlat
    cdef const float[::1] extent

    def __cinit__(self, start, docs, scores, lonlat, extent):
        self.start = start
        self.docs = docs if len(docs) else np.zeros(1, dtype=np.uint32)
        self.scores = scores if len(scores) else np.zeros(1, dtype=np.float64)
        self.lonlat = lonlat.reshape(-1) if len(lonlat) else np.zeros(2, dtype=np.float64)
        self.extent = extent.reshape(-1) if len(extent) else np.zeros(4, dtype=np.float32)

    cdef int area(self, object box, Area* out) except -1:
        """``box``: None, or (west, south, east, north, by_extent)."""
        out.mode = 0
        out.lonlat = &self.lonlat[0]
        out.extent = &self.extent[0]
        if box is not None:
            out.west, out.south, out.east, out.north = box[0], box[1], box[2], box[3]
            out.mode = 2 if box[4] else 1
        return 0

    def frequency(self, Py_ssize_t term) -> int:
        return self.start[term + 1] - self.start[term]

    def share(self, Py_ssize_t a, Py_ssize_t b) -> bool:
        """Whether two terms have a document in common (Addok's pair sets)."""
        cdef Py_ssize_t i, j = 0
        cdef Py_ssize_t a0 = self.start[a], na = self.start[a + 1] - a0
        cdef Py_ssize_t b0 = self.start[b], nb = self.start[b + 1] - b0
        cdef const uint32_t* x = &self.docs[0] + a0
        cdef const uint32_t* y = &self.docs[0] + b0
        cdef bint shared = False
        if na > nb:
            x, y, na, nb = y, x, nb, na
        with nogil:
            for i in range(na):
                j = gallop(y, j, nb, x[i])
                if j >= nb:
                    break
                if y[j] == x[i]:
                    shared = True
                    break
        return shared

    def length(self, key) -> int:
        """The number of documents of a key."""
        if isinstance(key, int):
            return self.start[<Py_ssize_t> key + 1] - self.start[<Py_ssize_t> key]
        return len(key[0])

    cdef Py_ssize_t resolve(self, list keys, bint by_length, List* lists) except -1:
        """Fill lists from keys (term numbers or (docs, scores) arrays); with by_length,
        shortest first (stable, as Python's sort). Returns how many."""
        cdef Py_ssize_t i, j, n = len(keys)
        cdef const uint32_t[::1] d
        cdef const double[::1] s
        cdef List item
        if n > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        for i in range(n):
            key = keys[i]
            if isinstance(key, int):
                j = key
                item.length = self.start[j + 1] - self.start[j]
                item.docs = &self.docs[0] + self.start[j]
                item.scores = &self.scores[0] + self.start[j]
            else:
                d = key[0]
                s = key[1]
                item.length = d.shape[0]
                item.docs = &d[0] if d.shape[0] else NULL
                item.scores = &s[0] if s.shape[0] else NULL
            j = i
            while by_length and j > 0 and lists[j - 1].length > item.length:
                lists[j] = lists[j - 1]
                j -= 1
            lists[j] = item
        return n

    def best(self, list keys, Py_ssize_t limit, bint by_length=True, box=None) -> list:
        """The best ``limit`` documents having every key (in the box), best first (a list)."""
        cdef List lists[MAX_KEYS]
        cdef Heap heap
        cdef Area area
        cdef Py_ssize_t i, count = self.resolve(keys, by_length, lists)
        if count == 0 or limit <= 0:
            return []
        self.area(box, &area)
        heap.items = <Entry*> malloc(limit * sizeof(Entry))
        heap.size = 0
        heap.capacity = limit
        with nogil:
            best_of(lists, count, &area, &heap)
            heap_sort(&heap)
        try:
            return [heap.items[i].doc for i in range(heap.size)]
        finally:
            free(heap.items)

    def intersection(self, list keys, bint by_length=True, box=None):
        """Documents having every key (in the box), with their summed scores (two arrays)."""
        cdef List lists[MAX_KEYS]
        cdef Area area
        cdef Py_ssize_t count = self.resolve(keys, by_length, lists)
        self.area(box, &area)
        if count == 0:
            return np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.float64)
        cdef Py_ssize_t cursors[MAX_KEYS]
        cdef Py_ssize_t driver = shortest(lists, count), i, found = 0
        cdef Py_ssize_t n = lists[driver].length
        docs_array = np.empty(n, dtype=np.uint32)
        scores_array = np.empty(n, dtype=np.float64)
        cdef uint32_t[::1] out_docs = docs_array
        cdef double[::1] out_scores = scores_array
        cdef double total
        with nogil:
            for i in range(count):
                cursors[i] = 0
            for i in range(n):
                if member(lists, count, driver, i, cursors, &total) and allowed(&area, lists[driver].docs[i]):
                    out_docs[found] = lists[driver].docs[i]
                    out_scores[found] = total
                    found += 1
        return docs_array[:found], scores_array[:found]

    def intersects(self, list keys, box=None) -> bool:
        """Whether the keys have a document in common (in the box; stops at the first)."""
        cdef List lists[MAX_KEYS]
        cdef Area area
        cdef Py_ssize_t count = self.resolve(keys, False, lists)
        self.area(box, &area)
        if count == 0:
            return False
        cdef Py_ssize_t cursors[MAX_KEYS]
        cdef Py_ssize_t driver = shortest(lists, count), i
        cdef double total
        cdef bint found = False
        with nogil:
            for i in range(count):
                cursors[i] = 0
            for i in range(lists[driver].length):
                if member(lists, count, driver, i, cursors, &total) and allowed(&area, lists[driver].docs[i]):
                    found = True
                    break
        return found

    def extend(self, list fixed, set fixed_terms, list terms, set bucket, Py_ssize_t wanted,
               Py_ssize_t bucket_max, int stop, box=None) -> int:
        """For each term: the best documents having the fixed keys and the term go to the
        bucket (Addok's autocomplete and fuzzy steps). ``stop``: 0 never, 1 when the bucket
        overflows, 2 when it holds ``wanted``. The fixed keys are summed in their order,
        then the term (not twice when it is one of ``fixed_terms``). Returns how many terms
        were tried."""
        cdef List lists[MAX_KEYS]
        cdef Heap heap
        cdef Area area
        cdef Py_ssize_t tried = 0, limit, i, count
        self.area(box, &area)
        heap.items = <Entry*> malloc(max(wanted, bucket_max) * sizeof(Entry))
        try:
            for term in terms:
                if (stop == 1 and len(bucket) >= bucket_max) or (stop == 2 and len(bucket) >= wanted):
                    break
                tried += 1
                count = self.resolve(fixed if term in fixed_terms else fixed + [term], False, lists)
                limit = bucket_max - len(bucket)
                heap.capacity = limit if limit > 0 else max(wanted, bucket_max)
                heap.size = 0
                with nogil:
                    best_of(lists, count, &area, &heap)
                for i in range(heap.size):
                    bucket.add(heap.items[i].doc)
        finally:
            free(heap.items)
        return tried


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
        heap_sort(&heap)
    out_array = np.empty(heap.size, dtype=np.int64)
    cdef int64_t[::1] out = out_array
    for i in range(heap.size):
        out[i] = heap.items[i].doc
    free(heap.items)
    return out_array


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
