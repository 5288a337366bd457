"""Geocoding chunks in this process and in worker processes forked with the geocoder (its
index memory-mapped) and the job (how rows become output): a chunk travels as its rows'
cells and comes back as output text or columns.

Each worker has a socket pair of its own; this process writes the chunks and reads the
answers itself, with no thread (PERF: through concurrent.futures' pool a chunk crossed two
threads of this process, each waiting for the GIL while this one parsed the next chunks: a
worker got its first chunk 3-8 ms after it was submitted, and the pool took ~4 ms to start.
Written here, not taken from a library, for that.)
"""

from __future__ import annotations

import gc
import os
import pickle
import selectors
import signal
import socket
import struct
import sys
import traceback
from collections import deque
from collections.abc import Sequence
from typing import Any, NoReturn

from ..geocoder import Geocoder
from .answers import RowGeocoder
from .jobs import Done, Job, Submitted
from .plan import Failed, Row

SIZE = struct.Struct("<Q")  # a message: its pickle's length, then the pickle


class WorkerDied(RuntimeError):
    """A worker process ended before it answered (killed, out of memory)."""


def message(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return SIZE.pack(len(data)) + data


def receive(sock: socket.socket) -> Any:
    """The next message on ``sock``; EOFError when the other end closed it (ConnectionError
    when it ended with bytes unread)."""
    (size,) = SIZE.unpack(_read(sock, SIZE.size))
    return pickle.loads(_read(sock, size))


def _read(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view, done = memoryview(data), 0
    while done < size:
        got = sock.recv_into(view[done:])
        if not got:
            raise EOFError
        done += got
    return data


def _serve(sock: socket.socket, job: Job, geocode: RowGeocoder) -> None:
    """A worker: a chunk in, its Done (or the error it raised) out, until the parent closes its
    end or ends."""
    while True:
        try:
            rows, problems = receive(sock)
        except (EOFError, ConnectionError):
            return
        try:
            outcome: tuple[bool, object] = (True, job(geocode, rows, problems))
        except Exception as e:  # noqa: BLE001 - raised again where the chunk was submitted
            outcome = (False, e)
        try:
            answer = message(outcome)
        except Exception:  # noqa: BLE001 - an error that cannot be pickled is sent as its repr
            answer = message((False, RuntimeError(repr(outcome[1]))))
        try:
            sock.sendall(answer)
        except ConnectionError:
            return


BUFFER = 4 << 20  # a socket's send buffer (capped by net.core.wmem_max): a chunk's answer fits
DEPTH = 2  # chunks a worker holds: the one it geocodes, and the next, already in its socket


class Worker:
    """A worker process as this process sees it: its socket, the chunks it was given (their
    numbers and messages, answered in that order), and the bytes of the last one not yet
    written."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock, self.pid = sock, pid
        self.given: deque[tuple[int, bytes]] = deque()
        self.unsent = memoryview(b"")


class Workers:
    """Chunks geocoded by this process and ``workers - 1`` worker processes, forked at once
    with the geocoder: its maps are the parent's, its lazy structures built once (PERF: a
    worker that opened the index again took its own start-up and, with a preload thread of
    its own, cores from the others).

    This process reads and writes the file, and geocodes a waiting chunk itself whenever it
    would otherwise wait for a worker's answer: ``workers`` processes busy on as many cores,
    not one more beside them (PERF: with a third process reading and writing, two workers on
    two cores were 1.74x one process on 9,400 rows).

    A worker is given a second chunk while it geocodes one, so that it does not wait while
    this process geocodes or parses; that second chunk is written without blocking, the rest
    when the socket takes it: this process never waits on a worker that waits on it. Once the
    input is read (``drain``), the chunk a worker still holds unstarted is also geocoded by
    whoever is idle, and the first answer kept (PERF: else one process geocoded the last
    chunk alone, 12-16 ms of a 0.21 s run).
    """

    def __init__(self, geocoder: Geocoder, min_score: float, workers: int, job: Job) -> None:
        # NOTE: fork, not spawn: spawn re-runs the parent's __main__ (a notebook, "python -")
        # in each child, and fork hands the job over without pickling it. Forked now, before
        # the caller starts threads (a progress bar).
        self._job, self._geocode = job, RowGeocoder(geocoder, min_score)
        self._workers: list[Worker] = []
        self._waiting: deque[tuple[int, tuple[Sequence[Row], dict[int, Failed]]]] = deque()
        self._done: dict[int, tuple[bool, Any]] = {}
        self._unanswered: set[int] = set()  # chunks given to a worker, with no answer yet
        self._copied: set[int] = set()  # chunks a worker holds that someone else geocodes too
        self._draining = False
        self._submitted = 0
        self._selector = selectors.DefaultSelector()
        # What this process holds goes to the permanent generation before the workers fork: a
        # worker's collector then never writes to those objects, so their pages stay shared
        # (PERF: half the page faults of a worker, as the server does with gc.freeze), and no
        # collector walks them during the run (PERF: a full collection, ~8 ms, in this
        # process's share of a 9,400-row table). Thawed at close: this process may go on for
        # long (a notebook, the server's batch jobs).
        gc.freeze()
        try:
            for _ in range(workers - 1):
                mine, theirs = socket.socketpair()
                for end in (mine, theirs):
                    end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
                pid = os.fork()
                if pid == 0:
                    self._work(theirs, [mine, *(w.sock for w in self._workers)], geocoder, min_score, job)
                theirs.close()
                worker = Worker(mine, pid)
                self._workers.append(worker)
                self._selector.register(mine, selectors.EVENT_READ, worker)
        except BaseException:
            self.close(completed=False)
            raise

    @staticmethod
    def _work(sock: socket.socket, others: list[socket.socket], geocoder: Geocoder, min_score: float,
              job: Job) -> NoReturn:
        """The worker process's whole life: it never returns to the caller's code, and leaves
        with os._exit (the parent's atexit hooks and buffered output are the parent's)."""
        code = 1
        try:
            for other in others:
                other.close()
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers on Ctrl-C
            _serve(sock, job, RowGeocoder(geocoder, min_score))
            code = 0
        except BaseException:  # noqa: BLE001 - said on stderr; the parent sees the socket close
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)

    def submit(self, rows: Sequence[Row], problems: dict[int, Failed]) -> Submitted:
        number = self._submitted
        self._submitted += 1
        self._waiting.append((number, (rows, problems)))
        self._collect(timeout=0)  # a worker done since the last call gets this chunk now
        return lambda: self._result(number)

    def drain(self) -> None:
        """No more chunks come: an idle worker may take one another worker holds unstarted."""
        self._draining = True
        self._collect(timeout=0)

    def _result(self, number: int) -> Done:
        """Chunk ``number``'s Done; meanwhile this process geocodes what no worker can take."""
        while number not in self._done:
            self._collect(timeout=0)
            if number not in self._done and not self._geocode_here():
                self._collect(timeout=None)
        ok, value = self._done.pop(number)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _geocode_here(self) -> bool:
        """Geocode in this process the first waiting chunk, or once draining one a worker
        holds unstarted (whichever answer comes first is kept); False when there is none."""
        if self._waiting:
            number, (rows, problems) = self._waiting.popleft()
        elif held := self._held():
            number, chunk = held
            rows, problems = pickle.loads(chunk[SIZE.size:])
        else:
            return False
        try:
            outcome: tuple[bool, Any] = (True, self._job(self._geocode, rows, problems))
        except Exception as e:  # noqa: BLE001 - raised when its chunk is taken, as a worker's
            outcome = (False, e)
        self._unanswered.discard(number)
        self._done.setdefault(number, outcome)
        return True

    def _held(self) -> tuple[int, bytes] | None:
        """Once draining, a chunk a worker holds behind the one it geocodes, not yet copied
        (marked copied): someone idle geocodes it too."""
        for worker in self._workers if self._draining else ():
            if len(worker.given) > 1 and (held := worker.given[-1])[0] in self._unanswered \
                    and held[0] not in self._copied:
                self._copied.add(held[0])
                return held
        return None

    def _collect(self, timeout: float | None) -> None:
        """Write what the workers' sockets take, read the answers they have, then give the
        waiting chunks to the workers that hold fewer than DEPTH, and an idle worker a chunk
        another holds once draining."""
        expecting = any(w.given for w in self._workers)  # (unsent bytes are a given chunk's)
        for key, events in self._selector.select(timeout) if expecting else ():
            worker: Worker = key.data
            if events & selectors.EVENT_WRITE:
                self._write(worker)
            if events & selectors.EVENT_READ:
                try:
                    outcome = receive(worker.sock)
                except (EOFError, ConnectionError):
                    self._lost(worker)
                number, _ = worker.given.popleft()
                if number in self._unanswered:  # else a copy's, answered first elsewhere
                    self._unanswered.remove(number)
                    self._done[number] = outcome
        while self._waiting and self._workers:
            worker = min(self._workers, key=lambda w: (len(w.given), len(w.unsent)))
            if len(worker.given) >= DEPTH or worker.unsent:
                break
            number, chunk = self._waiting.popleft()
            self._unanswered.add(number)
            self._give(worker, number, message(chunk))
        for idle in [w for w in self._workers if not w.given]:
            if held := self._held():
                self._give(idle, *held)

    def _give(self, worker: Worker, number: int, chunk: bytes) -> None:
        worker.given.append((number, chunk))
        worker.unsent = memoryview(chunk)
        self._write(worker)

    def _write(self, worker: Worker) -> None:
        """As much of the worker's unsent chunk as its socket takes now; the rest is written
        when the selector says the socket takes more."""
        try:
            sent = worker.sock.send(worker.unsent, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except ConnectionError:
            self._lost(worker)
        worker.unsent = worker.unsent[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if worker.unsent else 0)
        if self._selector.get_key(worker.sock).events != events:
            self._selector.modify(worker.sock, events, worker)

    def _lost(self, worker: Worker) -> NoReturn:
        _, status = os.waitpid(worker.pid, 0)
        self._workers.remove(worker)
        self._selector.unregister(worker.sock)
        worker.sock.close()
        raise WorkerDied(f"a geocoding worker process ended ({describe(status)})") from None

    def close(self, completed: bool) -> None:
        """Closing a worker's socket ends it; not completed (an error, Ctrl-C), or still on a
        copied chunk answered elsewhere, it is killed."""
        for worker in self._workers:
            self._selector.unregister(worker.sock)
            worker.sock.close()
            if not completed or worker.given:
                os.kill(worker.pid, signal.SIGKILL)
        for worker in self._workers:
            os.waitpid(worker.pid, 0)
        self._workers.clear()
        self._selector.close()
        gc.unfreeze()


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
