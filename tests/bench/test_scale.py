"""The France-scale bench runs end to end, at a scale of a few seconds (bench/scale.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED


def test_scale_bench_prints_its_table(tmp_path):
    if not (SHARED / "tools" / "make_france.py").exists():
        pytest.skip("../shared/tools/make_france.py not found")
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scale.py"), "--scales", "0.3", "--departements", "2A",
         "--queries", "120", "--serve-seconds", "2", "--work", str(tmp_path), "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| scale | documents | house numbers | import s |" in done.stdout
    assert "| 0.3 | on | all |" in done.stdout and "worker private MB (dirty)" in done.stdout
    (row,) = json.loads(out.read_text())
    assert row["documents"] > 1000 and row["housenumbers"] > 10_000
    assert row["search"]["off"]["all"]["n"] == 120 and row["search"]["on"]["all"]["top1"] > 80
    assert row["served"]["requests"] > 0 and all(mb > 0 for mb in row["served"]["private_mb"])
