"""``python -m build`` makes a wheel that holds the compiled core (what the image installs)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.conftest import REPO

COMPILED = ("balise/index/_lookup", "balise/index/_postings", "balise/index/_records",
            "balise/search/_textscore")


def test_the_wheel_holds_the_compiled_core(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = tmp_path.glob("balise-*.whl")
    assert "cp3" in wheel.name and "linux" in wheel.name  # a platform wheel, not a pure one
    names = zipfile.ZipFile(wheel).namelist()
    for module in COMPILED:
        assert any(n.startswith(module) and n.endswith(".so") for n in names), module
    assert "balise/http/openapi.json" in names
    assert "balise/http/geocodage/communes.csv.gz" in names
