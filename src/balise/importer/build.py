"""``balise import``: read sources, index them on every core in bounded memory, report.

The main process reads the sources (NDJSON as blocks of raw lines, CSV as documents grouped
by commune); worker processes turn each batch into index records (``index/documents.py``);
the writer files the records as they come back, in order, and sorts them within the memory
budget at the end (``index/writer.py``). At most two batches per worker are in flight, so
reading never runs ahead of indexing.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias, cast

from isal import isal_zlib

from ..index import IndexWriter
from ..index.documents import Packed, process_batch
from ..index.format import Document
from ..text import Pipeline, make_pipeline
from .communes import Communes
from .formats import PRODUCERS
from .report import ImportReport
from .sources import detect_format, iter_documents

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

MB = 1 << 20
DEFAULT_MEMORY = 2048 * MB  # fits a 4 GB container with room for the page cache
WORKER_MEMORY = 250 * MB  # a worker's text caches at their caps, measured on France
BLOCK_BYTES = 2 * MB  # NDJSON read per batch
CSV_BATCH = 2000  # documents per batch

# What a damaged gzip raises (isal's stub types its error class as an instance).
INFLATE_ERRORS = (EOFError, OSError, zlib.error, cast("type[Exception]", isal_zlib.error))
Task: TypeAlias = tuple[list[Document] | bytes, int]  # documents, or NDJSON lines; the first line's number


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def peak_memory_mb() -> float:
    """Peak resident memory of this process and of its finished workers (MB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def parse_memory(text: str) -> int:
    """'2GB', '512M', '1.5G' or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


# --- workers --------------------------------------------------------------------------------

_PIPELINE: Pipeline | None = None
_REPORTED: set[str] = set()  # texts whose words this worker already sent (one import a worker)


def _init_worker(rules: str) -> None:
    global _PIPELINE, _REPORTED
    _PIPELINE = make_pipeline(rules)
    _REPORTED = set()


def _work(task: Task) -> Packed:
    items, first_line = task
    # _init_worker ran first in this process (the pool's initializer, or Workers for one worker).
    return process_batch(cast(Pipeline, _PIPELINE), items, first_line, _REPORTED)


class Workers:
    """Batches processed in order, by a pool of processes or, for one worker, in process."""

    def __init__(self, rules: str, workers: int) -> None:
        self.pool: Pool | None = None
        self.in_flight = 2 * workers
        if workers > 1:
            self.pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (rules,))
        else:
            _init_worker(rules)

    def map(self, tasks: Iterator[Task]) -> Iterator[Packed]:
        if self.pool is None:
            for task in tasks:
                yield _work(task)
            return
        pending: deque[AsyncResult[Packed]] = deque()
        for task in tasks:
            pending.append(self.pool.apply_async(_work, (task,)))
            if len(pending) >= self.in_flight:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()

    def terminate(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


# --- reading --------------------------------------------------------------------------------


class _Progress:
    """Compressed bytes read of the current file, for progress bars."""

    def __init__(self) -> None:
        self.raw: BinaryIO | None = None

    def position(self) -> int:
        return self.raw.tell() if self.raw is not None and not self.raw.closed else 0


def ndjson_blocks(path: Path, report: ImportReport, progress: _Progress) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines of an NDJSON file (gzip or plain), with their first line number
    (PERF: the workers split them, not the reading process). A truncated or corrupt gzip
    keeps every line read before the damage, and says where it stopped."""
    with open(path, "rb") as raw:
        progress.raw = raw
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        lineno, rest = 1, b""
        try:
            for block in gunzip(raw) if gzipped else iter(lambda: raw.read(BLOCK_BYTES), b""):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                block, rest = block[:cut], block[cut:]
                if block:
                    yield block, lineno
                    lineno += block.count(b"\n")
        except INFLATE_ERRORS as exc:
            report.bad(str(path), lineno, f"unreadable after this line ({type(exc).__name__}: {exc})", "")
        if rest:
            yield rest, lineno


def gunzip(raw: BinaryIO) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file (several members too), as they come: what was
    decompressed before a damage is given before the error.

    PERF: ISA-L's inflate (the ``isal`` package), zlib's interface at about 4 times its
    speed: France's 568 MB take ~3 s of the reading process instead of ~12."""
    inflater = isal_zlib.decompressobj(wbits=31)
    while chunk := raw.read(BLOCK_BYTES // 4):
        out = inflater.decompress(chunk)
        while inflater.eof and inflater.unused_data:  # the next member
            rest, inflater = inflater.unused_data, isal_zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest)
        if out:
            yield out
    if not inflater.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def csv_batches(path: Path, report: ImportReport, communes: Communes | None
                ) -> Iterator[tuple[list[Document], int]]:
    batch: list[Document] = []
    for doc in iter_documents(path, report, communes):
        batch.append(doc)
        if len(batch) >= CSV_BATCH:
            yield batch, 0
            batch = []
    if batch:
        yield batch, 0


# --- the import -------------------------------------------------------------------------------


def build_index(
    sources: list[Path],
    index_dir: Path,
    communes_dir: Path | None = None,
    rules: str = "fr",
    progress: Callable[[int], None] | None = None,
    memory: int = DEFAULT_MEMORY,
    workers: int | None = None,
) -> tuple[dict[str, Any], ImportReport]:
    """Build ``index_dir`` from ``sources``; the previous index there is replaced only at the end.

    ``memory`` bounds the import's peak memory (all processes, about); ``workers`` defaults
    to the CPUs available. ``progress`` is called with the number of source bytes read so far.
    """
    from ..config import available_cpus

    started = time.perf_counter()
    report = ImportReport()
    communes = Communes.load(communes_dir) if communes_dir else None
    workers = max(1, workers or available_cpus())
    sort_memory = max(64 * MB, memory - workers * WORKER_MEMORY - 256 * MB)
    writer = IndexWriter(index_dir, make_pipeline(rules), rules=rules, memory=sort_memory)
    pool = Workers(rules, workers)
    described = []
    try:
        done_bytes = 0
        for path in map(Path, sources):
            size = path.stat().st_size
            fmt = detect_format(path) if size else "empty"
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
            described.append({"path": path.name, "format": fmt, "producer": PRODUCERS.get(fmt),
                              "bytes": size, "sha256": file_sha256(path),
                              "modified": modified})  # the source's date, as /status shows it
            reading = _Progress()
            if fmt in ("ndjson", "empty"):
                tasks: Iterator[Task] = ndjson_blocks(path, report, reading)
            else:
                tasks = csv_batches(path, report, communes)
            for packed in pool.map(tasks):
                writer.add_batch(packed)
                report.documents += packed["read_documents"]
                report.housenumbers += packed["read_housenumbers"]
                for lineno, reason, text in packed["bad"]:
                    report.bad(str(path), lineno, reason, text)
                if progress:
                    progress(done_bytes + (reading.position() or report.bytes_read))
            done_bytes += size
            report.bytes_read = done_bytes
        pool.close()
        manifest = writer.finish(
            sources=described,
            report=lambda: {
                **report.as_dict(),
                "merged_duplicate_ids": writer.merged,
                "communes": bool(communes_dir),
                "workers": workers,
                "phases_seconds": writer.phases,
                "memory_budget_mb": memory // MB,
                "seconds": round(time.perf_counter() - started, 2),
                "peak_memory_mb": round(peak_memory_mb(), 1),
            },
        )
    except BaseException:
        pool.terminate()
        writer.abort()
        raise
    return manifest, report


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
