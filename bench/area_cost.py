"""What a ``bbox`` costs a forward search, in one process: the same queries with and without one.

    python bench/area_cost.py --index DIR [--queries 1500] [--csv QUERIES.csv]

The queries are the distinct queries of the labelled sets (bench/evalsets.py), in a fixed order,
or with ``--csv`` those of a query file (make_france.py's --queries, bench/answerable.py), the
France stand-in's (autocomplete off and on) for the France figures; reverse then runs at
their answers.
Each is searched without a box, then with boxes around its own first result (a street, ±0.005°;
a town, ±0.05°; a département, ±0.5°) and with a town-sized box elsewhere (around Malval, in
the Creuse: most queries have no answer there, the costly case: the bucket stays dry and every
collector runs). The kinds are timed in a rotating order, each query once per kind, after 200
untimed warm-up queries. Prints, per kind, q/s, p50, p99 and the ratio of total time to the
plain searches of the same queries. Then the same for reverse (``limit=1``) at the official
points (town halls, post offices): no box, street and town boxes around the point, the town
box elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from addok_env import shared_data  # noqa: E402
from evalsets import load_cases  # noqa: E402

WARMUP = 200
ELSEWHERE = (1.836343, 46.299272, 1.936343, 46.399272)
SIDES = {"street": 0.005, "town": 0.05, "departement": 0.5}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", type=int, default=1500, help="timed queries (after the warm-up)")
    parser.add_argument("--csv", help="a query file (kind, query, expected_id, expected_lon, expected_lat)")
    args = parser.parse_args(argv)

    from balise import Geocoder

    geocoder = Geocoder.open(args.index)
    seen, queries = set(), []
    if args.csv:
        with open(args.csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        queries = [(r["query"], i % 2 == 1) for i, r in enumerate(rows)]
        points = [(float(r["expected_lat"]), float(r["expected_lon"])) for r in rows]
    else:
        for case in load_cases():
            key = (case.query, case.autocomplete)
            if key not in seen:
                seen.add(key)
                queries.append((case.query, case.autocomplete))
        official = Path(shared_data()) / "eval" / "official-points-dev.csv"
        with official.open(encoding="utf-8", newline="") as f:
            points = [(float(r["expected_lat"]), float(r["expected_lon"])) for r in csv.DictReader(f)]
    warmup, timed = queries[:WARMUP], queries[WARMUP:WARMUP + args.queries]
    for q, autocomplete in warmup:
        geocoder.search(q, autocomplete=autocomplete)
        geocoder.search(q, autocomplete=autocomplete, bbox=ELSEWHERE)
    kinds = ["plain", *SIDES, "elsewhere"]
    timings: dict[str, list[float]] = {k: [] for k in kinds}
    same_top = 0
    answered = 0
    for i, (q, autocomplete) in enumerate(timed):
        plain = geocoder.search(q, autocomplete=autocomplete)["features"]
        if not plain:
            continue
        answered += 1
        lon, lat = plain[0]["geometry"]["coordinates"]
        boxes = {k: (lon - side, lat - side, lon + side, lat + side) for k, side in SIDES.items()}
        boxes["plain"], boxes["elsewhere"] = None, ELSEWHERE
        order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
        for kind in order:
            start = time.perf_counter()
            found = geocoder.search(q, autocomplete=autocomplete, bbox=boxes[kind])["features"]
            timings[kind].append(time.perf_counter() - start)
            if kind == "town" and found and found[0]["properties"]["id"] == plain[0]["properties"]["id"]:
                same_top += 1
    print(f"search: {answered} answered queries of {len(timed)}; town box: same first result for {same_top}")
    report(timings)

    points = points[: args.queries]
    kinds = ["plain", "street", "town", "elsewhere"]
    timings = {k: [] for k in kinds}
    geocoder.reverse(*points[0], bbox=ELSEWHERE)  # builds what reverse builds once
    for i, (lat, lon) in enumerate(points):
        boxes = {k: (lon - SIDES[k], lat - SIDES[k], lon + SIDES[k], lat + SIDES[k])
                 for k in ("street", "town")}
        boxes["plain"], boxes["elsewhere"] = None, ELSEWHERE
        for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
            start = time.perf_counter()
            geocoder.reverse(lat, lon, limit=1, bbox=boxes[kind])
            timings[kind].append(time.perf_counter() - start)
    print(f"reverse: {len(points)} points")
    report(timings)
    return 0


def report(timings: dict[str, list[float]]) -> None:
    base = sum(timings["plain"])
    print(f"{'kind':<12} {'q/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'time vs plain':>14}")
    for kind, seconds in timings.items():
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{kind:<12} {len(ordered) / sum(ordered):8.0f} {statistics.median(ordered) * 1000:8.3f} "
              f"{p99 * 1000:8.3f} {ordered[-1] * 1000:8.2f} {sum(ordered) / base:14.2f}")


if __name__ == "__main__":
    sys.exit(main())
