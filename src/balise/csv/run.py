"""Geocoding a CSV: rows read, handed over a chunk at a time to where the index is (this
process or worker processes, ``jobs``), and the output written as the chunks come back, in
input order and bounded memory (:class:`GeocodedCsv`)."""

from __future__ import annotations

import codecs
import io
import logging
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..geocoder import Geocoder
from .answers import Answering, RowGeocoder
from .dialect import Input
from .jobs import CsvJob, Done, Executor, InProcess, Job
from .options import CsvOptions, Mode
from .parallel import Workers
from .plan import Chunk, Plan

log = logging.getLogger(__name__)

LOGGED_ERRORS = 100  # error rows logged one by one per file; the others are only counted
CHUNK_ROWS = 250
EXAMPLES = 10


@dataclass
class BatchStats:
    """What happened to the rows so far; ``bytes_read`` (of the input) is for progress bars."""

    rows: int = 0
    found: int = 0
    errors: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0
    unit: str = "CSV line"  # what a row's number counts, in messages

    @property
    def not_found(self) -> int:
        return self.rows - self.found - self.errors - self.skipped

    def add(self, chunk: Chunk, done: Done) -> None:
        """Count a chunk geocoded; log its first errors with their line numbers."""
        self.rows += len(chunk.rows)
        self.found += done.found
        for position, failed in done.failures:
            line = chunk.lines[position]
            if failed.status == "skipped":
                self.skipped += 1
            else:
                self.errors += 1
                if self.errors <= LOGGED_ERRORS:
                    log.warning("%s %d: result_status=error: %s: %s", self.unit, line, failed.reason,
                                failed.detail)
                    if self.errors == LOGGED_ERRORS:
                        log.warning("further errors of this file are counted, not logged")
            self.reasons[failed.reason] += 1
            if len(self.examples) < EXAMPLES:
                self.examples.append((line, f"{failed.reason}: {failed.detail}" if failed.detail
                                      else failed.reason))

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON values (a job's journal keeps them)."""
        return {"rows": self.rows, "found": self.found, "errors": self.errors, "skipped": self.skipped,
                "reasons": dict(self.reasons), "examples": [list(e) for e in self.examples]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], unit: str = "CSV line") -> BatchStats:
        return cls(data["rows"], data["found"], data["errors"], data["skipped"], Counter(data["reasons"]),
                   [(int(line), str(text)) for line, text in data["examples"]], unit=unit)


def pipelined(executor: Executor, chunks: Iterable[Chunk], in_flight: int) -> Iterator[tuple[Chunk, Done]]:
    """Each chunk with its Done, in input order, with at most ``in_flight`` chunks submitted and
    not yet taken: the memory held does not grow with the file."""
    pending: deque[tuple[Chunk, Callable[[], Done]]] = deque()
    for chunk in chunks:
        pending.append((chunk, executor.submit(chunk.rows, chunk.problems)))
        if len(pending) >= in_flight:
            done, wait = pending.popleft()
            yield done, wait()
    executor.drain()
    while pending:
        done, wait = pending.popleft()
        yield done, wait()


ExecutorFactory = Callable[[Job], Executor]


def in_process(geocoder: Answering, min_score: float) -> ExecutorFactory:
    """Chunks geocoded in this process."""
    geocode = RowGeocoder(geocoder, min_score)
    return lambda job: InProcess(job, geocode)


def on_workers(geocoder: Geocoder, min_score: float, workers: int) -> ExecutorFactory:
    """Chunks geocoded on ``workers`` processes forked with ``geocoder``."""
    return lambda job: Workers(geocoder, min_score, workers, job)


class GeocodedCsv(Iterator[bytes]):
    """The output CSV as chunks of bytes (the header first, then one per chunk of rows); the
    input's head was checked when this was built.

    ``encoding`` and ``content_type`` are known before the first chunk, for response headers;
    ``stats`` grows as chunks are taken. At most ``in_flight`` chunks of rows are held.
    ``skip`` rows already geocoded (a job resumed) are read but not geocoded nor written, and
    then neither is the header.
    """

    def __init__(self, source: IO[bytes] | Iterable[Any], options: CsvOptions, mode: Mode,
                 executor: ExecutorFactory, in_flight: int = 1, chunk_rows: int = CHUNK_ROWS,
                 skip: int = 0) -> None:
        self._input = Input(source, options)
        self._plan = Plan(self._input.header, options, mode)
        self.stats = BatchStats()
        self.delimiter = self._input.delimiter
        encoding = self._input.encoding
        if encoding.startswith("utf-8"):
            encoding = "utf-8-sig" if options.with_bom else "utf-8"  # the codec writes one BOM
        elif encoding.startswith(("utf-16", "utf-32")):
            encoding = encoding[:6]  # with the byte order mark these need
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.content_type = f"text/csv; charset={self.encoding}"
        self._encoder = codecs.getincrementalencoder(encoding)("replace")
        job = CsvJob(self._plan, self.delimiter, self._input.quote, self._input.quote_all)
        buffer = io.StringIO()
        job.writer(buffer).writerow(self._plan.header)
        header = self._encoder.encode(buffer.getvalue())  # NOTE: a resumed file has it: encoded, not written
        self._input.skip(skip)
        # Made last: no worker process starts for a file refused above.
        self._executor = executor(job)
        self._chunks: Generator[bytes, None, None] = self._run(
            self._executor, [] if skip else [header], max(1, in_flight), chunk_rows)

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """Stop early (a client gone): worker processes, if any, are stopped."""
        self._chunks.close()
        self._executor.close(completed=False)  # NOTE: a generator never started skips its finally

    def _run(self, executor: Executor, head: list[bytes], in_flight: int, chunk_rows: int
             ) -> Generator[bytes, None, None]:
        completed = False
        try:
            yield from head
            for chunk, done in pipelined(executor, self._input.chunks(chunk_rows), in_flight):
                self.stats.add(chunk, done)
                self.stats.bytes_read = self._input.bytes_read
                yield self._encoder.encode(done.output)
            if tail := self._encoder.encode("", final=True):
                yield tail
            completed = True
        finally:
            executor.close(completed)


def geocode_rows(geocoder: Answering, source: IO[bytes] | Iterable[Any], options: CsvOptions | None = None,
                 mode: Mode = "search", chunk_rows: int = CHUNK_ROWS) -> GeocodedCsv:
    """Geocode a CSV in this process: ``source`` is a binary file, or an iterable of byte or
    text lines. A bad file or option raises a BaliseError (400) now; bad rows are counted."""
    options = options or CsvOptions()
    return GeocodedCsv(source, options, mode, in_process(geocoder, options.min_score), chunk_rows=chunk_rows)


def geocode_rows_parallel(index_dir: Path | str, source: IO[bytes] | Iterable[Any],
                          options: CsvOptions | None = None, mode: Mode = "search",
                          workers: int = 2, chunk_rows: int = CHUNK_ROWS) -> GeocodedCsv:
    """As geocode_rows, on ``workers`` processes: this one (while it is iterated) and
    ``workers - 1`` forked with a geocoder of the index (opened here: a bad index fails once,
    not in every worker; its pages read into the page cache once, by this process's preload
    thread, as ``geocode_file`` does).

    Output order is input order; four chunks per process at most are in flight, so memory
    stays flat whatever the file size. The file's head is checked before any worker starts.
    """
    options = options or CsvOptions()
    geocoder = Geocoder.open(index_dir)
    return GeocodedCsv(source, options, mode, on_workers(geocoder, options.min_score, workers),
                       in_flight=4 * workers, chunk_rows=chunk_rows)
