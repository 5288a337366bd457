"""``balise geocode`` as a job: Parquet in and out, and a real process killed with SIGKILL halfway,
then run again with the same arguments: it resumes, and its output is the uninterrupted one."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.functional.test_csv_cli import balise

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

EVAL = DATA / "eval" / "official-points-dev.csv"
ROWS = 12_000


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[Path, Path]:
    """12,000 rows of official points (town halls, post offices), as CSV and as Parquet with
    typed columns: a row number (int64), the query, the postcode."""
    if not EVAL.exists():
        pytest.skip(f"data not found: {EVAL}")
    with EVAL.open(encoding="utf-8", newline="") as f:
        rows = [(r["query"], r["postcode"]) for r in csv.DictReader(f)]
    chosen = list(islice(cycle(rows), ROWS))
    folder = tmp_path_factory.mktemp("job")
    with (folder / "points.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["n", "query", "postcode"])
        writer.writerows((n, q, p) for n, (q, p) in enumerate(chosen))
    typed = pa.table({"n": pa.array(range(ROWS), pa.int64()), "query": [q for q, _ in chosen],
                      "postcode": [p for _, p in chosen]})
    pq.write_table(typed, folder / "points.parquet", row_group_size=5000)
    return folder / "points.csv", folder / "points.parquet"


def command(index: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return ["geocode", "--index", str(index), "--columns", "query", "--postcode", "postcode",
            "--workers", "1", "--quiet", "--split-housenumber", *extra, str(source), str(out)]


def killed_halfway(arguments: list[str], done: Callable[[], bool]) -> None:
    """Run ``balise`` with ``arguments`` and SIGKILL it once ``done()`` says it got far enough."""
    script = Path(sys.executable).with_name("balise")
    process = subprocess.Popen([str(script), *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not done() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the job ended before it was killed: {process.stderr.read().decode()}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()


def test_csv_job_killed_resumes_byte_for_byte(france_index, table, tmp_path):
    source = table[0]
    whole = tmp_path / "whole.csv"
    run = balise(*command(france_index, source, whole))
    assert run.returncode == 0, run.stderr
    out = tmp_path / "resumed.csv"
    journal = tmp_path / "resumed.csv.part.json"
    killed_halfway(command(france_index, source, out, "--checkpoint-every", "0.1"), journal.exists)
    assert not out.exists() and journal.exists()
    partial = tmp_path / "resumed.csv.part"
    assert 0 < partial.stat().st_size < whole.stat().st_size
    with partial.open("ab") as f:
        f.write(b"half a row,never counted")  # whatever was written after the last record is cut off
    again = balise(*command(france_index, source, out))
    assert again.returncode == 0, again.stderr
    assert "resumed after" in again.stderr and "s of work saved" in again.stderr
    assert out.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not journal.exists()
    assert f"geocoded {ROWS:,} rows" not in again.stderr  # only the rest was geocoded
    assert "0 errors" in again.stderr


def test_parquet_job_killed_resumes_row_for_row(france_index, table, tmp_path):
    source = table[1]
    whole = tmp_path / "whole.parquet"
    run = balise(*command(france_index, source, whole, "--row-group-rows", "1000"))
    assert run.returncode == 0, run.stderr
    out = tmp_path / "resumed.parquet"
    parts = tmp_path / "resumed.parquet.parts"
    killed_halfway(command(france_index, source, out, "--row-group-rows", "1000"),
                   lambda: len(list(parts.glob("part-*.parquet"))) >= 2)
    assert not out.exists()
    again = balise(*command(france_index, source, out, "--row-group-rows", "1000"))
    assert again.returncode == 0, again.stderr
    assert "resumed after" in again.stderr
    assert pq.read_table(out).equals(pq.read_table(whole))
    assert pq.ParquetFile(out).metadata.num_row_groups == 12  # 12,000 rows by 1,000
    assert not parts.exists()


def test_parquet_output_is_typed_and_equal_to_the_csv_one(france_index, table, tmp_path):
    csv_out, parquet_out = tmp_path / "out.csv", tmp_path / "out.parquet"
    for source, out in ((table[0], csv_out), (table[1], parquet_out)):
        run = balise(*command(france_index, source, out, "--workers", "2"))
        assert run.returncode == 0, run.stderr
    result = pq.read_table(parquet_out)
    types = {f.name: f.type for f in result.schema}
    assert types["n"] == pa.int64() and types["query"] == pa.string()
    assert types["latitude"] == types["result_score"] == pa.float64()
    assert types["result_number"] == pa.int32() and types["result_suffix"] == pa.string()
    with csv_out.open(encoding="utf-8", newline="") as f:
        expected = list(csv.DictReader(f))
    got = result.to_pylist()
    assert len(got) == len(expected) == ROWS
    for typed, text in zip(got, expected, strict=True):
        as_text = {k: "" if v is None else str(v) for k, v in typed.items()}
        assert as_text.keys() == text.keys()
        for name, value in text.items():  # the same numbers, whatever their spelling ("0" and 0.0)
            if value and isinstance(typed[name], float):
                assert float(value) == typed[name], name
            else:
                assert value == as_text[name], name
    statuses = {row["result_status"] for row in got}
    assert statuses <= {"ok", "not-found"} and "ok" in statuses
    missing = [row for row in got if row["result_status"] == "not-found"]
    assert all(row["result_score"] is None and row["latitude"] is None for row in missing)


def test_a_corrupt_parquet_file_or_an_unknown_column_fails_before_any_work(france_index, table, tmp_path):
    broken = tmp_path / "broken.parquet"
    data = table[1].read_bytes()
    broken.write_bytes(data[: len(data) // 2] + b"PAR1")
    out = tmp_path / "out.parquet"
    run = balise(*command(france_index, broken, out))
    assert run.returncode != 0 and "not a readable Parquet file" in run.stderr
    run = balise("geocode", "--index", str(france_index), "--columns", "nope", str(table[1]), str(out))
    assert run.returncode != 0 and "nope" in run.stderr
    assert not out.exists() and not (tmp_path / "out.parquet.parts").exists()
    run = balise("geocode", "--index", str(france_index), str(table[1]), str(tmp_path / "out.csv"))
    assert run.returncode != 0 and ".parquet" in run.stderr


def test_progress_bar_shows_rows_their_rate_and_the_time_left(france_index, table, tmp_path):
    for source, out in ((table[1], tmp_path / "out.parquet"), (table[0], tmp_path / "out.csv")):
        run = balise("geocode", "--index", str(france_index), "--columns", "query", "--workers", "2",
                     str(source), str(out))
        assert run.returncode == 0, run.stderr
        bars = re.findall(r"geocode: +100%[^\r\n]*", run.stderr)  # the bar's last state
        assert bars and "rows/s" in bars[-1] and "<00:00" in bars[-1], run.stderr
    assert "12,000 rows" in bars[-1]  # CSV: a bar of bytes read, the rows beside it
