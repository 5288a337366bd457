"""Where a forward search's work goes, stage by stage: run under callgrind, one stage a run.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=OUT python bench/stages.py STAGE
    callgrind_annotate OUT | grep TOTALS

Each STAGE runs everything up to it on 1,000 answerable queries (bench/answerable.py, seed 3)
after 1,000 of warm-up through the whole search; a stage's cost is its total minus the
previous stage's, divided by 1,000 (``none`` is the start-up and warm-up alone). Instructions,
not seconds: they do not move with the machine's other loads (but with the hash seed, by up to
~20k a query: set it). Stages: none, request, text, tokens, collectors, readings, features, full.

``time`` times every stage in seconds instead, as the benchmark meets queries: each stage on
its own fresh share of 48,000 answerable queries (seed 11; ``--kind`` keeps one kind), each
query once, after 300 of warm-up; two rounds, the shares moved between stages, averaged:

    python bench/stages.py time [--kind typo]

Two things moved the counts between runs before, and are held still here: OpenBLAS's thread
(numpy's), which spins for a random while after start-up (7-36M instructions, up to ~18k a
query: one thread, no spin), and a module whose .pyc is stale, recompiled by every process
under PYTHONDONTWRITEBYTECODE (the package is compiled first, by a child process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy is imported (by balise)

from answerable import make as answerable_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage")
    parser.add_argument("--index", default=str(HERE.parent / ".bench" / "balise-index"))
    parser.add_argument("--kind", help="time: only this kind of query (bench/answerable.py)")
    args = parser.parse_args()
    # Current .pyc files, written by a child process (valgrind does not count children).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "src" / "balise")],
                   check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})

    from balise import Geocoder
    from balise.search._collectors import collect
    from balise.search._query import QueryText
    from balise.search._readings import best_reading
    from balise.search._search import Search
    from balise.search.request import SearchRequest

    geocoder = Geocoder.open(args.index, preload=False)
    engine = geocoder.engine
    queries = [row[1] for row in answerable_rows(2000, 3)]
    options: dict[str, Any] = dict(limit=5, autocomplete=False, lat=None, lon=None, filters={})

    def request(q: str) -> Any:
        return SearchRequest(q, 5, False, None, None, {})

    def text(q: str) -> Any:
        request(q)
        return QueryText(engine.pipeline, q)

    def tokens(q: str) -> Any:
        return Search(engine, text(q), extract=True, **options)

    def collectors(q: str) -> Any:
        search = tokens(q)
        return search, collect(search)

    def readings(q: str) -> Any:
        request(q)
        return best_reading(engine, q, **options)

    def features(q: str) -> Any:
        search, columns = readings(q)
        return [search.scorer.feature(i) for i in columns]

    stages: dict[str, Callable[[str], Any]] = {
        "none": lambda q: None, "request": request, "text": text, "tokens": tokens,
        "collectors": collectors, "readings": readings, "features": features,
        "full": lambda q: geocoder.search(q, limit=5)}
    if args.stage == "time":
        timed_stages(stages, geocoder, [row[1] for row in answerable_rows(48_000, 11)
                                        if args.kind is None or row[0] == args.kind])
        return
    for q in queries[:1000]:
        geocoder.search(q, limit=5)
    run = stages[args.stage]
    for q in queries[1000:]:
        run(q)


def timed_stages(stages: dict[str, Callable[[str], Any]], geocoder: Any, queries: list[str]) -> None:
    """Microseconds a query of each stage, and what it adds to the one before."""
    import time

    for q in queries[:300]:
        geocoder.search(q, limit=5)
    queries = queries[300:]
    share = len(queries) // len(stages)
    spent: dict[str, list[float]] = {name: [] for name in stages}
    for round_ in range(2):
        for j, (name, run) in enumerate(stages.items()):
            at = (j + 3 * round_) % len(stages) * share
            started = time.perf_counter()
            for q in queries[at:at + share]:
                run(q)
            spent[name].append((time.perf_counter() - started) / share * 1e6)
    before = 0.0
    for name, times in spent.items():
        us = sum(times) / len(times)
        print(f"{name:11s} {us:6.1f} us  (+{us - before:5.1f})")
        before = us


if __name__ == "__main__":
    main()
