# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The geohash grid's geometry for the reverse search, compiled: a point's cell, the 3x3 blocks
of squares around it, how far a block surely reaches, the nearest a square's points can be.

A cell is a geohash-7 cell (``index/geohash.py``): column x of ``LON_BITS`` bits, row y of
``LAT_BITS``; a square of level k is 2^k x 2^k cells (the cells' codes without their 2k low
bits). Distances are haversine's in Addok's formula, with libm's functions.
"""

from libc.math cimport INFINITY, M_PI, asin, cos, floor, fmod, sin, sqrt
from libc.stdint cimport int64_t, uint64_t

from ..index.geohash import CELL_LAT as _CELL_LAT
from ..index.geohash import CELL_LON as _CELL_LON
from ..index.geohash import LAT_BITS as _LAT_BITS
from ..index.geohash import LON_BITS as _LON_BITS
from .scoring import EARTH_RADIUS_KM as _EARTH_RADIUS_KM

cdef double CELL_LON = _CELL_LON, CELL_LAT = _CELL_LAT
cdef int64_t COLUMNS = 1 << _LON_BITS, ROWS = 1 << _LAT_BITS
cdef double R = _EARTH_RADIUS_KM
cdef double DEG = M_PI / 180.0  # math.radians' and numpy's factor
cdef double TWO_PI = 2 * M_PI


cdef void cell_of(double lat, double lon, int64_t* x, int64_t* y) noexcept nogil:
    """The column and row of the cell of a point (``geohash.cell_xy``)."""
    x[0] = clamp(<int64_t> floor((lon + 180.0) / CELL_LON), 0, COLUMNS - 1)
    y[0] = clamp(<int64_t> floor((lat + 90.0) / CELL_LAT), 0, ROWS - 1)


cdef int block_sides(int64_t q, int level, bint rows, int64_t* sides) noexcept nogil:
    """The columns (or ``rows``) of a 3x3 block of level-``level`` squares around cell q (a
    column or row of cells): sorted, distinct, clamped to the grid; how many."""
    cdef int64_t last = max(ROWS // (1 << level) - 1, 0) if rows else COLUMNS // (1 << level) - 1
    cdef int64_t c = q >> level
    cdef int64_t below = clamp(c - 1, 0, last), above = c + 1 if c + 1 <= last else last
    cdef int n = 0
    sides[n] = below
    n += 1
    if c != below:
        sides[n] = c
        n += 1
    if above != c:
        sides[n] = above
        n += 1
    return n


cdef double reach(int64_t* columns, int ncolumns, int64_t* rows, int nrows, int level,
                  double lat, double lon) noexcept nogil:
    """The distance (km) within which no point lies outside the block."""
    cdef int64_t x0 = columns[0] << level, x1 = (columns[ncolumns - 1] + 1) << level
    cdef int64_t y0 = rows[0] << level, y1 = (rows[nrows - 1] + 1) << level
    cdef double south = y0 * CELL_LAT - 90, north = y1 * CELL_LAT - 90
    # Beyond a latitude edge, a point is at least that difference of latitude away.
    cdef double to_south = INFINITY if y0 == 0 else R * ((lat - south) * DEG)
    cdef double to_north = INFINITY if y1 >= ROWS else R * ((north - lat) * DEG)
    # Between them, beyond a longitude edge: haversine with the smallest cosine of the band.
    cdef double shrink = sqrt(max(cos(lat * DEG) * min(cos(south * DEG), cos(north * DEG)), 0.0))
    cdef double to_west = INFINITY if x0 == 0 else across(shrink, lon - (x0 * CELL_LON - 180))
    cdef double to_east = INFINITY if x1 >= COLUMNS else across(shrink, (x1 * CELL_LON - 180) - lon)
    return min(to_south, to_north, to_west, to_east)


cdef inline double across(double shrink, double degrees) noexcept nogil:
    return 2 * R * asin(min(1.0, shrink * sin(min(degrees * DEG, M_PI) / 2)))


cdef double lower_bound(int64_t x, int64_t y, int level, double phi, double lam, double cos_phi) noexcept nogil:
    """The smallest haversine term (``a``, not yet km) any point of a square of a level can
    have: hav(d) = hav(dlat) + cos(lat1) cos(lat2) hav(dlon), each term at its smallest."""
    cdef int64_t size = 1 << level
    cdef double west = ((x * size) * CELL_LON - 180) * DEG, east = (((x + 1) * size) * CELL_LON - 180) * DEG
    cdef double south = ((y * size) * CELL_LAT - 90) * DEG
    cdef double north = min(((y + 1) * size) * CELL_LAT - 90, 90.0) * DEG
    cdef double dphi = max(0.0, max(south - phi, phi - north))
    cdef double past_west = fmod(lam - west, TWO_PI)  # eastward angle from the west edge
    if past_west < 0:
        past_west += TWO_PI
    cdef double dlam = 0.0 if past_west <= east - west else min(past_west - (east - west), TWO_PI - past_west)
    cdef double cos_min = max(min(cos(south), cos(north)), 0.0)
    cdef double s_phi = sin(dphi / 2), s_lam = sin(min(dlam, M_PI) / 2)
    return s_phi * s_phi + cos_phi * cos_min * (s_lam * s_lam)


cdef double hav_km(double hav) noexcept nogil:
    """The distance (km) of a haversine term, as Addok computes it."""
    return 2 * R * asin(sqrt(min(hav, 1.0)))


cdef double arc_km(double radians) noexcept nogil:
    """The length (km) of an arc of a great circle."""
    return R * radians
