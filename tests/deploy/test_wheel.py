"""``python -m build`` makes a wheel that holds the compiled core (what the image installs)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile

from tests.conftest import REPO


def compiled_modules() -> list[str]:
    """Every module setup.py compiles (its MODULES list), as paths in the wheel."""
    tree = ast.parse((REPO / "setup.py").read_text())
    (names,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "MODULES" for t in node.targets)]
    return [name.replace(".", "/") for name in names]


def test_the_wheel_holds_the_compiled_core(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = tmp_path.glob("balise-*.whl")
    assert "cp3" in wheel.name and "linux" in wheel.name  # a platform wheel, not a pure one
    names = zipfile.ZipFile(wheel).namelist()
    compiled = compiled_modules()
    assert "balise/index/_stored" in compiled and "balise/csv/_columns" in compiled
    for module in compiled:
        assert any(n.startswith(module) and n.endswith(".so") for n in names), module
    assert "balise/http/openapi.json" in names
    assert "balise/http/geocodage/communes.csv.gz" in names
