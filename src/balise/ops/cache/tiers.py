"""The cache tiers (L1 memory, L2 Redis, L3 SQLite) and the cache that consults them in
order; see :mod:`balise.ops.cache`."""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..breaker import RedisUnavailable
from ..metrics import NullMetrics
from ..process import PerProcess
from .entry import Entry, pack, unpack

if TYPE_CHECKING:
    from ..redis import RedisConnector

log = logging.getLogger(__name__)


class Costs:
    """Moving averages of one tier's read and write times, in seconds (PERF).

    The first sample of each is left out: it pays for opening the connection. A later sample
    counts for at most ``OUTLIER`` times the average: a reconnection after a failover or a
    pause of the process (hundreds of ms) would otherwise make the tier look too slow to be
    worth a write for the next hundred answers.
    """

    ALPHA = 0.05
    OUTLIER = 10.0

    def __init__(self) -> None:
        self.read = 0.0
        self.write = 0.0
        self._seen: set[str] = set()

    def observe(self, kind: str, seconds: float) -> None:
        if kind not in self._seen:
            self._seen.add(kind)
            return
        current = getattr(self, kind)
        if current == 0.0:
            setattr(self, kind, seconds)
        else:
            setattr(self, kind, current + self.ALPHA * (min(seconds, self.OUTLIER * current) - current))

    @property
    def hit_and_fill(self) -> float:
        return self.read + self.write


class Tier(Protocol):
    name: str
    costs: Costs

    def get(self, key: bytes, now: float) -> Entry | None: ...

    def put(self, key: bytes, entry: Entry, now: float) -> None: ...

    def close(self) -> None: ...


class MemoryTier:
    """L1: least recently used answers of this worker, within both bounds."""

    name = "l1"
    OVERHEAD = 300  # bytes of Python objects around each entry's bytes (measured: ~270)

    def __init__(self, max_entries: int = 10000, max_bytes: int = 8_000_000) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.costs = Costs()
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: bytes, entry: Entry, now: float) -> None:
        cost = entry.size + self.OVERHEAD
        if cost > self.max_bytes or self.max_entries <= 0 or entry.expires <= now:
            return
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = entry
            self.bytes += cost
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                self._remove(next(iter(self._entries)))

    def _remove(self, key: bytes) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size + self.OVERHEAD

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


class RedisTier:
    """L2: Redis (single, Sentinel or Cluster), every call through the breaker.

    Keys are ``balise:cache:`` + the 32-byte digest: a Cluster spreads them over its
    slots. Redis expires them itself (``SET ... PX``); the entry carries its expiry too,
    so an answer copied into L1 keeps its remaining lifetime.
    """

    name = "l2"
    PREFIX = b"balise:cache:"

    def __init__(self, connector: RedisConnector) -> None:
        self.connector = connector
        self.costs = Costs()

    def get(self, key: bytes, now: float) -> Entry | None:
        start = time.perf_counter()
        try:
            blob = self.connector.run("cache_get", lambda client: client.get(self.PREFIX + key))
        except RedisUnavailable:
            return None
        self.costs.observe("read", time.perf_counter() - start)
        # The client decodes nothing (no decode_responses): a value is bytes, not str.
        entry = unpack(blob) if blob else None  # type: ignore[arg-type]
        return entry if entry is not None and entry.expires > now else None

    def put(self, key: bytes, entry: Entry, now: float) -> None:
        ttl_ms = int((entry.expires - now) * 1000)
        if ttl_ms <= 0:
            return
        blob = pack(entry)
        start = time.perf_counter()
        try:
            self.connector.run("cache_set", lambda client: client.set(self.PREFIX + key, blob, px=ttl_ms))
        except RedisUnavailable:
            return
        self.costs.observe("write", time.perf_counter() - start)

    def close(self) -> None:
        self.connector.close()


class SqliteTier:
    """L3: a SQLite file that survives restarts, shared by the workers of one machine.

    The plan's pragmas: WAL (readers never wait for the writer), ``synchronous=NORMAL``
    (no fsync per commit: a crash may lose the last answers, harmless for a cache),
    ``mmap_size`` (reads from the page cache, shared between workers), ``temp_store=MEMORY``.
    NOTE: not the plan's 2 GB ``cache_size``, which would be private memory of every
    worker; the mmap serves the same reads from memory shared by all of them.

    PERF: a write is ~300 us alone but ~25 us in a batch, so writes wait in memory (where
    L1 has them anyway) and go in one transaction every ``batch`` answers or ``flush_after``
    seconds. A busy database (another worker writing for longer than ``busy_ms``) makes a
    miss or a dropped batch, never an error.
    """

    name = "l3"
    ERRORS = (sqlite3.Error, OSError)  # OSError: the file's directory cannot be made
    PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "mmap_size=1073741824", "temp_store=MEMORY",
               "cache_size=-8192")
    PURGE_EVERY = 64  # batches between two deletions of expired answers

    def __init__(self, path: Path | str, batch: int = 32, flush_after: float = 1.0,
                 busy_ms: int = 50) -> None:
        self.path = Path(path)
        self.batch = batch
        self.flush_after = flush_after
        self.busy_ms = busy_ms
        self.costs = Costs()
        self.errors = 0
        self._pending: dict[bytes, tuple[float, bytes]] = {}
        self._first_pending = 0.0
        self._flushes = 0
        self._lock = threading.Lock()
        self._db: PerProcess[sqlite3.Connection] = PerProcess(self._connect, close=_close_db, warm=self._warm)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=self.busy_ms / 1000)
        for pragma in self.PRAGMAS:
            db.execute(f"PRAGMA {pragma}")
        db.execute("CREATE TABLE IF NOT EXISTS answers "
                   "(key BLOB PRIMARY KEY, expires REAL NOT NULL, value BLOB NOT NULL) WITHOUT ROWID")
        # a new process starts with its own pending writes (never a parent's), and writes
        # them when it exits: atexit in a plain process; multiprocessing's finalizers in a
        # server worker (a multiprocessing child ends with os._exit, which skips atexit)
        self._pending = {}
        atexit.register(self.flush)
        multiprocessing.util.Finalize(None, self.flush, exitpriority=10)
        return db

    def _warm(self) -> None:
        try:
            self._db.get()
        except self.ERRORS as error:
            log.warning("L3 cache %s unusable: %s", self.path, error)

    def get(self, key: bytes, now: float) -> Entry | None:
        pending = self._pending.get(key)
        if pending is not None:
            blob = pending[1]
        else:
            start = time.perf_counter()
            try:
                with self._lock:
                    row = self._db.get().execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
            except self.ERRORS as error:
                self._failed("read", error)
                return None
            self.costs.observe("read", time.perf_counter() - start)
            if row is None:
                return None
            blob = row[0]
        entry = unpack(blob)
        return entry if entry is not None and entry.expires > now else None

    def put(self, key: bytes, entry: Entry, now: float) -> None:
        with self._lock:
            if not self._pending:
                self._first_pending = now
            self._pending[key] = (entry.expires, pack(entry))
            if len(self._pending) >= self.batch or now - self._first_pending >= self.flush_after:
                self._flush(now)

    def flush(self) -> None:
        with self._lock:
            self._flush(time.time())

    def _flush(self, now: float) -> None:
        rows, self._pending = [(k, e, v) for k, (e, v) in self._pending.items()], {}
        if not rows:
            return
        start = time.perf_counter()
        try:
            db = self._db.get()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO answers (key, expires, value) VALUES (?, ?, ?)", rows)
                self._flushes += 1
                if self._flushes % self.PURGE_EVERY == 0:
                    db.execute("DELETE FROM answers WHERE expires <= ?", (now,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except self.ERRORS as error:
            self._failed("write", error)
            return
        self.costs.observe("write", (time.perf_counter() - start) / len(rows))

    def _failed(self, what: str, error: Exception) -> None:
        self.errors += 1
        if self.errors in (1, 10, 100, 1000) or self.errors % 10000 == 0:
            log.warning("L3 cache %s: %s failed (%d errors so far): %s", self.path, what, self.errors, error)

    def count(self) -> int:
        with self._lock:
            count: int = self._db.get().execute("SELECT count(*) FROM answers").fetchone()[0]
            return count

    def close(self) -> None:
        if self._db.built:
            self.flush()
        self._db.reset()


def _close_db(db: sqlite3.Connection) -> None:
    db.close()


class TieredCache:
    """Tiers consulted in order; a hit fills the tiers above it; hits and misses counted."""

    def __init__(self, tiers: Sequence[Tier], metrics: NullMetrics | None = None) -> None:
        self.tiers = list(tiers)
        self.metrics = metrics or NullMetrics()
        self.hits = {t.name: 0 for t in self.tiers}
        self.misses = {t.name: 0 for t in self.tiers}
        self.skipped = {t.name: 0 for t in self.tiers}

    def get(self, key: bytes) -> tuple[Entry, str] | None:
        """The entry and the name of the tier that had it, or None."""
        now = time.time()
        for i, tier in enumerate(self.tiers):
            entry = tier.get(key, now)
            self.metrics.cache_lookup(tier.name, entry is not None)
            if entry is None:
                self.misses[tier.name] += 1
                continue
            self.hits[tier.name] += 1
            for upper in self.tiers[:i]:
                upper.put(key, entry, now)
            return entry, tier.name
        return None

    def put(self, key: bytes, entry: Entry, compute_seconds: float = float("inf")) -> None:
        """Stores ``entry`` in each tier where it is worth it (see the module docstring)."""
        now = time.time()
        for tier in self.tiers:
            stored = compute_seconds > tier.costs.hit_and_fill
            if stored:
                tier.put(key, entry, now)
            else:
                self.skipped[tier.name] += 1
            self.metrics.cache_write(tier.name, stored)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per-tier hits, misses, skipped writes and measured costs (microseconds)."""
        out = {}
        for tier in self.tiers:
            out[tier.name] = {
                "hits": self.hits[tier.name],
                "misses": self.misses[tier.name],
                "skipped_writes": self.skipped[tier.name],
                "read_us": round(tier.costs.read * 1e6, 1),
                "write_us": round(tier.costs.write * 1e6, 1),
            }
            if isinstance(tier, MemoryTier):
                out[tier.name].update(entries=len(tier), bytes=tier.bytes)
        return out

    def close(self) -> None:
        for tier in self.tiers:
            tier.close()
