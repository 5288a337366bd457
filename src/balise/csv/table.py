"""Geocoding typed tables (Parquet files, Dask partitions) with pyarrow: the columns a request
needs read as text, the rows answered as CSV's are, and the result columns typed (scores and
coordinates as floats, the house number's number as an integer, nulls where nothing was
found); the input's columns are kept as they are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter
from ._columns import numbers, texts
from .answers import RowGeocoder
from .jobs import Done, answer, tally
from .options import FLOAT_COLUMNS, INTEGER_COLUMNS, KNOWN_COLUMNS, CsvOptions, Mode
from .plan import Chunk, Failed, Plan, Row

if TYPE_CHECKING:
    import pyarrow as pa


def arrow() -> Any:
    """pyarrow, or a clear error when the ``parquet`` extra is not installed. (Not
    pyarrow.compute: ~50 ms to import, only needed to cast a column that is not text.)"""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InvalidParameter("data", "Parquet needs pyarrow: pip install 'balise[parquet]'") from None
    return pyarrow


def result_type(name: str) -> pa.DataType:
    pa = arrow()
    return pa.float64() if name in FLOAT_COLUMNS else pa.int32() if name in INTEGER_COLUMNS else pa.string()


def typed(values: tuple[Any, ...], kind: pa.DataType) -> pa.Array:
    """A result column's values (None: null) as an arrow array of its type (float64, int32 or
    string), from buffers built by ``_columns``: pyarrow.array would import pandas."""
    pa = arrow()
    if pa.types.is_string(kind):
        validity, offsets, data, nulls = texts(values)
        buffers = [validity, offsets, data]
    else:
        validity, data, nulls = numbers(values, pa.types.is_int32(kind))
        buffers = [validity, data]
    return pa.Array.from_buffers(kind, len(values), [b if b is None else pa.py_buffer(b) for b in buffers],
                                 nulls)


class TablePlan:
    """A table's plan: the columns requests read (as text, in this order), the result columns
    and their types, and the output schema (the input's columns, then the results; an input
    column named as a result column is replaced)."""

    def __init__(self, schema: pa.Schema, options: CsvOptions, mode: Mode) -> None:
        pa = arrow()
        names = list(schema.names)
        full = Plan(names, options, mode)  # unknown columns fail here, before any work
        used = sorted({*full.query, *(i for i in (full.lat, full.lon) if i is not None),
                       *(i for _, i in full.filters)})
        for i in used:
            kind = schema.field(i).type
            if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
                raise InvalidParameter("columns", f"column {names[i]!r} holds {kind}, not text or numbers")
        self.read = [names[i] for i in used]
        self.text = [pa.types.is_string(schema.field(i).type) for i in used]
        if not all(self.text):
            import pyarrow.compute  # noqa: F401  NOTE: here, not in each worker process
        self.plan = Plan(self.read, options, mode)  # the same query, point and filters, on those columns
        self.wanted = full.wanted
        self.result_schema = pa.schema([(name, result_type(name)) for name in self.wanted])
        self.kept = [name for name in names if name not in self.wanted]
        self.schema = pa.schema([schema.field(n) for n in self.kept] + list(self.result_schema))
        self.mode = mode

    def rows(self, batch: pa.RecordBatch) -> list[Row]:
        """The cells requests read, as text (nulls empty).

        PERF: nulls are emptied here, not by pyarrow.compute.fill_null: it makes a pyarrow
        scalar of "", and the first one of a process imports pandas (~170 ms of CPU)."""
        pa = arrow()
        columns = []
        for name, text in zip(self.read, self.text, strict=True):
            column = batch.column(name)
            if not text:
                column = pa.compute.cast(column, pa.string())
            cells = column.to_pylist()
            columns.append(["" if cell is None else cell for cell in cells] if column.null_count else cells)
        return list(zip(*columns, strict=True))

    def joined(self, batch: pa.RecordBatch, results: pa.RecordBatch) -> pa.RecordBatch:
        """The input batch's kept columns, then the result columns."""
        pa = arrow()
        arrays = [batch.column(n) for n in self.kept] + list(results.columns)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


class TableJob:
    """A chunk's rows (the columns requests read, as a record batch: turned into text here, in
    the worker) to its typed result columns."""

    def __init__(self, plan: TablePlan) -> None:
        self.table = plan
        self.mode = plan.mode
        self.wanted = plan.wanted
        self.schema = plan.result_schema
        self.plan = plan.plan

    def __call__(self, geocode: RowGeocoder, rows: Any, problems: dict[int, Failed]) -> Done:
        pa = arrow()
        outcomes = answer(self.plan, geocode, self.table.rows(rows), problems)
        known = KNOWN_COLUMNS[self.mode]
        empty = (None,) * (len(known) - 1)
        values = [(*empty, "not-found") if o is None else (*empty, o.status) if isinstance(o, Failed) else o
                  for o in outcomes]
        columns = list(zip(*values, strict=True)) if values else [()] * len(known)
        arrays = [typed(columns[known.index(name)], field.type)
                  for name, field in zip(self.wanted, self.schema, strict=True)]
        return Done(pa.RecordBatch.from_arrays(arrays, schema=self.schema), *tally(outcomes))


def chunks_of(plan: TablePlan, batches: Iterator[pa.RecordBatch], first_row: int = 0
              ) -> Iterator[tuple[Chunk, pa.RecordBatch]]:
    """Each batch as a chunk (its rows: the columns requests read, numbered from 1 after
    ``first_row``), with the batch."""
    number = first_row
    for batch in batches:
        count = batch.num_rows
        yield Chunk(batch.select(plan.read), list(range(number + 1, number + 1 + count)), {}), batch
        number += count

