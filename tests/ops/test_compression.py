"""Compression negotiated on Accept-Encoding, for whole answers and streams."""

from __future__ import annotations

import gzip
import io
import zlib

import brotli
import falcon
import falcon.testing
import pytest

from balise.ops.compression import PREFERENCE, CompressionMiddleware, negotiate
from balise.values import compression_levels

zstandard = pytest.importorskip("zstandard") if "zstd" in PREFERENCE else None
BIG = b'{"features": [' + b",".join(b'{"label": "%d rue de Rivoli"}' % n for n in range(60)) + b"]}"
CSV = "".join(f"{n};{n} rue de Rivoli;75001;Paris\n" for n in range(20000))


def decode(encoding: str | None, body: bytes) -> bytes:
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


def test_negotiation():
    assert negotiate(None) is None and negotiate("") is None and negotiate("  ") is None
    assert negotiate("gzip") == "gzip"
    assert negotiate("gzip, br") == "br"  # equal q: br preferred
    assert negotiate("br;q=0.5, gzip") == "gzip"  # the client's q-values first
    assert negotiate("br;q=0, gzip;q=0.1") == "gzip"  # q=0: refused
    assert negotiate("br;q=0, gzip;q=0") is None
    assert negotiate("*") == "br" and negotiate("*, br;q=0") == PREFERENCE[1]
    assert negotiate("identity") is None and negotiate("deflate, compress") is None
    assert negotiate("gzip;q=0.5, identity") is None  # identity preferred
    assert negotiate("x-gzip") == "gzip" and negotiate("GZIP;Q=1.0") == "gzip"
    assert negotiate("gzip;q=bogus, br;q=2") is None  # bad q-values are ignored
    if "zstd" in PREFERENCE:
        assert negotiate("zstd, gzip") == "zstd" and negotiate("gzip, zstd, br") == "br"
    assert compression_levels("br=5, gzip=9") == {"br": 5, "gzip": 9, "zstd": 3}
    with pytest.raises(ValueError):
        compression_levels("lzma=3")


class Answer:
    def __init__(self, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.body, self.content_type = body, content_type

    def on_get(self, req, resp):
        resp.data = self.body
        resp.content_type = self.content_type


class Stream:
    def on_get(self, req, resp):
        resp.content_type = "text/csv; charset=utf-8"
        if req.get_param_as_bool("file"):
            resp.stream = io.BytesIO(CSV.encode())
        else:
            resp.stream = (line.encode() for line in CSV.splitlines(keepends=True))


@pytest.fixture(scope="module")
def client():
    app = falcon.App(middleware=[CompressionMiddleware(min_size=500)])
    app.add_route("/big", Answer(BIG))
    app.add_route("/small", Answer(b'{"ok": true}'))
    app.add_route("/png", Answer(b"\x89PNG" + b"\0" * 2000, "image/png"))
    app.add_route("/csv", Stream())
    return falcon.testing.TestClient(app)


@pytest.mark.parametrize(("accept", "expected"), [
    (None, None), ("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0, gzip", "gzip"),
    ("br;q=0, gzip;q=0", None), ("identity", None), ("zstd", "zstd" if "zstd" in PREFERENCE else None),
])
def test_answers_are_compressed_as_negotiated(client, accept, expected):
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    result = client.simulate_get("/big", headers=headers)
    assert result.headers.get("content-encoding") == expected
    assert result.headers.get("vary") == "Accept-Encoding"
    assert decode(expected, result.content) == BIG
    assert int(result.headers["content-length"]) == len(result.content)
    if expected:
        assert len(result.content) < len(BIG) / 3


def test_small_and_binary_answers_are_left_alone(client):
    for path in ("/small", "/png"):
        result = client.simulate_get(path, headers={"Accept-Encoding": "br, gzip"})
        assert "content-encoding" not in result.headers and "vary" not in result.headers
    head = client.simulate_head("/big", headers={"Accept-Encoding": "gzip"})
    assert head.headers.get("content-encoding") is None


@pytest.mark.parametrize("encoding", PREFERENCE)
@pytest.mark.parametrize("source", ["iterable", "file"])
def test_streams_are_compressed_as_they_stream(client, encoding, source):
    result = client.simulate_get("/csv", params={"file": str(source == "file")},
                                 headers={"Accept-Encoding": encoding})
    assert result.headers["content-encoding"] == encoding and result.headers["vary"] == "Accept-Encoding"
    assert "content-length" not in result.headers
    assert decode(encoding, result.content) == CSV.encode()


def test_streams_stay_identity_without_accept_encoding(client):
    result = client.simulate_get("/csv")
    assert "content-encoding" not in result.headers and result.text == CSV


def test_a_slow_stream_is_flushed_as_it_goes():
    from balise.ops.compression import compress_stream

    chunks = list(compress_stream(iter([b"a" * 100, b"b" * 100, b"c" * 100]), "gzip", 6, flush_after=0.0))
    assert len(chunks) >= 3  # one flush per chunk, then the end of the stream
    assert zlib.decompress(b"".join(chunks), 31) == b"a" * 100 + b"b" * 100 + b"c" * 100
    closed = []

    class Source(io.BytesIO):
        def close(self):
            closed.append(True)
            super().close()

    stream = compress_stream(Source(b"x" * 10), "br", 4)
    next(stream)
    stream.close()  # the server stops early (client gone): the source is closed all the same
    assert closed == [True]
