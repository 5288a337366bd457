"""``balise.dask`` on a real LocalCluster of one, then two worker processes (one thread each):
rows/s of a Parquet table geocoded into Parquet, and the ratio of two workers to one.

    python bench/dask_speed.py --index .bench/balise-index [--rows 200000] [--partitions 40]

The table is ``table_scale.py``'s (real addresses of the dev data in typed columns, made once).
Each worker opens the index before the clock starts (as it would on its first partition);
timed: ``dd.read_parquet`` -> ``balise.dask.geocode`` -> ``to_parquet``, everything but the
cluster's start-up. Dask's dashboard is off here; on a real cluster it shows the progress.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from table_scale import OUT, make  # noqa: E402

COLUMNS = ["numero", "rep", "voie", "code_postal", "commune"]


def run(index: str, source: Path, workers: int, partitions: int) -> float:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    from balise.dask import IndexSource, _row_geocoder, geocode

    target = OUT / f"dask-out-{workers}"
    shutil.rmtree(target, ignore_errors=True)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        path = str(Path(index).absolute())
        client.run(lambda: _row_geocoder(IndexSource(path), 0.5) and None)  # the index opened on each
        started = time.perf_counter()
        frame = dd.read_parquet(source).repartition(npartitions=partitions)
        rows = len(frame)
        geocode(frame, index=index, columns=COLUMNS, postcode="code_postal").to_parquet(target)
        seconds = time.perf_counter() - started
    print(f"  {workers} worker(s): {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s",
          flush=True)
    return rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(HERE.parent / ".bench" / "balise-index"))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=40)
    args = parser.parse_args()
    source, _ = make(args.rows)
    print(f"balise.dask, LocalCluster, {source}:", flush=True)
    one = run(args.index, source, 1, args.partitions)
    two = run(args.index, source, 2, args.partitions)
    print(f"  2 workers / 1: {two / one:.2f}x")


if __name__ == "__main__":
    main()
