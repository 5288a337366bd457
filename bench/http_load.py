"""HTTP load test: wrk against balise and Addok, same queries, same machine, one run.

    python bench/http_load.py --index DIR [--duration 20] [--warmup 10] [--connections 8]
                              [--env K=V ...] [--no-addok]

Both servers run 2 workers on loopback (balise: `balise serve`, granian, settings from
--env such as THREADS=1; Addok 1.3.2: `addok.http.wsgi:application` under gunicorn, 2 sync
workers, its Redis loaded from the bench import). wrk (Debian package
`wrk`) cycles through the same list of request paths for each: /search/ with the distinct
eval queries (autocomplete off, limit 5: no cache on either side), /reverse/ with the
official points' coordinates, and /reverse/ at 5,000 addresses of the data moved up to
~50 m ("near addresses"). Each load first runs --warmup seconds unmeasured, on both
servers alike: the steady state of long-running workers, not the first seconds after a
fork (measured: a fresh worker's first pass over the queries is 20-50% slower, while it
maps the index pages and fills its per-process caches). Prints req/s, p50/p90/p99, errors
(connect/read/timeout/non-2xx), the CPU seconds each server worker used in the measured load
and the share of the machine's CPU time the hypervisor stole meanwhile (/proc/stat): a run
slower than the others says whether a worker stood idle or the machine was taken; then
balise's ratio to Addok.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addok_env  # noqa: E402
from reverse_points import near_address_points, official_points  # noqa: E402
from throughput import query_list  # noqa: E402

LUA = r"""
local paths = {}
for line in io.lines(os.getenv("BALISE_WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
function init(args) i = math.random(#paths) end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def server(cmd: list[str], env: dict, url: str):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def addok_server():
    """Addok 1.3.2 under gunicorn, 2 sync workers, its Redis loaded from the bench import."""
    addok_env.import_ndjson()
    with addok_env.start_redis(rdb=addok_env.RDB) as redis:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn = addok_env.VENV / "bin" / "gunicorn"
        cmd = [str(gunicorn), "--workers", "2", "--worker-class", "sync", "--bind",
               f"127.0.0.1:{port}", "addok.http.wsgi:application"]
        with server(cmd, addok_env.addok_env(redis.port), base + "/search/?q=paris") as proc:
            yield base, proc.pid


def search_paths() -> list[str]:
    return [
        "/search/?" + urllib.parse.urlencode({"q": q["q"], "limit": 5, "autocomplete": 0})
        for q in query_list()
    ]


def reverse_paths() -> list[str]:
    return [reverse_path(lat, lon) for lat, lon in official_points()]


def reverse_near_paths() -> list[str]:
    return [reverse_path(lat, lon) for lat, lon in near_address_points()]


def reverse_path(lat: str, lon: str) -> str:
    return "/reverse/?" + urllib.parse.urlencode({"lat": lat, "lon": lon})


def wrk(base: str, paths: list[str], duration: int, connections: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(LUA)
        listing.write_text("\n".join(paths) + "\n")
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base],
            env={**os.environ, "BALISE_WRK_PATHS": str(listing)},
            capture_output=True, text=True, check=True,
        ).stdout
    row = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    row["rps"] = row["requests"] / (row["duration_us"] / 1e6)
    return row


def machine_ticks() -> tuple[int, int]:
    """The machine's CPU time so far and the share the hypervisor stole (jiffies, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[7]


def workers_cpu(server_pid: int) -> dict[int, float]:
    """CPU seconds used so far by each child of the server (its workers), all threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for task in os.listdir("/proc"):
        try:
            with open(f"/proc/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server_pid:
            used[int(task)] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def measure(base: str, paths: list[str], args, server_pid: int) -> dict:
    """One load: an unmeasured warm-up run, then the measured one, with the CPU time each
    server worker used in it and the share of the machine's the hypervisor stole (a run
    slower than the others tells which: one worker idle, or the machine)."""
    if args.warmup > 0:
        wrk(base, paths, args.warmup, args.connections)
    ticks, cpus = machine_ticks(), workers_cpu(server_pid)
    row = wrk(base, paths, args.duration, args.connections)
    after_ticks, after_cpus = machine_ticks(), workers_cpu(server_pid)
    row["steal_pct"] = 100 * (after_ticks[1] - ticks[1]) / max(1, after_ticks[0] - ticks[0])
    row["workers_cpu"] = [after_cpus[pid] - cpus[pid] for pid in sorted(cpus) if pid in after_cpus]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured seconds before each load")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--env", action="append", default=[], help="K=V for balise's server (repeat)")
    parser.add_argument("--no-addok", action="store_true")
    args = parser.parse_args(argv)

    loads = {"/search": search_paths(), "/reverse": reverse_paths(),
             "/reverse near addresses": reverse_near_paths()}
    results: dict[tuple[str, str], dict] = {}

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Uncached and unlimited: no cache tier, no rate limit, nothing but the search itself.
    env = {**os.environ, "WORKERS": "2", "BALISE_RATE_LIMITS": "", "BALISE_CACHE_ENTRIES": "0",
           "BALISE_REDIS_URL": "", "BALISE_CACHE_SQLITE": "", **dict(kv.split("=", 1) for kv in args.env)}
    cmd = [sys.executable, "-m", "balise.cli", "serve", "--index", args.index, "--port", str(port),
           "--workers", "2"]  # this interpreter's balise, whatever the PATH
    with server(cmd, env, base + "/health") as proc:
        for name, paths in loads.items():
            results[("balise", name)] = measure(base, paths, args, proc.pid)

    if not args.no_addok:
        with addok_server() as (base, pid):
            for name, paths in loads.items():
                results[("addok", name)] = measure(base, paths, args, pid)

    print(f"wrk -t2 -c{args.connections} -d{args.duration}s after {args.warmup}s of warm-up, 2 workers each "
          f"(balise: balise serve {' '.join(args.env)}; Addok: gunicorn sync)\n")
    print("| engine | endpoint | req/s | p50 ms | p90 ms | p99 ms | errors | non-2xx | workers' CPU s "
          "| stolen |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (engine, name), r in results.items():
        split = " / ".join(f"{c:.1f}" for c in r["workers_cpu"])
        print(f"| {engine} | {name} | {r['rps']:.0f} | {r['p50_us'] / 1000:.2f} | "
              f"{r['p90_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['errors']} | {r['non2xx']} | "
              f"{split} | {r['steal_pct']:.1f} % |")
    for name in loads:
        if ("addok", name) in results:
            ratio = results[("balise", name)]["rps"] / results[("addok", name)]["rps"]
            print(f"\n{name}: balise / addok = {ratio:.1f}x req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
