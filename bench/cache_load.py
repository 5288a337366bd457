"""Cache load test: a realistic repeated-query mix against a running balise server.

    python bench/cache_load.py --url http://127.0.0.1:7878 [--duration 20] [--connections 8]
                               [--zipf 1.0] [--params 'limit=5'] [--seed 1] [--addok]

Real queries (the ``query`` column of ``shared/data/eval/official-points-dev.csv``, 4,331
distinct) are drawn by a Zipf law (rank r drawn with probability ~ 1/r^s): a few queries
come back often, most rarely, as in a geocoder's traffic. wrk (Debian package ``wrk``;
a slower Python client is used without it) sends them in three phases on the same server:

1. ``ceiling``: ``GET /health/live``, the cheapest answer: what the server and the machine
   can do at all, to read the others against;
2. ``cold``: the Zipf mix, from whatever the caches hold (empty after a fresh start);
3. ``warm``: the same mix again, the caches filled: cached req/s.

With ``--addok``, the same mix then goes to Addok 1.3.2 (bench/http_load.py's server: gunicorn,
2 sync workers, its own Redis), which has no answer cache: the ratio is balise's cached req/s
over Addok's, in one run.

For each phase: req/s, latency percentiles, non-2xx answers, and from ``/metrics`` (summed
over the workers) the hits and misses of each cache tier and the overall hit rate (hits of
every tier over L1 lookups, as the PrometheusRule computes it).

Start the server without rate limits, or the mix is mostly 429s::

    BALISE_RATE_LIMITS= BALISE_LOG_REQUESTS=false [BALISE_REDIS_URL=redis://...] \\
        balise serve --index var/index --workers 2

NOTE: loopback servers only: a load test never leaves this machine. The client shares the
CPUs with the server: compare phases of one run, not numbers across machines.
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import shutil
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import addok_server, wrk  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUERIES = Path(os.environ.get("BALISE_SHARED_DATA", REPO.parent / "shared" / "data")) / "eval" / \
    "official-points-dev.csv"



def zipf_paths(queries: list[str], count: int, s: float, seed: int, params: str) -> list[str]:
    """``count`` request paths whose queries follow a Zipf law of exponent ``s``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(queries))  # which query gets which rank
    weights = 1.0 / np.arange(1, len(queries) + 1) ** s
    ranks = rng.choice(len(queries), size=count, p=weights / weights.sum())
    extra = f"&{params}" if params else ""
    return [f"/search/?q={urllib.parse.quote_plus(queries[order[r]])}{extra}" for r in ranks]


def read_queries(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(dict.fromkeys(row["query"] for row in csv.DictReader(f) if row["query"].strip()))


def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise SystemExit(f"cannot resolve {host}: {error}") from None
    if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise SystemExit(f"{url}: loopback servers only (127.0.0.0/8, ::1)")


def scrape(base: str) -> dict[tuple[str, str], float]:
    """{(series name, sorted labels), value} from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, json.dumps(sorted(sample.labels.items())))] = sample.value
    return out


def cache_stats(before: dict, after: dict) -> dict:
    """Per-tier hits and misses between two scrapes, and the overall hit rate."""
    tiers: dict[str, dict[str, float]] = {}
    for (name, labels), value in after.items():
        if name != "balise_cache_lookups_total":
            continue
        lab = dict(json.loads(labels))
        delta = value - before.get((name, labels), 0.0)
        tiers.setdefault(lab["tier"], {"hit": 0.0, "miss": 0.0})[lab["result"]] += delta
    limited = sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == "balise_rate_limited_total")
    l1 = tiers.get("l1", {"hit": 0, "miss": 0})
    lookups = l1["hit"] + l1["miss"] or sum(t["hit"] + t["miss"] for t in tiers.values())
    hits = sum(t["hit"] for t in tiers.values())
    return {"tiers": tiers, "hit_rate": hits / lookups if lookups else None, "rate_limited": limited}


def run_wrk(base: str, paths: list[str], duration: int, connections: int) -> dict:
    r = wrk(base, paths, duration, connections)  # the same wrk script as bench/http_load.py
    return {"requests": r["requests"], "seconds": r["duration_us"] / 1e6, "errors": r["errors"],
            "non2xx": r["non2xx"], "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000}


def run_python(base: str, paths: list[str], duration: int, connections: int) -> dict:
    """Without wrk: ``connections`` threads with keep-alive connections (far slower a client)."""
    import http.client

    parts = urllib.parse.urlsplit(base)
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    counts = {"errors": 0, "non2xx": 0}
    lock = threading.Lock()

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        mine, i = [], offset
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                conn.request("GET", paths[i % len(paths)])
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except OSError:
                with lock:
                    counts["errors"] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - start)
            if status >= 300:
                with lock:
                    counts["non2xx"] += 1
            i += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n * len(paths) // connections,))
               for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"requests": len(latencies), "seconds": time.monotonic() - started, **counts,
            "p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7878", help="the running server (loopback only)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent s of the query mix")
    parser.add_argument("--draws", type=int, default=200_000, help="length of the request sequence")
    parser.add_argument("--params", default="", help="more parameters: 'limit=1&autocomplete=0'")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--addok", action="store_true",
                        help="then send the same mix to Addok 1.3.2 (no cache) and print the ratio")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    check_loopback(base)

    queries = read_queries(args.queries)
    paths = zipf_paths(queries, args.draws, args.zipf, args.seed, args.params)
    distinct = len(set(paths))
    run = run_wrk if shutil.which("wrk") else run_python
    client = "wrk -t2" if run is run_wrk else "python threads (no wrk: a slow client)"
    print(f"{base}: {len(queries):,} distinct queries, Zipf s={args.zipf}, {args.draws:,} draws "
          f"({distinct:,} distinct, ideal hit rate {1 - distinct / args.draws:.1%} over the whole sequence); "
          f"{client}, {args.connections} connections, {args.duration} s per phase\n")

    rows = []
    for phase, phase_paths in (("ceiling", ["/health/live"]), ("cold", paths), ("warm", paths)):
        before = scrape(base)
        result = run(base, phase_paths, args.duration, args.connections)
        stats = cache_stats(before, scrape(base))
        rows.append((phase, result, stats))
        if stats["rate_limited"]:
            print(f"WARNING: {stats['rate_limited']:.0f} requests got 429: "
                  "start the server with BALISE_RATE_LIMITS= (empty)")

    ceiling = rows[0][1]["requests"] / rows[0][1]["seconds"]
    print("| phase | req/s | vs ceiling | p50 ms | p90 ms | p99 ms | non-2xx | errors | hit rate | "
          "L1 hit/miss | L2 hit/miss | L3 hit/miss |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for phase, r, s in rows:
        rps = r["requests"] / r["seconds"]
        tiers = [s["tiers"].get(t) for t in ("l1", "l2", "l3")]
        cells = [f"{t['hit']:.0f}/{t['miss']:.0f}" if t else "-" for t in tiers]
        hit = f"{s['hit_rate']:.1%}" if s["hit_rate"] is not None else "-"
        print(f"| {phase} | {rps:,.0f} | {rps / ceiling:.2f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['non2xx']} | {r['errors']} | {hit} | {' | '.join(cells)} |")
    warm = rows[2][1]["requests"] / rows[2][1]["seconds"]
    print(f"\ncached req/s (warm): {warm:,.0f}; "
          f"command: {' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}")
    if args.addok:
        with addok_server() as (addok_base, _):
            r = run(addok_base, paths, args.duration, args.connections)
        rps = r["requests"] / r["seconds"]
        print(f"Addok 1.3.2, same mix (it has no cache), 2 sync workers: {rps:,.0f} req/s, "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['errors']} errors, "
              f"{r['non2xx']} non-2xx\nbalise cached (warm) / Addok: {warm / rps:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
