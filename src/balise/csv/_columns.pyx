# cython: language_level=3, boundscheck=False, wraparound=False
"""Typed result columns as the buffers of arrow arrays (validity bitmap, offsets, values), from
Python values, None being null; ``table.py`` wraps them with ``pyarrow.Array.from_buffers``.

Why not ``pyarrow.array``: the first time it converts Python values in a process, it looks for
pandas and imports it when installed (apache/arrow#34994): ~170 ms of CPU in each worker
process and in a one-worker run, as long as geocoding 2,500 rows; and this is faster too
(the 20 result columns of 500 rows: ~0.4 us a row, pyarrow.array ~0.6).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.float cimport PyFloat_AsDouble
from libc.stdint cimport INT32_MAX, INT32_MIN, int32_t, uint8_t
from libc.string cimport memcpy, memset


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL


cdef object _validity(tuple values, Py_ssize_t nulls):
    """The bitmap of the values that are not None (bit i in byte i // 8, low bit first), or
    None when there is no null."""
    if not nulls:
        return None
    cdef Py_ssize_t count = len(values), i
    cdef bytes bitmap = PyBytes_FromStringAndSize(NULL, (count + 7) // 8)
    cdef uint8_t* bits = <uint8_t*>PyBytes_AS_STRING(bitmap)
    memset(bits, 0, (count + 7) // 8)
    for i in range(count):
        if values[i] is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return bitmap


def texts(tuple values):
    """(validity, offsets, UTF-8 data, nulls) of a string column of str or None."""
    cdef Py_ssize_t count = len(values), i, size, total = 0, nulls = 0
    cdef const char* utf8
    cdef bytes offsets = PyBytes_FromStringAndSize(NULL, (count + 1) * sizeof(int32_t))
    cdef int32_t* ends = <int32_t*>PyBytes_AS_STRING(offsets)
    ends[0] = 0
    for i in range(count):
        value = values[i]
        if value is None:
            nulls += 1
        elif isinstance(value, str):
            PyUnicode_AsUTF8AndSize(value, &size)
            total += size
            if total > INT32_MAX:
                raise OverflowError("over 2 GiB of text in one column of a chunk")
        else:
            raise TypeError(f"a string column holds {type(value).__name__} {value!r}")
        ends[i + 1] = <int32_t>total
    cdef bytes data = PyBytes_FromStringAndSize(NULL, total)
    cdef char* out = PyBytes_AS_STRING(data)
    for i in range(count):
        value = values[i]
        if value is not None:
            utf8 = PyUnicode_AsUTF8AndSize(value, &size)
            memcpy(out + ends[i], utf8, size)
    return _validity(values, nulls), offsets, data, nulls


def numbers(tuple values, bint int32):
    """(validity, data, nulls) of a float64 column (an int32 one if ``int32``) of numbers or None."""
    cdef Py_ssize_t count = len(values), i, nulls = 0
    cdef long long number
    cdef bytes data = PyBytes_FromStringAndSize(NULL, count * (sizeof(int32_t) if int32 else sizeof(double)))
    cdef double* doubles = <double*>PyBytes_AS_STRING(data)
    cdef int32_t* integers = <int32_t*>PyBytes_AS_STRING(data)
    for i in range(count):
        value = values[i]
        if value is None:
            nulls += 1
            if int32:
                integers[i] = 0
            else:
                doubles[i] = 0
        elif int32:
            number = value
            if number > INT32_MAX or number < INT32_MIN:
                raise OverflowError(f"{number} does not fit in a 32-bit integer column")
            integers[i] = <int32_t>number
        else:
            doubles[i] = PyFloat_AsDouble(value)
    return _validity(values, nulls), data, nulls
