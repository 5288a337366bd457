"""Memory of each server worker under a mixed load: what a worker keeps for itself.

    python bench/worker_memory.py --index DIR [--duration 60] [--connections 4] [--env K=V ...]

Starts ``balise serve`` (2 workers, no rate limit) on DIR and sends it, with wrk, a mix of
real requests for ``--duration`` seconds: 70 % /search/ (the queries of
``official-points-dev.csv``, half of them drawn by a Zipf law so that the cache has hits,
autocomplete on or off, limit 1 or 5), 25 % /reverse/ near those points, 5 % /health/live.
Every ``--every`` seconds it reads ``/proc/PID/smaps_rollup`` of the master and of each
worker and prints Rss, Pss, Private_Dirty (what the worker wrote: its own heap, caches
included) and Private_Clean, in MB. ``--env BALISE_CACHE_ENTRIES=0`` and the like rerun it
without a part, to see what that part costs.

NOTE: Private_Dirty is the figure that grows with each worker; Pss shares the index pages
and the master's pages among the processes that map them; Rss counts them in full in each.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import free_port, wait_for, wrk  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
POINTS = Path(os.environ.get("BALISE_SHARED_DATA", REPO.parent / "shared" / "data")) / "eval" / \
    "official-points-dev.csv"
FIELDS = ("Rss", "Pss", "Private_Dirty", "Private_Clean")


def mixed_paths(count: int = 60_000, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    with open(POINTS, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    queries = list(dict.fromkeys(r["query"] for r in rows if r["query"].strip()))
    points = [(float(r["expected_lat"]), float(r["expected_lon"])) for r in rows]
    paths = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.70:
            q = queries[min(int(rng.paretovariate(1.0)) - 1, len(queries) - 1)] if rng.random() < 0.5 \
                else rng.choice(queries)
            params = {"q": q, "autocomplete": rng.choice("01"), "limit": rng.choice("15")}
            paths.append("/search/?" + urllib.parse.urlencode(params))
        elif kind < 0.95:
            lat, lon = rng.choice(points)
            params = {"lat": f"{lat + rng.uniform(-4e-3, 4e-3):.6f}",
                      "lon": f"{lon + rng.uniform(-6e-3, 6e-3):.6f}"}
            paths.append("/reverse/?" + urllib.parse.urlencode(params))
        else:
            paths.append("/health/live")
    return paths


def rollup(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in FIELDS:
                out[name] = int(value.split()[0]) / 1024
    return out


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return sorted(int(p) for p in f.read().split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--every", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="K=V for the server (repeat)")
    args = parser.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false",
           **dict(kv.split("=", 1) for kv in args.env)}
    cmd = [sys.executable, "-m", "balise.cli", "serve", "--index", args.index, "--port", str(port),
           "--workers", "2"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(base + "/health/ready")
        time.sleep(1)
        print(f"balise serve, 2 workers, {' '.join(args.env) or 'default settings'}; "
              f"wrk -c{args.connections}, mixed load (bench/worker_memory.py), MB")
        print("| seconds | process | " + " | ".join(FIELDS) + " |\n|---|---|" + "---|" * len(FIELDS))
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(wrk(base, mixed_paths(), args.duration,
                                                                 args.connections)))
        started = time.monotonic()
        load.start()
        for at in range(0, args.duration + 1, args.every):
            time.sleep(max(0.0, started + at - time.monotonic()))
            for name, pid in [("master", server.pid)] + [(f"worker {p}", p) for p in children(server.pid)]:
                values = rollup(pid)
                print(f"| {at} | {name} | " + " | ".join(f"{values[f]:.1f}" for f in FIELDS) + " |")
        load.join()
        print(f"\n{result['requests']:,} requests in {result['duration_us'] / 1e6:.0f} s "
              f"({result['rps']:,.0f} req/s), {result['errors']} errors, {result['non2xx']} non-2xx")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
