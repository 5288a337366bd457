"""Recorded answers of the search engine, to check that a change keeps them.

    python -m tests.golden.record dev INDEX          # tests/golden/dev.jsonl.gz
    python -m tests.golden.record france INDEX       # tests/golden/france-sample.jsonl.gz

The dev file replays every distinct query of the labelled sets (bench/evalsets.py) with
its own options, the same queries with a centre and with filters, and reverse lookups at the
official points and near the data. The France file replays the queries that
``../shared/tools/make_france.py`` writes for a small stand-in (``france_sample`` below),
autocomplete off and on. Each line holds a call and its answer: ids and scores of the
features (reverse: ids and distances).
"""

from __future__ import annotations

import csv
import gzip
import random
import subprocess
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEV = HERE / "dev.jsonl.gz"
FRANCE = HERE / "france-sample.jsonl.gz"
# The France stand-in sample: three départements (a big city, an island, an overseas one).
FRANCE_SAMPLE = {"scale": "0.3", "departements": "33,2A,971", "seed": "11", "n_queries": "1200"}


def make_france_sample(tool: Path, out: Path) -> tuple[Path, Path]:
    """Generate the sample with make_france.py (deterministic for its seed), once."""
    data, queries = out / "france-sample.ndjson.gz", out / "france-sample-queries.csv"
    if not data.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(tool), str(data), "--scale", FRANCE_SAMPLE["scale"],
             "--departements", FRANCE_SAMPLE["departements"], "--seed", FRANCE_SAMPLE["seed"],
             "--queries", str(queries), "--n-queries", FRANCE_SAMPLE["n_queries"]],
            check=True, capture_output=True,
        )
    return data, queries


def answer(geocoder, call: dict) -> list:
    """The part of an answer that must not change: ids, scores (or distances), in order."""
    args = dict(call)
    if args.pop("op") == "reverse":
        fc = geocoder.reverse(**args)
        return [[f["properties"]["id"], f["properties"]["distance"], f["properties"]["score"]]
                for f in fc["features"]]
    fc = geocoder.search(**args)
    return [[f["properties"]["id"], f["properties"]["score"]] for f in fc["features"]]


def dev_calls() -> list[dict]:
    sys.path.insert(0, str(REPO / "bench"))
    from evalsets import load_cases

    rng = random.Random(5)
    calls, seen = [], set()
    for case in load_cases():
        call = {"op": "search", "q": case.query, "limit": case.limit, "autocomplete": case.autocomplete,
                "lat": case.lat, "lon": case.lon}
        key = orjson.dumps(call)
        if key in seen:
            continue
        seen.add(key)
        calls.append(call)
        if case.expected_lonlat and rng.random() < 0.1:
            lon, lat = case.expected_lonlat
            calls.append({**call, "autocomplete": not case.autocomplete, "limit": 5,
                          "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                          "lon": round(lon + rng.uniform(-0.05, 0.05), 5)})
            calls.append({"op": "reverse", "lat": lat, "lon": lon, "limit": 3})
        if rng.random() < 0.05:
            kind = rng.choice(["housenumber", "street", "municipality", "locality"])
            calls.append({**call, "filters": {"type": kind}, "limit": 5})
    with open(REPO.parent / "shared" / "data" / "eval" / "official-points-dev.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            call = {"op": "reverse", "lat": float(row["expected_lat"]), "lon": float(row["expected_lon"]),
                    "limit": 3}
            if rng.random() < 0.1:
                call["filters"] = {"type": rng.choice(["housenumber", "street", "municipality"])}
            calls.append(call)
    return calls


def france_calls(queries: Path) -> list[dict]:
    with open(queries, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{"op": "search", "q": r["query"], "limit": 5, "autocomplete": ac}
            for ac in (False, True) for r in rows]


def replay(geocoder, calls: list[dict]) -> list[dict]:
    return [{"call": call, "answer": answer(geocoder, call)} for call in calls]


def load(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [orjson.loads(line) for line in f]


def save(path: Path, records: list[dict]) -> None:
    data = b"".join(orjson.dumps(record) + b"\n" for record in records)
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def main(argv: list[str]) -> int:
    from balise import Geocoder

    which, index = argv[0], argv[1]
    geocoder = Geocoder.open(index)
    if which == "dev":
        save(DEV, replay(geocoder, dev_calls()))
    else:
        queries = Path(argv[2]) if len(argv) > 2 else None
        save(FRANCE, replay(geocoder, france_calls(queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
