# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The distances of many points to a centre, and their scores with it (compiled): Addok's
formulas, the arithmetic in C, the sines, cosines, arcsines and exponentials by numpy's
ufuncs, whose results the recorded scores are (on this machine's SIMD they differ from the C
library's in the last bit). ``scoring.py`` gives them their names.

PERF: a search with a centre scores its candidates a few dozen at a time; the same formulas
as numpy expressions made ~30 array calls each time, where these make five.
"""

import numpy as np

from libc.math cimport M_PI, cos, sqrt

from ..index.format import IMPORTANCE_WEIGHT as _IMPORTANCE_WEIGHT

EARTH_RADIUS_KM = 6367.0  # Addok's value; kept so distances and scores agree.
GEO_DISTANCE_WEIGHT = 0.1

cdef double RADIANS = M_PI / 180.0  # math.radians' and numpy.radians' factor
cdef double DIAMETER = 2 * EARTH_RADIUS_KM
cdef double IMPORTANCE = _IMPORTANCE_WEIGHT
cdef double GEO = GEO_DISTANCE_WEIGHT
cdef double CEILINGS = 1.0 + _IMPORTANCE_WEIGHT + GEO_DISTANCE_WEIGHT


def haversine_km_array(lat1, lon1, double lat2, double lon2):
    """The great-circle distance in km of each point (lat1, lon1: arrays of degrees) to
    (lat2, lon2)."""
    cdef const double[::1] lat = np.ascontiguousarray(lat1, dtype=np.float64)
    cdef const double[::1] lon = np.ascontiguousarray(lon1, dtype=np.float64)
    cdef Py_ssize_t i, n = lat.shape[0]
    cdef double lat2r = lat2 * RADIANS, lon2r = lon2 * RADIANS, a
    half_lat, lat_r, half_lon = np.empty(n), np.empty(n), np.empty(n)
    cdef double[::1] h = half_lat, r = lat_r, g = half_lon
    for i in range(n):
        r[i] = lat[i] * RADIANS
        h[i] = (lat2r - r[i]) / 2
        g[i] = (lon2r - lon[i] * RADIANS) / 2
    sin_lat, cos_lat, sin_lon = np.sin(half_lat), np.cos(lat_r), np.sin(half_lon)
    cdef const double[::1] s = sin_lat, c = cos_lat, t = sin_lon
    cdef double cos2 = cos(lat2r)
    for i in range(n):
        a = s[i] * s[i] + c[i] * cos2 * (t[i] * t[i])
        h[i] = sqrt(1.0 if a > 1.0 else a)  # numpy.minimum: a NaN stays one
    arcs = np.arcsin(half_lat)
    cdef double[::1] km = arcs
    for i in range(n):
        km[i] = DIAMETER * km[i]
    return arcs


def total_with_centre(str_distance, importance, km):
    """``scoring.total`` of ``scoring.score_parts`` for many candidates with a centre."""
    cdef const double[::1] text = np.ascontiguousarray(str_distance, dtype=np.float64)
    cdef const double[::1] weight = np.ascontiguousarray(importance, dtype=np.float64)
    cdef const double[::1] far = np.ascontiguousarray(km, dtype=np.float64)
    cdef Py_ssize_t i, n = far.shape[0]
    cdef double q, geo
    exponent = np.empty(n)
    cdef double[::1] x = exponent
    for i in range(n):
        q = far[i] / 50.0
        x[i] = -(q * q)
    near = np.exp(exponent)
    cdef double[::1] e = near
    for i in range(n):
        geo = (0.0 if far[i] > 100 else e[i]) * GEO
        e[i] = (text[i] * 0.9 + weight[i] * IMPORTANCE * 0.1 + geo) / CEILINGS
    return near
