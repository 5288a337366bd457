"""``balise geocode`` run for real, in a subprocess, on CSV files of real queries."""

from __future__ import annotations

import csv
import subprocess
import sys
from itertools import cycle, islice
from pathlib import Path

import pytest

from tests.conftest import DATA

EVAL = DATA / "eval" / "official-points-dev.csv"
WELL_COVERED = ("75", "90")  # départements the dev data covers fully (Paris BAN, BANO 90)


def balise(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("balise")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "balise.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def points(tmp_path_factory) -> Path:
    """1,200 official points (town halls, post offices), numbered: the well covered ones,
    repeated to 600, alternating with 600 others (the dev data's BANO misses many of those)."""
    if not EVAL.exists():
        pytest.skip(f"data not found: {EVAL}")
    with EVAL.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    covered = [r for r in rows if r["postcode"].startswith(WELL_COVERED)]
    others = [r for r in rows if not r["postcode"].startswith(WELL_COVERED)]
    chosen = [row for pair in zip(islice(cycle(covered), 600), others[:600], strict=True) for row in pair]
    path = tmp_path_factory.mktemp("csv") / "points.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["n", *rows[0]], delimiter=";")
        writer.writeheader()
        writer.writerows({"n": str(n), **row} for n, row in enumerate(chosen))
    return path


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def test_geocode_on_two_workers(france_index, points, tmp_path):
    out = tmp_path / "points.geocoded.csv"
    done = balise("geocode", "--index", str(france_index), "--columns", "query", "--workers", "2",
                  "--postcode", "postcode", str(points), str(out))
    assert done.returncode == 0, done.stderr
    assert "geocoded 1,200 rows" in done.stderr and "on 2 worker(s)" in done.stderr
    assert "0 errors" in done.stderr and "rows/s" in done.stderr
    given, answered = read(points), read(out)
    assert [(r["n"], r["query"]) for r in answered] == [(r["n"], r["query"]) for r in given]
    covered = [r for r in answered if r["postcode"].startswith(WELL_COVERED)]
    assert sum(bool(r["result_label"]) for r in covered) >= 0.9 * len(covered)
    assert sum(bool(r["result_label"]) for r in answered) >= 0.6 * len(answered)
    assert all(r["result_postcode"] == r["postcode"] for r in answered if r["result_label"])
    assert not out.with_name(out.name + ".part").exists()

    one = tmp_path / "one-worker.csv"
    done = balise("geocode", "--index", str(france_index), "--columns", "query", "--workers", "1",
                  "--postcode", "postcode", "--quiet", str(points), str(one))
    assert done.returncode == 0, done.stderr
    assert one.read_bytes() == out.read_bytes()


def test_reverse_on_two_workers(france_index, points, tmp_path):
    out = tmp_path / "reversed.csv"
    done = balise("geocode", "--index", str(france_index), "--mode", "reverse", "--workers", "2",
                  "--lat", "expected_lat", "--lon", "expected_lon", "--result-columns", "result_label",
                  "--result-columns", "result_distance", "--result-columns", "result_citycode",
                  str(points), str(out))
    assert done.returncode == 0, done.stderr
    answered = read(out)
    assert len(answered) == 1200 and list(answered[0])[-3:] == [
        "result_label", "result_distance", "result_citycode"]
    paris = [r for r in answered if r["postcode"].startswith("75")]
    assert paris and all(int(r["result_distance"]) < 100 for r in paris)
    assert sum(r["result_citycode"] == r["citycode"] for r in paris) >= 0.9 * len(paris)


def test_bad_file_fails_cleanly(france_index, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    out = tmp_path / "out.csv"
    done = balise("geocode", "--index", str(france_index), str(empty), str(out))
    assert done.returncode == 1 and "empty" in done.stderr
    assert not out.exists() and not out.with_name("out.csv.part").exists()


def test_geocode_with_a_bbox_and_result_status(france_index, points, tmp_path):
    """Every row restricted to Paris: the rows of other départements are not found there."""
    out = tmp_path / "paris.csv"
    done = balise("geocode", "--index", str(france_index), "--columns", "query", "--workers", "2",
                  "--bbox", "2.22,48.81,2.47,48.91", "--quiet", str(points), str(out))
    assert done.returncode == 0, done.stderr
    answered = read(out)
    assert list(answered[0])[-1] == "result_status"
    found = [r for r in answered if r["result_status"] == "ok"]
    assert {r["result_status"] for r in answered} == {"ok", "not-found"}
    assert found and all(r["result_citycode"].startswith("751") for r in found)
    assert all(2.22 <= float(r["longitude"]) <= 2.47 for r in found)
    assert all(48.81 <= float(r["latitude"]) <= 48.91 for r in found)
    summary = f"{len(found):,} found, {len(answered) - len(found):,} not found, 0 skipped, 0 errors"
    assert summary in done.stderr
    bad = balise("geocode", "--index", str(france_index), "--bbox", "2.47,48.81,2.22,48.91", str(points),
                 str(tmp_path / "bad.csv"))
    assert bad.returncode != 0 and "bbox" in bad.stderr
