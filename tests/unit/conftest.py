"""Fixtures of the unit tests: a second small index, from other real data than the sample,
for tests that swap one index version for another (bundles, the ``current`` pointer)."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from tests.conftest import BANO_NDJSON

ALPS_LINES = 400  # the first BANO lines: Alpes-de-Haute-Provence (Aiglun, Allos, Annot, Banon...)


@pytest.fixture(scope="session")
def alps_index(tmp_path_factory) -> Path:
    """A few hundred BANO documents of the 04 département: answers what the Paris sample cannot."""
    from balise.importer.build import build_index

    if not BANO_NDJSON.exists():
        pytest.skip(f"data not found: {BANO_NDJSON} (../shared must sit beside the repo)")
    base = tmp_path_factory.mktemp("alps")
    source = base / "alps.ndjson"
    with gzip.open(BANO_NDJSON, "rt", encoding="utf-8") as f:
        source.write_text("".join(itertools.islice(f, ALPS_LINES)), encoding="utf-8")
    build_index([source], base / "index")
    return base / "index"
