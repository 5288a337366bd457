"""Request bodies read under a deadline, and the upload slots of each worker and client.

NOTE: why bodies are read on threads of their own. granian hands a request to one of the
worker's ``THREADS`` once its headers are in; the body is then the app's to read
(``wsgi.input``), and a read waits for as long as the client takes: neither granian nor hyper
has a timeout for it, and nothing can interrupt it. 16 connections that started a
``POST /batch`` and sent nothing more held every thread of two workers, and the whole service
stopped. So a body is read by a reader thread (:class:`BodyReaders`), and the request's thread
waits for each piece with a deadline: ``BALISE_BODY_TIMEOUT`` seconds plus the time
``BALISE_BODY_MIN_RATE`` allows for the bytes so far (a body sent at that rate or faster is
never cut). Past it the request gets a 408 and its thread goes back to work. The reader stays
until its client sends more or leaves (nothing can stop it sooner): it holds no thread a
request needs, and counts against its client's ``BALISE_CLIENT_UPLOADS`` (429 beyond) and
the worker's ``READERS_PER_THREAD * THREADS`` readers (503 beyond) until then.

CSV uploads also hold their thread while the file is geocoded and the answer streams out:
:class:`UploadSlots` lets a worker run ``THREADS - 1`` of them (a thread is always left for
the rest), ``BALISE_CLIENT_UPLOADS`` per client, so that one client cannot take them all.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import falcon

from ..errors import BaliseError

CHUNK = 1 << 16  # bytes a reader asks for at once
QUEUED = 8  # chunks a reader may hold ready (512 KB): the request's thread takes them in turn
READERS_PER_THREAD = 4  # body readers of a worker for each of its THREADS
ClientOf = Callable[[falcon.Request], str]


def remote_address(req: falcon.Request) -> str:
    return req.remote_addr or ""


class PerClient:
    """Counts what each client holds, up to ``per_client`` each and ``total`` in all."""

    def __init__(self, total: int, per_client: int, what: str) -> None:
        self.total, self.per_client, self.what = max(1, total), max(1, per_client), what
        self._held: dict[str, int] = {}
        self._count = 0
        self._lock = threading.Lock()

    def take(self, client: str) -> Callable[[], None]:
        """Take one, or raise 429 (this client holds its share) or 503 (none left); returns
        the function that gives it back (once)."""
        with self._lock:
            mine = self._held.get(client, 0)
            if mine >= self.per_client:
                raise falcon.HTTPTooManyRequests(
                    title="Too many uploads",
                    description=f"This worker is already {self.what} {mine} of your requests; retry once "
                                "they are done.", retry_after=5)
            if self._count >= self.total:
                raise falcon.HTTPServiceUnavailable(
                    title="Too many uploads",
                    description=f"This worker is already {self.what} {self._count} requests; retry shortly.",
                    retry_after=5)
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

    def held(self) -> int:
        return self._count


class UploadSlots(PerClient):
    """How many CSV uploads a worker geocodes at once (``THREADS - 1``), ``BALISE_CLIENT_UPLOADS``
    of them per client; one more is refused at once (503, or 429 for that client)."""

    def __init__(self, count: int, per_client: int = 1) -> None:
        super().__init__(count, per_client, "geocoding")
        self.count = self.total


class BodyReaders:
    """The threads that read request bodies in a worker, and the deadline of each body."""

    def __init__(self, readers: int, per_client: int, timeout: float, min_rate: int,
                 client_of: ClientOf = remote_address) -> None:
        self.slots = PerClient(readers, per_client, "reading the bodies of")
        self.timeout, self.min_rate, self.client_of = timeout, min_rate, client_of

    def open(self, req: falcon.Request, limit: int, too_large: Callable[[], BaliseError]) -> Body:
        """The body of ``req`` as a file to read, at most ``limit`` bytes (``too_large()`` is
        raised beyond); a declared length over it is refused before anything is read."""
        length = req.content_length
        if length is not None and length > limit:
            raise too_large()
        if length is None and not req.env.get("wsgi.input_terminated"):
            raise falcon.HTTPLengthRequired(title="Length required",
                                            description="Send the body with a Content-Length header.")
        release = self.slots.take(self.client_of(req))
        return Body(req.stream, length, limit, too_large, self.timeout, self.min_rate, release)


class Body:
    """A request body as a readable file, fed by its reader thread; each read waits until the
    body's deadline at most (then 408)."""

    def __init__(self, source: IO[bytes], length: int | None, limit: int,
                 too_large: Callable[[], BaliseError], timeout: float, min_rate: int,
                 release: Callable[[], None]) -> None:
        self.length, self.limit, self.too_large = length, limit, too_large
        self.timeout, self.min_rate = timeout, min_rate
        self.started = time.monotonic()
        self.received = 0
        self._buffer = bytearray()
        self._eof = False
        self._chunks: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self._cancelled = threading.Event()
        self._reader = threading.Thread(target=self._read_source, args=(source, release),
                                        name="balise-body", daemon=True)
        self._reader.start()

    # --- the reader thread ------------------------------------------------------------------

    def _read_source(self, source: IO[bytes], release: Callable[[], None]) -> None:
        try:
            left = self.length
            while left is None or left > 0:
                data = source.read(CHUNK if left is None else min(CHUNK, left))
                if not data or not self._put(data):
                    break
                if left is not None:
                    left -= len(data)
        except Exception:  # noqa: BLE001 - a body cut short: the request ends it (it sees no end)
            pass
        finally:
            self._put(None)
            release()

    def _put(self, item: bytes | None) -> bool:
        while not self._cancelled.is_set():
            try:
                self._chunks.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    # --- the request's thread ---------------------------------------------------------------

    def deadline(self) -> float:
        """When the next chunk is due: the grace, then ``min_rate`` for every byte so far
        and the chunk awaited."""
        expected = CHUNK if self.length is None else min(CHUNK, max(0, self.length - self.received))
        return self.started + self.timeout + (self.received + expected) / self.min_rate

    def _next(self) -> None:
        try:
            chunk = self._chunks.get(timeout=max(0.0, self.deadline() - time.monotonic()))
        except queue.Empty:
            self.close()
            raise falcon.HTTPRequestTimeout(
                title="Request timeout",
                description=f"The body came too slowly: {self.received} bytes in "
                            f"{time.monotonic() - self.started:.0f} s.") from None
        if chunk is None:
            self._eof = True
            if self.length is not None and self.received < self.length:
                raise falcon.HTTPBadRequest(title="Incomplete body",
                                            description="The connection ended before the whole body came.")
            return
        self.received += len(chunk)
        if self.received > self.limit:
            self.close()
            raise self.too_large()
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

    def close(self) -> None:
        """Stop taking the body: the reader ends with its next piece (or when its client goes)."""
        self._cancelled.set()


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
