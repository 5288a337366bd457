"""What reading one result costs: a document, a house number, the index's files by size.

    python bench/reads.py --index DIR [--samples 20000] [--seed 1]

Every read is uncached (the reader's ``_document``, not its LRU-cached ``document``), of
random documents and house numbers, in one process; times are the median over ``--samples``
reads, in microseconds. Also the per-candidate reads of a search with a house number: the
house number of a key in a document (``find_housenumbers``, one document per call) and the
raw forms of a batch of house numbers (``housenumber_raws``, per house number). Then the
index's files, largest first, in MiB.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from balise.index import IndexReader
from balise.index._lookup import housenumber_raws

MIB = 1 << 20


def timed(calls: list[Callable[[], object]]) -> float:
    """The median time of each call, in microseconds (each timed alone, after one warm-up)."""
    times = []
    for call in calls:
        call()  # the page, not the disk
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    index = IndexReader(args.index)
    rng = np.random.default_rng(args.seed)
    docs = rng.integers(0, index.doc_count, args.samples).tolist()
    hns = rng.integers(0, index.housenumber_count, args.samples).tolist()
    owners = [index.housenumber_doc(hn) for hn in hns]
    keys = [index.housenumber_key(hn) for hn in hns]
    rows = [
        ("document (decoded JSON, uncached)", timed([lambda n=n: index._document(n) for n in docs])),
        ("house number (its properties, lon, lat)",
         timed([lambda h=h, d=d: index.housenumber(h, d) for h, d in zip(hns, owners, strict=True)])),
        ("house number of a key in a document (find_housenumbers)",
         timed([lambda d=d, k=k: index.find_housenumbers(np.array([d], dtype=np.uint32), k)
                for d, k in zip(owners, keys, strict=True)])),
    ]
    batch = np.asarray(hns[:1000], dtype=np.int64)
    start = time.perf_counter()
    for _ in range(20):
        housenumber_raws(batch, index.hn_offsets, index.hn_blob)
    rows.append(("raw form of a house number, in a batch of 1,000 (housenumber_raws)",
                 (time.perf_counter() - start) / 20 / len(batch) * 1e6))
    print(f"{args.index}: {index.doc_count:,} documents, {index.housenumber_count:,} house numbers\n")
    print("| read | us |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")
    files = sorted(((p.stat().st_size, p.name) for p in Path(args.index).iterdir()), reverse=True)
    print(f"\n| file | MiB |\n|---|---|\n| all | {sum(s for s, _ in files) / MIB:,.1f} |")
    for size, name in files:
        print(f"| {name} | {size / MIB:,.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
