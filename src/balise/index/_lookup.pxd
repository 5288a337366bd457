# cython: language_level=3
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t


cdef class StringTable:
    cdef const uint32_t[::1] table
    cdef const uint8_t[::1] blob
    cdef const uint64_t[::1] offsets
    cdef const uint8_t[::1] tags  # the top byte of each slot's string's hash (_lookup.pyx)
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
