# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Documents as stored (``docs.bin``: one record each, made of the parts ``docs.parts``
holds and of their own values: ``_parts.pyx``), read one at a time, compiled: every feature
of an answer reads one.

PERF: not cached. A cache of the last 4,096 documents read (16 or 64 too) made the
answerable mix 2-7 % slower (bench/throughput.py: 24,808-26,027 q/s with it, 26,558-27,102
without): its documents stay alive, scattered over memory, where a document read and let go
within its answer reuses memory still in the CPU's caches; a search rarely reads one twice.

NOTE: the only reader of ``docs.bin``: there is no pure-Python twin to keep in step.
"""

import orjson

from libc.stdint cimport uint64_t

from ._lookup cimport Offsets, StringTable
from ._parts cimport Parts


cdef object loads = orjson.loads


cdef class StoredDocuments:
    """The documents of an index by number: their stored fields, then ``id`` first when it
    was not stored (``docs.id`` has it), and ``lon``/``lat`` (``docs.lonlat``) last."""

    # (its fields: _stored.pxd)

    def __init__(self, blob, offsets, lonlat, StringTable ids, Parts parts, error, str where):
        self.blob = blob
        self.bytes_view = blob if len(blob) else b"\0"
        self.offsets = Offsets(offsets)
        self.lonlat = lonlat
        self.ids = ids
        self.parts = parts
        self.error = error
        self.where = where

    cpdef dict document(self, Py_ssize_t n):
        """Document ``n``, a new dict (the caller's own)."""
        if not 0 <= n < self.lonlat.shape[0] // 2:  # NOTE: the offsets are read unchecked
            raise IndexError(f"no document {n}")
        cdef uint64_t start = self.offsets.at(n), end = self.offsets.at(n + 1)
        if start > end or end > <uint64_t> self.bytes_view.shape[0]:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (its offsets)")
        cdef uint64_t id_start = self.ids.offsets[n], id_end = self.ids.offsets[n + 1]
        cdef bint id_missing = False
        json = self.parts.json(&self.bytes_view[0] + start, end - start,
                               &self.ids.blob[id_start] if id_end > id_start else NULL,
                               id_end - id_start, &id_missing)
        if json is None:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (its record)")
        try:
            doc = loads(json)
        except orjson.JSONDecodeError as e:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged ({e})") from e
        if type(doc) is not dict:
            raise self.error(f"{self.where}: docs.bin: document {n} is damaged (not an object)")
        if id_missing:  # stored without it, and not plain JSON text: docs.id has it (format.py)
            doc = {"id": self.ids[n], **doc}
        doc["lon"] = self.lonlat[2 * n]
        doc["lat"] = self.lonlat[2 * n + 1]
        return <dict> doc
