"""Requests with a body (``POST /batch``, CSV uploads): slots of their own, a minimum rate.

NOTE: why, and what granian leaves to the app (measured, docs/deploy.md "Slow and hostile
clients"). granian hands a request to one of the worker's threads once its headers are in;
the body is the app's to read (``wsgi.input``), and a read waits for as long as the client
takes: neither granian nor hyper has a timeout for it, nothing can interrupt it, and a read
left waiting on another thread froze the whole worker (granian 2.8.9 takes the body's lock,
holding the GIL, when the request ends). So:

- a request with a body runs on threads of its own: the server runs ``2 * THREADS`` threads a
  worker (http/server.py), requests with a body hold at most ``THREADS`` of them
  (:class:`BodySlots`), ``BALISE_CLIENT_UPLOADS`` per client (429 beyond; 503 when all are
  taken), so that ``THREADS`` are always left for the rest: 16 connections that started a
  body and sent nothing more used to stop every search of two workers;
- a body is read in pieces sized to what its client has been sending, and must keep up with
  ``BALISE_BODY_MIN_RATE`` after ``BALISE_BODY_TIMEOUT`` seconds: a client sending slower is
  cut at its next piece with a 408 and its slot comes back (8 uploads dripping a byte every 5 s
  took every other client's upload slot);
- a body that never comes at all holds its slot until its client leaves: only a proxy in front
  can bound that (Envoy's ``requestReceivedTimeout``, nginx's ``client_body_timeout``), as it
  holds the whole body before it hands the request on (docs/deploy.md).

A CSV upload keeps its slot while the file is geocoded and the answer streams out
(:class:`Releasing`); an answer its client stops reading is dropped after ``SEND_TIMEOUT``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import falcon
from falcon.typing import ReadableIO

from ..errors import BaliseError

MOST = 1 << 16  # bytes read at once, at most
ClientOf = Callable[[falcon.Request], str]


def remote_address(req: falcon.Request) -> str:
    return req.remote_addr or ""


class BodySlots:
    """How many requests with a body a worker serves at once, and each client: one more is
    refused at once (429 for a client over its share, 503 when all are taken)."""

    def __init__(self, total: int, per_client: int, client_of: ClientOf = remote_address) -> None:
        self.total, self.per_client, self.client_of = max(1, total), max(1, per_client), client_of
        self._held: dict[str, int] = {}
        self._count = 0
        self._lock = threading.Lock()

    def take(self, req: falcon.Request) -> Callable[[], None]:
        """Take a slot for ``req``'s client, or raise; returns the function that gives it back
        (once)."""
        client = self.client_of(req)
        with self._lock:
            mine = self._held.get(client, 0)
            if mine >= self.per_client:
                raise falcon.HTTPTooManyRequests(
                    title="Too many uploads",
                    description=f"This worker is already serving {mine} of your requests with a body; "
                                "retry once they are done.", retry_after=5)
            if self._count >= self.total:
                raise falcon.HTTPServiceUnavailable(
                    title="Too many uploads",
                    description=f"This worker is already serving {self._count} requests with a body; "
                                "retry shortly.", retry_after=5)
            self._held[client] = mine + 1
            self._count += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._count -= 1
                left = self._held[client] - 1
                if left:
                    self._held[client] = left
                else:
                    del self._held[client]

        return release

    @property
    def held(self) -> int:
        return self._count


class BodyReader:
    """Opens request bodies: their size and rate checked as they are read."""

    def __init__(self, timeout: float, min_rate: int) -> None:
        self.timeout, self.min_rate = timeout, min_rate

    def open(self, req: falcon.Request, limit: int, too_large: Callable[[], BaliseError]) -> Body:
        """The body of ``req`` as a file to read, at most ``limit`` bytes (``too_large()`` is
        raised beyond); a declared length over it is refused before anything is read."""
        length = req.content_length
        if length is not None and length > limit:
            raise too_large()
        if length is None and not req.env.get("wsgi.input_terminated"):
            raise falcon.HTTPLengthRequired(title="Length required",
                                            description="Send the body with a Content-Length header.")
        return Body(req.stream, length, limit, too_large, self.timeout, self.min_rate)


class Body:
    """A request body as a readable file, read in pieces its client can send in about a
    second; past its deadline (the grace, then ``min_rate`` for every byte) a 408."""

    def __init__(self, source: ReadableIO, length: int | None, limit: int,
                 too_large: Callable[[], BaliseError], timeout: float, min_rate: int) -> None:
        self.source, self.length, self.limit, self.too_large = source, length, limit, too_large
        self.timeout, self.min_rate = timeout, min_rate
        self.started = time.monotonic()
        self.received = 0
        self.piece = 1  # bytes asked of the next read: grows with what the client sends
        self._buffer = bytearray()
        self._eof = False

    def _next(self) -> None:
        left = None if self.length is None else self.length - self.received
        if left == 0:
            self._eof = True
            return
        asked = self.piece if left is None else min(self.piece, left)
        before = time.monotonic()
        chunk = self.source.read(asked)
        now = time.monotonic()
        if not chunk:
            self._eof = True
            if left is not None:
                raise falcon.HTTPBadRequest(title="Incomplete body",
                                            description="The connection ended before the whole body came.")
            return
        self.received += len(chunk)
        if self.received > self.limit:
            raise self.too_large()
        if now > self.started + self.timeout + self.received / self.min_rate:
            raise falcon.HTTPError(falcon.HTTP_408, title="Request timeout", description=(
                f"The body came too slowly: {self.received:,} bytes in {now - self.started:.0f} s, "
                f"under {self.min_rate:,} bytes a second."))
        # NOTE: a read returns once it has all it asked for: ask for twice as much when it was
        # there already, else for what came in a second at this client's pace, so that a slow
        # client is checked at each piece and a fast one in large ones.
        waited = now - before
        grown = self.piece * 2 if waited < 1e-3 else len(chunk) / waited
        self.piece = max(1, min(MOST, int(grown)))
        self._buffer += chunk

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes (fewer at the end), or all that is left when ``size`` is -1."""
        while not self._eof and (size is None or size < 0 or len(self._buffer) < size):
            self._next()
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class Releasing:
    """An answer's chunks; ``release`` is called when the server closes it (PEP 3333:
    always, whether the client read it all or went away)."""

    def __init__(self, chunks: Iterable[bytes], release: Callable[[], None]) -> None:
        self.chunks, self.release = chunks, release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        try:
            close: Any = getattr(self.chunks, "close", None)
            if close is not None:
                close()
        finally:
            self.release()
