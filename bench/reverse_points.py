"""Where the benchmarks ask for reverse geocoding (lat and lon as strings, as written in the
data): the official points (town halls and post offices, often far from the dev data), and
addresses of the data moved a little (where a reverse geocoder is mostly asked: a GPS fix near
an address). http_load.py asks them over HTTP, throughput.py in one process."""

from __future__ import annotations

import csv
import gzip
import random

import addok_env


def official_points() -> list[tuple[str, str]]:
    """(lat, lon) of every official point of the dev evaluation set."""
    path = addok_env.shared_data() / "eval" / "official-points-dev.csv"
    with open(path, newline="") as f:
        return [(r["expected_lat"], r["expected_lon"]) for r in csv.DictReader(f)]


def near_address_points(count: int = 5000, seed: int = 1) -> list[tuple[str, str]]:
    """(lat, lon) of ``count`` addresses of the data, each moved up to ~50 m. The official
    points are often far from the dev data (median 3 km to the nearest address), where
    Addok answers nothing at once."""
    rng = random.Random(seed)
    data = addok_env.shared_data()
    points = []
    with gzip.open(data / "ban" / "adresses-75.csv.gz", "rt", encoding="utf-8", newline="") as f:
        points += [(float(r["lat"]), float(r["lon"])) for r in csv.DictReader(f, delimiter=";")]
    for path in sorted((data / "bano").glob("bano-*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            rows = (row for row in csv.reader(f) if len(row) > 7 and row[6] != "lat")  # header or not
            points += [(float(row[6]), float(row[7])) for row in rows]
    chosen = rng.sample(points, min(count, len(points)))
    return [(f"{lat + rng.uniform(-4e-4, 4e-4):.6f}", f"{lon + rng.uniform(-6e-4, 6e-4):.6f}")
            for lat, lon in chosen]
