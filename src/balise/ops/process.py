"""Resources owned by one process: built on first use in the process that uses them.

A Redis pool or a SQLite connection must never cross a ``fork``: two processes reading
replies from one socket get each other's answers, and SQLite forbids carrying an open
connection into a child. The server (http/server.py) builds the app in its master and
forks the workers from it, so every such resource here is a :class:`PerProcess`: a factory
called on first use and again whenever the process id changed, never inherited.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# NOTE: the holders alive in this process, so that ``warm_all`` (run by the server in each
# new worker) can open a new worker's connections before its first request. Weak: a holder
# dropped with its app is forgotten.
_HOLDERS: weakref.WeakSet[PerProcess[Any]] = weakref.WeakSet()  # holders of every kind of value
_AT_WORKER_START: list[Callable[[], object]] = []


class PerProcess(Generic[T]):
    """``get()`` returns this process's value, built by ``factory`` on first use.

    ``warm`` (optional) is what ``warm_all`` calls after a fork to open the value for
    real (a Redis client connects only on its first command); it must not raise.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        close: Callable[[T], None] | None = None,
        warm: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.close_value = close
        self.warm = warm
        self._pid = -1
        self._value: T | None = None
        self._lock = threading.Lock()
        _HOLDERS.add(self)

    def get(self) -> T:
        if self._pid == os.getpid():
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._pid != os.getpid():
                # NOTE: an inherited value is dropped, not closed: closing it here would
                # shut the parent's socket or corrupt the parent's SQLite connection.
                self._value = self.factory()
                self._pid = os.getpid()
        return self._value  # type: ignore[return-value]

    @property
    def built(self) -> bool:
        """True when this process already built its value."""
        return self._pid == os.getpid()

    def reset(self) -> None:
        """Close this process's value (if it built one); the next ``get`` builds anew."""
        with self._lock:
            if self._pid == os.getpid() and self.close_value is not None and self._value is not None:
                # closing a broken connection may fail: it is forgotten all the same
                with contextlib.suppress(Exception):
                    self.close_value(self._value)
            self._value = None
            self._pid = -1


def at_worker_start(callback: Callable[[], object]) -> None:
    """Have ``warm_all`` call ``callback`` in each new worker (e.g. to follow an index
    published after the master started: a worker forked later must not answer from the
    master's older version)."""
    _AT_WORKER_START.append(callback)


def warm_all() -> None:
    """In a new worker: the ``at_worker_start`` callbacks, then open every per-process
    resource that knows how to warm up."""
    for callback in _AT_WORKER_START:
        callback()
    for holder in list(_HOLDERS):
        if holder.warm is not None:
            holder.warm()
