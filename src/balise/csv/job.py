"""A file geocoded into another (``balise geocode``): CSV or Parquet, chosen by the file names; in
this process or on worker processes; resumable.

The output is written beside its final name and renamed into place at the end. As it goes,
the job's journal (``journal.py``) records how far it got, every ``CHECKPOINT_SECONDS`` for
CSV (the output synced first) and after every Parquet part (one row group, written to its
own file and renamed into place): a job killed and started again with the same arguments
cuts off what was written after the last record, skips the rows already done and goes on,
and its output is the same as an uninterrupted run's. ``restart`` starts over.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..errors import InvalidParameter
from ..geocoder import Geocoder
from .journal import Journal, job_key, sync_directory
from .options import CsvOptions, Mode
from .parquet import ROW_GROUP_ROWS, GeocodedTable, ParquetSource, RowGroupWriter, is_parquet
from .run import CHUNK_ROWS, BatchStats, ExecutorFactory, GeocodedCsv, in_process, on_workers
from .table import arrow

CHECKPOINT_SECONDS = 2.0
STDIO = Path("-")

# Progress as (rows done, total rows or None, bytes read of the input or None)
Progress = Callable[[int, int | None, int | None], None]


@dataclass
class JobReport:
    """What a job did: its counts (the resumed rows included), the rows found done by an
    earlier run and the seconds of work they had taken."""

    stats: BatchStats
    format: str
    resumed_rows: int = 0
    saved_seconds: float = 0.0


def format_of(path: Path) -> str:
    """``parquet`` or ``csv``: a file by its first bytes (Parquet's magic), else by its name."""
    if path == STDIO:
        return "csv"
    if path.exists():
        with path.open("rb") as f:
            return "parquet" if is_parquet(f.read(4)) else "csv"
    return "parquet" if is_parquet(b"", path.name) else "csv"


def geocode_file(index_dir: Path, input_path: Path, output_path: Path, options: CsvOptions,
                 mode: Mode = "search", workers: int = 1, progress: Progress | None = None,
                 restart: bool = False, geocoder: Geocoder | None = None,
                 row_group_rows: int = ROW_GROUP_ROWS, checkpoint_seconds: float = CHECKPOINT_SECONDS
                 ) -> JobReport:
    """Geocode ``input_path`` into ``output_path`` ("-": standard input or output, CSV only);
    ``row_group_rows``: the rows of a Parquet output's row groups (and of its resumable parts);
    ``checkpoint_seconds``: how often a CSV run saves how far it got."""
    kind = format_of(input_path)
    if kind != ("parquet" if is_parquet(b"", output_path.name) else "csv"):
        raise InvalidParameter("OUT", f"the input is {kind}: name the output .{kind} too")
    geocoder = geocoder or Geocoder.open(index_dir)
    executor = in_process(geocoder, options.min_score) if workers == 1 else on_workers(
        geocoder, options.min_score, workers)
    report = progress or (lambda rows, total, read: None)
    key: dict[str, Any] = {}
    if input_path != STDIO:
        stat = input_path.stat()
        key = job_key(input=str(input_path.resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                      format=kind, mode=mode, options=dataclasses.asdict(options), index=geocoder.version,
                      chunk=CHUNK_ROWS, row_group=row_group_rows, balise=__version__)
    if kind == "parquet":
        return _parquet_job(input_path, output_path, options, mode, executor, 4 * workers, key, restart,
                            report, row_group_rows)
    return _csv_job(input_path, output_path, options, mode, executor, 4 * workers, key, restart, report,
                    checkpoint_seconds)


def _csv_job(input_path: Path, output_path: Path, options: CsvOptions, mode: Mode, executor: ExecutorFactory,
             in_flight: int, key: dict[str, Any], restart: bool, progress: Progress, every: float
             ) -> JobReport:
    journaled = bool(key) and output_path != STDIO
    partial = output_path.with_name(output_path.name + ".part")
    journal_path = output_path.with_name(output_path.name + ".part.json")
    journal = None if restart or not journaled else Journal.load(journal_path, key)
    if journal is not None and (not partial.exists() or partial.stat().st_size < journal.out_bytes):
        journal = None  # the output it counts is not all there: start over
    journal = journal or Journal(key)
    total = None if input_path == STDIO else input_path.stat().st_size
    with ExitStack() as stack:
        source = sys.stdin.buffer if input_path == STDIO else stack.enter_context(input_path.open("rb"))
        output = GeocodedCsv(source, options, mode, executor, in_flight, skip=journal.rows)
        if journal.rows:
            output.stats = BatchStats.from_dict(journal.stats)
        sink: IO[bytes]
        if not journaled:
            sink = sys.stdout.buffer if output_path == STDIO else stack.enter_context(partial.open("wb"))
        else:
            sink = stack.enter_context(partial.open("r+b" if journal.rows else "wb"))
            sink.truncate(journal.out_bytes)
            sink.seek(journal.out_bytes)
        started, resumed, saved = time.monotonic(), journal.rows, journal.seconds
        checked = started
        for chunk in output:
            sink.write(chunk)
            progress(output.stats.rows, None, output.stats.bytes_read if total else None)
            if journaled and time.monotonic() - checked >= every:
                checked = time.monotonic()
                sink.flush()
                os.fsync(sink.fileno())
                journal.rows, journal.out_bytes = output.stats.rows, sink.tell()
                journal.seconds, journal.stats = saved + checked - started, output.stats.as_dict()
                journal.save(journal_path)
        sink.flush()
    if output_path != STDIO:
        partial.replace(output_path)
        journal_path.unlink(missing_ok=True)
    return JobReport(output.stats, "csv", resumed, saved if resumed else 0.0)


def _parquet_job(input_path: Path, output_path: Path, options: CsvOptions, mode: Mode,
                 executor: ExecutorFactory, in_flight: int, key: dict[str, Any], restart: bool,
                 progress: Progress, group: int) -> JobReport:
    if output_path == STDIO:
        raise InvalidParameter("OUT", "Parquet is written to a file, not to standard output")
    source = ParquetSource(input_path, options, mode)
    parts = output_path.with_name(output_path.name + ".parts")
    journal_path = parts / "journal.json"
    journal = None if restart else Journal.load(journal_path, key)
    if journal is None:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
        journal = Journal(key)
    for stale in parts.glob("part-*"):
        if not stale.name.endswith(".parquet") or int(stale.name[5:10]) >= journal.parts:
            stale.unlink()  # written after the last record, or not finished
    table = GeocodedTable(source, executor, in_flight, skip=journal.rows)
    if journal.rows:
        table.stats = BatchStats.from_dict(journal.stats, unit="row")
    started, resumed, saved = time.monotonic(), journal.rows, journal.seconds
    writer, room = None, 0

    def finish_part(rows: int) -> None:
        assert writer is not None
        writer.close()
        name = parts / f"part-{journal.parts:05d}.parquet"
        with name.with_suffix(".tmp").open("rb+") as f:
            os.fsync(f.fileno())
        name.with_suffix(".tmp").replace(name)
        journal.parts, journal.rows = journal.parts + 1, journal.rows + rows
        journal.seconds, journal.stats = saved + time.monotonic() - started, table.stats.as_dict()
        journal.save(journal_path)

    try:
        for batch in table:
            while batch.num_rows:
                if writer is None:
                    temporary = parts / f"part-{journal.parts:05d}.tmp"
                    writer, room = RowGroupWriter(temporary, table.schema, group), group
                taken = batch.slice(0, room)
                writer.write(taken)
                room -= taken.num_rows
                batch = batch.slice(taken.num_rows)
                if not room:
                    finish_part(group)
                    writer = None
            progress(table.stats.rows, source.rows, None)
        if writer is not None:
            finish_part(group - room)
    finally:
        table.close()
    _merge(parts, journal.parts, table.schema, output_path, group)
    return JobReport(table.stats, "parquet", resumed, saved if resumed else 0.0)


def _merge(parts: Path, count: int, schema: Any, output_path: Path, group: int) -> None:
    """The part files, a row group each, copied into one file renamed into place; a lone
    part is that file already (written by the same writer, synced), renamed as it is."""
    parquet = arrow().parquet
    partial = output_path.with_name(output_path.name + ".part")
    if count == 1:
        partial = parts / "part-00000.parquet"
    else:
        with parquet.ParquetWriter(partial, schema, compression="zstd") as writer:
            for number in range(count):
                part = parquet.ParquetFile(parts / f"part-{number:05d}.parquet")
                for index in range(part.metadata.num_row_groups):
                    writer.write_table(part.read_row_group(index), row_group_size=group)
    partial.replace(output_path)
    sync_directory(output_path.parent)
    shutil.rmtree(parts)
