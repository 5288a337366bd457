"""What the cache keeps: entries (an answer's bytes and expiry), packed for L2 and L3; the
key of a request; and how long each kind of answer is kept."""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...search.engine import Match
from ...text import ascii_label

zstandard: Any
try:
    import zstandard
except ImportError:  # optional: values are then packed with zlib
    zstandard = None

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: when it expires, and its bytes around the query echo (if any)."""

    expires: float
    parts: tuple[bytes, ...]  # one part, or two: the answer is parts[0] + query + parts[1]

    def body(self, query_json: bytes = b"") -> bytes:
        return query_json.join(self.parts)

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)


_HEADER = struct.Struct(">BdI")  # flags, expires (epoch seconds), length of the first part
_SPLIT, _ZSTD, _ZLIB = 1, 2, 4
_COMPRESS_FROM = 256  # bytes; smaller answers gain nothing
# NOTE: one zstd compressor and decompressor per thread: a zstandard object used by two
# threads at once corrupts memory (a worker serves THREADS requests at once; it crashed).
_zstd = threading.local()


def _zstd_compressor() -> Any:
    if not hasattr(_zstd, "c"):
        _zstd.c = zstandard.ZstdCompressor(level=3)
    return _zstd.c


def _zstd_decompressor() -> Any:
    if not hasattr(_zstd, "d"):
        _zstd.d = zstandard.ZstdDecompressor()
    return _zstd.d


def pack(entry: Entry) -> bytes:
    """An entry as compact bytes for L2 and L3: a 13-byte header, then zstd (or zlib)."""
    payload = b"".join(entry.parts)
    flags = _SPLIT if len(entry.parts) == 2 else 0
    if len(payload) >= _COMPRESS_FROM:
        if zstandard is not None:
            payload, flags = _zstd_compressor().compress(payload), flags | _ZSTD
        else:
            payload, flags = zlib.compress(payload, 1), flags | _ZLIB
    return _HEADER.pack(flags, entry.expires, len(entry.parts[0])) + payload


def unpack(blob: bytes) -> Entry | None:
    """The entry packed in ``blob``; None if it cannot be read (then it is a miss)."""
    try:
        flags, expires, first = _HEADER.unpack_from(blob)
        payload = blob[_HEADER.size:]
        if flags & _ZSTD:
            if zstandard is None:
                return None
            payload = _zstd_decompressor().decompress(payload)
        elif flags & _ZLIB:
            payload = zlib.decompress(payload)
    except Exception as error:  # struct, zlib and zstd errors alike: a miss
        log.debug("unreadable cache entry: %s", error)
        return None
    parts = (payload[:first], payload[first:]) if flags & _SPLIT else (payload,)
    return Entry(expires, parts)


def normalize_query(q: str) -> str:
    """The query as the engine reads it: the text pipeline's folding (lowercase, accents and
    other scripts transliterated, everything but letters and digits a single space), the very
    function the search reads a query through (``search._query.QueryText``). Two queries share a
    key only when the engine reads them the same: ``rue µ`` (micro sign) and ``rue μ`` (Greek
    mu) fold to ``rue u`` and ``rue m``; ``rue paris`` and ``rue\\x85paris`` to two texts.

    PERF: the folding is cached by the text pipeline (``ascii_label``): the engine's own call
    for the same query on a miss is then a dictionary hit.
    """
    return ascii_label(q)


def cache_key(endpoint: str, params: Mapping[str, str | Sequence[str]], version: str) -> bytes:
    """sha256 of the endpoint, the index version and the parameters that change the answer.

    ``params`` holds only those parameters, each as given (several values kept in order);
    ``q`` as the engine reads it (:func:`normalize_query`).
    """
    canonical = []
    for name in sorted(params):
        values = params[name]
        values = [values] if isinstance(values, str) else list(values)
        if name == "q":
            values = [normalize_query(v) for v in values]
        canonical.append((name, values))
    return hashlib.sha256(orjson.dumps([endpoint, str(version), canonical])).digest()


@dataclass(frozen=True)
class Ttls:
    """Seconds an answer is kept, by how its first result matched the query (the engine says:
    ``search.engine.Match``): exactly, fuzzily, or no result at all."""

    exact: int = 86400
    fuzzy: int = 3600
    not_found: int = 300

    def of(self, match: Match) -> int:
        return {"exact": self.exact, "fuzzy": self.fuzzy, "none": self.not_found}[match]


@dataclass(frozen=True, slots=True)
class Cacheable:
    """What a resource hands the cache middleware with its answer (``req.context.cacheable``):
    the answer's bytes, cut around its query echo when it has one (the answer is then
    ``parts[0] + query + parts[1]``, so that a hit echoes the query as the new request typed
    it), and how its first result matched the query."""

    parts: tuple[bytes, ...]
    match: Match
