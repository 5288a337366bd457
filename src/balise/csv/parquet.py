"""Parquet files in and out, by row groups in bounded memory: :class:`ParquetSource` (a file
opened and checked before any work), :class:`GeocodedTable` (its batches geocoded where the
index is, in input order) and :class:`RowGroupWriter` (results written as row groups of a
fixed size, to a file or as a stream of bytes)."""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidParquet
from .options import CsvOptions, Mode
from .run import CHUNK_ROWS, BatchStats, ExecutorFactory, pipelined
from .table import TableJob, TablePlan, arrow, chunks_of

if TYPE_CHECKING:
    import pyarrow as pa

MAGIC = b"PAR1"  # a Parquet file starts and ends with it
ROW_GROUP_ROWS = 65_536  # rows of an output row group: about 30 MB of results held at most
CONTENT_TYPE = "application/vnd.apache.parquet"


def is_parquet(head: bytes, name: str | None = None) -> bool:
    """A Parquet file by its first bytes, or by its name when they are not known."""
    return head[:4] == MAGIC if head else str(name or "").lower().endswith(".parquet")


class ParquetSource:
    """A Parquet file opened and checked (its footer, the columns asked for) before any work;
    then its rows by batches of the input's own types."""

    def __init__(self, source: Path | str | IO[bytes], options: CsvOptions, mode: Mode) -> None:
        pa = arrow()
        try:
            self.file = pa.parquet.ParquetFile(source)
            schema = self.file.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as e:
            raise InvalidParquet(f"The file is not a readable Parquet file: {e}") from None
        self.plan = TablePlan(schema, options, mode)
        self.rows = int(self.file.metadata.num_rows)

    def uncompressed_bytes(self) -> int:
        """What the file's row groups say they hold once decompressed."""
        metadata = self.file.metadata
        return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))

    def batches(self, size: int, skip: int = 0) -> Iterator[pa.RecordBatch]:
        """The rows from row ``skip`` on, by batches of at most ``size``: whole row groups
        before it are not read."""
        pa = arrow()
        metadata, start = self.file.metadata, 0
        groups: list[int] = []
        for i in range(metadata.num_row_groups):
            count = metadata.row_group(i).num_rows
            if not groups and start + count <= skip:  # the row groups before row ``skip``
                start += count
            else:
                groups.append(i)
        drop = skip - start
        batches = self.file.iter_batches(batch_size=size, row_groups=groups, use_threads=False)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as e:
                raise InvalidParquet(f"The file cannot be read past row {start + drop:,}: {e}") from None
            if drop >= batch.num_rows:
                drop -= batch.num_rows
                continue
            start += batch.num_rows
            yield batch.slice(drop) if drop else batch
            drop = 0


class GeocodedTable(Iterator["pa.RecordBatch"]):
    """The output rows of a Parquet file, by batches (the input's columns, then the typed
    result columns), in input order; ``stats`` grows as they are taken. ``skip`` rows
    already geocoded (a job resumed) are not read."""

    def __init__(self, source: ParquetSource, executor: ExecutorFactory, in_flight: int = 1,
                 chunk_rows: int = CHUNK_ROWS, skip: int = 0) -> None:
        self.source = source
        self.schema = source.plan.schema
        self.stats = BatchStats(unit="row")
        self._executor = executor(TableJob(source.plan))
        chunks = chunks_of(source.plan, source.batches(chunk_rows, skip), skip)
        self._batches: Generator[pa.RecordBatch, None, None] = self._run(chunks, max(1, in_flight))

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)

    def close(self) -> None:
        self._batches.close()
        self._executor.close(completed=False)

    def _run(self, chunks: Iterator[tuple[Any, pa.RecordBatch]], in_flight: int
             ) -> Generator[pa.RecordBatch, None, None]:
        completed = False
        inputs: dict[int, pa.RecordBatch] = {}

        def remembered() -> Iterator[Any]:
            for chunk, batch in chunks:  # NOTE: the input batch waits here for its results
                inputs[id(chunk)] = batch
                yield chunk

        try:
            for chunk, done in pipelined(self._executor, remembered(), in_flight):
                self.stats.add(chunk, done)
                yield self.source.plan.joined(inputs.pop(id(chunk)), done.output)
            completed = True
        finally:
            self._executor.close(completed)


class _Collected(io.RawIOBase):
    """A write-only file that keeps what is written until it is taken: the bytes of a
    Parquet file streamed as its row groups are written."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.size

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class RowGroupWriter:
    """Batches written as row groups of ``rows`` rows (the last one shorter), so that a file's
    layout does not depend on how its batches were cut; zstd, as fast as snappy and smaller."""

    def __init__(self, where: Path | str | IO[bytes] | io.RawIOBase, schema: pa.Schema,
                 rows: int = ROW_GROUP_ROWS) -> None:
        self.writer = arrow().parquet.ParquetWriter(where, schema, compression="zstd")
        self.rows = rows
        self.pending: list[pa.RecordBatch] = []
        self.count = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.count += batch.num_rows
        while self.count >= self.rows:
            self._flush(self.rows)

    def _flush(self, rows: int) -> None:
        pa = arrow()
        table = pa.Table.from_batches(self.pending, schema=self.writer.schema)
        self.writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self.pending, self.count = rest.to_batches(), rest.num_rows

    def close(self) -> None:
        if self.count:
            self._flush(self.count)
        self.writer.close()


def parquet_stream(table: GeocodedTable, rows: int = ROW_GROUP_ROWS) -> Generator[bytes, None, None]:
    """The geocoded file as bytes, a row group at a time (an HTTP answer)."""
    sink = _Collected()
    writer = RowGroupWriter(sink, table.schema, rows)
    try:
        for batch in table:
            writer.write(batch)
            if sink.parts:
                yield sink.take()
        writer.close()
        yield sink.take()
    finally:
        table.close()


HTTP_ROW_GROUP_ROWS = 16_384  # an answer's row groups: smaller, so that its bytes flow sooner
EXPANSION = 20  # at most this many bytes of pages decompressed per byte uploaded (a crafted file)


class ParquetAnswer(Iterator[bytes]):
    """An uploaded Parquet file geocoded in this process, as the bytes of the output file
    (``POST /search/csv/`` with a Parquet ``data``); the file is checked when this is built:
    its footer, the columns asked for, and what it says it holds once decompressed."""

    content_type = CONTENT_TYPE

    def __init__(self, executor: ExecutorFactory, source: IO[bytes], options: CsvOptions, mode: Mode,
                 max_bytes: int = 0) -> None:
        from ..errors import FileTooLarge

        parquet = ParquetSource(source, options, mode)
        # NOTE: a few compressed bytes can say a lot: the pages' decompressed size (what the
        # reader allocates; a page that lies fails to decompress) and the rows (the work) are
        # held to what an upload of max_bytes could hold as CSV.
        if max_bytes and (parquet.uncompressed_bytes() > EXPANSION * max_bytes
                          or parquet.rows > max_bytes // 2):
            raise FileTooLarge(max_bytes)
        self.rows = parquet.rows
        self.table = GeocodedTable(parquet, executor)
        self.stats = self.table.stats
        self._bytes: Generator[bytes, None, None] = parquet_stream(self.table, HTTP_ROW_GROUP_ROWS)

    def __next__(self) -> bytes:
        return next(self._bytes)

    def close(self) -> None:
        self._bytes.close()
        self.table.close()


def output_filename(filename: str | None) -> str:
    """The download name of a geocoded Parquet upload: ``NAME.geocoded.parquet``."""
    stem = Path(filename or "data.parquet").stem or "data"
    return f"{stem}.geocoded.parquet"
