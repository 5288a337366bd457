"""The house rules of the source tree: imports run down the layers, modules stay small.

Layers, from low to high (ARCHITECTURE.md): errors and config (its converters, values, below
it) < text < index <
importer, search < geocoder < csv, bundle, served < dask < ops < http < cli. A module may import from its
own package and from lower layers only; the package root (``balise/__init__.py``, the
Python API's ``Geocoder`` and ``__version__``) sits with the geocoder. Imports are read with
``ast``, so those inside functions and under ``TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "balise"
LAYERS = (
    ("errors", "values"),
    ("config",),
    ("text",),
    ("index",),
    ("importer", "search"),
    ("geocoder", "archive"),
    ("csv", "bundle", "served"),
    ("dask",),
    ("ops",),
    ("http",),
    ("cli",),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
MAX_LINES = 450


def modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def unit_of(dotted: str) -> str:
    """The unit under ``balise`` of a dotted module name: its first part below ``balise``;
    the package root and the names it holds (``balise.__version__``) count as the geocoder's."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "geocoder"


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every balise module or name ``path`` imports."""
    relative = path.relative_to(SOURCE.parent).with_suffix("")
    package = list(relative.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "balise"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "balise":
                continue
            if target == "balise":  # ``from balise import x`` / ``from .. import x``
                found += [(node.lineno, f"balise.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def test_every_unit_has_a_layer():
    units = {p.stem if p.parent == SOURCE else p.relative_to(SOURCE).parts[0] for p in modules()}
    assert units - set(RANK) == {"__init__"}


def test_no_import_runs_up_the_layers():
    upward = []
    for path in modules():
        relative = path.relative_to(SOURCE.parent).with_suffix("")
        source = unit_of(".".join(relative.parts))
        for line, target in imported(path):
            unit = unit_of(target)
            if unit != source and RANK[unit] >= RANK[source]:
                upward.append(f"{path.relative_to(SOURCE)}:{line} imports {target}")
    assert upward == []


def test_relative_imports_are_resolved_as_python_does():
    names = [target for _, target in imported(SOURCE / "index" / "pointer.py")]
    assert "balise.index.format" in names and {unit_of(n) for n in names} == {"index"}
    names = [target for _, target in imported(SOURCE / "ops" / "cache" / "tiers.py")]
    assert "balise.ops.breaker" in names and "balise.ops.cache.entry" in names
    assert unit_of("balise.__version__") == "geocoder" and RANK["geocoder"] > RANK["index"]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_module_is_over_450_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES
