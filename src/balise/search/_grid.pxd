# cython: language_level=3
# The geohash grid's geometry, compiled, for the reverse search (search/_reverse.pyx): see
# _grid.pyx. The bit twiddling is inline here; what needs the grid's constants is there.

from libc.stdint cimport int64_t, uint64_t


cdef inline uint64_t spread(uint64_t v) noexcept nogil:
    """A zero bit between each bit of v (``geohash._spread``)."""
    v &= 0xFFFFFFFFULL
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFULL
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFULL
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FULL
    v = (v | (v << 2)) & 0x3333333333333333ULL
    return (v | (v << 1)) & 0x5555555555555555ULL


cdef inline int64_t compact(uint64_t v) noexcept nogil:
    """Every other bit of v, from bit 0 (the inverse of :func:`spread`)."""
    v &= 0x5555555555555555ULL
    v = (v | (v >> 1)) & 0x3333333333333333ULL
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0FULL
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FFULL
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFFULL
    return <int64_t> ((v | (v >> 16)) & 0x00000000FFFFFFFFULL)


cdef inline int64_t clamp(int64_t v, int64_t lo, int64_t hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


cdef void cell_of(double lat, double lon, int64_t* x, int64_t* y) noexcept nogil
cdef int block_sides(int64_t q, int level, bint rows, int64_t* sides) noexcept nogil
cdef double reach(int64_t* columns, int ncolumns, int64_t* rows, int nrows, int level,
                  double lat, double lon) noexcept nogil
cdef double lower_bound(int64_t x, int64_t y, int level, double phi, double lam, double cos_phi) noexcept nogil
cdef double hav_km(double hav) noexcept nogil
cdef double arc_km(double radians) noexcept nogil
