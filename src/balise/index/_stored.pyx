# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Documents as stored (``docs.bin``: one zstd frame each, compressed with a dictionary
shared by all, ``docs.dict``), read one at a time, compiled: every feature of an answer
reads one, mostly not cached (``IndexReader.document`` keeps the last few thousand).

NOTE: the only reader of ``docs.bin``: there is no pure-Python twin to keep in step.
"""

import threading

import orjson
import zstandard

from libc.stdint cimport uint64_t

from ._lookup cimport Offsets, StringTable


cdef class StoredDocuments:
    """The documents of an index by number: their stored fields, then ``id`` first when it
    was not stored (``docs.id`` has it), and ``lon``/``lat`` (``docs.lonlat``) last."""

    cdef object blob  # the docs.bin map
    cdef Offsets offsets  # docs.off
    cdef const double[::1] lonlat  # lon, lat of each document
    cdef StringTable ids
    cdef object dictionary  # zstandard.ZstdCompressionDict or None
    cdef object local  # NOTE: a zstd decompressor serves one thread at a time
    cdef object error  # the exception a damaged document raises (IndexFormatError)
    cdef str where

    def __init__(self, blob, offsets, lonlat, StringTable ids, dictionary, error, str where):
        self.blob = blob
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
            return found

    cpdef dict document(self, Py_ssize_t n):
        """Document ``n``, a new dict (IndexReader.document shares it with its callers)."""
        if not 0 <= n < self.lonlat.shape[0] // 2:  # NOTE: the offsets are read unchecked
            raise IndexError(f"no document {n}")
        cdef uint64_t start = self.offsets.at(n), end = self.offsets.at(n + 1)
        try:
            doc = orjson.loads(self.decompressor().decompress(self.blob[start:end]))
        except (zstandard.ZstdError, orjson.JSONDecodeError) as e:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged ({e})") from e
        if type(doc) is not dict:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (not an object)")
        if "id" not in doc:  # stored without it: docs.id has it (format.py)
            doc = {"id": self.ids[n], **doc}
        doc["lon"] = self.lonlat[2 * n]
        doc["lat"] = self.lonlat[2 * n + 1]
        return <dict> doc
