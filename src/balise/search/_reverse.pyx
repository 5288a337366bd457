# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The reverse search's loops, compiled: the points nearest to a position, nearest first.

Every point of the index (house numbers, and the centres of streets, localities and
municipalities) is in ``geo.ref``, sorted by its geohash-7 cell, a 35-bit integer (``geo.square``
and ``geo.low`` find where a cell's points start). Dropping the 2k low bits of a cell gives its
ancestor of level k, a square of 2^k x 2^k cells whose points are one contiguous range of
``geo.ref``. Near data, :meth:`PointGrid.near` reads the 3x3 block of ancestors around the
position, level 0 (cells of about 100 m) first, then one level up at a time, until the ``limit``
nearest points are certainly inside the block (nearer than anything outside it can be). Far
from data (past level ``NEAR_LEVELS``, about 6 km), :meth:`PointGrid.far` goes best-first down
the quadtree of squares, from the non-empty ones of level ``FAR_LEVEL`` (about 30 km): the
square that may hold the nearest point is split in four, or measured when small, until no
square left can hold anything nearer than the ``limit`` points found. (Only the far search
looks across the antimeridian: no French address lies within a few km of it.)

Which points may answer comes from a ``PointFilter`` (``reverse.py``): house numbers or not,
the sorted documents whose centre may answer, the sorted documents a point's document must be
one of, and an area, asked through its Python methods (``holds_area``, ``meets``,
``area.contains_many``) since areas are rare and their shapes many.

Distances are haversine's, in Addok's formula and order of operations (libm's functions, as
``scoring.haversine_km`` uses them; the grid's geometry, cells, blocks and bounds, is in
``_grid.pyx``); ties are broken house numbers first, then by ref, so an
answer does not depend on the order points are read in. NOTE: these loops exist only here,
compiled (they replaced a numpy version: ~2.5M instructions a reverse, mostly numpy calls on
small arrays); there is no pure-Python twin to keep in step.
"""

from libc.math cimport INFINITY, M_PI, cos, fabs, sin
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc, realloc

import numpy as np

from ..index.format import COORDINATE_SCALE as _SCALE
from ..index.format import GEO_LOW_BITS as _LOW_BITS
from ..index._housenumbers cimport HouseNumbers
from ._grid cimport arc_km, block_sides, cell_of, compact, hav_km, lower_bound, reach, spread

NEAR_LEVELS = 6  # grid blocks up to 3 x 64 cells (at least 6 km around), then the far search
FAR_LEVEL = 8  # far search squares: 256 x 256 cells (about 35 x 25 km in France)
LEAF_POINTS = 256  # a far search square with this few points is measured, not split

cdef double SCALE = _SCALE
cdef int LOW_BITS = _LOW_BITS
cdef uint64_t LOW_MASK = (1 << _LOW_BITS) - 1
cdef double DEG = M_PI / 180.0  # math.radians' and numpy's factor


# --- the k nearest so far --------------------------------------------------------------------

cdef struct Best:
    int64_t* refs
    double* km
    Py_ssize_t n, k


cdef inline bint before(double km, int64_t ref, double other_km, int64_t other_ref) noexcept nogil:
    """Nearer, or as near with a smaller ref (house numbers, negative, come first)."""
    return km < other_km or (km == other_km and ref < other_ref)


cdef inline void offer(Best* best, double km, int64_t ref) noexcept nogil:
    """Keep the point if it is among the k nearest so far (kept in order)."""
    cdef Py_ssize_t i = best.n
    if best.n == best.k:
        if not before(km, ref, best.km[i - 1], best.refs[i - 1]):
            return
        i -= 1
    else:
        best.n += 1
    while i > 0 and before(km, ref, best.km[i - 1], best.refs[i - 1]):
        best.km[i], best.refs[i] = best.km[i - 1], best.refs[i - 1]
        i -= 1
    best.km[i], best.refs[i] = km, ref


cdef int best_init(Best* best, Py_ssize_t limit) except -1:
    """Room for the ``limit`` nearest (at least one: a search for none is not made)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    best.n, best.k = 0, limit
    best.refs = <int64_t*> malloc(limit * sizeof(int64_t))
    best.km = <double*> malloc(limit * sizeof(double))
    if best.refs == NULL or best.km == NULL:
        free(best.refs)
        free(best.km)
        raise MemoryError()
    return 0


cdef object answer(Best* best):
    cdef Py_ssize_t i
    return [best.refs[i] for i in range(best.n)], [best.km[i] for i in range(best.n)]


cdef list as_list(int64_t* values, int n):
    cdef int i
    return [values[i] for i in range(n)]


# --- which points may answer -------------------------------------------------------------------

cdef struct Filter:
    bint housenumbers
    bint by_centre  # else every centre may answer
    const int64_t* centres
    Py_ssize_t centre_count
    bint by_document  # else every document
    const int64_t* documents
    Py_ssize_t document_count


cdef inline bint in_sorted(const int64_t* values, Py_ssize_t n, int64_t value) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < n and values[lo] == value


cdef const int64_t* sorted_refs(object array, Py_ssize_t* count) except? NULL:
    """The data of a sorted int64 array of documents (its length in ``count``)."""
    count[0] = len(array)
    if not array.flags.c_contiguous or array.dtype != np.int64:
        raise ValueError("a filter's documents must be a contiguous int64 array")
    return <const int64_t*> <uintptr_t> array.ctypes.data


cdef class Buffer:
    """A growable array of refs: the points of a block that pass the filter."""
    cdef int64_t* refs
    cdef Py_ssize_t n, capacity

    def __dealloc__(self):
        free(self.refs)

    cdef int reserve(self, Py_ssize_t capacity) except -1:
        cdef int64_t* grown
        if capacity > self.capacity:
            grown = <int64_t*> realloc(self.refs, capacity * sizeof(int64_t))
            if grown == NULL:
                raise MemoryError()
            self.refs, self.capacity = grown, capacity
        return 0


# --- the far search's squares, best first ------------------------------------------------------

cdef struct Square:
    double hav  # its lower bound (the heap's key)
    int level
    int64_t x, y, lo, hi


cdef class SquareHeap:
    """A binary min-heap of squares by lower bound."""
    cdef Square* items
    cdef Py_ssize_t n, capacity

    def __dealloc__(self):
        free(self.items)

    cdef int push(self, Square square) except -1:
        cdef Square* grown
        cdef Py_ssize_t i, parent
        if self.n == self.capacity:
            self.capacity = max(64, 2 * self.capacity)
            grown = <Square*> realloc(self.items, self.capacity * sizeof(Square))
            if grown == NULL:
                raise MemoryError()
            self.items = grown
        i = self.n
        self.n += 1
        while i > 0:
            parent = (i - 1) // 2
            if self.items[parent].hav <= square.hav:
                break
            self.items[i] = self.items[parent]
            i = parent
        self.items[i] = square
        return 0

    cdef Square pop(self) noexcept:
        cdef Square top = self.items[0], last
        cdef Py_ssize_t i = 0, child
        self.n -= 1
        last = self.items[self.n]
        while 2 * i + 1 < self.n:
            child = 2 * i + 1
            if child + 1 < self.n and self.items[child + 1].hav < self.items[child].hav:
                child += 1
            if last.hav <= self.items[child].hav:
                break
            self.items[i] = self.items[child]
            i = child
        self.items[i] = last
        return top


# --- the grid ------------------------------------------------------------------------------------

cdef class PointGrid:
    """An index's points as the reverse search reads them, over its maps (nothing copied but
    the few thousand level-``FAR_LEVEL`` squares)."""

    cdef object arrays  # the maps, kept alive
    cdef const uint32_t* square32
    cdef const uint64_t* square64
    cdef int64_t squares
    cdef const uint16_t* low
    cdef const int32_t* point_ref
    cdef const double* doc_lonlat
    cdef const int32_t* hn_lonlat
    cdef HouseNumbers numbers  # a house number's document
    cdef int64_t[::1] far_x, far_y, far_lo, far_hi
    cdef public int64_t measured  # points measured so far (how much a search read)

    def __init__(self, index):
        square = np.ascontiguousarray(index.geo_square)
        arrays = (square, np.ascontiguousarray(index.geo_low), np.ascontiguousarray(index.geo_ref),
                  np.ascontiguousarray(index.doc_lonlat), np.ascontiguousarray(index.hn_lonlat_e7))
        assert [a.dtype for a in arrays] == [square.dtype, np.uint16, np.int32, np.float64, np.int32]
        assert square.dtype in (np.uint32, np.uint64)
        self.arrays = arrays
        pointers = [a.ctypes.data for a in arrays]
        if square.dtype == np.uint32:
            self.square32, self.square64 = <const uint32_t*> <uintptr_t> pointers[0], NULL
        else:
            self.square32, self.square64 = NULL, <const uint64_t*> <uintptr_t> pointers[0]
        self.squares = len(square) - 1
        self.low = <const uint16_t*> <uintptr_t> pointers[1]
        self.point_ref = <const int32_t*> <uintptr_t> pointers[2]
        self.doc_lonlat = <const double*> <uintptr_t> pointers[3]
        self.hn_lonlat = <const int32_t*> <uintptr_t> pointers[4]
        self.numbers = index.housenumbers
        codes, starts, ends = index.geo_squares(FAR_LEVEL)
        self.far_x = np.array([compact(c) for c in codes.tolist()], dtype=np.int64)
        self.far_y = np.array([compact(c >> 1) for c in codes.tolist()], dtype=np.int64)
        self.far_lo, self.far_hi = np.ascontiguousarray(starts, dtype=np.int64), np.ascontiguousarray(ends, dtype=np.int64)
        self.measured = 0

    # --- reading the maps

    cdef inline int64_t square_start(self, int64_t square) noexcept nogil:
        return <int64_t> self.square32[square] if self.square32 != NULL else <int64_t> self.square64[square]

    cdef int64_t position(self, uint64_t cell) noexcept nogil:
        """Where the points of a cell start in geo.ref (the next cell's when it has none)."""
        cdef uint64_t square = cell >> LOW_BITS
        cdef int64_t lo, hi, mid
        cdef uint16_t target = cell & LOW_MASK
        if square >= <uint64_t> self.squares:
            return self.square_start(self.squares)
        lo, hi = self.square_start(square), self.square_start(square + 1)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.low[mid] < target:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef uint64_t cell_at(self, int64_t point) noexcept nogil:
        """The cell of the point at this position of geo.ref."""
        cdef int64_t lo = 0, hi = self.squares, mid
        while lo + 1 < hi:  # the last square that starts at or before the point
            mid = (lo + hi) // 2
            if self.square_start(mid) <= point:
                lo = mid
            else:
                hi = mid
        return (<uint64_t> lo << LOW_BITS) | self.low[point]

    cdef inline void lonlat(self, int64_t ref, double* lon, double* lat) noexcept nogil:
        cdef int64_t hn
        if ref >= 0:
            lon[0], lat[0] = self.doc_lonlat[2 * ref], self.doc_lonlat[2 * ref + 1]
        else:
            hn = ~ref
            lon[0], lat[0] = self.hn_lonlat[2 * hn] / SCALE, self.hn_lonlat[2 * hn + 1] / SCALE

    cdef inline bint passes(self, Filter* f, int64_t ref) noexcept nogil:
        if ref < 0:
            if not f.housenumbers:
                return False
            return not f.by_document or in_sorted(f.documents, f.document_count, self.numbers.document_of(~ref))
        if f.by_centre and not in_sorted(f.centres, f.centre_count, ref):
            return False
        return not f.by_document or in_sorted(f.documents, f.document_count, ref)

    # --- measuring

    cdef int gather(self, Filter* f, object area, Buffer found, int64_t lo, int64_t hi) except -1:
        """Append the points of geo.ref[lo:hi] that pass the filter (and the area, if any)."""
        cdef Py_ssize_t start = found.n
        cdef int64_t p, ref
        found.reserve(found.n + (hi - lo))
        for p in range(lo, hi):
            ref = self.point_ref[p]
            if self.passes(f, ref):
                found.refs[found.n] = ref
                found.n += 1
        if area is not None and found.n > start:
            self.keep_inside(area, found, start)
        return 0

    cdef int keep_inside(self, object area, Buffer found, Py_ssize_t start) except -1:
        """Drop the points from ``start`` on that are outside the area."""
        cdef Py_ssize_t n = found.n - start, i, kept = start
        lons, lats = np.empty(n), np.empty(n)
        cdef double[::1] lon_view = lons, lat_view = lats
        for i in range(n):
            self.lonlat(found.refs[start + i], &lon_view[i], &lat_view[i])
        inside = np.ascontiguousarray(area.contains_many(lons, lats), dtype=np.uint8)
        cdef const unsigned char[::1] keep = inside
        for i in range(n):
            if keep[i]:
                found.refs[kept] = found.refs[start + i]
                kept += 1
        found.n = kept
        return 0

    cdef Py_ssize_t measure(self, Buffer found, Best* best, double lat, double lon, double within) noexcept:
        """Offer every found point to ``best``; how many are at most ``within`` km away.

        Haversine km from a point to the position, in Addok's formula and numpy's order of
        operations; not computed for a point whose difference of latitude alone (a distance no
        point is nearer than, less a margin for rounding) puts it beyond ``within`` and beyond
        the k-th nearest so far: it would be neither counted nor kept."""
        cdef double lat_r = lat * DEG, lon_r = lon * DEG, cos_lat = cos(lat * DEG)
        cdef double point_lon, point_lat, p, s_lat, s_lon, km, at_least
        cdef Py_ssize_t i, near = 0
        cdef int64_t ref
        for i in range(found.n):
            ref = found.refs[i]
            self.lonlat(ref, &point_lon, &point_lat)
            p = point_lat * DEG
            at_least = arc_km(fabs(lat_r - p)) * (1 - 1e-9)
            if at_least > within and best.n == best.k and at_least > best.km[best.n - 1]:
                continue
            s_lat, s_lon = sin((lat_r - p) / 2), sin((lon_r - point_lon * DEG) / 2)
            km = hav_km(s_lat * s_lat + cos(p) * cos_lat * (s_lon * s_lon))
            offer(best, km, ref)
            near += km <= within
        self.measured += found.n
        return near

    # --- the searches

    def near(self, double lat, double lon, Py_ssize_t limit, double max_km, allowed):
        """(refs, km) of the ``limit`` nearest points that pass ``allowed``, nearest first, from
        the growing blocks around the position; None when they are not surely found by level
        ``NEAR_LEVELS``."""
        cdef Filter f
        cdef int64_t qx, qy, size, count
        cdef int64_t lo[9]
        cdef int64_t hi[9]
        cdef int64_t columns[3]
        cdef int64_t rows[3]
        cdef int level, ncolumns, nrows, i, j, blocks
        cdef uint64_t start
        cdef double covered
        cdef bint whole
        cdef Best best
        cdef Buffer found = Buffer()
        area = allowed.area
        self.read_filter(allowed, &f)
        cell_of(lat, lon, &qx, &qy)
        best_init(&best, limit)
        try:
            for level in range(NEAR_LEVELS + 1):
                size = 1 << level
                ncolumns = block_sides(qx, level, False, columns)
                nrows = block_sides(qy, level, True, rows)
                count, blocks = 0, 0
                for i in range(ncolumns):
                    for j in range(nrows):
                        start = spread(columns[i] << level) | spread(rows[j] << level) << 1
                        lo[blocks], hi[blocks] = self.position(start), self.position(start + size * size)
                        count += hi[blocks] - lo[blocks]
                        blocks += 1
                # HOOK(area): a block that holds the whole area holds every point that may answer.
                whole = area is not None and allowed.holds_area(as_list(columns, ncolumns), as_list(rows, nrows),
                                                                level)
                if count < limit and max_km == INFINITY and not whole:
                    continue  # fewer points than wanted, even unfiltered: the next level, unmeasured
                covered = reach(columns, ncolumns, rows, nrows, level, lat, lon)
                if count < limit and covered < max_km and not whole:
                    continue
                found.n, best.n = 0, 0
                for i in range(blocks):
                    self.gather(&f, area, found, lo[i], hi[i])
                if self.measure(found, &best, lat, lon, covered) >= limit or whole or covered >= max_km:
                    return answer(&best)
            return None
        finally:
            free(best.refs)
            free(best.km)

    def far(self, double lat, double lon, Py_ssize_t limit, double max_km, allowed):
        """(refs, km) of the ``limit`` nearest points that pass ``allowed``, nearest first (or
        fewer, within ``max_km``), best-first down the quadtree."""
        cdef Filter f
        cdef double phi = lat * DEG, lam = lon * DEG, cos_phi = cos(lat * DEG), bound
        cdef int64_t first
        cdef int64_t edges[5]
        cdef int64_t xs[4]
        cdef int64_t ys[4]
        cdef Py_ssize_t i
        cdef int level
        cdef Square square
        cdef SquareHeap heap = SquareHeap()
        cdef Buffer found = Buffer()
        cdef Best best
        area = allowed.area
        self.read_filter(allowed, &f)
        meets = None if area is None else allowed.meets(np.asarray(self.far_x), np.asarray(self.far_y), FAR_LEVEL)
        for i in range(self.far_x.shape[0]):
            if meets is None or meets[i]:  # HOOK(area): only the squares that meet it
                heap.push(Square(lower_bound(self.far_x[i], self.far_y[i], FAR_LEVEL, phi, lam, cos_phi),
                                 FAR_LEVEL, self.far_x[i], self.far_y[i], self.far_lo[i], self.far_hi[i]))
        best_init(&best, limit)
        try:
            while heap.n:
                square = heap.pop()
                bound = hav_km(square.hav)
                if bound > max_km or (best.n >= limit and bound > best.km[best.n - 1]):
                    break
                if square.hi - square.lo <= LEAF_POINTS or square.level == 0:
                    found.n = 0
                    self.gather(&f, area, found, square.lo, square.hi)
                    self.measure(found, &best, lat, lon, 0.0)
                    continue
                # The four children, in the order of their codes (x bit, then y bit): each is a
                # quarter of the parent's range of cells, and their points follow each other.
                level = square.level - 1
                first = <int64_t> (self.cell_at(square.lo) >> (2 * level + 2) << (2 * level + 2))
                for i in range(4):
                    edges[i] = self.position(first + (i << (2 * level)))
                    xs[i], ys[i] = 2 * square.x + i % 2, 2 * square.y + i // 2
                edges[4] = square.hi
                child_meets = None if area is None else allowed.meets(np.array(xs), np.array(ys), level)
                for i in range(4):
                    if edges[i + 1] > edges[i] and (child_meets is None or child_meets[i]):
                        heap.push(Square(lower_bound(xs[i], ys[i], level, phi, lam, cos_phi), level,
                                         xs[i], ys[i], edges[i], edges[i + 1]))
            return answer(&best)
        finally:
            free(best.refs)
            free(best.km)

    def nearest_of(self, refs, double lat, double lon, Py_ssize_t limit):
        """(refs, km) of the ``limit`` points of ``refs`` (int64; all may answer) nearest to the
        position, nearest first: the search when the filters leave few points."""
        cdef const int64_t[::1] given = np.ascontiguousarray(refs, dtype=np.int64)
        cdef Buffer found = Buffer()
        cdef Best best
        cdef Py_ssize_t i
        found.reserve(max(given.shape[0], 1))
        for i in range(given.shape[0]):
            found.refs[i] = given[i]
        found.n = given.shape[0]
        best_init(&best, limit)
        try:
            self.measure(found, &best, lat, lon, 0.0)
            return answer(&best)
        finally:
            free(best.refs)
            free(best.km)

    cdef int read_filter(self, allowed, Filter* f) except -1:
        """``allowed``'s sets (kept alive by it for the search's length)."""
        f.housenumbers = allowed.housenumbers
        f.by_centre = allowed.centres is not None
        f.by_document = allowed.documents is not None
        f.centre_count = f.document_count = 0
        if f.by_centre:
            f.centres = sorted_refs(allowed.centres, &f.centre_count)
        if f.by_document:
            f.documents = sorted_refs(allowed.documents, &f.document_count)
        return 0
