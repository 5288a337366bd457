# cython: language_level=3
from libc.stdint cimport uint8_t

from ._lookup cimport Offsets, StringTable
from ._parts cimport Parts


cdef class StoredDocuments:
    cdef object blob  # the docs.bin map
    cdef const uint8_t[::1] bytes_view  # its bytes
    cdef Offsets offsets  # docs.off
    cdef const double[::1] lonlat  # lon, lat of each document
    cdef StringTable ids
    cdef Parts parts
    cdef object error  # the exception a damaged document raises (IndexFormatError)
    cdef str where

    cpdef dict document(self, Py_ssize_t n)
