# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled lookups over the index's flat files: strings by hash or by prefix, house numbers.

Strings (terms, lexicon words) are stored as one blob plus offsets. A hash table of uint32
slots (a string's number, EMPTY when free; linear probing, FNV-1a 64-bit hash) finds a
string in one or two probes, without a Python dict per worker. House numbers of a document
are one range, sorted by key, so a key is found by bisection in that range.

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

import numpy as np

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
        return bytes(self.blob[self.offsets[i]:self.offsets[i + 1]]).decode()

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

    def tokens_of(self, list words, StringTable terms, const uint64_t[::1] post_start) -> list:
        """For each word, its tokens as (token, term number, documents with it), or None for
        a word the documents never had: a query's known words in one call."""
        cdef bytes encoded
        cdef int64_t i
        cdef Py_ssize_t j
        cdef uint32_t t
        out = []
        for word in words:
            encoded = (<str> word).encode()
            i = table_find_c(self.table, self.blob, self.offsets, <const uint8_t*> encoded, len(encoded))
            if i < 0:
                out.append(None)
                continue
            found = []
            for j in range(<Py_ssize_t> self.starts[i], <Py_ssize_t> self.starts[i + 1]):
                t = self.tokens[j]
                found.append((bytes(terms.blob[terms.offsets[t]:terms.offsets[t + 1]]).decode(), t,
                              post_start[t + 1] - post_start[t]))
            out.append(found)
        return out


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


cdef inline Py_ssize_t read_varint(const uint8_t* blob, uint64_t* pos) noexcept nogil:
    cdef Py_ssize_t value = 0
    cdef int shift = 0
    cdef uint8_t b
    while True:
        b = blob[pos[0]]
        pos[0] += 1
        value |= (<Py_ssize_t> (b & 0x7F)) << shift
        if b < 0x80:
            return value
        shift += 7


cdef inline int compare_key(const uint8_t* blob, uint64_t record, const uint8_t* key,
                            Py_ssize_t n) noexcept nogil:
    """Compare the key of a house-number record (its first field) with key."""
    cdef uint64_t pos = record
    cdef Py_ssize_t length = read_varint(blob, &pos)
    cdef Py_ssize_t i = 0
    while i < length and blob[pos + i] != 0x1F:
        i += 1
    cdef Py_ssize_t m = i if i < n else n
    cdef int c = memcmp(&blob[pos], key, m) if m else 0
    if c != 0:
        return c
    return (i > n) - (i < n)


cdef class HouseNumbers:
    """The house numbers of the documents (``docs.hn``, ``hn.off``, ``hn.bin``): found by key in
    a document's range, read by number. A document's house numbers are hn_start[d] to
    hn_start[d+1]-1, sorted by key; a record starts with its length (varint), then its key, its
    raw form (empty when the key's) and the rest, separated by 0x1F."""

    def __init__(self, start, offsets, blob):
        cdef const uint64_t[::1] starts = start
        cdef const uint8_t[::1] data = blob
        cdef const uint32_t[::1] narrow
        cdef const uint64_t[::1] wide
        self.arrays = (start, offsets, blob)
        self.start = &starts[0]
        self.blob = &data[0]
        self.wide = offsets.dtype.itemsize == 8
        if len(offsets) == 0:
            self.off32 = NULL
            self.off64 = NULL
        elif self.wide:
            wide = offsets
            self.off64 = &wide[0]
        else:
            narrow = offsets
            self.off32 = &narrow[0]

    cdef uint64_t offset(self, int64_t hn) noexcept nogil:
        return self.off64[hn] if self.wide else self.off32[hn]

    cdef int64_t find(self, uint32_t doc, const uint8_t* key, Py_ssize_t n) noexcept nogil:
        """The number of document ``doc``'s house number ``key``, or -1."""
        cdef Py_ssize_t lo = self.start[doc], hi = self.start[doc + 1], mid
        cdef int c
        while lo < hi:
            mid = (lo + hi) // 2
            c = compare_key(self.blob, self.offset(mid), key, n)
            if c < 0:
                lo = mid + 1
            elif c > 0:
                hi = mid
            else:
                return mid
        return -1

    cdef str raw(self, int64_t hn):
        """A house number as written ("30 BIS"; its key when the record has no raw form)."""
        cdef uint64_t pos = self.offset(hn)
        cdef Py_ssize_t key_end = 0, raw_end
        read_varint(self.blob, &pos)
        while self.blob[pos + key_end] != 0x1F:
            key_end += 1
        raw_end = key_end + 1
        while self.blob[pos + raw_end] != 0x1F:
            raw_end += 1
        if raw_end > key_end + 1:
            return (<const char*> self.blob + pos + key_end + 1)[:raw_end - key_end - 1].decode()
        return (<const char*> self.blob + pos)[:key_end].decode()

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

    def record(self, int64_t hn) -> bytes:
        """The payload of house number ``hn``'s record."""
        cdef uint64_t pos = self.offset(hn)
        cdef Py_ssize_t length = read_varint(self.blob, &pos)
        return (<const char*> self.blob + pos)[:length]


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


cdef class _Found:
    """Term numbers found among candidate strings, each once, in the order first found."""

    cdef StringTable table
    cdef list ids
    cdef set seen

    def __init__(self, StringTable table):
        self.table = table
        self.ids = []
        self.seen = set()

    cdef void offer(self, const uint8_t* key, Py_ssize_t n):
        cdef int64_t i = table_find_c(self.table.table, self.table.blob, self.table.offsets, key, n)
        if i >= 0 and i not in self.seen:
            self.seen.add(i)
            self.ids.append(i)


def one_edit_terms(StringTable table, str word) -> tuple:
    """Numbers of the strings one edit away from ``word``, in Addok's order of preference:
    transpositions, then substitutions by keys next on an AZERTY keyboard, then insertions,
    then deletions (words over 3 letters). Words are ASCII (folded tokens); others get ()."""
    if not word.isascii():
        return ()
    cdef bytes w = word.encode()
    cdef Py_ssize_t n = len(w), i, j
    cdef const uint8_t* src = <const uint8_t*> w
    cdef bytearray buffer = bytearray(n + 1)
    cdef uint8_t* buf = <uint8_t*> buffer
    cdef _Found found = _Found(table)
    cdef bytes others
    cdef uint8_t letter
    for i in range(n - 1):  # transpositions
        memcpy(buf, src, n)
        buf[i] = src[i + 1]
        buf[i + 1] = src[i]
        found.offer(buf, n)
    for i in range(n):  # substitutions by neighbouring keys
        others = NEIGHBOURS[src[i]]
        memcpy(buf, src, n)
        for j in range(len(others)):
            if others[j] != src[i]:
                buf[i] = others[j]
                found.offer(buf, n)
    for letter in range(ord("a"), ord("z") + 1):  # insertions
        for i in range(n + 1):
            memcpy(buf, src, i)
            buf[i] = letter
            memcpy(buf + i + 1, src + i, n - i)
            found.offer(buf, n + 1)
    if n > 3:  # deletions
        for i in range(n):
            memcpy(buf, src, i)
            memcpy(buf + i, src + i + 1, n - 1 - i)
            found.offer(buf, n - 1)
    return tuple(found.ids)


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
