# cython: language_level=3
"""One forward search's C layer, shared with Addok's collectors (search/_collectors.pyx)."""

from cpython.buffer cimport Py_buffer
from libc.stdint cimport int64_t

from ..index._postings cimport Area, List, Postings
from ._docs cimport DocMap
from ._query cimport Query
from ._scorer cimport Scorer

cdef enum:
    BUCKET_MIN = 10
    BUCKET_MAX = 100
    GEOHASH = -1  # the key of the block of cells around a centre
    FILTER = -2  # the key of the first filter; FILTER - i, the i-th
    MAX_SPECIAL = 8  # the geohash block and the filters (at most one per filter name)


cdef class Search:
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
    cdef bint keep_matched  # False once no collector reads matched_keys again
    # the lists of the keys that are not terms: GEOHASH, then the filters
    cdef List special[MAX_SPECIAL]
    cdef list special_arrays  # what they point into
    cdef int geohash  # -1 not looked at yet, 0 no centre or nothing near it, 1 the block

    cdef list filters(self)
    cdef int geohash_key(self) except -2
    cdef void set_area(self, Area* area) noexcept
    cdef list unique(self, list keys)
    cdef int intersect_into(self, list keys, Py_ssize_t limit) except -1
    cdef int add(self, list keys, Py_ssize_t limit=*) except -1
    cdef int new(self, list keys, Py_ssize_t limit=*) except -1
    cdef int extend_with(self, list keys, object candidates, bint use_geohash, int stop_when) except -1
    cdef int terms_of(self, object candidates, Py_buffer* buffer) except -1
    cdef bint shorter_alone(self, Py_ssize_t base, const int64_t* terms, Py_ssize_t count,
                            const int64_t* fixed, Py_ssize_t n_fixed) noexcept
    cdef bint has_cream(self) except -1

    cdef inline List resolve(self, Py_ssize_t key) noexcept:
        if key >= 0:
            return self.postings.term(key)
        return self.special[-key - 1]

    # the bucket's state
    cdef inline bint full(self) noexcept:
        return self.wanted <= self.docs.size < BUCKET_MAX

    cdef inline bint overflow(self) noexcept:
        return self.docs.size >= BUCKET_MAX

    cdef inline bint dry(self) noexcept:
        return self.docs.size < self.wanted

    cdef inline bint pass_should_match_threshold(self) noexcept:
        return len(self.matched_keys) >= self.query.should_match_threshold
