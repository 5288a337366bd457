"""Geocoding chunks on worker processes, forked with the geocoder (its index memory-mapped)
and the job (how rows become output): a chunk travels as its rows' cells and comes back as
output text or columns."""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from ..geocoder import Geocoder
from .answers import RowGeocoder
from .jobs import Done, Job, Submitted
from .plan import Failed, Row

_worker: tuple[Job, RowGeocoder] | None = None  # set once in each worker process by _init_worker


def _init_worker(geocoder: Geocoder, min_score: float, job: Job) -> None:
    global _worker
    _worker = job, RowGeocoder(geocoder, min_score)


def _run_chunk(rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
    assert _worker is not None
    job, geocode = _worker
    return job(geocode, rows, problems)


class Workers:
    """Worker processes, started at once, forked with the geocoder: its maps are the parent's,
    its lazy structures built once (PERF: a worker that opened the index again took its own
    start-up and, with a preload thread of its own, cores from the others)."""

    def __init__(self, geocoder: Geocoder, min_score: float, workers: int, job: Job) -> None:
        # NOTE: fork, not spawn: spawn re-runs the parent's __main__ (a notebook, "python -")
        # in each child, and fork hands the job over without pickling it. Forked now, before
        # the caller starts threads (a progress bar). A pool of concurrent.futures, not
        # multiprocessing.Pool: a dead worker breaks it (BrokenProcessPool) instead of leaving
        # a result waited for forever.
        context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(workers, context, _init_worker, (geocoder, min_score, job))
        # What this process holds goes to the permanent generation while the workers fork: a
        # worker's collector then never writes to those objects, so their pages stay shared
        # (PERF: half the page faults of a worker, as the server does with gc.freeze). Thawed
        # after: this process may go on for long (a notebook, the server's batch jobs).
        gc.freeze()
        try:
            self.pool.submit(int).result()  # all workers are forked on the first task
        finally:
            gc.unfreeze()

    def submit(self, rows: Sequence[Row], problems: dict[int, Failed]) -> Submitted:
        return self.pool.submit(_run_chunk, rows, problems).result

    def close(self, completed: bool) -> None:
        self.pool.shutdown(wait=completed, cancel_futures=not completed)
