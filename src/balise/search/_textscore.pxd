# cython: language_level=3
"""The text similarity's C layer, shared with the compiled scorer (search/_scorer.pyx)."""

from libc.stdint cimport uint8_t, uint16_t, uint64_t

cdef enum:
    CODES = 4096


cdef class Query:
    cdef uint16_t counts[CODES]
    cdef uint16_t used[CODES]
    cdef uint16_t touched[256]
    cdef readonly bytes text
    cdef const uint8_t* q  # the bytes of ``text``
    cdef Py_ssize_t length

    cdef double similarity(self, const uint8_t* label, Py_ssize_t n) noexcept nogil
    cdef double similarity_with_prefix(self, const uint8_t* prefix, Py_ssize_t plen,
                                       const uint8_t* label, Py_ssize_t n, double* plain) noexcept nogil
    cdef double completion(self, const uint8_t* label, Py_ssize_t n) noexcept nogil


cdef double stored_score(Query query, const uint8_t* blob, uint64_t start, uint64_t end,
                         const uint8_t* number, Py_ssize_t nlen, bint autocomplete, uint8_t* buf,
                         tuple extra=*) noexcept
cdef double labels_score(Query query, tuple labels, bint autocomplete) except -1.0
