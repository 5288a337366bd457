# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled house-number records of one document, for the import: 32 million of them for
France, the import's hottest loop; and the gathering of per-document blocks into the
final order (``gather``), the writer's permutation.

A record is a header byte, the key, then what the header says follows (format.py).
"""

import orjson

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport rint
from libc.string cimport memcpy
from libc.stdint cimport int32_t, uint8_t, uint64_t
from posix.unistd cimport pread

from . import format as _format

cdef int KEY_ESCAPE = _format.HN_KEY_ESCAPE
cdef int RAW = _format.HN_RAW
cdef int ID_SHIFT = _format.HN_ID_SHIFT
cdef int EXTRA = _format.HN_EXTRA
cdef Py_ssize_t KEYS_MAX = 200_000  # house-number keys cached (France has ~20,000)


cdef int ID_UNDERSCORE_RAW = _format.HN_ID_UNDERSCORE_RAW
cdef int ID_DASH_RAW = _format.HN_ID_DASH_RAW
cdef int ID_BAN = _format.HN_ID_BAN
cdef int ID_SUFFIX = _format.HN_ID_SUFFIX
cdef int ID_FULL = _format.HN_ID_FULL
cdef int ID_NONE = _format.HN_ID_NONE


cdef inline int put(bytearray out, const char* data, Py_ssize_t n) except -1:
    """Append n bytes (PERF: one resize and a copy, no bytes object)."""
    cdef Py_ssize_t size = PyByteArray_GET_SIZE(out)
    PyByteArray_Resize(out, size + n)
    memcpy(PyByteArray_AS_STRING(out) + size, data, n)
    return 0


cdef inline int put_text(bytearray out, str text, bint with_length) except -1:
    """Append a string's UTF-8 (what str.encode() gives), after its length if asked."""
    cdef Py_ssize_t n
    cdef const char* utf8 = PyUnicode_AsUTF8AndSize(text, &n)
    if with_length:
        put_varint(out, n)
    return put(out, utf8, n)


cdef inline int put_varint(bytearray out, Py_ssize_t n) except -1:
    cdef char buffer[10]
    cdef Py_ssize_t used = 0
    while n >= 0x80:
        buffer[used] = <char> ((n & 0x7F) | 0x80)
        used += 1
        n >>= 7
    buffer[used] = <char> n
    return put(out, buffer, used + 1)


cpdef str ban_suffix(str key):
    """BAN's house-number id after its street's: ``_`` + the number on 5 digits, then ``_``
    + the rest of the key if any ("30bis" -> "_00030_bis"); "" for a key without a number."""
    cdef Py_ssize_t i = 0, n = len(key)
    while i < n and "0" <= key[i] <= "9":
        i += 1
    if i == 0:
        return ""
    return "_" + key[:i].zfill(5) + ("_" + key[i:] if i < n else "")


cdef void append_record(bytearray out, str key, str raw, dict data, str doc_id):
    cdef object hn_id = data.get("id")
    cdef int kind = ID_NONE
    cdef str text, suffix, explicit = None
    cdef bytes extra = None
    cdef Py_ssize_t n_id = len(doc_id)
    cdef Py_UCS4 separator
    if isinstance(hn_id, str):
        text = <str> hn_id
        if text.startswith(doc_id):
            separator = text[n_id] if len(text) > n_id else 0
            # PERF: the usual ids compared in place, without building them
            if len(text) == n_id + 1 + len(raw) and separator == "_" and text.endswith(raw):
                kind = ID_UNDERSCORE_RAW
            elif len(text) == n_id + 1 + len(raw) and separator == "-" and text.endswith(raw):
                kind = ID_DASH_RAW
            else:
                suffix = text[n_id:]
                if suffix and suffix == ban_suffix(key):
                    kind = ID_BAN
                else:
                    kind = ID_SUFFIX
                    explicit = suffix
        else:
            kind = ID_FULL
            explicit = text
        if len(data) > 3:  # the usual house number has exactly an id, lon and lat
            others = {k: v for k, v in data.items() if k not in ("id", "lon", "lat")}
            if others:
                extra = orjson.dumps(others)
    else:  # no id, or not a string: kept as is with the other properties
        others = {k: v for k, v in data.items() if k not in ("lon", "lat")}
        if others:
            extra = orjson.dumps(others)
    cdef Py_ssize_t n
    cdef const char* encoded = PyUnicode_AsUTF8AndSize(key, &n)
    cdef bint has_raw = raw != key
    cdef char header = <char> ((n if n < KEY_ESCAPE else KEY_ESCAPE) | (RAW if has_raw else 0)
                               | (kind << ID_SHIFT) | (EXTRA if extra is not None else 0))
    put(out, &header, 1)
    if n >= KEY_ESCAPE:
        put_varint(out, n)
    put(out, encoded, n)
    if has_raw:
        put_text(out, raw, True)
    if explicit is not None:
        put_text(out, explicit, True)
    if extra is not None:
        put_varint(out, len(extra))
        put(out, extra, len(extra))


def housenumber_record(str key, str raw, dict data, str doc_id) -> bytes:
    """A house number as stored in hn.bin."""
    out = bytearray()
    append_record(out, key, raw, data, doc_id)
    return bytes(out)


def housenumbers(dict numbers, str doc_id, object key_of, dict keys, double scale, bytearray records,
                 bytearray lonlat):
    """Append a document's house numbers (sorted by key; the first of two with one key wins;
    bad coordinates skipped) to ``records`` and their coordinates (int32 pairs of 1/scale
    degree) to ``lonlat``; returns (count, west, south, east, north) of the points as stored,
    or (0, ...) without any. ``keys`` caches ``key_of`` (PERF: a dict, not its lru_cache)."""
    cdef dict found = {}
    cdef double lon, lat, west = 1e300, south = 1e300, east = -1e300, north = -1e300, x, y
    cdef long long ix, iy
    cdef str raw, key
    cdef Py_ssize_t i = 0
    for raw_key, data in numbers.items():
        try:
            lon = float(data["lon"])
            lat = float(data["lat"])
        except (KeyError, TypeError, ValueError):
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            continue
        raw = raw_key if type(raw_key) is str else str(raw_key)
        cached = keys.get(raw)
        if cached is None:
            cached = key_of(raw)
            if len(keys) >= KEYS_MAX:
                keys.clear()
            keys[raw] = cached
        key = <str> cached
        if key in found:
            continue
        found[key] = (raw, data, lon, lat)
    # PERF: sorted as str, which is their UTF-8 bytes' order (code point order, the same).
    cdef list ordered = sorted(found) if len(found) > 1 else list(found)
    cdef bytearray xy = bytearray(8 * len(ordered))
    cdef int32_t* out = <int32_t*> (<char*> xy)
    for key in ordered:
        raw, data, lon, lat = found[key]
        ix = <long long> rint(lon * scale)  # as round()
        iy = <long long> rint(lat * scale)
        append_record(records, key, raw, data, doc_id)
        out[2 * i] = <int32_t> ix
        out[2 * i + 1] = <int32_t> iy
        i += 1
        x = ix / scale
        y = iy / scale
        if x < west:
            west = x
        if x > east:
            east = x
        if y < south:
            south = y
        if y > north:
            north = y
    lonlat += xy
    return len(found), west, south, east, north


def gather(int fd, const uint64_t[::1] starts, const uint64_t[::1] lengths) -> bytearray:
    """The bytes of a file at these (start, length) ranges, laid end to end: pread without
    the GIL (the page cache, not this process, holds the file)."""
    cdef Py_ssize_t i, n = starts.shape[0]
    cdef uint64_t total = 0, done = 0
    for i in range(n):
        total += lengths[i]
    out = bytearray(total)
    if total == 0:
        return out
    cdef uint8_t* buffer = <uint8_t*> (<char*> out)
    cdef Py_ssize_t got, failed = -1
    cdef uint64_t want, at
    with nogil:
        for i in range(n):
            want = lengths[i]
            at = 0
            while at < want:
                got = pread(fd, buffer + done + at, want - at, starts[i] + at)
                if got <= 0:
                    failed = i
                    break
                at += got
            if failed >= 0:
                break
            done += want
    if failed >= 0:
        raise OSError(f"short read of range {failed} (start {starts[failed]}, length {lengths[failed]})")
    return out
