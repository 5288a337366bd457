"""Accuracy of balise (and Addok) on the labelled sets, and top-1 agreement between them.

    python bench/accuracy.py --index DIR [--addok] [--out REPORT.md] [--disagreements FILE]
    python bench/accuracy.py --addok             # Addok alone (no balise index)

Per set: number of cases, share judged right for balise and Addok (bench/evalsets.py), and
the share of cases where both return the same first feature ``id`` (both empty = same).
With both engines, every case where the first ids differ goes to the disagreements file
(JSONL; default: beside --out, else .bench/disagreements.jsonl).
Addok results are cached in .bench/addok-eval-cache.json (keyed by the imported data and the
runner), so only new queries go to Addok; --no-cache runs them all again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addok_env  # noqa: E402
from evalsets import Case, judge, load_cases  # noqa: E402

CACHE = addok_env.WORK / "addok-eval-cache.json"


def query_of(case: Case) -> dict:
    return {
        "q": case.query,
        "limit": case.limit,
        "autocomplete": case.autocomplete,
        "lat": case.lat,
        "lon": case.lon,
    }


def key_of(query: dict) -> str:
    return json.dumps(query, sort_keys=True, ensure_ascii=False)


def run_balise(index: str, queries: list[dict]) -> tuple[list[dict], list[float], int]:
    from balise import Geocoder

    geocoder = Geocoder.open(index)

    def search(q: dict) -> dict:
        return geocoder.search(
            q["q"], limit=q["limit"], autocomplete=q["autocomplete"],
            lat=q["lat"], lon=q["lon"], filters=None,
        )  # fmt: skip

    for q in queries[:200]:  # warm-up, untimed
        with suppress(Exception):
            search(q)
    results, timings, errors = [], [], 0
    for q in queries:
        start = time.perf_counter()
        try:
            fc = search(q)
        except Exception as e:  # a failing query is counted and judged empty, not fatal
            fc, errors = {"type": "FeatureCollection", "features": [], "error": repr(e)}, errors + 1
        timings.append(time.perf_counter() - start)
        results.append(fc)
    return results, timings, errors


def run_addok_cached(queries: list[dict], use_cache: bool) -> tuple[list[dict], list[float], int]:
    """Addok's answers and timings (cached ones included), and how many queries ran now."""
    manifest = addok_env.import_ndjson()
    fingerprint = {
        "data": manifest["fingerprint"],
        "runner": hashlib.sha256(addok_env.RUNNER.read_bytes()).hexdigest(),
    }
    cache = {}
    if use_cache and CACHE.exists():
        stored = json.loads(CACHE.read_text())
        if stored.get("fingerprint") == fingerprint:
            cache = stored["results"]
    missing = [q for q in queries if key_of(q) not in cache]
    if missing:
        results, timings = addok_env.run_addok(missing)
        for q, fc, elapsed in zip(missing, results, timings, strict=True):
            cache[key_of(q)] = {"result": fc, "elapsed": elapsed}
        CACHE.write_text(json.dumps({"fingerprint": fingerprint, "results": cache}))
    rows = [cache[key_of(q)] for q in queries]
    return [r["result"] for r in rows], [r["elapsed"] for r in rows], len(missing)


def top(fc: dict | None) -> dict:
    features = (fc or {}).get("features") or []
    return features[0]["properties"] if features else {}


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}" if d else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="balise index directory (omit to run Addok alone)")
    parser.add_argument("--addok", action="store_true", help="also run Addok (reference)")
    parser.add_argument("--out", help="write a Markdown report here")
    parser.add_argument("--disagreements", help="JSONL of top-1 disagreements")
    parser.add_argument("--data", help="shared data folder (default: see addok_env)")
    parser.add_argument("--set", action="append", default=[], help="only sets with this prefix")
    parser.add_argument("--no-cache", action="store_true", help="rerun every Addok query")
    args = parser.parse_args(argv)
    if not args.index and not args.addok:
        parser.error("give --index and/or --addok")

    stats: Counter = Counter()
    cases = load_cases(args.data, stats)
    if args.set:
        cases = [c for c in cases if any(c.set_name.startswith(p) for p in args.set)]
    queries, position = [], {}
    for case in cases:
        key = key_of(query_of(case))
        if key not in position:
            position[key] = len(queries)
            queries.append(query_of(case))
    where = [position[key_of(query_of(c))] for c in cases]
    print(f"{len(cases)} cases, {len(queries)} distinct queries", file=sys.stderr)

    family = {}  # distinct query -> "gt" / "op", from the first case asking it
    for case, i in zip(cases, where, strict=True):
        family.setdefault(i, case.set_name.split(":")[0])
    engines: dict[str, list[dict]] = {}
    timing: dict[str, dict] = {}

    def add_timings(label: str, timings: list[float], **extra) -> None:
        timing[label] = {**addok_env.summarize(timings), **extra}
        for fam in sorted(set(family.values())):
            subset = [t for i, t in enumerate(timings) if family[i] == fam]
            timing[f"{label}, {fam} queries"] = addok_env.summarize(subset)

    if args.index:
        results, timings, errors = run_balise(args.index, queries)
        engines["balise"] = results
        add_timings("balise", timings, errors=errors)
    if args.addok:
        results, timings, ran = run_addok_cached(queries, use_cache=not args.no_cache)
        engines["addok"] = results
        cached = f" ({len(queries) - ran} timings from cache)" if ran < len(queries) else ""
        add_timings("addok" + cached, timings)

    names = list(engines)
    both = len(names) == 2
    per_set: dict[str, Counter] = defaultdict(Counter)
    disagreements = []
    for case, i in zip(cases, where, strict=True):
        counts = per_set[case.set_name]
        counts["n"] += 1
        ok = {name: judge(case, engines[name][i]) for name in names}
        for name in names:
            counts[name] += ok[name]
        if both:
            b, a = top(engines["balise"][i]), top(engines["addok"][i])
            if b.get("id") == a.get("id"):
                counts["agree"] += 1
            else:
                disagreements.append({
                    "set": case.set_name, "ref": case.ref, "query": case.query,
                    "expected": case.expected, "expected_lonlat": case.expected_lonlat,
                    "balise": {k: b.get(k) for k in ("label", "id", "score")},
                    "addok": {k: a.get(k) for k in ("label", "id", "score")},
                    "balise_right": ok["balise"], "addok_right": ok["addok"],
                })  # fmt: skip

    header = ["set", "n", *names] + (["agree"] if both else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(label: str, counts: Counter) -> None:
        cells = [label, str(counts["n"])] + [pct(counts[name], counts["n"]) for name in names]
        if both:
            cells.append(pct(counts["agree"], counts["n"]))
        lines.append("| " + " | ".join(cells) + " |")

    for set_name in sorted(per_set):
        row(set_name, per_set[set_name])
    gt_total = sum((c for s, c in per_set.items() if s.startswith("gt:")), Counter())
    if gt_total:
        row("**gt: all**", gt_total)

    report = [
        "# Accuracy report",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; index: `{args.index or '-'}`; "
        f"{len(cases)} cases, {len(queries)} distinct queries. Values are % of cases.",
        "",
        *lines,
        "",
        "## Speed (sequential, in-process, one query at a time)",
        "",
        "| engine | queries | q/s | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {t['n']} | {t.get('qps')} | {t.get('p50_ms')} | {t.get('p99_ms')} "
            f"| {t.get('mean_ms')} |"
            for n, t in timing.items()
        ),
        "",
        "## geocoder-tester rows kept / excluded",
        "",
        *(f"- {k}: {v}" for k, v in sorted(stats.items())),
    ]
    if args.addok:
        m = addok_env.import_ndjson()
        report += [
            "",
            "## Addok import",
            "",
            f"- batch + ngrams: {m['import_seconds']['batch_plus_ngrams']} s "
            f"(batch {m['import_seconds']['batch']} s, ngrams {m['import_seconds']['ngrams']} s)",
            f"- Redis used_memory: {m['redis_used_memory']} B ({m['redis_used_memory_human']}),"
            f" RDB {m['rdb_bytes']} B; SQLite documents: {m['sqlite_bytes']} B",
        ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if both:
        path = Path(
            args.disagreements
            or (Path(args.out).with_suffix(".disagreements.jsonl") if args.out else None)
            or addok_env.WORK / "disagreements.jsonl"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for d in disagreements:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        print(f"{len(disagreements)} disagreements written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
