"""Answer cache in three tiers, consulted in order and filled on the way back.

- **L1** (:class:`MemoryTier`): an LRU in the worker's memory, bounded by entries *and*
  bytes (``BALISE_CACHE_ENTRIES``, ``BALISE_CACHE_BYTES``: a worker's private memory is to
  stay small, DESIGN.md): a hit costs microseconds.
- **L2** (:class:`RedisTier`): Redis, shared by every worker and replica, through the
  breaker: when Redis is down a lookup is a miss, never an error.
- **L3** (:class:`SqliteTier`): an optional SQLite file (``BALISE_CACHE_SQLITE``) that
  outlives restarts, one connection per worker opened after the fork.

What is cached is the HTTP answer itself (the JSON bytes of ``/search`` and ``/reverse``),
so that a hit skips parsing, geocoding and serializing. The key is the sha256 of the
endpoint, the index version and every parameter that changes the answer, the query
casefolded with its whitespace collapsed (the text pipeline folds case and spaces: 4,331
real queries and 4 variants of a quarter of them gave the same answers), so a new index
never serves an old answer. The answer echoes the query as typed (``"query": ...``): the
entry is kept as the bytes around that echo, and the request's own query is put back in.

Lifetimes by kind of answer (the plan's defaults):

- ``exact`` (``BALISE_CACHE_TTL_EXACT``, 24 h): the top result scores 0.9 or more *and*
  every word of the query is a word of that result (its label, name, postcode, city,
  context; with autocomplete the last word may be the start of one): it was not reached
  only through a one-edit fuzzy match or by dropping a word;
- ``fuzzy`` (``BALISE_CACHE_TTL_FUZZY``, 1 h): any other answer with results;
- ``not_found`` (``BALISE_CACHE_TTL_NOT_FOUND``, 5 min): no result.

Reverse answers with results are ``exact``.

Only what is worth it is cached (PERF): an answer goes into a tier only when computing it
took longer than one read plus one write of that tier, so that a single later hit repays
the write. Each tier measures its own costs as it runs (moving averages), so a Redis across
a network (slower) or on loopback (faster) is judged on what it really costs; the costs this
rule was designed on are in bench/README.md ("Cache tier costs").
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import multiprocessing.util
import sqlite3
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import falcon
import orjson

from ..text.pipeline import normalize, tokenize
from .breaker import RedisUnavailable
from .metrics import NullMetrics
from .process import PerProcess

try:
    import zstandard
except ImportError:  # optional: values are then packed with zlib
    zstandard = None

log = logging.getLogger(__name__)

EXACT_SCORE = 0.9
KINDS = ("exact", "fuzzy", "not_found")


# --- entries ---------------------------------------------------------------------------------


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


def _zstd_compressor():
    if not hasattr(_zstd, "c"):
        _zstd.c = zstandard.ZstdCompressor(level=3)
    return _zstd.c


def _zstd_decompressor():
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


# --- keys and kinds --------------------------------------------------------------------------


def normalize_query(q: str) -> str:
    """The query as the key sees it: casefolded, whitespace collapsed."""
    return " ".join(q.casefold().split())


def cache_key(endpoint: str, params: Mapping[str, str | Sequence[str]], version: str) -> bytes:
    """sha256 of the endpoint, the index version and the parameters that change the answer.

    ``params`` holds only those parameters, each as given (several values kept in order);
    ``q`` is normalized (:func:`normalize_query`).
    """
    canonical = []
    for name in sorted(params):
        values = params[name]
        values = [values] if isinstance(values, str) else list(values)
        if name == "q":
            values = [normalize_query(v) for v in values]
        canonical.append((name, values))
    return hashlib.sha256(orjson.dumps([endpoint, str(version), canonical])).digest()


def answer_kind(answer: Mapping, query: str | None = None, pipeline: Any = None,
                autocomplete: bool = False) -> str:
    """``exact``, ``fuzzy`` or ``not_found`` (the definitions in the module docstring)."""
    features = answer.get("features") or []
    if not features:
        return "not_found"
    if query is None:
        return "exact"
    top = features[0].get("properties", {})
    if float(top.get("score") or 0) < EXACT_SCORE:
        return "fuzzy"
    if pipeline is not None and not _every_word_matched(query, top, pipeline, autocomplete):
        return "fuzzy"
    return "exact"


def _every_word_matched(query: str, properties: Mapping, pipeline: Any, autocomplete: bool) -> bool:
    words = [str(t) for t in pipeline.query_tokens(query)]
    text = " ".join(str(v) for v in properties.values() if isinstance(v, (str, int)) and v is not True)
    found = {str(t) for t in pipeline.run(normalize(tokenize(text)))}
    for i, word in enumerate(words):
        if word in found:
            continue
        if autocomplete and i == len(words) - 1 and any(f.startswith(word) for f in found):
            continue
        return False
    return True


@dataclass(frozen=True)
class Ttls:
    """Seconds an answer of each kind is kept."""

    exact: int = 86400
    fuzzy: int = 3600
    not_found: int = 300

    def of(self, kind: str) -> int:
        return getattr(self, kind)


# --- tiers -----------------------------------------------------------------------------------


class Costs:
    """Moving averages of one tier's read and write times, in seconds (PERF).

    The first sample of each is left out: it pays for opening the connection.
    """

    ALPHA = 0.05

    def __init__(self) -> None:
        self.read = 0.0
        self.write = 0.0
        self._seen: set[str] = set()

    def observe(self, kind: str, seconds: float) -> None:
        if kind not in self._seen:
            self._seen.add(kind)
            return
        current = getattr(self, kind)
        setattr(self, kind, seconds if current == 0.0 else current + self.ALPHA * (seconds - current))

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

    def __init__(self, connector: Any) -> None:
        self.connector = connector
        self.costs = Costs()

    def get(self, key: bytes, now: float) -> Entry | None:
        start = time.perf_counter()
        try:
            blob = self.connector.run("cache_get", lambda client: client.get(self.PREFIX + key))
        except RedisUnavailable:
            return None
        self.costs.observe("read", time.perf_counter() - start)
        entry = unpack(blob) if blob else None
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
            return self._db.get().execute("SELECT count(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        if self._db.built:
            self.flush()
        self._db.reset()


def _close_db(db: sqlite3.Connection) -> None:
    db.close()


# --- the tiers together ----------------------------------------------------------------------


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

    def snapshot(self) -> dict:
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


class NullCache(TieredCache):
    """No tier: every lookup misses, nothing is stored."""

    def __init__(self, metrics: NullMetrics | None = None) -> None:
        super().__init__([], metrics)


# --- HTTP ------------------------------------------------------------------------------------


class CacheMiddleware:
    """Answers ``GET /search`` and ``GET /reverse`` from the cache, and caches their answers.

    Looks up in ``process_resource`` (after routing, so the route is known and a hit skips
    the responder), stores in ``process_response`` (a 200 with a body only). Requests with
    ``debug`` are never cached. ``req.context.cache`` says ``l1``/``l2``/``l3`` (hit) or ``miss``.
    """

    def __init__(self, cache: TieredCache, geocoder: Any, ttls: Ttls | None = None,
                 endpoints: Mapping[str, Sequence[str]] | None = None) -> None:
        from ..http.resources import JSON, REVERSE_PARAMS, SEARCH_PARAMS

        self.content_type = JSON  # what the resources answer with
        self.cache = cache
        self.geocoder = geocoder
        self.ttls = ttls or Ttls()
        self.endpoints = dict(endpoints or {"/search": SEARCH_PARAMS, "/reverse": REVERSE_PARAMS})

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict) -> None:
        names = self.endpoints.get(req.uri_template or "")
        if names is None or req.method != "GET" or "debug" in req.params:
            return
        if "q" in names and not normalize_query(str(req.params.get("q") or "")):
            return  # A missing q (400) and a blank one (no result) must not share a key.
        geocoder = self.geocoder.get() if hasattr(self.geocoder, "get") else self.geocoder
        given = {n: req.params[n] for n in names if n in req.params}
        key = cache_key(req.uri_template, given, geocoder.version)
        found = self.cache.get(key)
        if found is None:
            req.context.cache = "miss"
            req.context.cache_key = key
            req.context.cache_geocoder = geocoder
            req.context.cache_start = time.perf_counter()
            return
        entry, tier = found
        q = req.get_param("q")
        resp.data = entry.body(orjson.dumps(q) if len(entry.parts) == 2 else b"")
        resp.content_type = self.content_type
        resp.complete = True
        req.context.cache = tier

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if req.context.get("cache") != "miss" or not req_succeeded or resp.status_code != 200:
            return
        body = resp.render_body()  # resp.data, or resp.media / resp.text serialized
        if not isinstance(body, bytes) or resp.stream is not None:
            return
        compute = time.perf_counter() - req.context.cache_start
        q = req.get_param("q")
        if q is None:
            parts: tuple[bytes, ...] = (body,)
        else:
            needle = b'"query":' + orjson.dumps(q)
            at = body.rfind(needle)
            if at < 0:
                return  # not the shape expected: not cached
            parts = (body[:at + 8], body[at + len(needle):])
        autocomplete = req.get_param_as_bool("autocomplete") is not False  # the resource's default: on
        kind = answer_kind(orjson.loads(body), q, getattr(req.context.cache_geocoder, "pipeline", None),
                           autocomplete)
        self.cache.put(req.context.cache_key, Entry(time.time() + self.ttls.of(kind), parts), compute)
        req.context.cache_kind = kind
