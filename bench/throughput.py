"""Search and reverse speed, in one process, balise and Addok side by side in one run, on
mixes of queries; and the France-scale figures of bench/scale.py.

    python bench/throughput.py --index DIR [--no-addok] [--profile] [--limit N]
                               [--mix answerable|eval|forward|reverse|reverse-near|all]
                               [--scale-json .bench/scale.json]

- answerable: real addresses of the dev data written the ways people write them
  (bench/answerable.py: full, no postcode, lower case without accents, a typo, street only,
  city first, messy, number last), each with an answer in the data; autocomplete off.
- eval: every distinct query of the labelled sets (bench/evalsets.py: official points and
  geocoder-tester rows, most of whose targets are absent from the dev data, where Addok's
  fallback chain is slowest), with their own options.
- reverse, reverse-near: ``/reverse``'s one nearest point (limit 1) at the official points,
  and at 5,000 addresses of the data moved up to ~50 m (bench/reverse_points.py, the points
  http_load.py asks over HTTP).

Each engine first runs 200 untimed warm-up queries of the mix, then every other query once,
one at a time; no result cache on either side. Prints q/s, p50, p99 and balise's ratio to
Addok for each mix; --profile adds where balise's time goes. With --scale-json (written by
``make scale``), the France-scale rows follow.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addok_env  # noqa: E402
from answerable import make as answerable_rows  # noqa: E402
from evalsets import load_cases  # noqa: E402
from reverse_points import near_address_points, official_points  # noqa: E402

WARMUP = 200
REPO = Path(__file__).resolve().parents[1]


def query_list() -> list[dict]:
    """The eval mix: every distinct query of the labelled sets, in a fixed order."""
    seen, queries = set(), []
    for case in load_cases():
        q = {"q": case.query, "limit": case.limit, "autocomplete": case.autocomplete,
             "lat": case.lat, "lon": case.lon}
        key = tuple(q.values())
        if key not in seen:
            seen.add(key)
            queries.append(q)
    return queries


def answerable_list(n: int = 6000) -> list[dict]:
    """The answerable mix (bench/answerable.py, its default seed), autocomplete off."""
    return [{"q": row[1], "limit": 5, "autocomplete": False, "lat": None, "lon": None}
            for row in answerable_rows(n, 3)]


def reverse_list(points: list[tuple[str, str]]) -> list[dict]:
    return [{"lat": float(lat), "lon": float(lon), "limit": 1} for lat, lon in points]


def summary(timings: list[float]) -> dict:
    ordered = sorted(timings)
    return {
        "queries": len(timings),
        "qps": len(timings) / sum(timings),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def run_balise(index: str, warmup: list[dict], queries: list[dict], profile: bool, reverse: bool = False):
    from balise import Geocoder

    started = time.perf_counter()
    geocoder = Geocoder.open(index, preload=False)
    geocoder.search("rue de la paix")  # includes lazy loading in the start-up figure
    startup = time.perf_counter() - started
    # NOTE: the pages read before the clock starts, as a server does before it forks: a
    # preload thread running beside the timed queries would take the GIL from them.
    geocoder.index.preload()

    def search(q):
        if reverse:
            return geocoder.reverse(q["lat"], q["lon"], limit=q["limit"])
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


def scale_rows(path: Path) -> list[str]:
    rows = json.loads(path.read_text())
    lines = ["\n| France stand-in (bench/scale.py) | autocomplete | q/s | p50 ms | p99 ms | max ms "
             "| top-1 % |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for ac in ("off", "on"):
            a = r["search"][ac]["all"]
            lines.append(f"| scale {r['scale']} ({r['documents']:,} documents) | {ac} | {a['qps']:,.0f} | "
                         f"{a['p50']:.2f} | {a['p99']:.2f} | {a['max']:.1f} | {a['top1']:.1f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--no-addok", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile balise (slower)")
    parser.add_argument("--limit", type=int, default=0, help="timed queries per mix (0: all)")
    parser.add_argument("--mix", choices=["answerable", "eval", "reverse", "reverse-near", "forward", "all"],
                        default="all", help="forward: answerable and eval")
    parser.add_argument("--scale-json", default=str(REPO / ".bench" / "scale.json"))
    args = parser.parse_args(argv)

    mixes = {"answerable": answerable_list, "eval": query_list,
             "reverse": lambda: reverse_list(official_points()),
             "reverse-near": lambda: reverse_list(near_address_points())}
    chosen = {"all": list(mixes), "forward": ["answerable", "eval"]}.get(args.mix, [args.mix])
    table = ["| mix | engine | queries | q/s | p50 ms | p99 ms | ratio |", "|---|---|---|---|---|---|---|"]
    profiles = []
    for name in chosen:
        queries = mixes[name]()
        warmup, timed = queries[:WARMUP], queries[WARMUP:]
        if args.limit:
            timed = timed[: args.limit]
        reverse = name.startswith("reverse")
        timings, startup, profiler = run_balise(args.index, warmup, timed, args.profile, reverse)
        rows = {"balise": summary(timings)}
        if profiler:
            profiles.append((name, profiler))
        if not args.no_addok:
            mode = "reverse" if reverse else "search"
            _, addok_timings = addok_env.run_addok(warmup + timed, mode=mode, warmup=len(warmup))
            rows["addok 1.3.2"] = summary(addok_timings[len(warmup):])
        ratio = ""
        if "addok 1.3.2" in rows:
            ratio = f"{rows['balise']['qps'] / rows['addok 1.3.2']['qps']:.1f}x"
        for engine, r in rows.items():
            table.append(f"| {name} | {engine} | {r['queries']} | {r['qps']:.1f} | {r['p50_ms']:.2f} | "
                         f"{r['p99_ms']:.2f} | {ratio if engine == 'balise' else ''} |")
        print(f"{name}: {len(timed)} timed queries after {len(warmup)} warm-up queries; "
              f"balise opened and answered a first query in {startup * 1000:.0f} ms", flush=True)
    print("\n" + "\n".join(table))
    scale = Path(args.scale_json)
    if scale.exists():
        print("\n".join(scale_rows(scale)))
    for name, profiler in profiles:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(f"\nbalise profile, {name} mix (tottime):\n" + out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
