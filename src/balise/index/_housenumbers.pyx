# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The house numbers of an index's documents (compiled): found by key, read by number.

A document's house numbers are one range of records, sorted by key, so a key is found by
bisection in that range (``HouseNumbers``), for the scorer (``search/_scorer.pyx``) and the
reverse search (``search/_reverse.pyx``); the writer walks the records to order them
(``record_ends``, ``record_key``).

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp

import numpy as np
import orjson

from . import format as _format
from ._lookup cimport Offsets
from ._records import ban_suffix

# Records of hn.bin (format.py): a header byte, the key, then the raw form, the id and the
# extra JSON as the header says. hn.off holds the start of every HN_BLOCK-th record.
# NOTE: every read is checked against the blob's end, so a damaged file gives wrong
# answers, never a read outside the map.

cdef int BLOCK_BITS = _format.HN_BLOCK_BITS
cdef int64_t BLOCK_MASK = (1 << BLOCK_BITS) - 1
cdef int KEY_ESCAPE = _format.HN_KEY_ESCAPE
cdef int RAW = _format.HN_RAW
cdef int ID_SHIFT = _format.HN_ID_SHIFT
cdef int EXTRA = _format.HN_EXTRA
cdef int ID_SUFFIX = _format.HN_ID_SUFFIX
cdef int ID_FULL = _format.HN_ID_FULL
cdef int ID_UNDERSCORE_RAW = _format.HN_ID_UNDERSCORE_RAW
cdef int ID_DASH_RAW = _format.HN_ID_DASH_RAW
cdef int ID_BAN = _format.HN_ID_BAN


cdef struct Record:
    uint64_t key       # where the key starts
    uint64_t key_len
    uint64_t raw       # where the raw form starts (raw_len 0: the key is the raw form)
    uint64_t raw_len
    int kind           # the id's kind (HN_ID_*)
    uint64_t explicit  # the id's stored bytes
    uint64_t explicit_len
    uint64_t extra
    uint64_t extra_len
    uint64_t end       # where the next record starts


cdef inline uint64_t read_varint(const uint8_t[::1] blob, uint64_t* pos) noexcept nogil:
    cdef uint64_t value = 0, size = blob.shape[0]
    cdef int shift = 0
    cdef uint8_t b
    while pos[0] < size and shift < 64:
        b = blob[pos[0]]
        pos[0] += 1
        value |= (<uint64_t> (b & 0x7F)) << shift
        if b < 0x80:
            return value
        shift += 7
    return 0


cdef inline uint64_t field(const uint8_t[::1] blob, uint64_t* pos, uint64_t* length) noexcept nogil:
    """A varint-prefixed field at pos: its start (pos moves past it)."""
    cdef uint64_t n = read_varint(blob, pos), start = pos[0], size = blob.shape[0]
    if n > size - start:
        n = size - start
    length[0] = n
    pos[0] = start + n
    return start


cdef inline void parse(const uint8_t[::1] blob, uint64_t pos, Record* r) noexcept nogil:
    cdef uint64_t size = blob.shape[0]
    r.raw_len = r.explicit_len = r.extra_len = 0
    if pos >= size:
        r.key = r.end = size
        r.key_len = 0
        r.kind = 0
        return
    cdef uint8_t header = blob[pos]
    pos += 1
    r.kind = (header >> ID_SHIFT) & 7
    r.key_len = header & KEY_ESCAPE
    if r.key_len == <uint64_t> KEY_ESCAPE:
        r.key_len = read_varint(blob, &pos)
    if r.key_len > size - pos:
        r.key_len = size - pos
    r.key = pos
    pos += r.key_len
    if header & RAW:
        r.raw = field(blob, &pos, &r.raw_len)
    if r.kind == ID_SUFFIX or r.kind == ID_FULL:
        r.explicit = field(blob, &pos, &r.explicit_len)
    if header & EXTRA:
        r.extra = field(blob, &pos, &r.extra_len)
    r.end = pos


cdef inline int compare_key(const uint8_t[::1] blob, Record* r, const uint8_t* key, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t length = r.key_len
    cdef Py_ssize_t m = length if length < n else n
    cdef int c = memcmp(&blob[r.key], key, m) if m else 0
    if c != 0:
        return c
    return (length > n) - (length < n)


cdef class HouseNumbers:
    """The house numbers of the documents (``docs.hn``, ``hn.off``, ``hn.bin``), found by key
    and read by number, in C for the scorer (``search/_scorer.pyx``) and through Python.

    A document's house numbers are hn_start[d]..hn_start[d+1]-1, sorted by key: a key is
    found by bisection over the ones that start a block (read without skipping), then a walk
    from the last of them not above it.
    """

    def __init__(self, start, offsets, blob):
        self.arrays = (start, offsets, blob)
        self.start = start
        self.blob = blob
        self.offsets = Offsets(offsets)

    cdef uint64_t block(self, int64_t b) noexcept nogil:
        return self.offsets.at(b)

    cdef int64_t document_of(self, int64_t hn) noexcept nogil:
        """The document a house number belongs to: the last whose first house number is at
        most hn (``np.searchsorted(start, hn, side="right") - 1``, without the array call)."""
        cdef int64_t lo = 0, hi = self.start.shape[0], mid
        while lo < hi:
            mid = (lo + hi) // 2
            if <int64_t> self.start[mid] <= hn:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def doc_of(self, int64_t hn) -> int:
        """:meth:`document_of`, for Python."""
        return self.document_of(hn)

    cdef uint64_t record_at(self, int64_t hn) noexcept nogil:
        """Where house number hn's record starts: its block's start, then the records before it."""
        cdef uint64_t pos = self.block(hn >> BLOCK_BITS)
        cdef int64_t i
        cdef Record r
        for i in range(hn & BLOCK_MASK):
            parse(self.blob, pos, &r)
            pos = r.end
        return pos

    cdef int64_t find(self, uint32_t doc, const uint8_t* key, Py_ssize_t n) noexcept nogil:
        """The number of document ``doc``'s house number ``key``, or -1."""
        cdef int64_t lo = self.start[doc], hi = self.start[doc + 1], first_block, last_block, low, high, mid, hn
        cdef uint64_t pos
        cdef int c
        cdef Record r
        if lo >= hi:
            return -1
        # Blocks that start strictly inside (lo, hi): the last whose first key <= key.
        first_block = (lo >> BLOCK_BITS) + 1
        last_block = (hi - 1) >> BLOCK_BITS
        low, high = first_block, last_block + 1
        while low < high:
            mid = (low + high) // 2
            parse(self.blob, self.block(mid), &r)
            if compare_key(self.blob, &r, key, n) <= 0:
                low = mid + 1
            else:
                high = mid
        if low > first_block:
            hn = (low - 1) << BLOCK_BITS
            pos = self.block(low - 1)
        else:
            hn = lo
            pos = self.record_at(lo)
        while hn < hi:
            parse(self.blob, pos, &r)
            c = compare_key(self.blob, &r, key, n)
            if c == 0:
                return hn
            if c > 0:
                return -1
            pos = r.end
            hn += 1
        return -1

    cdef str text(self, uint64_t start, uint64_t length):
        """The UTF-8 text of the blob at start (no slice or bytes object on the way)."""
        if length == 0:
            return ""
        return PyUnicode_DecodeUTF8(<const char*> &self.blob[start], length, NULL)

    cdef str raw(self, int64_t hn):
        """A house number as written ("30 BIS"; its key when the record has no raw form)."""
        cdef Record r
        parse(self.blob, self.record_at(hn), &r)
        if r.raw_len:
            return self.text(r.raw, r.raw_len)
        return self.text(r.key, r.key_len)

    cpdef dict properties(self, int64_t hn, str doc_id):
        """A house number's properties as answers show them: its id (rebuilt from its kind,
        HN_ID_* of format.py), its other stored fields and ``raw``, read in one pass."""
        cdef Record r
        parse(self.blob, self.record_at(hn), &r)
        cdef str key = self.text(r.key, r.key_len)
        cdef str raw = self.text(r.raw, r.raw_len) if r.raw_len else key
        cdef dict props = {}
        if r.kind == ID_UNDERSCORE_RAW:
            props["id"] = doc_id + "_" + raw
        elif r.kind == ID_DASH_RAW:
            props["id"] = doc_id + "-" + raw
        elif r.kind == ID_BAN:
            props["id"] = doc_id + ban_suffix(key)
        elif r.kind == ID_SUFFIX:
            props["id"] = doc_id + self.text(r.explicit, r.explicit_len)
        elif r.kind == ID_FULL:
            props["id"] = self.text(r.explicit, r.explicit_len)
        if r.extra_len:
            props.update(orjson.loads(self.text(r.extra, r.extra_len)))
        props["raw"] = raw
        return props

    def find_many(self, const uint32_t[::1] docs, str key):
        """For each document, the number of its house number ``key``, or -1 (an int64 array)."""
        cdef bytes encoded = key.encode()
        cdef const uint8_t* k = <const uint8_t*> encoded
        cdef Py_ssize_t i, n = len(encoded)
        out_array = np.full(docs.shape[0], -1, dtype=np.int64)
        cdef int64_t[::1] out = out_array
        with nogil:
            for i in range(docs.shape[0]):
                out[i] = self.find(docs[i], k, n)
        return out_array

    def raw_of(self, int64_t hn) -> str:
        return self.raw(hn)

    def fields(self, int64_t hn) -> tuple:
        """The stored fields of house number hn: (key, raw or None, the id's kind, the id's
        stored bytes or None, the extra JSON or None)."""
        cdef Record r
        parse(self.blob, self.record_at(hn), &r)
        return (bytes(self.blob[r.key:r.key + r.key_len]).decode(),
                bytes(self.blob[r.raw:r.raw + r.raw_len]).decode() if r.raw_len else None,
                r.kind,
                bytes(self.blob[r.explicit:r.explicit + r.explicit_len])
                if r.kind == ID_SUFFIX or r.kind == ID_FULL else None,
                bytes(self.blob[r.extra:r.extra + r.extra_len]) if r.extra_len else None)


def record_ends(const uint8_t[::1] blob, Py_ssize_t count):
    """Where each of the first ``count`` records of a blob ends (the writer's walk)."""
    out_array = np.empty(count, dtype=np.uint64)
    cdef uint64_t[::1] out = out_array
    cdef uint64_t pos = 0
    cdef Py_ssize_t i
    cdef Record r
    with nogil:
        for i in range(count):
            parse(blob, pos, &r)
            pos = r.end
            out[i] = pos
    return out_array


def record_key(const uint8_t[::1] blob, uint64_t offset) -> bytes:
    """The key of the record at ``offset``."""
    cdef Record r
    parse(blob, offset, &r)
    return bytes(blob[r.key:r.key + r.key_len])
