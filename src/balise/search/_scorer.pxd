# cython: language_level=3
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

from ..index._housenumbers cimport HouseNumbers
from ..index._lookup cimport StringTable
from ..index._stored cimport StoredDocuments
from ._docs cimport DocMap
from ._query cimport Query


cdef class IndexView:
    """What scoring reads of an index per candidate, as C pointers (made once per index)."""
    cdef object index  # the IndexReader, whose maps these point into
    cdef const uint8_t* labels
    cdef const uint64_t* labels_offsets
    cdef const double* importance
    cdef const double* lonlat
    cdef const uint8_t* flags
    cdef HouseNumbers housenumbers
    cdef StringTable ids  # docs.id
    cdef StoredDocuments stored  # the documents (PERF: read by a C call)
    cdef const int32_t* hn_lonlat  # x, y of each house number, in 1e-7 degree


cdef class Scorer:
    cdef IndexView view
    cdef object index
    cdef Query query
    cdef object area  # balise.search.area.Area or None
    cdef bint autocomplete
    cdef object lat, lon
    cdef object other_postcodes
    cdef list trace
    cdef DocMap position  # document -> its column, or -1 (it cannot answer)
    cdef Py_ssize_t count, capacity
    cdef uint32_t* docs
    cdef int64_t* hns
    cdef uint8_t* trailing
    cdef double* text
    cdef double* importance
    cdef double* km
    cdef double* score
    cdef bint with_centre
    cdef list postcodes  # the postcode asked for, among a street's several ones, or None
    cdef readonly Py_ssize_t cream
    cdef bytearray scratch
    cdef tuple keys  # the house number asked for, then its other spellings (bytes), or ()

    cdef int convert(self, const DocMap* bucket) except -1
    cdef bint has_cream(self, const DocMap* bucket) except -1
    cdef int grow(self, Py_ssize_t room) except -1
    cdef double _text_score(self, Py_ssize_t k, str raw) except -1.0
    cdef _with_centre(self, Py_ssize_t first)
    cdef _adjust(self, const uint32_t* docs, Py_ssize_t n, int64_t* hns, list raws, uint8_t* trailing)
    cdef int _match_housenumbers(self, const uint32_t* docs, Py_ssize_t n, int64_t* hns, list raws) except -1
    cdef bint _number_in_name(self, uint32_t doc) except -1
    cdef _asked_postcode(self, uint32_t doc)
    cdef _prefer_queried_postcode(self, dict doc)
    cdef _queried_postcodes(self, dict doc)
    cpdef str shown_label(self, Py_ssize_t i, object housenumber)
    cpdef dict feature(self, Py_ssize_t i, object debug=*)
