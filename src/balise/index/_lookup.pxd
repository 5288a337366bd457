# cython: language_level=3
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t


cdef class StringTable:
    cdef const uint32_t[::1] table
    cdef const uint8_t[::1] blob
    cdef const uint64_t[::1] offsets
    cdef readonly Py_ssize_t size


cdef class Lexicon(StringTable):
    cdef const uint64_t[::1] starts
    cdef const uint32_t[::1] tokens

    cdef tuple flat_tokens(self, str word, StringTable terms, const uint64_t[::1] post_start)


cdef class Offsets:
    """Where each record of a blob starts: uint32 or uint64, as the index chose (format.py)."""
    cdef bint wide
    cdef const uint32_t[::1] off32
    cdef const uint64_t[::1] off64

    cdef inline uint64_t at(self, Py_ssize_t i) noexcept nogil:
        return self.off64[i] if self.wide else self.off32[i]


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
