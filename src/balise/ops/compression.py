"""Response compression negotiated on ``Accept-Encoding``: brotli, zstd, gzip.

The client's q-values decide; among encodings it accepts equally, brotli (smallest for
JSON), then zstd (fastest; only when the ``zstandard`` package is installed), then gzip.
``q=0`` refuses an encoding; ``*`` stands for the others; no ``Accept-Encoding`` header means
identity. Answers under ``BALISE_COMPRESS_MIN_SIZE`` bytes (default 500) stay as they are:
the headers would outweigh the gain. Every answer whose content could be compressed says
``Vary: Accept-Encoding``, so a shared cache keeps one copy per encoding.

Levels (``BALISE_COMPRESS_LEVELS``, default ``br=4,gzip=6,zstd=3``) are for answers made on
the fly: brotli's default 11 is for static files (PERF, a 2 KB answer: brotli 4 ~80 us,
gzip 6 ~40 us, zstd 3 ~15 us, 2.1-2.4 times smaller).

PERF: answers repeat (that is what the cache is for), so the latest compressed answers are
kept (:class:`Memo`: 2 MB per worker, by a hash of the answer): an L1 hit then costs no
compression either (measured: an L1 hit 80 us; with brotli 4 130 us, with gzip 6 170 us).

Streamed answers (``resp.stream``, the CSV of ``/search/csv``) are compressed as they
stream, chunk by chunk, with a flush whenever half a second passed since the last bytes
went out, so a slow stream still shows progress; their length is then unknown, so any
``Content-Length`` is dropped.
"""

from __future__ import annotations

import hashlib
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import brotli
import falcon
from falcon.typing import ReadableIO

from ..values import DEFAULT_LEVELS

try:
    import zstandard
except ImportError:  # optional
    zstandard = None  # type: ignore[assignment]  # the module, or None when it is not installed

PREFERENCE = ("br", "zstd", "gzip") if zstandard else ("br", "gzip")
COMPRESSIBLE = ("text/", "application/json", "application/geo+json", "application/javascript",
                "application/xml", "application/problem+json", "image/svg+xml",
                "application/openmetrics-text")
STREAM_CHUNK = 64 * 1024
FLUSH_AFTER = 0.5  # seconds


def parse_accept_encoding(header: str) -> dict[str, float]:
    """``{"gzip": 1.0, "br": 0.8, "*": 0.0}``; a token with a bad q-value is left out."""
    out = {}
    for token in header.split(","):
        coding, *params = (part.strip() for part in token.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            out[coding.lower()] = q
    if "x-gzip" in out and "gzip" not in out:
        out["gzip"] = out["x-gzip"]
    return out


def negotiate(header: str | None, available: Sequence[str] = PREFERENCE) -> str | None:
    """The encoding to answer with, or None for identity."""
    if not header or not header.strip():
        return None
    accepted = parse_accept_encoding(header)
    star = accepted.get("*", 0.0)
    best, best_q = None, 0.0
    for coding in available:
        q = accepted.get(coding, star)
        if q > best_q:
            best, best_q = coding, q
    if best is not None and accepted.get("identity", 0.0) > best_q:
        return None  # the client prefers identity
    return best


def compress(encoding: str, body: bytes, level: int) -> bytes:
    if encoding == "br":
        compressed: bytes = brotli.compress(body, quality=level)  # brotli has no annotations
        return compressed
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=level).compress(body)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: the gzip container
    return compressor.compress(body) + compressor.flush()


class _Streaming(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...

    def finish(self) -> bytes: ...


class _Gzip:
    def __init__(self, level: int) -> None:
        self.z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return self.z.compress(data)

    def flush(self) -> bytes:
        return self.z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self.z.flush(zlib.Z_FINISH)


class _Brotli:
    def __init__(self, level: int) -> None:
        self.b = brotli.Compressor(quality=level)

    # NOTE: brotli has no annotations: its answers are bytes.
    def compress(self, data: bytes) -> bytes:
        out: bytes = self.b.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self.b.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self.b.finish()
        return out


class _Zstd:
    def __init__(self, level: int) -> None:
        self.z = zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes) -> bytes:
        return self.z.compress(data)

    def flush(self) -> bytes:
        return self.z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self.z.flush()


_STREAMING: dict[str, Callable[[int], _Streaming]] = {"gzip": _Gzip, "br": _Brotli, "zstd": _Zstd}


def compress_stream(stream: ReadableIO | Iterable[bytes], encoding: str, level: int,
                    flush_after: float = FLUSH_AFTER) -> Iterator[bytes]:
    """The chunks of ``stream`` (a file-like object or an iterable of bytes), compressed.

    Closes ``stream`` when done or when the server closes this iterator early.
    """
    compressor: _Streaming = _STREAMING[encoding](level)
    read: Callable[[int], bytes] | None = getattr(stream, "read", None)
    # Without read(), the stream is falcon's other kind: an iterable of bytes (or str).
    chunks: Iterable[bytes | str] = (
        iter(lambda: read(STREAM_CHUNK), b"") if read is not None else stream  # type: ignore[assignment]
    )
    try:
        last = time.monotonic()
        for chunk in chunks:
            out = compressor.compress(chunk.encode() if isinstance(chunk, str) else chunk)
            if time.monotonic() - last >= flush_after:
                out += compressor.flush()
            if out:
                last = time.monotonic()
                yield out
        yield compressor.finish()
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


class Memo:
    """Compressed answers by (encoding, hash of the answer), least recently used out."""

    def __init__(self, max_bytes: int = 2_000_000, max_body: int = 64 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_body = max_body  # larger answers are rare: not kept
        self.bytes = 0
        self._items: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def compress(self, encoding: str, body: bytes, level: int) -> bytes:
        if len(body) > self.max_body:
            return compress(encoding, body, level)
        key = (encoding, hashlib.blake2b(body, digest_size=16).digest())
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        compressed = compress(encoding, body, level)
        with self._lock:
            if key not in self._items:
                self._items[key] = compressed
                self.bytes += len(compressed)
                while self.bytes > self.max_bytes:
                    self.bytes -= len(self._items.popitem(last=False)[1])
        return compressed


class CompressionMiddleware:
    """Compresses answers for clients that accept it (see the module docstring)."""

    def __init__(self, min_size: int = 500, levels: Mapping[str, int] | None = None,
                 available: Sequence[str] = PREFERENCE) -> None:
        self.min_size = min_size
        self.levels = {**DEFAULT_LEVELS, **(levels or {})}
        self.available = tuple(a for a in available if a in PREFERENCE)
        self.memo = Memo()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if req.method == "HEAD" or resp.status_code < 200 or resp.status_code in (204, 304):
            return
        if resp.get_header("Content-Encoding") or not (resp.content_type or "").startswith(COMPRESSIBLE):
            return
        if resp.stream is not None:
            resp.append_header("Vary", "Accept-Encoding")
            encoding = negotiate(req.get_header("Accept-Encoding"), self.available)
            if encoding is not None:
                resp.stream = compress_stream(resp.stream, encoding, self.levels[encoding])
                resp.delete_header("Content-Length")
                resp.set_header("Content-Encoding", encoding)
            return
        body = resp.render_body()
        if body is None or len(body) < self.min_size:
            return
        resp.append_header("Vary", "Accept-Encoding")
        encoding = negotiate(req.get_header("Accept-Encoding"), self.available)
        if encoding is None:
            return
        compressed = self.memo.compress(encoding, body, self.levels[encoding])
        if len(compressed) >= len(body):
            return
        resp.text = None
        resp.data = compressed
        resp.set_header("Content-Encoding", encoding)
