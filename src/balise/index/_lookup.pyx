# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled lookups over the index's flat files: strings by hash or by prefix, the terms one
edit away from a word, the points' cells. (House numbers: ``_housenumbers.pyx``.)

Strings (terms, lexicon words) are stored as one blob plus offsets. A hash table of uint32
slots (a string's number, EMPTY when free; linear probing, FNV-1a 64-bit hash) finds a
string in one or two probes, without a Python dict per worker.

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, memcpy
from libc.stdlib cimport free, malloc, realloc
from cpython cimport array

import array

import numpy as np

from . import format as _format

cdef uint32_t EMPTY = 0xFFFFFFFF
cdef uint64_t FNV_OFFSET = 14695981039346656037ULL
cdef uint64_t FNV_PRIME = 1099511628211ULL


cdef inline uint64_t fnv1a_from(uint64_t h, const uint8_t* data, Py_ssize_t n) noexcept nogil:
    """FNV-1a of ``data`` continued from ``h``, the hash of what comes before it."""
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ data[i]) * FNV_PRIME
    return h


cdef inline uint64_t fnv1a(const uint8_t* data, Py_ssize_t n) noexcept nogil:
    return fnv1a_from(FNV_OFFSET, data, n)


def string_hash(bytes key) -> int:
    """The hash of a key, as the tables use it."""
    return fnv1a(<const uint8_t*> key, len(key))


cdef struct Probe:  # a StringTable's arrays as pointers (PERF: probes take no memoryview each)
    const uint32_t* table
    const uint8_t* tags  # the top byte of the hash of each slot's string
    uint64_t mask
    const uint8_t* blob
    const uint64_t* offsets


cdef inline Probe probe_of(StringTable strings) noexcept:
    cdef Probe probe
    probe.table = &strings.table[0]
    probe.tags = &strings.tags[0]
    probe.mask = strings.table.shape[0] - 1
    probe.blob = &strings.blob[0]
    probe.offsets = &strings.offsets[0]
    return probe


cdef inline int64_t probe_find(const Probe* probe, uint64_t h, const uint8_t* key, Py_ssize_t n) noexcept nogil:
    """The number of the string ``key`` (of hash ``h``), or -1.

    PERF: a slot whose tag differs holds another string: its offsets and bytes are not read
    (one of the ~350 probes of a fuzzy word in two found a string, whose bytes then missed
    the CPU's caches)."""
    cdef uint64_t slot = h & probe.mask
    cdef uint8_t tag = <uint8_t> (h >> 56)
    cdef uint32_t i
    cdef uint64_t start, end
    while True:
        i = probe.table[slot]
        if i == EMPTY:
            return -1
        if probe.tags[slot] != tag:
            slot = (slot + 1) & probe.mask
            continue
        start = probe.offsets[i]
        end = probe.offsets[i + 1]
        if <Py_ssize_t> (end - start) == n and (n == 0 or memcmp(&probe.blob[start], key, n) == 0):
            return i
        slot = (slot + 1) & probe.mask


cdef inline int64_t table_find_c(StringTable strings, const uint8_t* key, Py_ssize_t n) noexcept:
    cdef Probe probe = probe_of(strings)
    return probe_find(&probe, fnv1a(key, n), key, n)


cdef const uint8_t[::1] tags_of(const uint32_t[::1] table, const uint8_t[::1] blob,
                                const uint64_t[::1] offsets):
    """The tag of each slot of a table (``probe_find``): the top byte of its string's hash."""
    cdef Py_ssize_t slot, count = offsets.shape[0] - 1
    cdef uint32_t i
    tags = np.zeros(max(table.shape[0], 1), dtype=np.uint8)
    cdef uint8_t[::1] out = tags
    for slot in range(table.shape[0]):
        i = table[slot]
        if i != EMPTY and i < count and offsets[i] <= offsets[i + 1] <= <uint64_t> blob.shape[0]:
            out[slot] = <uint8_t> (fnv1a(&blob[0] + offsets[i], offsets[i + 1] - offsets[i]) >> 56)
    return out


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
        self.tags = tags_of(self.table, self.blob, self.offsets)

    def find(self, str key) -> int:
        """The number of a string, or -1."""
        cdef bytes encoded = key.encode()
        return table_find_c(self, <const uint8_t*> encoded, len(encoded))

    def find_many(self, list keys) -> list:
        """The numbers of several strings (-1 for the missing ones)."""
        cdef bytes encoded
        out = []
        for key in keys:
            encoded = (<str> key).encode()
            out.append(table_find_c(self, <const uint8_t*> encoded, len(encoded)))
        return out

    def found(self, list keys) -> tuple:
        """The numbers of those strings that exist, in order, each once."""
        cdef bytes encoded
        cdef int64_t i
        out = []
        seen = set()
        for key in keys:
            encoded = (<str> key).encode()
            i = table_find_c(self, <const uint8_t*> encoded, len(encoded))
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
        cdef int64_t i = table_find_c(self, <const uint8_t*> encoded, len(encoded))
        if i < 0:
            return None
        return [self.tokens[j] for j in range(<Py_ssize_t> self.starts[i], <Py_ssize_t> self.starts[i + 1])]

    cdef tuple flat_tokens(self, str word, StringTable terms, const uint64_t[::1] post_start):
        """The tokens a word is searched as, flat: (token, term number, documents with it,
        token...), or None for a word the documents never had (PERF: one C call a word)."""
        cdef bytes encoded = word.encode()
        cdef int64_t i = table_find_c(self, <const uint8_t*> encoded, len(encoded))
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


# --- offsets of records (house numbers, stored documents) -----------------------------------

cdef class Offsets:
    def __init__(self, offsets):
        self.wide = offsets.dtype.itemsize == 8
        if self.wide:
            self.off64 = offsets
        else:
            self.off32 = offsets


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


cdef int add(Found* found, int64_t i) except -1:
    """Keep term ``i`` (-1: none) unless it was found before."""
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
    void __builtin_prefetch(const void* address) nogil  # GCC's and Clang's


cdef array.array INT64 = array.array("q")


def one_edit_terms(StringTable table, str word) -> array.array:
    """Numbers of the strings one edit away from ``word`` (int64), in Addok's order of
    preference: transpositions, then substitutions by keys next on an AZERTY keyboard, then
    insertions, then deletions (words over 3 letters). Words are ASCII (folded tokens);
    others get none. PERF: an array, not a tuple of ints: the collectors read its buffer.

    PERF: an edit at position i leaves the word's first i bytes as they are, so each
    candidate's hash goes on from the hash of that prefix (``prefix[i]``); the insertions,
    ~26 (n + 1) of the ~30 n probes, are tried position by position in one buffer, their
    finds then put back in Addok's order (letter by letter).
    """
    if not word.isascii():
        return array.clone(INT64, 0, False)
    cdef bytes w = word.encode()
    cdef Py_ssize_t n = len(w), i, j, k, inserted = 0
    cdef const uint8_t* src = <const uint8_t*> w
    cdef Probe probe = probe_of(table)
    cdef Found found
    cdef bytes others
    cdef uint8_t letter
    cdef int64_t term
    cdef uint64_t hashes[26]
    cdef array.array out
    found.size, found.capacity = 0, 64
    found.ids = <int64_t*> malloc(found.capacity * sizeof(int64_t))
    cdef uint8_t* buf = <uint8_t*> malloc(n + 2)
    cdef uint64_t* prefix = <uint64_t*> malloc((n + 1) * sizeof(uint64_t))
    # the insertions found: (letter * (n + 1) + position) << 32 | term, sorted into Addok's order
    cdef uint64_t* insertions = <uint64_t*> malloc(26 * (n + 1) * sizeof(uint64_t))
    try:
        if found.ids == NULL or buf == NULL or prefix == NULL or insertions == NULL:
            raise MemoryError()
        prefix[0] = FNV_OFFSET
        for i in range(n):
            prefix[i + 1] = (prefix[i] ^ src[i]) * FNV_PRIME
        memcpy(buf, src, n)
        for i in range(n - 1):  # transpositions
            buf[i], buf[i + 1] = src[i + 1], src[i]
            add(&found, probe_find(&probe, fnv1a_from(prefix[i], buf + i, n - i), buf, n))
            buf[i], buf[i + 1] = src[i], src[i + 1]
        for i in range(n):  # substitutions by neighbouring keys
            others = NEIGHBOURS[src[i]]
            for j in range(len(others)):
                if others[j] != src[i]:
                    buf[i] = others[j]
                    add(&found, probe_find(&probe, fnv1a_from(prefix[i], buf + i, n - i), buf, n))
            buf[i] = src[i]
        for i in range(n + 1):  # insertions, position by position
            memcpy(buf, src, i)
            memcpy(buf + i + 1, src + i, n - i)
            for letter in range(26):  # PERF: the 26 slots are asked of the memory at once
                hashes[letter] = fnv1a_from((prefix[i] ^ (ord("a") + letter)) * FNV_PRIME, src + i, n - i)
                __builtin_prefetch(&probe.table[hashes[letter] & probe.mask])
                __builtin_prefetch(&probe.tags[hashes[letter] & probe.mask])
            for letter in range(26):
                buf[i] = ord("a") + letter
                term = probe_find(&probe, hashes[letter], buf, n + 1)
                if term >= 0:
                    insertions[inserted] = (<uint64_t> (letter * (n + 1) + i) << 32) | <uint64_t> term
                    inserted += 1
        sort_uint64(insertions, inserted)
        for k in range(inserted):
            add(&found, <int64_t> (insertions[k] & 0xFFFFFFFF))
        if n > 3:  # deletions
            for i in range(n):
                memcpy(buf, src, i)
                memcpy(buf + i, src + i + 1, n - 1 - i)
                add(&found, probe_find(&probe, fnv1a_from(prefix[i], buf + i, n - 1 - i), buf, n - 1))
        out = array.clone(INT64, found.size, False)
        if found.size:
            memcpy(out.data.as_voidptr, found.ids, found.size * sizeof(int64_t))
        # NOTE: numbers only, it can hold no reference: the engine caches thousands, which the
        # cyclic garbage collector need not walk (tests/unit/search/test_garbage.py).
        PyObject_GC_UnTrack(<void*> out)
        return out
    finally:
        free(found.ids)
        free(buf)
        free(prefix)
        free(insertions)


cdef void sort_uint64(uint64_t* items, Py_ssize_t n) noexcept nogil:
    """Insertion sort (a word has a few insertions in the index at most)."""
    cdef Py_ssize_t i, j
    cdef uint64_t item
    for i in range(1, n):
        item = items[i]
        j = i
        while j > 0 and items[j - 1] > item:
            items[j] = items[j - 1]
            j -= 1
        items[j] = item


# --- the points' cells (geo.square, geo.low) --------------------------------------------------

ctypedef fused offset_t:
    uint32_t
    uint64_t


cdef int LOW_BITS = _format.GEO_LOW_BITS
cdef uint64_t LOW_MASK = (1 << LOW_BITS) - 1


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
