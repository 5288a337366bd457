"""Speed and memory of CSV batch geocoding on a big file: memory must stay flat.

    python bench/csv_memory.py --index .bench/balise-index [--rows 1000000] [--workers 2]
                               [--speed-rows 20000] [--no-http]

Builds ``.bench/csv-memory/points-N.csv``: the rows of ``eval/official-points-dev.csv`` (real
town halls and post offices: query, postcode, citycode...) repeated and shuffled (seed 0),
numbered. Then:

1. speed: ``balise geocode`` on the first ``--speed-rows`` rows with 1 worker, then with
   ``--workers``: rows/s;
2. memory: ``balise geocode --workers W`` on the whole file, and, if the HTTP app has the
   route, ``POST /search/csv/`` of the whole file to a real server (one worker), the answer
   read as it streams. The RSS of every process of the run (parent and children) is sampled
   each second; printed: the peak, and the timeline as the output grows.

RSS counts the pages of the memory-mapped index a process has touched (shared, file-backed,
bounded by the index size); ``anon`` is the private memory (heap): the one that would grow
with the file if rows were kept. Each CLI run also gives rows per CPU-second (user + system
time of the command and its workers), which does not depend on what else the machine runs,
and the load average around it. The full report goes to ``.bench/csv-memory/report.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".bench" / "csv-memory"
SHARED = Path(os.environ.get("BALISE_SHARED_DATA", REPO.parent / "shared" / "data"))
EVAL = SHARED / "eval" / "official-points-dev.csv"
COLUMNS = ("id", "query", "postcode", "citycode")
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_file(rows: int) -> Path:
    """The eval rows, repeated and shuffled to ``rows`` rows (kept between runs)."""
    path = OUT / f"points-{rows}.csv"
    if path.exists():
        return path
    with EVAL.open(encoding="utf-8", newline="") as f:
        base = [[r[c] for c in COLUMNS] for r in csv.DictReader(f)]
    rng = random.Random(0)
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["n", *COLUMNS])
        written = 0
        while written < rows:
            rng.shuffle(base)
            for row in base[: rows - written]:
                writer.writerow([written, *row])
                written += 1
    partial.replace(path)
    return path


# -- process memory --------------------------------------------------------------------------


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def memory(pid: int) -> tuple[int, int]:
    """(RSS, anonymous RSS) of one process, in bytes; zeros once it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values.get("VmRSS", 0), values.get("RssAnon", 0)


class Sampler(threading.Thread):
    """Every second: seconds, output bytes so far, and per-process (RSS, anon) of a tree."""

    def __init__(self, root: int, progress) -> None:
        super().__init__(daemon=True)
        self.root, self.progress = root, progress
        self.samples: list[tuple[float, int, dict[int, tuple[int, int]]]] = []
        self.stop = threading.Event()
        self.started = time.perf_counter()

    def run(self) -> None:
        while not self.stop.is_set():
            sample = {pid: memory(pid) for pid in tree(self.root)}
            self.samples.append((time.perf_counter() - self.started, self.progress(), sample))
            self.stop.wait(1.0)

    def report(self, label: str, rows: int, seconds: float, out_bytes: int) -> list[str]:
        def totals(sample):
            return sum(r for r, _ in sample.values()), sum(a for _, a in sample.values())

        peak_total = max(totals(s)[0] for _, _, s in self.samples)
        peak_one = max(max((r for r, _ in s.values()), default=0) for _, _, s in self.samples)
        peak_anon = max(totals(s)[1] for _, _, s in self.samples)
        lines = [f"{label}: {rows:,} rows in {seconds:.0f} s = {rows / seconds:,.0f} rows/s; "
                 f"peak RSS {peak_total / 2**20:.0f} MB (all processes), "
                 f"{peak_one / 2**20:.0f} MB (largest one), anon {peak_anon / 2**20:.0f} MB",
                 "    at    output  processes  RSS MB  anon MB"]
        marks = [out_bytes * k / 10 for k in range(1, 11)]
        for at, done, sample in self.samples:
            if marks and done >= marks[0] or (at, done, sample) == self.samples[-1]:
                while marks and done >= marks[0]:
                    marks.pop(0)
                total, anon = totals(sample)
                lines.append(f"  {at:5.0f}s {100 * done / max(out_bytes, 1):5.0f}%  "
                             f"{len(sample):9d}  {total / 2**20:6.0f}  {anon / 2**20:7.0f}")
        return lines


# -- runs ------------------------------------------------------------------------------------


def balise_command() -> list[str]:
    script = Path(sys.executable).with_name("balise")
    return [str(script)] if script.exists() else [sys.executable, "-m", "balise.cli"]


def run_cli(index: str, source: Path, workers: int, sample: bool) -> tuple[float, list[str]]:
    target = OUT / f"{source.stem}.w{workers}.geocoded.csv"
    command = [*balise_command(), "geocode", "--index", index, "--columns", "query",
               "--workers", str(workers), "--quiet", str(source), str(target)]
    partial = target.with_name(target.name + ".part")
    load = os.getloadavg()[0]
    cpu_before = cpu_of_children()
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid, lambda: partial.stat().st_size if partial.exists() else 0)
    if sample:
        sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    cpu = cpu_of_children() - cpu_before
    sampler.stop.set()
    if process.returncode:
        raise SystemExit(f"balise geocode failed:\n{stderr}")
    summary = [line for line in stderr.splitlines() if line.startswith("geocoded")]
    rows = sum(1 for _ in source.open(encoding="utf-8")) - 1
    lines = [f"  balise: {summary[0] if summary else stderr.strip()}",
             f"  {rows / cpu:,.0f} rows per CPU-second ({cpu:.0f} CPU-s in {seconds:.0f} s); "
             f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"]
    if sample:
        sampler.join()
        lines = sampler.report(f"CLI, {workers} workers", rows, seconds, target.stat().st_size) + lines
    return rows / seconds, lines


def cpu_of_children() -> float:
    """CPU seconds of the finished children (and theirs, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_csv(port: int, source: Path, on_block) -> tuple[int, bytes]:
    """POST ``source`` as the ``data`` of a multipart form, streamed both ways; (status, body
    start). Each block of a 200 answer goes to ``on_block`` and is dropped."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"columns\"\r\n\r\nquery\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; "
            f"filename=\"{source.name}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with source.open("rb") as f:
            while block := f.read(1 << 16):
                yield block
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    # NOTE: a server refusing the upload may answer and close before reading it all.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request("POST", "/search/csv/", body=body(), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + source.stat().st_size + len(tail))})
    try:
        response = connection.getresponse()
    except (ConnectionError, http.client.HTTPException) as e:
        return 0, repr(e).encode()
    if response.status != 200:
        return response.status, response.read(1000)
    while block := response.read(1 << 16):
        on_block(block)
    return 200, b""


def run_http(index: str, source: Path, app: str | None = None) -> list[str]:
    """POST the whole file to /search/csv/ of a real server (``balise serve``'s), reading the
    answer as it comes; ``app`` ("module:factory") replaces balise's app, to try a prototype."""
    port = free_port()
    env = dict(os.environ, BALISE_INDEX=index, BIND=f"127.0.0.1:{port}", WORKERS="1",
               BALISE_CSV_MAX_BYTES="0", LOG_LEVEL="warning")
    command = [sys.executable, "-m", "balise.http.server", *([app] if app else [])]
    server = subprocess.Popen(command, env=env)
    try:
        for _ in range(120):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            return ["HTTP: the server did not start"]
        tiny = OUT / "tiny.csv"
        tiny.write_text("query\n12 rue de rivoli paris\n", encoding="utf-8")
        status, answer = post_csv(port, tiny, lambda block: None)
        if status != 200:
            return [f"HTTP: POST /search/csv/ answered {status}: {answer[:200]!r}; skipped"]

        received = rows = 0

        def count(block: bytes) -> None:
            nonlocal received, rows
            received += len(block)
            rows += block.count(b"\n")

        sampler = Sampler(server.pid, lambda: received)
        sampler.start()
        started = time.perf_counter()
        status, answer = post_csv(port, source, count)
        rows -= 1  # the header
        if status != 200:
            sampler.stop.set()
            return [f"HTTP: POST /search/csv/ answered {status}: {answer[:200]!r}"]
        seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        label = f"HTTP POST /search/csv/ ({app or 'balise'}), 1 server worker"
        return sampler.report(label, rows, seconds, received)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(REPO / ".bench" / "balise-index"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--speed-rows", type=int, default=20_000)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--http-app", help="WSGI app factory (module:function) instead of balise's")
    args = parser.parse_args()

    report: list[str] = [f"{time.strftime('%Y-%m-%d %H:%M')}; index {args.index}; "
                         f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start"]

    def say(lines: list[str]) -> None:
        report.extend(lines)
        print("\n".join(lines), flush=True)
        (OUT / "report.txt").write_text("\n".join(report) + "\n")

    big = make_file(args.rows)
    small = make_file(args.speed_rows)
    say([f"input: {big} ({big.stat().st_size / 1e6:.0f} MB), speed runs on {args.speed_rows:,} rows"])
    for workers in sorted({1, args.workers}):
        rate, lines = run_cli(args.index, small, workers, sample=False)
        say([f"speed, {workers} worker(s): {rate:,.0f} rows/s (start-up included)", *lines])
    say(run_cli(args.index, big, args.workers, sample=True)[1])
    if not args.no_http:
        say(run_http(args.index, big, args.http_app))


if __name__ == "__main__":
    main()
