"""External sorting of fixed-size records, so an import's memory does not grow with its input.

Records are appended to a spill file as they come (:class:`Spill`). To read them sorted,
:func:`sorted_chunks` cuts the file into runs that fit the memory budget, sorts each run
(stable) into a file of its own, then merges the runs block by block: each round takes,
from every run's current block, the records whose key is below the smallest last key of the
blocks still to be refilled, so records with equal keys always come out in the same chunk,
in the order they were appended.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

Records: TypeAlias = NDArray[np.void]  # fixed-size records of a structured dtype
Key: TypeAlias = Callable[[Records], NDArray[Any]]  # the sort key of each record


class Spill:
    """Records of one dtype appended to a file, unsorted."""

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self.count = 0

    def append(self, records: Records) -> None:
        if len(records):
            self.file.write(np.ascontiguousarray(records, dtype=self.dtype).tobytes())
            self.count += len(records)

    def close(self) -> None:
        self.file.close()

    def read(self, start: int, count: int) -> Records:
        return np.fromfile(self.path, dtype=self.dtype, count=count, offset=start * self.dtype.itemsize)

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def chunk_records(dtype: np.dtype, budget: int, parts: int = 1) -> int:
    """How many records fit a budget (a record, its key and the sort's copies: ~3 times)."""
    return max(256, budget // (3 * parts * (np.dtype(dtype).itemsize + 8)))


Prepare: TypeAlias = Callable[[Records], Records]


def sorted_chunks(spill: Spill, key: Key, budget: int, prepare: Prepare | None = None) -> Iterator[Records]:
    """The spilled records sorted by ``key`` (stable), in chunks, within about ``budget``
    bytes; ``prepare`` rewrites each run before it is sorted (say, to renumber)."""
    spill.close()
    per_run = chunk_records(spill.dtype, budget)
    runs: list[Path] = []
    try:
        for start in range(0, spill.count, per_run):
            records = spill.read(start, per_run)
            if prepare is not None:
                records = prepare(records)
            records = records[np.argsort(key(records), kind="stable")]
            if spill.count <= per_run:  # one run: no file, no merge
                yield records
                return
            path = spill.path.with_name(f"{spill.path.name}.run{len(runs)}")
            records.tofile(path)
            runs.append(path)
        yield from _merge(runs, spill.dtype, key, budget)
    finally:
        for path in runs:
            path.unlink(missing_ok=True)


class _Run:
    def __init__(self, path: Path, dtype: np.dtype, block: int) -> None:
        self.path, self.dtype, self.block = path, dtype, block
        self.total = os.path.getsize(path) // dtype.itemsize
        self.read = 0  # records read from the file
        self.records = np.empty(0, dtype=dtype)
        self.refill()

    @property
    def more(self) -> bool:
        return self.read < self.total

    def refill(self) -> None:
        count = min(self.block, self.total - self.read)
        new = np.fromfile(self.path, dtype=self.dtype, count=count, offset=self.read * self.dtype.itemsize)
        self.read += count
        self.records = np.concatenate([self.records, new]) if len(self.records) else new


def _merge(paths: list[Path], dtype: np.dtype, key: Key, budget: int) -> Iterator[Records]:
    runs = [_Run(p, dtype, chunk_records(dtype, budget, len(paths))) for p in paths]
    while any(len(r.records) or r.more for r in runs):
        limited = [r for r in runs if r.more]
        if limited:
            limit = min(key(r.records[-1:])[0] for r in limited if len(r.records))
        taken = []
        for run in runs:
            if not len(run.records):
                continue
            cut = len(run.records) if not limited else int(np.searchsorted(key(run.records), limit, "left"))
            if cut:
                taken.append(run.records[:cut])
                run.records = run.records[cut:]
        for run in runs:
            if not len(run.records) and run.more:
                run.refill()
        if not taken:  # every block holds only the limit: read further where it ends
            for run in limited:
                if len(run.records) and key(run.records[-1:])[0] == limit:
                    run.refill()
            continue
        chunk = np.concatenate(taken) if len(taken) > 1 else taken[0]
        yield chunk[np.argsort(key(chunk), kind="stable")]
