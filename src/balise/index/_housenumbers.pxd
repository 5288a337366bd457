# cython: language_level=3
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from ._lookup cimport Offsets


cdef class HouseNumbers:
    cdef object arrays  # what the views point into
    cdef const uint64_t[::1] start
    cdef Offsets offsets  # the start of every HN_BLOCK-th record
    cdef const uint8_t[::1] blob

    cdef uint64_t block(self, int64_t b) noexcept nogil
    cdef uint64_t record_at(self, int64_t hn) noexcept nogil
    cdef int64_t document_of(self, int64_t hn) noexcept nogil
    cdef int64_t find(self, uint32_t doc, const uint8_t* key, Py_ssize_t n) noexcept nogil
    cdef str raw(self, int64_t hn)
    cdef str text(self, uint64_t start, uint64_t length)
    cpdef dict properties(self, int64_t hn, str doc_id)
