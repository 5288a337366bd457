"""The worker processes of table geocoding (``csv.parallel.Workers``), with real forked
processes and the bundled sample's geocoder: answers in order whoever geocodes them, a
worker's error raised where its chunk is taken, a worker killed said at once, chunks and
answers larger than a socket's buffer, no process left behind."""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Sequence

import pytest

from balise import Geocoder
from balise.csv import CsvOptions
from balise.csv.answers import RowGeocoder
from balise.csv.jobs import CsvJob, Done
from balise.csv.parallel import WorkerDied, Workers
from balise.csv.plan import Failed, Plan, Row


@pytest.fixture(scope="module")
def sample_geocoder(sample_index):
    return Geocoder.open(sample_index)


def children() -> set[int]:
    """This process's live (or unreaped) children."""
    found = set()
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                with open(f"/proc/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                found.add(int(task))
    return found


def run(workers: Workers, chunks: list[list[Row]]) -> list[Done]:
    """As ``run.pipelined``: every chunk submitted, then drained, answers taken in order."""
    waits = [workers.submit(rows, {}) for rows in chunks]
    workers.drain()
    return [wait() for wait in waits]


def test_answers_come_in_order_from_every_process(sample_geocoder):
    before = children()
    chunks = [[[f"{c}-{r}"] for r in range(50)] for c in range(40)]
    workers = Workers(sample_geocoder, 0.5, 3, slow_where)
    try:
        assert gc.get_freeze_count() > 0  # this process's objects are not walked during the run
        done = run(workers, chunks)
    finally:
        workers.close(completed=True)
    assert gc.get_freeze_count() == 0  # thawed: the caller may go on for long
    assert [cell for d in done for cell, _ in d.output] == [r[0] for c in chunks for r in c]
    processes = {pid for d in done for _, pid in d.output}
    assert os.getpid() in processes and len(processes) == 3  # this process geocodes too
    assert children() == before


def slow_where(geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
    time.sleep(0.002)
    return Done([(row[0], os.getpid()) for row in rows], len(rows), [])


def test_real_answers_equal_this_process(sample_geocoder):
    queries = ["34 rue de rivoli paris", "place de l'hotel de ville", "rue saint-honore 75001",
               "12 boulevard de sebastopol", "rue de la paix", ""] * 20
    chunks = [[[q] for q in queries[i:i + 7]] for i in range(0, len(queries), 7)]
    job = CsvJob(Plan(["query"], CsvOptions(columns=("query",)), "search"), ",", '"', False)
    workers = Workers(sample_geocoder, 0.5, 2, job)
    try:
        done = run(workers, chunks)
    finally:
        workers.close(completed=True)
    alone = [job(RowGeocoder(sample_geocoder, 0.5), rows, {}) for rows in chunks]
    assert done == alone
    assert "Rue de Rivoli" in done[0].output and done[0].failures  # an empty query is skipped


def test_an_error_in_a_worker_is_raised_where_its_chunk_is_taken(sample_geocoder):
    parent = os.getpid()

    def fails_elsewhere(geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
        if os.getpid() != parent and rows[0][0] == "bad":
            raise ValueError("a row the job cannot take")
        time.sleep(0.005)
        return Done([], 0, [])

    before = children()
    workers = Workers(sample_geocoder, 0.5, 2, fails_elsewhere)
    try:
        with pytest.raises(ValueError, match="cannot take"):
            run(workers, [[["bad"]]] * 8)  # the worker gets the first chunks
    finally:
        workers.close(completed=False)
    assert children() == before


def test_a_killed_worker_is_said_not_waited_for(sample_geocoder):
    parent = os.getpid()

    def sleeps(geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
        if os.getpid() != parent:
            time.sleep(0.5)  # still on its first chunk when it is killed
        return Done([], 0, [])

    before = children()
    workers = Workers(sample_geocoder, 0.5, 2, sleeps)
    try:
        waits = [workers.submit([["x"]], {}) for _ in range(6)]
        (child,) = children() - before
        os.kill(child, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(WorkerDied, match="SIGKILL"):
            for wait in waits:
                wait()
        assert time.monotonic() - started < 5
    finally:
        workers.close(completed=False)
    assert children() == before


def test_chunks_and_answers_larger_than_a_socket_buffer(sample_geocoder):
    """Each way 12 MB a message, two chunks held by a worker: neither side waits on the other."""
    big = "é" * (6 << 20)

    def echoes(geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
        return Done(rows[0][0] + rows[0][0], 1, [])

    workers = Workers(sample_geocoder, 0.5, 2, echoes)
    try:
        done = run(workers, [[[big + str(i)]] for i in range(6)])
    finally:
        workers.close(completed=True)
    assert [d.output for d in done] == [2 * (big + str(i)) for i in range(6)]


def test_a_worker_still_on_a_copied_chunk_is_stopped_at_close(sample_geocoder):
    """Once drained, the chunk a worker holds unstarted is geocoded by whoever is idle: the
    first answer is kept, and the worker still on it is stopped, not waited for."""
    parent = os.getpid()

    def slow_worker(geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
        if os.getpid() != parent:
            time.sleep(0.5)
        return Done(os.getpid(), 1, [])

    before = children()
    workers = Workers(sample_geocoder, 0.5, 2, slow_worker)
    try:
        done = run(workers, [[["a"]], [["b"]]])  # both given to the worker, the second copied
        started = time.monotonic()
    finally:
        workers.close(completed=True)
    assert time.monotonic() - started < 0.3
    assert done[1].output == parent  # the copy answered first
    assert children() == before


def test_one_process_forks_no_worker(sample_geocoder):
    before = children()
    workers = Workers(sample_geocoder, 0.5, 1, slow_where)
    try:
        assert children() == before
        done = run(workers, [[[str(c)]] for c in range(5)])
    finally:
        workers.close(completed=True)
    assert [d.output for d in done] == [[(str(c), os.getpid())] for c in range(5)]
