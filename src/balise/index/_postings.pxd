# cython: language_level=3, cdivision=True
"""The posting lists' C layer, shared with the compiled search (search/_search.pyx): lists,
areas, the bounded heap and the intersections, as inline functions that need no Python."""

from libc.stdint cimport uint32_t, uint64_t

cdef enum:
    MAX_KEYS = 256


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


cdef struct Entry:
    double score
    uint32_t doc


cdef struct Heap:
    Entry* items
    Py_ssize_t size
    Py_ssize_t capacity


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


cdef inline bint worse(Entry a, Entry b) noexcept nogil:
    """Whether a ranks after b (lower score; equal scores: higher document number)."""
    return a.score < b.score or (a.score == b.score and a.doc > b.doc)


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


cdef inline void heap_sort(Heap* h) noexcept nogil:
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


cdef inline Py_ssize_t shortest(const List* lists, Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t k, best = 0
    for k in range(1, count):
        if lists[k].length < lists[best].length:
            best = k
    return best


cdef inline void sort_by_length(List* lists, Py_ssize_t count) noexcept nogil:
    """Shortest first, stable (as Python's sort: Addok sums the shortest list first)."""
    cdef Py_ssize_t i, j
    cdef List item
    for i in range(1, count):
        item = lists[i]
        j = i
        while j > 0 and lists[j - 1].length > item.length:
            lists[j] = lists[j - 1]
            j -= 1
        lists[j] = item


cdef inline Py_ssize_t next_common(const List* lists, Py_ssize_t count, Py_ssize_t driver, Py_ssize_t i,
                                   Py_ssize_t* cursors, double* total) noexcept nogil:
    """The first position >= i of the driver list whose document is in every list (``total``:
    its scores summed in the order of the lists), or the driver's length when there is none.

    PERF: a list that lacks the driver's document moves the driver on to that list's next
    one (a leapfrog), and a list that has no more ends the walk. The lists of one search
    cluster, as documents are numbered commune by commune: "provence" (4,400 streets) with
    "75" (Paris, 7,600) skips the other départements' streets in a few steps each."""
    cdef const List* d = &lists[driver]
    cdef uint32_t doc
    cdef Py_ssize_t k, pos
    cdef double sum = 0
    while i < d.length:
        doc = d.docs[i]
        for k in range(count):
            if k == driver:
                pos = i
            else:
                pos = gallop(lists[k].docs, cursors[k], lists[k].length, doc)
                cursors[k] = pos
                if pos >= lists[k].length:
                    return d.length
                if lists[k].docs[pos] != doc:
                    break
            sum = lists[k].scores[pos] if k == 0 else sum + lists[k].scores[pos]
        else:
            total[0] = sum
            return i
        i = gallop(d.docs, i + 1, d.length, lists[k].docs[pos])
    return d.length


cdef inline void best_of(const List* lists, Py_ssize_t count, const Area* area, Heap* heap) noexcept nogil:
    """Offer every document of the intersection (in the area) to the heap."""
    cdef Py_ssize_t cursors[MAX_KEYS]
    cdef Py_ssize_t driver = shortest(lists, count), i = 0, k
    cdef double total
    for k in range(count):
        cursors[k] = 0
    while True:
        i = next_common(lists, count, driver, i, cursors, &total)
        if i >= lists[driver].length:
            return
        if allowed(area, lists[driver].docs[i]):
            heap_push(heap, total, lists[driver].docs[i])
        i += 1


cdef inline bint any_of(const List* lists, Py_ssize_t count, const Area* area) noexcept nogil:
    """Whether the lists have a document in common (in the area; stops at the first)."""
    cdef Py_ssize_t cursors[MAX_KEYS]
    cdef Py_ssize_t driver, i = 0, k
    cdef double total
    if count == 0:
        return False
    driver = shortest(lists, count)
    for k in range(count):
        cursors[k] = 0
    while True:
        i = next_common(lists, count, driver, i, cursors, &total)
        if i >= lists[driver].length:
            return False
        if allowed(area, lists[driver].docs[i]):
            return True
        i += 1


cdef inline Py_ssize_t all_of(const List* lists, Py_ssize_t count, const Area* area, uint32_t* docs,
                              double* scores) noexcept nogil:
    """The intersection (in the area) into docs and scores (room for the shortest list); its size."""
    cdef Py_ssize_t cursors[MAX_KEYS]
    cdef Py_ssize_t driver, i = 0, found = 0, k
    cdef double total
    if count == 0:
        return 0
    driver = shortest(lists, count)
    for k in range(count):
        cursors[k] = 0
    while True:
        i = next_common(lists, count, driver, i, cursors, &total)
        if i >= lists[driver].length:
            return found
        if allowed(area, lists[driver].docs[i]):
            docs[found] = lists[driver].docs[i]
            scores[found] = total
            found += 1
        i += 1


cdef class Postings:
    cdef const uint64_t[::1] start
    cdef const uint32_t[::1] docs
    cdef const double[::1] scores
    cdef const double[::1] lonlat
    cdef const float[::1] extent

    cdef List term(self, Py_ssize_t term) noexcept nogil
    cdef void set_area(self, const double* box, bint by_extent, Area* out) noexcept nogil
    cdef bint share_c(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil
