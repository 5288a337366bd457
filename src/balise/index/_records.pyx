# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled house-number records of one document, for the import: 32 million of them for
France, the import's hottest loop.

A record is its length (varint) then ``key 0x1F raw 0x1F id 0x1F extra`` (see format.py).
"""

import orjson

from libc.math cimport rint


cdef bytes varint(Py_ssize_t n):
    cdef bytearray out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


cpdef bytes housenumber_record(str key, str raw, dict data, str doc_id):
    """A house number as stored in hn.bin."""
    cdef object hn_id = data.get("id")
    cdef str id_field
    cdef bytes extra = b""
    if isinstance(hn_id, str):
        id_field = "=" + (<str> hn_id)[len(doc_id):] if (<str> hn_id).startswith(doc_id) else "~" + hn_id
        if len(data) > 3:  # the usual house number has exactly an id, lon and lat
            others = {k: v for k, v in data.items() if k not in ("id", "lon", "lat")}
            if others:
                extra = orjson.dumps(others)
    else:  # no id, or not a string: kept as is with the other properties
        id_field = ""
        others = {k: v for k, v in data.items() if k not in ("lon", "lat")}
        if others:
            extra = orjson.dumps(others)
    cdef bytes payload = (key + "\x1f" + ("" if raw == key else raw) + "\x1f" + id_field + "\x1f").encode() + extra
    cdef Py_ssize_t n = len(payload)
    return (bytes((n,)) if n < 0x80 else varint(n)) + payload


def housenumbers(dict numbers, str doc_id, object key_of, double scale, list records, list lonlat):
    """Append a document's house numbers (sorted by key; the first of two with one key wins;
    bad coordinates skipped) to ``records`` and their coordinates (integers of 1/scale
    degree) to ``lonlat``; returns (count, west, south, east, north) of the points as stored,
    or (0, ...) without any."""
    cdef dict found = {}
    cdef double lon, lat, west = 1e300, south = 1e300, east = -1e300, north = -1e300, x, y
    cdef long long ix, iy
    cdef str raw, key
    for raw_key, data in numbers.items():
        try:
            lon = float(data["lon"])
            lat = float(data["lat"])
        except (KeyError, TypeError, ValueError):
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            continue
        raw = raw_key if type(raw_key) is str else str(raw_key)
        key = key_of(raw)
        if key in found:
            continue
        found[key] = (raw, data, <long long> rint(lon * scale), <long long> rint(lat * scale))  # as round()
    for key in sorted(found, key=str.encode):
        raw, data, ix, iy = found[key]
        records.append(housenumber_record(key, raw, data, doc_id))
        lonlat.append(ix)
        lonlat.append(iy)
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
    return len(found), west, south, east, north
