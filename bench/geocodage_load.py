"""The Géoplateforme API over HTTP: wrk against one ``balise serve`` of the address index and
a POI index, the Addok API beside it on the same queries, one run.

    python bench/geocodage_load.py --index DIR --poi-index DIR [--duration 20] [--warmup 10]
                                   [--connections 8] [--rounds 6] [--env K=V ...]

Loads, each first run ``--warmup`` seconds unmeasured (as http_load.py):

- ``/search/`` (Addok's) and ``/geocodage/search`` (``index=address``) on the distinct eval
  queries, both with limit 10 (the Géoplateforme's default, and what it asks each index for)
  and autocomplete off: the same engine work, so the ratio is what the API adds. They run in
  turn, ``--rounds`` times each (A B, B A, A B...), so that the machine's drift falls on both;
  the ratio of the totals and the median of the rounds' ratios are printed.
- ``/geocodage/search`` ``index=poi``, then ``index=address,poi`` (merged by score), on POI
  queries made from the POI index's own documents: a town hall, a post office or a commune
  by its name and town ("mairie aiglun", "bureau de poste aubenas", "montpellier").
- ``/geocodage/completion`` (both kinds) on the prefixes of the POI queries, and
  ``/geocodage/reverse`` (both indexes, the service's 100/200 m) at the official points.

Prints req/s, the server's CPU milliseconds per request (its master and workers, from /proc:
what the machine's other loads do not change), p50/p90/p99, errors, and the Géoplateforme
API's ratios to the Addok API.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addok_env  # noqa: E402
from http_load import free_port, server, wrk  # noqa: E402
from throughput import query_list  # noqa: E402

POI_QUERIES = 3000


def search_paths(path: str, extra: dict[str, str]) -> list[str]:
    return [f"{path}?" + urllib.parse.urlencode({"q": q["q"], "limit": 10, "autocomplete": 0, **extra})
            for q in query_list() if len(q["q"].strip()) >= 3]


def poi_queries(poi_index: str, count: int = POI_QUERIES, seed: int = 1) -> list[str]:
    """Queries a person types for a place of the POI index: its name and its town."""
    from balise import Geocoder

    geocoder = Geocoder.open(poi_index, preload=False)
    rng = random.Random(seed)
    numbers = rng.sample(range(geocoder.index.doc_count), min(count, geocoder.index.doc_count))
    queries = []
    for number in numbers:
        doc = geocoder.index.document(number)
        name = doc["name"][0] if isinstance(doc["name"], list) else doc["name"]
        city = (doc.get("city") or [""])[0]
        queries.append(f"{name} {city}".strip().lower())
    return [q for q in queries if len(q) >= 3]  # the service refuses shorter ones ("Y", "Py")


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants: the server's master and
    workers. Unlike req/s, it counts only the time the server ran, whatever else the machine
    runs meanwhile (the shared machine: other loads make req/s swing by 3x from run to run)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


def measured(proc, base: str, paths: list[str], args) -> dict:
    """One wrk run, with the server's CPU milliseconds per request."""
    before = cpu_seconds(proc.pid)
    row = wrk(base, paths, args.duration, args.connections)
    row["cpu_ms"] = (cpu_seconds(proc.pid) - before) * 1000 / max(row["requests"], 1)
    return row


def reverse_points() -> list[tuple[str, str]]:
    path = addok_env.shared_data() / "eval" / "official-points-dev.csv"
    with open(path, newline="") as f:
        return [(r["expected_lon"], r["expected_lat"]) for r in csv.DictReader(f)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--poi-index", required=True)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured seconds before each load")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="turns of the Addok / Géoplateforme pair")
    parser.add_argument("--env", action="append", default=[], help="K=V for balise's server (repeat)")
    args = parser.parse_args(argv)

    pois = poi_queries(args.poi_index)
    pairs = {"/search/ (Addok API)": search_paths("/search/", {}),
             "/geocodage/search index=address": search_paths("/geocodage/search", {"index": "address"})}
    loads = {
        "/geocodage/search index=poi": [
            "/geocodage/search?" + urllib.parse.urlencode({"q": q, "index": "poi", "autocomplete": 0})
            for q in pois],
        "/geocodage/search index=address,poi": [
            "/geocodage/search?" + urllib.parse.urlencode({"q": q, "index": "address,poi", "autocomplete": 0})
            for q in pois],
        "/geocodage/completion": [  # what is typed before the last three letters, at least 3 letters
            "/geocodage/completion?" + urllib.parse.urlencode({"text": text}) for q in pois
            if len(text := q[: max(3, len(q) - 3)].strip()) >= 3],
        "/geocodage/reverse index=address,poi": [
            "/geocodage/reverse?" + urllib.parse.urlencode({"lon": lon, "lat": lat, "index": "address,poi"})
            for lon, lat in reverse_points()],
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WORKERS": "2", "BALISE_RATE_LIMITS": "", "BALISE_CACHE_ENTRIES": "0",
           "BALISE_REDIS_URL": "", "BALISE_CACHE_SQLITE": "", **dict(kv.split("=", 1) for kv in args.env)}
    cmd = [sys.executable, "-m", "balise.cli", "serve", "--index", args.index, "--poi-index", args.poi_index,
           "--port", str(port), "--workers", "2"]
    rows: list[tuple[str, dict]] = []
    with server(cmd, env, base + "/health") as proc:
        for paths in {**pairs, **loads}.values():  # every load warmed once, before any is measured
            wrk(base, paths, args.warmup, args.connections)
        totals = {name: [0, 0.0, 0.0] for name in pairs}  # requests, seconds, CPU seconds
        ratios, cpu_ratios = [], []
        for turn in range(args.rounds):
            round_rows = {}
            order = list(pairs.items()) if turn % 2 == 0 else list(pairs.items())[::-1]  # A B, B A...
            for name, paths in order:
                row = round_rows[name] = measured(proc, base, paths, args)
                rows.append((f"{name} (round {turn + 1})", row))
                totals[name][0] += row["requests"]
                totals[name][1] += row["duration_us"] / 1e6
                totals[name][2] += row["cpu_ms"] * row["requests"] / 1000
            addok_row, gpf_row = (round_rows[name] for name in pairs)
            ratios.append(gpf_row["rps"] / addok_row["rps"])
            cpu_ratios.append(gpf_row["cpu_ms"] / addok_row["cpu_ms"])
        for name, paths in loads.items():
            rows.append((name, measured(proc, base, paths, args)))

    print(f"wrk -t2 -c{args.connections} -d{args.duration}s after {args.warmup}s of warm-up per load, "
          f"balise serve, 2 workers, no cache ({' '.join(args.env)})\n")
    print("| load | req/s | server CPU ms/request | p50 ms | p90 ms | p99 ms | errors | non-2xx |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:.0f} | {r['cpu_ms']:.3f} | {r['p50_us'] / 1000:.2f} | "
              f"{r['p90_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['errors']} | {r['non2xx']} |")
    (addok_requests, addok_seconds, addok_cpu), (gpf_requests, gpf_seconds, gpf_cpu) = totals.values()
    addok, gpf = addok_requests / addok_seconds, gpf_requests / gpf_seconds
    print(f"\n/geocodage/search against /search/, {args.rounds} rounds each:")
    print(f"- req/s: {gpf:.0f} against {addok:.0f}, {gpf / addok:.3f}; per round "
          f"{', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})")
    cpu_ratio = (gpf_cpu / gpf_requests) / (addok_cpu / addok_requests)
    print(f"- server CPU per request: {gpf_cpu / gpf_requests * 1000:.3f} ms against "
          f"{addok_cpu / addok_requests * 1000:.3f} ms, {cpu_ratio:.3f}; per round "
          f"{', '.join(f'{r:.3f}' for r in cpu_ratios)} (median {statistics.median(cpu_ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
