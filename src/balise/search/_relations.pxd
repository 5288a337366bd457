# cython: language_level=3
from ..index._postings cimport Postings


cdef class Pairs:
    cdef Postings postings
    cdef dict cache

    cdef bint share(self, Py_ssize_t a, Py_ssize_t b) except -1


cdef list manytomany_relations(Pairs pairs, list tokens)
