"""Forward search speed, in one process, balise and Addok side by side in one run.

    python bench/throughput.py --index DIR [--no-addok] [--profile] [--limit N]

The query list is every distinct query of the labelled sets (bench/evalsets.py), in a fixed
order. Each engine first runs the same 200 warm-up queries (untimed; they are not in the timed
list), then every timed query once, one at a time. No result cache is involved on either side
(each engine keeps its own internal memoization, e.g. Addok's token cache and balise's document
cache). Prints q/s, p50, p99 and balise's ratio to Addok; --profile adds where balise's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addok_env  # noqa: E402
from evalsets import load_cases  # noqa: E402

WARMUP = 200


def query_list() -> list[dict]:
    seen, queries = set(), []
    for case in load_cases():
        q = {"q": case.query, "limit": case.limit, "autocomplete": case.autocomplete,
             "lat": case.lat, "lon": case.lon}
        key = tuple(q.values())
        if key not in seen:
            seen.add(key)
            queries.append(q)
    return queries


def summary(timings: list[float]) -> dict:
    ordered = sorted(timings)
    return {
        "queries": len(timings),
        "qps": len(timings) / sum(timings),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def run_balise(index: str, warmup: list[dict], queries: list[dict], profile: bool):
    from balise import Geocoder

    started = time.perf_counter()
    geocoder = Geocoder.open(index)
    geocoder.search("rue de la paix")  # includes lazy loading in the start-up figure
    startup = time.perf_counter() - started

    def search(q):
        return geocoder.search(q["q"], limit=q["limit"], autocomplete=q["autocomplete"],
                               lat=q["lat"], lon=q["lon"])

    for q in warmup:
        search(q)
    timings = []
    profiler = cProfile.Profile() if profile else None
    for q in queries:
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        search(q)
        timings.append(time.perf_counter() - start)
        if profiler:
            profiler.disable()
    return timings, startup, profiler


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--no-addok", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile balise (slower)")
    parser.add_argument("--limit", type=int, default=0, help="timed queries (0: all)")
    args = parser.parse_args(argv)

    queries = query_list()
    warmup, timed = queries[:WARMUP], queries[WARMUP:]
    if args.limit:
        timed = timed[: args.limit]
    print(f"{len(timed)} timed queries after {len(warmup)} warm-up queries")

    rows = {}
    timings, startup, profiler = run_balise(args.index, warmup, timed, args.profile)
    rows["balise"] = summary(timings)
    print(f"balise: opened and answered a first query in {startup * 1000:.0f} ms")
    if not args.no_addok:
        _, addok_timings = addok_env.run_addok(warmup + timed, warmup=len(warmup))
        rows["addok 1.3.2"] = summary(addok_timings[len(warmup):])

    print("\n| engine | queries | q/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['queries']} | {r['qps']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    if "addok 1.3.2" in rows:
        ratio = rows["balise"]["qps"] / rows["addok 1.3.2"]["qps"]
        print(f"\nbalise / addok: {ratio:.1f}x queries/s")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print("\nbalise profile (tottime):\n" + out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
