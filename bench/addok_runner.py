"""Run a JSONL file of queries through Addok in-process; run with the Addok venv's python.

    PYTHONHASHSEED=0 ADDOK_CONFIG_MODULE=bench/addok_config.py REDIS_PORT=... \\
        .bench/addok-venv/bin/python bench/addok_runner.py search|reverse IN.jsonl OUT.jsonl

Search lines: {"q", "limit", "autocomplete", "lat", "lon", "filters": {...}}; reverse lines:
{"lat", "lon", "limit", "filters"}. Missing keys take the HTTP API defaults (search limit 5,
autocomplete true; reverse limit 1). Each OUT line is {"result": FeatureCollection,
"elapsed": seconds}, timed around core search/reverse plus the geojson formatting, as the
HTTP view does them (without JSON encoding). A summary goes to OUT.summary.json and stdout.
bench/addok_env.py's run_addok() sets all of this up.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from addok.config import config
from addok_env import summarize  # noqa: E402 (stdlib only: runs in the Addok venv too)


def filters_of(query):
    """Filters as the HTTP view parses them: known names only, values split on spaces."""
    out = {}
    sep = config.FILTERS_MULTI_VALUE_SEPARATOR
    for name, value in (query.get("filters") or {}).items():
        if name not in config.FILTERS or value in (None, "", []):
            continue
        values = value if isinstance(value, list) else [value]
        split = []
        for v in values:
            split.extend(str(v).split(sep) if sep else [str(v)])
        split = [v.strip() for v in split if v.strip()]
        if split:
            out[name] = split
    return out


def feature_collection(results, query=None, filters=None, center=None, limit=None):
    fc = {
        "type": "FeatureCollection",
        "version": "draft",
        "features": [r.format() for r in results],
        "attribution": config.ATTRIBUTION,
        "licence": config.LICENCE,
    }
    if query:
        fc["query"] = query
    if filters:
        fc["filters"] = filters
    if center:
        fc["center"] = center
    if limit:
        fc["limit"] = limit
    return fc


def run_search(query):
    from addok.core import search
    from addok.helpers.text import EntityTooLarge

    q = query["q"]
    limit = query.get("limit") or 5
    autocomplete = query.get("autocomplete")
    autocomplete = True if autocomplete is None else bool(autocomplete)
    lat, lon = query.get("lat"), query.get("lon")
    center = (lon, lat) if lon and lat else None
    filters = filters_of(query)
    try:
        results = search(q, limit=limit, autocomplete=autocomplete, lat=lat, lon=lon, **filters)
    except EntityTooLarge as e:
        return {"type": "FeatureCollection", "features": [], "error": str(e), "query": q}
    return feature_collection(results, q, filters, center, limit)


def run_reverse(query):
    from addok.core import reverse

    limit = query.get("limit") or 1
    filters = filters_of(query)
    results = reverse(lat=query["lat"], lon=query["lon"], limit=limit, **filters)
    return feature_collection(results, filters=filters, limit=limit)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["search", "reverse"])
    parser.add_argument("queries")
    parser.add_argument("out")
    parser.add_argument("--warmup", type=int, default=200, help="untimed queries run first")
    args = parser.parse_args()
    config.load()
    run = run_search if args.mode == "search" else run_reverse
    with open(args.queries) as f:
        queries = [json.loads(line) for line in f if line.strip()]
    for query in queries[: args.warmup]:
        run(query)
    timings = []
    with open(args.out, "w") as out:
        for query in queries:
            start = time.perf_counter()
            result = run(query)
            elapsed = time.perf_counter() - start
            timings.append(elapsed)
            out.write(json.dumps({"result": result, "elapsed": elapsed}, ensure_ascii=False))
            out.write("\n")
    summary = summarize(timings)
    summary["warmup"] = min(args.warmup, len(queries))
    with open(args.out + ".summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
