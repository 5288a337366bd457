# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Documents as stored (``docs.bin``: one zstd frame each, compressed with a dictionary
shared by all, ``docs.dict``), read one at a time, compiled: every feature of an answer
reads one, mostly not cached (``IndexReader.document`` keeps the last few thousand).

NOTE: the only reader of ``docs.bin``: there is no pure-Python twin to keep in step.
"""

import threading

import orjson
import zstandard

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint64_t

from ._lookup cimport Offsets, StringTable


cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident() nogil


cdef object loads = orjson.loads

DEF RECENT = 4096  # documents kept by ``cached``, one a slot (a power of two)


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
    cdef Py_ssize_t recent_numbers[RECENT]  # the number of the document in each slot, or -1
    cdef list recent  # the document in each slot, or None

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
        self.recent = [None] * RECENT
        cdef Py_ssize_t i
        for i in range(RECENT):
            self.recent_numbers[i] = -1

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

    cpdef dict cached(self, Py_ssize_t n):
        """Document ``n``, shared with its other readers (who copy it to change it): the last
        document read of each of ``RECENT`` slots (by number) is kept, for the features,
        labels and postcodes of a search that read it already.

        PERF: in place of an lru_cache (~0.4 us a miss: a key, a linked list, an eviction);
        the numbers in C, so a cached document is the only object the collector tracks.
        NOTE: threads may share it: a slot's number and document are read, and written, with
        no Python code between them (the GIL is not let go)."""
        cdef Py_ssize_t slot = n & (RECENT - 1)
        if n >= 0 and self.recent_numbers[slot] == n:
            return <dict> self.recent[slot]
        doc = self.document(n)
        self.recent_numbers[slot] = -1
        self.recent[slot] = doc
        self.recent_numbers[slot] = n
        return doc

    cpdef dict document(self, Py_ssize_t n):
        """Document ``n``, a new dict (IndexReader.document shares it with its callers)."""
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
            doc = loads(decompress(frame))
        except (zstandard.ZstdError, orjson.JSONDecodeError) as e:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged ({e})") from e
        if type(doc) is not dict:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (not an object)")
        if "id" not in doc:  # stored without it: docs.id has it (format.py)
            doc = {"id": self.ids[n], **doc}
        doc["lon"] = self.lonlat[2 * n]
        doc["lat"] = self.lonlat[2 * n + 1]
        return <dict> doc
