# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled lookups over the index's flat files: strings by hash or by prefix, house numbers.

Strings (terms, lexicon words) are stored as one blob plus offsets. A hash table of uint32
slots (a string's number, EMPTY when free; linear probing, FNV-1a 64-bit hash) finds a
string in one or two probes, without a Python dict per worker. House numbers of a document
are one range, sorted by key, so a key is found by bisection in that range.

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, memcpy
from libc.stdlib cimport free, malloc, realloc
from cpython cimport array

import array

import numpy as np
import orjson

from .format import GEO_LOW_BITS
from .format import HN_BLOCK_BITS, HN_EXTRA, HN_ID_FULL, HN_ID_SHIFT, HN_ID_SUFFIX, HN_KEY_ESCAPE, HN_RAW
from .format import HN_ID_BAN, HN_ID_DASH_RAW, HN_ID_UNDERSCORE_RAW
from ._records import ban_suffix

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef uint64_t FNV_OFFSET = 14695981039346656037ULL
cdef uint64_t FNV_PRIME = 1099511628211ULL


cdef inline uint64_t fnv1a(const uint8_t* data, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = FNV_OFFSET
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ data[i]) * FNV_PRIME
    return h


def string_hash(bytes key) -> int:
    """The hash of a key, as the tables use it."""
    return fnv1a(<const uint8_t*> key, len(key))


cdef inline int64_t table_find_c(const uint32_t[::1] table, const uint8_t[::1] blob,
                                 const uint64_t[::1] offsets, const uint8_t* key,
                                 Py_ssize_t n) noexcept nogil:
    cdef uint64_t mask = table.shape[0] - 1
    cdef uint64_t slot = fnv1a(key, n) & mask
    cdef uint32_t i
    cdef uint64_t start, end
    while True:
        i = table[slot]
        if i == EMPTY:
            return -1
        start = offsets[i]
        end = offsets[i + 1]
        if <Py_ssize_t> (end - start) == n and (n == 0 or memcmp(&blob[start], key, n) == 0):
            return i
        slot = (slot + 1) & mask


def build_table(const uint8_t[::1] blob, const uint64_t[::1] offsets):
    """A hash table over every string of a blob (a power of two of slots, at most half full)."""
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t size = 16
    while size < 2 * n:
        size *= 2
    table_array = np.full(size, EMPTY, dtype=np.uint32)
    cdef uint32_t[::1] table = table_array
    cdef uint64_t mask = size - 1
    cdef uint64_t slot
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            slot = fnv1a(&blob[offsets[i]] if offsets[i + 1] > offsets[i] else NULL,
                         offsets[i + 1] - offsets[i]) & mask
            while table[slot] != EMPTY:
                slot = (slot + 1) & mask
            table[slot] = <uint32_t> i
    return table_array


cdef class StringTable:
    """Strings of a blob found by value (hash table) and by prefix (when sorted)."""

    def __init__(self, table, blob, offsets):
        self.table = table
        self.blob = blob if len(blob) else b"\0"
        self.offsets = offsets
        self.size = offsets.shape[0] - 1

    def find(self, str key) -> int:
        """The number of a string, or -1."""
        cdef bytes encoded = key.encode()
        return table_find_c(self.table, self.blob, self.offsets, <const uint8_t*> encoded,
                            len(encoded))

    def find_many(self, list keys) -> list:
        """The numbers of several strings (-1 for the missing ones)."""
        cdef bytes encoded
        out = []
        for key in keys:
            encoded = (<str> key).encode()
            out.append(table_find_c(self.table, self.blob, self.offsets,
                                    <const uint8_t*> encoded, len(encoded)))
        return out

    def found(self, list keys) -> tuple:
        """The numbers of those strings that exist, in order, each once."""
        cdef bytes encoded
        cdef int64_t i
        out = []
        seen = set()
        for key in keys:
            encoded = (<str> key).encode()
            i = table_find_c(self.table, self.blob, self.offsets, <const uint8_t*> encoded,
                             len(encoded))
            if i >= 0 and i not in seen:
                seen.add(i)
                out.append(i)
        return tuple(out)

    def __getitem__(self, Py_ssize_t i) -> str:
        if not 0 <= i < self.size:
            raise IndexError(i)
        cdef uint64_t start = self.offsets[i], end = self.offsets[i + 1]
        return PyUnicode_DecodeUTF8(<const char*> &self.blob[start], end - start, NULL)

    def __len__(self):
        return self.size

    def prefix_range(self, str prefix) -> range:
        """Numbers of the strings that start with ``prefix`` (the strings must be sorted)."""
        cdef bytes p = prefix.encode()
        cdef Py_ssize_t n = len(p)
        cdef const uint8_t* key = <const uint8_t*> p
        cdef Py_ssize_t lo = 0, hi = self.size, mid, first
        with nogil:
            while lo < hi:  # first string >= prefix
                mid = (lo + hi) // 2
                if compare(self.blob, self.offsets, mid, key, n, False) < 0:
                    lo = mid + 1
                else:
                    hi = mid
            first = lo
            hi = self.size
            while lo < hi:  # first string that does not start with prefix (and is > it)
                mid = (lo + hi) // 2
                if compare(self.blob, self.offsets, mid, key, n, True) <= 0:
                    lo = mid + 1
                else:
                    hi = mid
        return range(first, lo)

    def bisect(self, str key, bint descending=False) -> int:
        """Number of the string equal to ``key`` in sorted strings, or -1."""
        cdef bytes p = key.encode()
        cdef Py_ssize_t n = len(p)
        cdef const uint8_t* k = <const uint8_t*> p
        cdef Py_ssize_t lo = 0, hi = self.size, mid
        cdef int c
        with nogil:
            while lo < hi:
                mid = (lo + hi) // 2
                c = compare(self.blob, self.offsets, mid, k, n, False)
                if descending:
                    c = -c
                if c < 0:
                    lo = mid + 1
                else:
                    hi = mid
        if lo < self.size and compare(self.blob, self.offsets, lo, k, n, False) == 0:
            return lo
        return -1


cdef class Lexicon(StringTable):
    """Raw words and the term numbers each is searched as (``words.*``)."""

    def __init__(self, table, blob, offsets, starts, tokens):
        StringTable.__init__(self, table, blob, offsets)
        self.starts = starts
        self.tokens = tokens if len(tokens) else np.zeros(1, dtype=np.uint32)

    def lookup(self, str word):
        """The term numbers of a word, or None for a word the documents never had."""
        cdef bytes encoded = word.encode()
        cdef int64_t i = table_find_c(self.table, self.blob, self.offsets, <const uint8_t*> encoded,
                                      len(encoded))
        if i < 0:
            return None
        return [self.tokens[j] for j in range(<Py_ssize_t> self.starts[i], <Py_ssize_t> self.starts[i + 1])]

    cdef tuple flat_tokens(self, str word, StringTable terms, const uint64_t[::1] post_start):
        """The tokens a word is searched as, flat: (token, term number, documents with it,
        token...), or None for a word the documents never had (PERF: one C call a word)."""
        cdef bytes encoded = word.encode()
        cdef int64_t i = table_find_c(self.table, self.blob, self.offsets, <const uint8_t*> encoded,
                                      len(encoded))
        cdef Py_ssize_t j, start, end
        cdef uint32_t t
        if i < 0:
            return None
        start, end = <Py_ssize_t> self.starts[i], <Py_ssize_t> self.starts[i + 1]
        found = [None] * (3 * (end - start))
        for j in range(start, end):
            t = self.tokens[j]
            found[3 * (j - start)] = PyUnicode_DecodeUTF8(<const char*> &terms.blob[terms.offsets[t]],
                                                          terms.offsets[t + 1] - terms.offsets[t], NULL)
            found[3 * (j - start) + 1] = t
            found[3 * (j - start) + 2] = post_start[t + 1] - post_start[t]
        return tuple(found)


cdef inline int compare(const uint8_t[::1] blob, const uint64_t[::1] offsets, Py_ssize_t i,
                        const uint8_t* key, Py_ssize_t n, bint prefix_only) noexcept nogil:
    """Compare string i with key (bytewise, as UTF-8 sorts); with prefix_only, a string
    that starts with key compares equal."""
    cdef uint64_t start = offsets[i]
    cdef Py_ssize_t length = offsets[i + 1] - start
    cdef Py_ssize_t m = length if length < n else n
    cdef int c = memcmp(&blob[start], key, m) if m else 0
    if c != 0:
        return c
    if prefix_only and length >= n:
        return 0
    return (length > n) - (length < n)


# --- house numbers ------------------------------------------------------------------------
# Records of hn.bin (format.py): a header byte, the key, then the raw form, the id and the
# extra JSON as the header says. hn.off holds the start of every HN_BLOCK-th record.
# NOTE: every read is checked against the blob's end, so a damaged file gives wrong
# answers, never a read outside the map.

cdef int BLOCK_BITS = HN_BLOCK_BITS
cdef int64_t BLOCK_MASK = (1 << HN_BLOCK_BITS) - 1
cdef int KEY_ESCAPE = HN_KEY_ESCAPE
cdef int RAW = HN_RAW
cdef int ID_SHIFT = HN_ID_SHIFT
cdef int EXTRA = HN_EXTRA
cdef int ID_SUFFIX = HN_ID_SUFFIX
cdef int ID_FULL = HN_ID_FULL
cdef int ID_UNDERSCORE_RAW = HN_ID_UNDERSCORE_RAW
cdef int ID_DASH_RAW = HN_ID_DASH_RAW
cdef int ID_BAN = HN_ID_BAN


ctypedef fused offset_t:
    uint32_t
    uint64_t


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


cdef class Offsets:
    def __init__(self, offsets):
        self.wide = offsets.dtype.itemsize == 8
        if self.wide:
            self.off64 = offsets
        else:
            self.off32 = offsets


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


# --- one-edit neighbours (fuzzy matching) ---------------------------------------------------

# Keys next to each letter on a French AZERTY keyboard (Addok's substitutions).
KEYBOARD_NEIGHBOURS = {
    "a": "ezqop", "z": "aqse", "e": "azsdryu", "r": "edft", "t": "rfgy", "y": "teghu",
    "u": "yehji", "i": "ujko", "o": "iaklp", "p": "oalm", "q": "azsw", "s": "qzedxw",
    "d": "serfcx", "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb", "j": "huikn", "k": "jil",
    "l": "kom", "m": "lpu", "w": "qsx", "x": "wsdc", "c": "xdfvio", "v": "cfgb", "b": "vghn",
    "n": "bhj",
}
cdef list NEIGHBOURS = [KEYBOARD_NEIGHBOURS.get(chr(c), "").encode() for c in range(256)]


cdef struct Found:
    int64_t* ids  # term numbers found, each once, in the order first found
    Py_ssize_t size
    Py_ssize_t capacity


cdef int offer(Found* found, StringTable table, const uint8_t* key, Py_ssize_t n) except -1:
    cdef int64_t i = table_find_c(table.table, table.blob, table.offsets, key, n)
    cdef Py_ssize_t j
    cdef int64_t* grown
    if i < 0:
        return 0
    for j in range(found.size):  # PERF: a word has a few dozen neighbours at most
        if found.ids[j] == i:
            return 0
    if found.size == found.capacity:
        grown = <int64_t*> realloc(found.ids, 2 * found.capacity * sizeof(int64_t))
        if grown == NULL:
            raise MemoryError()
        found.ids, found.capacity = grown, 2 * found.capacity
    found.ids[found.size] = i
    found.size += 1
    return 0


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void* op)


cdef array.array INT64 = array.array("q")


def one_edit_terms(StringTable table, str word) -> array.array:
    """Numbers of the strings one edit away from ``word`` (int64), in Addok's order of
    preference: transpositions, then substitutions by keys next on an AZERTY keyboard, then
    insertions, then deletions (words over 3 letters). Words are ASCII (folded tokens);
    others get none. PERF: an array, not a tuple of ints: the collectors read its buffer."""
    if not word.isascii():
        return array.clone(INT64, 0, False)
    cdef bytes w = word.encode()
    cdef Py_ssize_t n = len(w), i, j
    cdef const uint8_t* src = <const uint8_t*> w
    cdef bytearray buffer = bytearray(n + 1)
    cdef uint8_t* buf = <uint8_t*> buffer
    cdef Found found
    cdef bytes others
    cdef uint8_t letter
    cdef array.array out
    found.size, found.capacity = 0, 64
    found.ids = <int64_t*> malloc(found.capacity * sizeof(int64_t))
    if found.ids == NULL:
        raise MemoryError()
    try:
        for i in range(n - 1):  # transpositions
            memcpy(buf, src, n)
            buf[i] = src[i + 1]
            buf[i + 1] = src[i]
            offer(&found, table, buf, n)
        for i in range(n):  # substitutions by neighbouring keys
            others = NEIGHBOURS[src[i]]
            memcpy(buf, src, n)
            for j in range(len(others)):
                if others[j] != src[i]:
                    buf[i] = others[j]
                    offer(&found, table, buf, n)
        for letter in range(ord("a"), ord("z") + 1):  # insertions
            for i in range(n + 1):
                memcpy(buf, src, i)
                buf[i] = letter
                memcpy(buf + i + 1, src + i, n - i)
                offer(&found, table, buf, n + 1)
        if n > 3:  # deletions
            for i in range(n):
                memcpy(buf, src, i)
                memcpy(buf + i, src + i + 1, n - 1 - i)
                offer(&found, table, buf, n - 1)
        out = array.clone(INT64, found.size, False)
        if found.size:
            memcpy(out.data.as_voidptr, found.ids, found.size * sizeof(int64_t))
        # NOTE: numbers only, it can hold no reference: the engine caches thousands, which the
        # cyclic garbage collector need not walk (tests/unit/search/test_garbage.py).
        PyObject_GC_UnTrack(<void*> out)
        return out
    finally:
        free(found.ids)


# --- the points' cells (geo.square, geo.low) --------------------------------------------------

cdef int LOW_BITS = GEO_LOW_BITS
cdef uint64_t LOW_MASK = (1 << GEO_LOW_BITS) - 1


def cell_positions(const offset_t[::1] square_start, const uint16_t[::1] low, const uint64_t[::1] cells):
    """For each cell (a 35-bit geohash integer), how many points lie in cells below it: the
    position of its first point, as ``np.searchsorted(every_point_cell, cells)`` would give."""
    out_array = np.empty(cells.shape[0], dtype=np.int64)
    cdef int64_t[::1] out = out_array
    cdef Py_ssize_t i, squares = square_start.shape[0] - 1
    cdef uint64_t square, target, lo, hi, mid
    with nogil:
        for i in range(cells.shape[0]):
            square = cells[i] >> LOW_BITS
            if square >= <uint64_t> squares:
                out[i] = square_start[squares]
                continue
            lo, hi, target = square_start[square], square_start[square + 1], cells[i] & LOW_MASK
            while lo < hi:
                mid = (lo + hi) // 2
                if low[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            out[i] = lo
    return out_array


def cell_at(const offset_t[::1] square_start, const uint16_t[::1] low, int64_t point) -> int:
    """The cell of one point: its square (found by bisection) and its low bits."""
    cdef int64_t lo = 0, hi = square_start.shape[0] - 1, mid
    with nogil:
        while lo + 1 < hi:  # the last square that starts at or before the point
            mid = (lo + hi) // 2
            if <int64_t> square_start[mid] <= point:
                lo = mid
            else:
                hi = mid
    return (lo << LOW_BITS) | low[point]


def touch_pages(const uint8_t[::1] data, Py_ssize_t page) -> int:
    """Read one byte of every ``page`` bytes of a map, without the GIL: the pages come into
    the page cache and into this process's page tables (IndexReader.preload)."""
    cdef Py_ssize_t i = 0, n = data.shape[0]
    cdef uint64_t total = 0  # returned, so that the reads are not optimized away
    with nogil:
        while i < n:
            total += data[i]
            i += page
    return total
