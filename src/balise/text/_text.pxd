# cython: language_level=3

cpdef str fold(s)
cpdef str ascii_label(s)
cpdef list split_words(str text)


cdef class Word:
    cdef readonly str value
    cdef readonly str raw
    cdef public object kind
    cdef readonly Py_ssize_t position
    cdef public bint is_last

    cpdef Word update(self, str value, str raw=*)
