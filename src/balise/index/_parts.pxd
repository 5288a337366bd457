# cython: language_level=3
from libc.stdint cimport uint8_t, uint64_t


cdef class Parts:
    cdef const uint8_t[::1] blob
    cdef const uint64_t[::1] offsets
    cdef Py_ssize_t count

    cdef int piece(self, uint64_t number, const uint8_t** text, Py_ssize_t* length) noexcept
    cdef bytes json(self, const uint8_t* record, Py_ssize_t size, const uint8_t* id_, Py_ssize_t id_length,
                    bint* id_missing)
