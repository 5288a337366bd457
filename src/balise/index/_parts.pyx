# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Stored documents as parts (compiled): the one place their record is written and read.

A document's JSON object is split into its members, each a key and a value. Keys, and the
values of the keys whose values repeat (a postcode, a city, a context), are numbers into
a table of parts that every document shares (``docs.parts``); the other values (a name)
are kept inline. Reading a document is copying its parts into one JSON text, that orjson
parses: no decompression. Why not zstd frames with a trained dictionary, as before:
reading one took ~1.5 us more in a search (the tables of its entropy coder, cold by then),
for as many bytes (the dev data's documents: 43.6 bytes each against 43.7; bench/README.md).

A record (``docs.bin``): varint(2 * members + stripped), then for each member varint(key
part), then varint(2 * value part) or varint(2 * length + 1) followed by the value's bytes.
``stripped``: the document was stored without its id (format.py), which ``docs.id`` has.
Varints are LEB128 (7 bits a byte, low bits first).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

DEF TABLED_RATIO = 0.5  # a key's values are shared parts when fewer than this share differ


# --- writing -------------------------------------------------------------------------------


cdef Py_ssize_t skip_string(const uint8_t* text, Py_ssize_t i, Py_ssize_t n) except -1:
    """The position after the JSON string that starts at i (a quote)."""
    i += 1
    while i < n:
        if text[i] == b'\\':
            i += 2
        elif text[i] == b'"':
            return i + 1
        else:
            i += 1
    raise ValueError("a JSON string without its end")


cpdef list members(bytes json):
    """The (key, value) texts of a compact JSON object's members, in order (orjson's
    output: no spaces between tokens)."""
    cdef const uint8_t* text = <const uint8_t*> PyBytes_AS_STRING(json)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(json), i = 1, key, colon, depth
    cdef list out = []
    if n < 2 or text[0] != b'{' or text[n - 1] != b'}':
        raise ValueError("not a JSON object")
    if n == 2:
        return out
    while True:
        if text[i] != b'"':
            raise ValueError("a member without its key")
        key = i
        colon = skip_string(text, i, n)
        if colon >= n or text[colon] != b':':
            raise ValueError("a key without its colon")
        i, depth = colon + 1, 0
        while i < n:  # the value: up to the comma or brace that closes it
            if text[i] == b'"':
                i = skip_string(text, i, n)
                continue
            if text[i] == b'{' or text[i] == b'[':
                depth += 1
            elif text[i] == b'}' or text[i] == b']':
                if depth == 0:
                    break
                depth -= 1
            elif text[i] == b',' and depth == 0:
                break
            i += 1
        if i >= n:
            raise ValueError("a value without its end")
        out.append((json[key:colon], json[colon + 1:i]))
        if text[i] == b'}':
            if i != n - 1:
                raise ValueError("text after the object")
            return out
        i += 1


def tabled_keys(list samples) -> set:
    """The keys whose values are shared parts: those of which fewer than half the values
    differ in these documents (JSON texts), each value counted once a document."""
    cdef dict seen = {}, values = {}
    for json in samples:
        for key, value in members(json):
            seen[key] = seen.get(key, 0) + 1
            values.setdefault(key, set()).add(value)
    return {key for key, count in seen.items() if len(values[key]) < TABLED_RATIO * count}


cdef inline void put_varint(bytearray out, uint64_t value):
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


cdef class PartsWriter:
    """Documents into records, and the table of the parts they share (``parts``, in number
    order)."""

    cdef set tabled
    cdef dict numbers  # a part's text -> its number
    cdef readonly list parts

    def __init__(self, set tabled):
        self.tabled = tabled
        self.numbers = {}
        self.parts = []

    cdef uint64_t part(self, bytes text):
        found = self.numbers.get(text)
        if found is None:
            found = self.numbers[text] = len(self.parts)
            self.parts.append(text)
        return <uint64_t> found

    cpdef bytes record(self, bytes json):
        """The record of one document's JSON text (stripped: no member "id")."""
        cdef list found = members(json)
        cdef bytearray out = bytearray()
        cdef bint stripped = True
        cdef bytes key, value
        for key, value in found:
            if key == b'"id"':
                stripped = False
        put_varint(out, 2 * len(found) + stripped)
        for key, value in found:
            put_varint(out, self.part(key))
            if key in self.tabled:
                put_varint(out, 2 * self.part(value))
            else:
                put_varint(out, 2 * len(value) + 1)
                out += value
        return bytes(out)


# --- reading -------------------------------------------------------------------------------


cdef inline int get_varint(const uint8_t* record, Py_ssize_t size, Py_ssize_t* at, uint64_t* value) noexcept:
    """The varint at ``at`` (moved past it); -1 when it runs past the record."""
    cdef uint64_t result = 0
    cdef int shift = 0
    while at[0] < size and shift < 64:
        result |= <uint64_t> (record[at[0]] & 0x7F) << shift
        at[0] += 1
        if not record[at[0] - 1] & 0x80:
            value[0] = result
            return 0
        shift += 7
    return -1


cdef inline bint plain(const uint8_t* text, Py_ssize_t length) noexcept:
    """Printable ASCII without quote or backslash: a JSON string's text as it is."""
    cdef Py_ssize_t i
    for i in range(length):
        if text[i] < 0x20 or text[i] > 0x7E or text[i] == b'"' or text[i] == b'\\':
            return False
    return True


cdef class Parts:
    """The shared parts of an index's documents (``docs.parts``, ``docs.parts.off``)."""

    def __init__(self, blob, const uint64_t[::1] offsets):
        self.blob = blob if len(blob) else b"\0"
        self.offsets = offsets
        self.count = offsets.shape[0] - 1

    cdef int piece(self, uint64_t number, const uint8_t** text, Py_ssize_t* length) noexcept:
        """Part ``number``'s text; -1 when there is no such part."""
        if number >= <uint64_t> self.count:
            return -1
        cdef uint64_t start = self.offsets[number], end = self.offsets[number + 1]
        if start > end or end > <uint64_t> self.blob.shape[0]:
            return -1
        text[0] = &self.blob[0] + start
        length[0] = end - start
        return 0

    cdef bytes json(self, const uint8_t* record, Py_ssize_t size, const uint8_t* id_, Py_ssize_t id_length,
                    bint* id_missing):
        """The JSON text of a record, its id first when it was stored without it (if plain:
        else ``id_missing`` is set, for the caller to add it); None when the record is damaged.

        Two passes over the record: its length, then its bytes, into one new bytes object."""
        cdef Py_ssize_t at, total, length, m, count, pass_
        cdef uint64_t head, number, value
        cdef const uint8_t* text
        cdef char* out = NULL
        cdef bytes result = None
        cdef bint with_id
        at = 0
        if get_varint(record, size, &at, &head):
            return None
        count = <Py_ssize_t> (head >> 1)
        with_id = (head & 1) and plain(id_, id_length)
        id_missing[0] = (head & 1) and not with_id
        for pass_ in range(2):
            at, total = 0, 1
            get_varint(record, size, &at, &head)
            if with_id:
                if out != NULL:
                    memcpy(out + total, b'"id":"', 6)
                    if id_length:
                        memcpy(out + total + 6, id_, id_length)
                    out[total + 6 + id_length] = b'"'
                total += 7 + id_length
            for m in range(count):
                if m or with_id:
                    if out != NULL:
                        out[total] = b','
                    total += 1
                if get_varint(record, size, &at, &number) or self.piece(number, &text, &length):
                    return None
                if out != NULL:
                    memcpy(out + total, text, length)
                    out[total + length] = b':'
                total += length + 1
                if get_varint(record, size, &at, &value):
                    return None
                if value & 1:
                    length = <Py_ssize_t> (value >> 1)
                    if length > size - at:
                        return None
                    text = record + at
                    at += length
                elif self.piece(value >> 1, &text, &length):
                    return None
                if out != NULL and length:
                    memcpy(out + total, text, length)
                total += length
            if at != size:
                return None
            if out == NULL:
                result = PyBytes_FromStringAndSize(NULL, total + 1)
                out = PyBytes_AS_STRING(result)
                out[0] = b'{'
                out[total] = b'}'
        return result
