"""Speed of table geocoding (``balise geocode``, CSV and Parquet): the machinery's own cost per
row beside the engine's, and rows/s on one and two workers.

    python bench/csv_speed.py --index .bench/balise-index [--rows 9400] [--runs 3] [--addok]
    python bench/csv_speed.py --index .bench/scale/index-1/index \
        --queries .bench/scale/france-1-s5-queries.csv

The rows: the answerable mix (``answerable.py``: real addresses of the dev data written eight
ways, seed 3), or ``--queries`` (a CSV with a ``query`` column, as make_france.py writes),
written as CSV and as Parquet (the same columns, typed) in ``.bench/csv-speed/``. Then:

1. per row, in this process, CPU time (best of ``--runs``): the engine alone
   (``Geocoder.first`` of each row's request, built beforehand: what a row asks); the CSV machinery alone (the
   same run with the engine replaced by a constant answer: reading, parsing, building the
   request, formatting, writing); the whole CSV run; the same two for Parquet;
2. ``balise geocode`` on 1 and 2 workers, CSV and Parquet, each ``--runs`` times: rows/s as the
   command reports it (index open excluded), the best run, and the ratio of 2 workers to 1;
3. with ``--addok``: Addok 1.3.2's in-process rate on the same queries (limit 3, autocomplete
   off, as a CSV row asks), and the ratio of ``balise geocode`` on one worker to it. Addok's
   Redis holds the dev data (``addok_env.py``): with the France stand-in's ``--queries`` that
   ratio compares two different indexes, so quote it for the dev index only.
"""

from __future__ import annotations

import argparse
import csv
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

OUT = HERE.parent / ".bench" / "csv-speed"


def inputs(rows: int, queries: str | None) -> tuple[Path, Path, list[str]]:
    """The rows as CSV and Parquet (made once), and their queries."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    OUT.mkdir(parents=True, exist_ok=True)
    if queries:
        with open(queries, newline="", encoding="utf-8") as f:
            table = [[r["kind"], r["query"], r["expected_id"], r["expected_lon"], r["expected_lat"]]
                     for r in csv.DictReader(f)][:rows]
        name = Path(queries).stem
    else:
        from answerable import make

        table, name = make(rows, 3), f"answerable-{rows}"
    path = OUT / f"{name}.csv"
    if not path.exists():
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["kind", "query", "expected_id", "expected_lon", "expected_lat"])
            writer.writerows(table)
    parquet = path.with_suffix(".parquet")
    if not parquet.exists():
        columns = list(zip(*table, strict=True))
        pq.write_table(pa.table({
            "kind": list(columns[0]), "query": list(columns[1]), "expected_id": list(columns[2]),
            "expected_lon": [float(v) for v in columns[3]], "expected_lat": [float(v) for v in columns[4]],
        }), parquet)
    return path, parquet, [row[1] for row in table]


def cpu_per_row(run: Callable[[], int], runs: int) -> float:
    """Microseconds of CPU per row, the best of ``runs``."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        rows = run()
        best = min(best, (time.process_time() - started) / rows * 1e6)
    return best


def in_process(index: str, csv_path: Path, parquet_path: Path, queries: list[str], runs: int
               ) -> dict[str, float]:
    from balise import Geocoder
    from balise.csv import CsvOptions, geocode_rows
    from balise.csv.parquet import GeocodedTable, ParquetSource, parquet_stream
    from balise.csv.run import in_process as here
    from balise.search.request import SearchRequest

    geocoder = Geocoder.open(index, preload=False)
    geocoder.index.preload()
    options = CsvOptions(columns=("query",))
    requests = [SearchRequest(q, 3, False) for q in queries if len(q) <= 200]
    constant = geocoder.first(SearchRequest("12 rue de rivoli paris", 3, False))

    class Constant:
        """The engine replaced by one answer: what is left is the table machinery."""

        def first(self, request: object) -> object:
            return constant

    def engine() -> int:
        for request in requests:
            geocoder.first(request)  # what a row asks (the best feature, the next score)
        return len(requests)

    def csv_run(answering: object) -> Callable[[], int]:
        def run() -> int:
            with csv_path.open("rb") as f:
                out = geocode_rows(answering, f, options)  # type: ignore[arg-type]
                for _ in out:
                    pass
            return out.stats.rows
        return run

    def parquet_run(answering: object) -> Callable[[], int]:
        def run() -> int:
            table = GeocodedTable(ParquetSource(parquet_path, options, "search"), here(answering, 0.5))
            for _ in parquet_stream(table):
                pass
            return table.stats.rows
        return run

    engine()  # warm
    return {
        "engine": cpu_per_row(engine, runs),
        "csv machinery": cpu_per_row(csv_run(Constant()), runs),
        "csv whole": cpu_per_row(csv_run(geocoder), runs),
        "parquet machinery": cpu_per_row(parquet_run(Constant()), runs),
        "parquet whole": cpu_per_row(parquet_run(geocoder), runs),
    }


def cli_rate(index: str, source: Path, workers: int) -> tuple[float, float]:
    """rows/s that ``balise geocode`` reports (the index opened before its clock starts), and
    its rows per CPU-second (all its processes, start-up included)."""
    target = OUT / f"out-{workers}{source.suffix}"
    script = Path(sys.executable).with_name("balise")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([str(script), "geocode", "--index", index, "--columns", "query", "--workers",
                           str(workers), "--quiet", "--restart", str(source), str(target)],
                          capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    match = re.search(r"geocoded ([\d,]+) rows .*\(([\d,]+) rows/s\)", done.stderr)
    assert match, done.stderr
    return float(match.group(2).replace(",", "")), int(match.group(1).replace(",", "")) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(HERE.parent / ".bench" / "balise-index"))
    parser.add_argument("--queries", help="a CSV with kind, query, expected_id... (make_france.py's)")
    parser.add_argument("--rows", type=int, default=9400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--addok", action="store_true")
    args = parser.parse_args()

    csv_path, parquet_path, queries = inputs(args.rows, args.queries)
    print(f"{len(queries):,} rows: {csv_path}, {parquet_path}; index {args.index}", flush=True)
    costs = in_process(args.index, csv_path, parquet_path, queries, args.runs)
    print(f"\nper row, in one process, CPU time (best of {args.runs}):")
    for name, value in costs.items():
        print(f"  {name:18s} {value:7.1f} us")
    for kind in ("csv", "parquet"):
        print(f"  {kind}: the machinery {costs[kind + ' machinery']:.1f} us a row alone, "
              f"{costs[kind + ' whole'] - costs['engine']:.1f} us beside the engine "
              f"(whole run minus engine alone)")
    print(f"\nbalise geocode, rows/s (best of {args.runs} runs):", flush=True)
    rates: dict[tuple[str, int], float] = {}
    for source in (csv_path, parquet_path):
        for workers in (1, 2):
            runs = [cli_rate(args.index, source, workers) for _ in range(args.runs)]
            best = max(runs)
            rates[source.suffix, workers] = best[0]
            print(f"  {source.suffix[1:]:8s} {workers} worker(s): {best[0]:8,.0f}  (runs: "
                  f"{', '.join(f'{r:,.0f}' for r, _ in runs)}; {best[1]:,.0f} rows per CPU-second)",
                  flush=True)
        ratio = rates[source.suffix, 2] / rates[source.suffix, 1]
        print(f"  {source.suffix[1:]:8s} 2 workers / 1: {ratio:.2f}x")
    if args.addok:
        from addok_env import run_addok, summarize

        _, timings = run_addok([{"q": q, "limit": 3, "autocomplete": False} for q in queries], warmup=200)
        addok = summarize(timings)["qps"]
        print(f"\nAddok 1.3.2 in-process: {addok:,.0f} q/s; balise geocode on 1 worker: "
              f"{rates['.csv', 1] / addok:.1f}x (CSV), {rates['.parquet', 1] / addok:.1f}x (Parquet)")


if __name__ == "__main__":
    main()
