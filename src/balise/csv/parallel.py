"""Geocoding a CSV on several worker processes, each with the index memory-mapped: the output
in input order, at most two chunks per worker in flight."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO

from ..geocoder import Geocoder
from .options import CsvOptions, Mode
from .plan import Outcome, Request
from .run import CHUNK_ROWS, GeocodedCsv, RowGeocoder

_worker: RowGeocoder | None = None  # set once in each worker process by _init_worker


def _init_worker(index_dir: str, min_score: float) -> None:
    global _worker
    _worker = RowGeocoder(Geocoder.open(index_dir), min_score)


def _geocode_chunk(requests: list[Request]) -> list[Outcome]:
    assert _worker is not None
    return [_worker(request) for request in requests]


class Workers:
    """Worker processes, each opening the memory-mapped index itself; started at once."""

    def __init__(self, index_dir: str, min_score: float, workers: int) -> None:
        # NOTE: fork, not spawn: spawn re-runs the parent's __main__ (a notebook, "python -")
        # in each child. Forked now, before the caller starts threads (a progress bar).
        # A pool of concurrent.futures, not multiprocessing.Pool: a dead worker breaks it
        # (BrokenProcessPool) instead of leaving a result waited for forever.
        context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(workers, context, _init_worker, (index_dir, min_score))
        self.pool.submit(int).result()  # all workers are forked on the first task

    def submit(self, requests: list[Request]) -> Callable[[], list[Outcome]]:
        return self.pool.submit(_geocode_chunk, requests).result

    def close(self, completed: bool) -> None:
        self.pool.shutdown(wait=completed, cancel_futures=not completed)

def geocode_rows_parallel(index_dir: Path | str, source: IO | Iterable,
                          options: CsvOptions | None = None, mode: Mode = "search",
                          workers: int = 2, chunk_rows: int = CHUNK_ROWS) -> GeocodedCsv:
    """As geocode_rows, on ``workers`` processes that each memory-map the index.

    Output order is input order; two chunks per worker at most are in flight, so memory stays
    flat whatever the file size. The file's head is checked before any worker starts.
    """
    options = options or CsvOptions()
    Geocoder.open(index_dir, preload=False)  # NOTE: a bad index fails here, clearly, not in every worker

    def executor() -> Workers:
        return Workers(str(index_dir), options.min_score, workers)

    return GeocodedCsv(source, options, mode, executor, in_flight=2 * workers, chunk_rows=chunk_rows)
