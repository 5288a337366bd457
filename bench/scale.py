"""France-scale bench: the same measures at several sizes of the France stand-in, one table.

    python bench/scale.py [--scales 0.03,0.3,1] [--seed 5] [--queries 6000] [--memory 2GB]
                          [--departements 2A] [--serve-seconds 60] [--json OUT]

For each scale, ``../shared/tools/make_france.py`` generates the stand-in (kept in
``.bench/scale/`` between runs: minutes at scale 1) with its own queries (a seed of ours, not
the held-out one), then:

- ``balise import`` in a subprocess: seconds, and the peak resident memory of its whole
  process tree (sampled every 0.1 s: main process and import workers);
- index bytes per document and per house number;
- a fresh process that opens the index and answers one query: seconds (and with the
  interpreter's start);
- every query in one process, autocomplete off then on: q/s and p50/p90/p99/max latency by
  kind, and top-1 accuracy (the expected id first) by kind;
- ``balise serve`` (2 workers) under ``--serve-seconds`` of load (the queries, autocomplete
  on and off, and reverse lookups at their answers): the private memory of each worker
  (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup; Dirty alone is its heap, Clean
  the index pages no other process has read yet) and its Pss.

``--departements`` restricts the stand-in (a few seconds: what the test suite runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOOL = REPO.parent / "shared" / "tools" / "make_france.py"
MB = 1 << 20


# --- measuring a process tree ------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += status_kb(p, "VmRSS") * 1024
        stack += children.get(p, [])
    return total


def status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Run a command; its wall seconds, the peak RSS of its process tree, its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peak = 0
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.1)
    reader.join()
    if proc.returncode:
        raise RuntimeError(f"{command[:3]} failed ({proc.returncode}): {''.join(out)[-2000:]}")
    return time.perf_counter() - started, peak, "".join(out)


def smaps(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in bytes."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out


# --- the stand-in -------------------------------------------------------------------------------


def stand_in(work: Path, scale: str, seed: int, n_queries: int, departements: str) -> tuple[Path, Path]:
    name = f"france-{scale}-s{seed}" + (f"-d{departements.replace(',', '_')}" if departements else "")
    data, queries = work / f"{name}.ndjson.gz", work / f"{name}-queries.csv"
    if not (data.exists() and queries.exists()):
        work.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(TOOL), str(data) + ".tmp", "--scale", scale, "--seed", str(seed),
                   "--queries", str(queries), "--n-queries", str(n_queries)]
        if departements:
            command += ["--departements", departements]
        subprocess.run(command, check=True, capture_output=True)
        os.replace(str(data) + ".tmp", data)
    return data, queries


# --- in-process searches (run in a child: ``scale.py --search INDEX QUERIES``) -------------------


def search_all(index: str, queries: str) -> dict:
    """Every query, autocomplete off then on: latencies and top-1 by kind."""
    from balise import Geocoder

    with open(queries, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    geocoder = Geocoder.open(index)
    out = {}
    for autocomplete in (False, True):
        for row in rows[:200]:  # warm-up, untimed
            geocoder.search(row["query"], autocomplete=autocomplete)
        by_kind: dict[str, list] = {}
        right: dict[str, int] = {}
        slowest = (0.0, "")
        for row in rows:
            start = time.perf_counter()
            answer = geocoder.search(row["query"], autocomplete=autocomplete, limit=5)
            elapsed = time.perf_counter() - start
            kind = row["kind"]
            by_kind.setdefault(kind, []).append(elapsed)
            first = answer["features"][0]["properties"].get("id") if answer["features"] else None
            right[kind] = right.get(kind, 0) + (first == row["expected_id"])
            slowest = max(slowest, (elapsed, row["query"]))
        everything = [t for times in by_kind.values() for t in times]
        out["on" if autocomplete else "off"] = {
            "all": stats(everything, sum(right.values())),
            "kinds": {k: stats(times, right[k]) for k, times in by_kind.items()},
            "slowest": slowest[1],
        }
    return out


def stats(times: list[float], right: int) -> dict:
    ordered = sorted(times)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    return {"n": len(times), "qps": len(times) / sum(times), "p50": at(0.5), "p90": at(0.9),
            "p99": at(0.99), "max": ordered[-1] * 1000, "top1": 100 * right / len(times)}


FIRST_ANSWER = """
import time
start = time.perf_counter()
from balise import Geocoder
geocoder = Geocoder.open({index!r})
geocoder.search("12 rue de la paix paris")
print(time.perf_counter() - start)
"""


def first_answer(index: Path) -> tuple[float, float]:
    """Seconds to import balise, open the index and answer; and with the interpreter's start."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FIRST_ANSWER.format(index=str(index))], check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1]), time.perf_counter() - started


# --- a served worker's memory -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_memory(index: Path, queries: Path, seconds: float) -> dict:
    """Private memory of each of 2 workers after ``seconds`` of load."""
    port = free_port()
    env = {**os.environ, "BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false", "WORKERS": "2",
           "BIND": f"127.0.0.1:{port}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "balise.cli", "serve", "--index", str(index)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        with open(queries, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        paths = []
        rng = random.Random(1)
        for row in rows:
            ac = rng.choice(("0", "1"))
            paths.append("/search/?" + urllib.parse.urlencode({"q": row["query"], "autocomplete": ac}))
            paths.append(f"/reverse/?lat={row['expected_lat']}&lon={row['expected_lon']}")
        rng.shuffle(paths)
        done = load(base, paths, seconds, threads=4)
        workers = [int(p) for p in children(server.pid)]
        memory = [smaps(p) for p in workers]
        return {
            "requests": done,
            # Private_Dirty: the worker's own heap; Private_Clean: index pages only it has read.
            "private_mb": [round((m["Private_Clean"] + m["Private_Dirty"]) / MB, 1) for m in memory],
            "private_dirty_mb": [round(m["Private_Dirty"] / MB, 1) for m in memory],
            "pss_mb": [round(m["Pss"] / MB, 1) for m in memory],
        }
    finally:
        server.terminate()
        server.wait(30)


def children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


def wait_ready(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} not ready after {timeout} s")


def load(base: str, paths: list[str], seconds: float, threads: int) -> int:
    """Requests from ``threads`` clients for ``seconds``; how many were answered."""
    deadline = time.monotonic() + seconds
    counts = [0] * threads

    def client(n: int) -> None:
        i = n
        while time.monotonic() < deadline:
            with urllib.request.urlopen(base + paths[i % len(paths)], timeout=30) as answer:
                answer.read()
            counts[n] += 1
            i += threads

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts)


# --- one scale ------------------------------------------------------------------------------------


def measure(scale: str, args: argparse.Namespace) -> dict:
    work = Path(args.work)
    data, queries = stand_in(work, scale, args.seed, args.queries, args.departements)
    index = work / f"index-{scale}" / "index"
    seconds, peak, output = run_measured(
        [sys.executable, "-m", "balise.cli", "import", "--quiet", "--memory", args.memory,
         "--index", str(index), str(data)])
    manifest = json.loads((index / "manifest.json").read_text())
    counts = manifest["counts"]
    opened, with_start = first_answer(index)
    searched = json.loads(subprocess.run(
        [sys.executable, str(Path(__file__)), "--search", str(index), str(queries)],
        check=True, capture_output=True, text=True).stdout)
    row = {
        "scale": scale,
        "documents": counts["documents"],
        "housenumbers": counts["housenumbers"],
        "import_s": round(seconds, 1),
        "import_peak_mb": round(peak / MB),
        "index_mb": round(manifest["bytes"] / MB, 1),
        "bytes_per_doc": round(manifest["bytes"] / counts["documents"]),
        "bytes_per_hn": round(manifest["bytes"] / max(1, counts["housenumbers"]), 1),
        "first_answer_s": round(opened, 3),
        "first_answer_with_python_s": round(with_start, 3),
        "search": searched,
    }
    if args.serve_seconds > 0:
        row["served"] = served_memory(index, queries, args.serve_seconds)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| scale | documents | house numbers | import s | import peak MB | index MB | B/doc | B/hn "
        "| open + first answer s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scale']} | {r['documents']:,} | {r['housenumbers']:,} | {r['import_s']} | "
            f"{r['import_peak_mb']:,} | {r['index_mb']:,} | {r['bytes_per_doc']} | {r['bytes_per_hn']} | "
            f"{r['first_answer_s']} ({r['first_answer_with_python_s']} with python) |")
    lines += ["", "| scale | autocomplete | kind | q/s | p50 ms | p90 ms | p99 ms | max ms | top-1 % |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for ac in ("off", "on"):
            s = r["search"][ac]
            for kind, v in [("all", s["all"]), *sorted(s["kinds"].items())]:
                lines.append(
                    f"| {r['scale']} | {ac} | {kind} | {v['qps']:,.0f} | {v['p50']:.2f} | {v['p90']:.2f} | "
                    f"{v['p99']:.2f} | {v['max']:.1f} | {v['top1']:.1f} |")
    served = [r for r in rows if "served" in r]
    if served:
        lines += ["", "| scale | requests in the load | worker private MB (dirty) | worker Pss MB |",
                  "|---|---|---|---|"]
        for r in served:
            m = r["served"]
            pairs = zip(m["private_mb"], m["private_dirty_mb"], strict=True)
            private = " / ".join(f"{a} ({b})" for a, b in pairs)
            pss = " / ".join(map(str, m["pss_mb"]))
            lines.append(f"| {r['scale']} | {m['requests']:,} | {private} | {pss} |")
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        lines.append("")
        for ac in ("off", "on"):
            a, b = small["search"][ac]["all"], large["search"][ac]["all"]
            lines.append(f"autocomplete {ac}: p99 at scale {large['scale']} / scale {small['scale']} = "
                         f"{b['p99'] / a['p99']:.2f}x; slowest {b['max']:.1f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--search"]:
        print(json.dumps(search_all(argv[1], argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.03,0.3,1")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--queries", type=int, default=6000)
    parser.add_argument("--memory", default="2GB", help="the import's memory budget")
    parser.add_argument("--departements", default="", help="restrict the stand-in (tests: a few seconds)")
    parser.add_argument("--serve-seconds", type=float, default=60)
    parser.add_argument("--work", default=str(REPO / ".bench" / "scale"))
    parser.add_argument("--json", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not TOOL.exists():
        parser.error(f"{TOOL} not found (../shared must sit beside the repository)")
    rows = [measure(scale, args) for scale in args.scales.split(",")]
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
