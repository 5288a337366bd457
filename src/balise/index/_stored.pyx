# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Documents as stored (``docs.bin``: one zstd frame each, compressed with a dictionary
shared by all, ``docs.dict``), read one at a time, compiled: every feature of an answer
reads one.

PERF: not cached. A cache of the last 4,096 documents read (16 or 64 too) made the
answerable mix 2-7 % slower (bench/throughput.py: 24,808-26,027 q/s with it, 26,558-27,102
without): its documents stay alive, scattered over memory, where a document read and let go
within its answer reuses memory still in the CPU's caches; a search rarely reads one twice.

NOTE: the only reader of ``docs.bin``: there is no pure-Python twin to keep in step.
"""

import threading

import orjson
import zstandard

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

from ._lookup cimport Offsets, StringTable


cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident() nogil


cdef extern from "string.h":  # GNU's (Python.h defines _GNU_SOURCE)
    void* memmem(const void* haystack, size_t hn, const void* needle, size_t nn) nogil


cdef object loads = orjson.loads

cdef class StoredDocuments:
    """The documents of an index by number: their stored fields, then ``id`` first when it
    was not stored (``docs.id`` has it), and ``lon``/``lat`` (``docs.lonlat``) last."""

    cdef object blob  # the docs.bin map
    cdef const uint8_t[::1] bytes_view  # its bytes
    cdef Offsets offsets  # docs.off
    cdef const double[::1] lonlat  # lon, lat of each document
    cdef StringTable ids
    cdef object dictionary  # zstandard.ZstdCompressionDict or None
    cdef object local  # NOTE: a zstd decompressor serves one thread at a time
    cdef unsigned long first_thread  # the thread that made the first decompressor...
    cdef object first_decompress  # ... and its decompress method (PERF: no thread-local read)
    cdef object error  # the exception a damaged document raises (IndexFormatError)
    cdef str where

    def __init__(self, blob, offsets, lonlat, StringTable ids, dictionary, error, str where):
        self.blob = blob
        self.bytes_view = blob if len(blob) else b"\0"
        self.offsets = Offsets(offsets)
        self.lonlat = lonlat
        self.ids = ids
        self.dictionary = dictionary
        self.local = threading.local()
        self.error = error
        self.where = where

    def decompressor(self):
        """This thread's decompressor (made on its first document)."""
        try:
            return self.local.decompressor
        except AttributeError:
            found = self.local.decompressor = zstandard.ZstdDecompressor(
                dict_data=self.dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            if self.first_decompress is None:
                self.first_thread = PyThread_get_thread_ident()
                self.first_decompress = found.decompress
            return found

    cdef bytes with_id(self, bytes raw, Py_ssize_t n):
        """The stored JSON of document ``n`` with its id put first ('{"id":"<id>",' + the
        members), when it was stored without one and has members, as plain JSON text
        (printable ASCII, no quote or backslash); else None.

        PERF: one JSON text parsed, where a dict with the id first was built again from the
        parsed one (0.2 us a document)."""
        cdef const char* text = PyBytes_AS_STRING(raw)
        cdef Py_ssize_t size = len(raw), i
        if size < 3 or text[0] != b'{' or text[1] != b'"' or memmem(text, size, b'"id"', 4) != NULL:
            return None
        cdef uint64_t start = self.ids.offsets[n], end = self.ids.offsets[n + 1]
        cdef const uint8_t* id_ = &self.ids.blob[start] if end > start else NULL
        cdef Py_ssize_t length = end - start
        for i in range(length):
            if id_[i] < 0x20 or id_[i] > 0x7E or id_[i] == b'"' or id_[i] == b'\\':
                return None
        out = PyBytes_FromStringAndSize(NULL, 8 + length + size)
        cdef char* o = PyBytes_AS_STRING(out)
        memcpy(o, b'{"id":"', 7)
        if length:
            memcpy(o + 7, id_, length)
        o[7 + length] = b'"'
        o[8 + length] = b','  # then the stored members and '}'
        memcpy(o + 9 + length, text + 1, size - 1)
        return out

    cpdef dict document(self, Py_ssize_t n):
        """Document ``n``, a new dict (the caller's own)."""
        if not 0 <= n < self.lonlat.shape[0] // 2:  # NOTE: the offsets are read unchecked
            raise IndexError(f"no document {n}")
        cdef uint64_t start = self.offsets.at(n), end = self.offsets.at(n + 1)
        if start > end or end > <uint64_t> self.bytes_view.shape[0]:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (its offsets)")
        frame = PyBytes_FromStringAndSize(<const char*> &self.bytes_view[0] + start, end - start)
        if self.first_decompress is not None and PyThread_get_thread_ident() == self.first_thread:
            decompress = self.first_decompress
        else:
            decompress = self.decompressor().decompress
        try:
            raw = decompress(frame)
            doc = loads(self.with_id(raw, n) or raw)
        except (zstandard.ZstdError, orjson.JSONDecodeError) as e:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged ({e})") from e
        if type(doc) is not dict:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (not an object)")
        if "id" not in doc:  # stored without it: docs.id has it (format.py)
            doc = {"id": self.ids[n], **doc}  # an id with_id could not put first
        doc["lon"] = self.lonlat[2 * n]
        doc["lat"] = self.lonlat[2 * n + 1]
        return <dict> doc
