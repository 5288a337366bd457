"""The ``balise`` command: one click group (``common.py``), one function per verb, the verbs
by what they are for: making indexes (``index.py``), geocoding (``query.py``), running the
service (``service.py``)."""

import os

# OpenBLAS (numpy's) starts a thread per core when numpy is imported, which spins for ~0.1 s
# and then sleeps: balise makes no BLAS call, but that spin took a core from the workers of
# a short `balise geocode` (9,400 rows on two workers: 1.57x-1.73x one worker with it,
# 1.87x-1.95x without; bench/README.md, "Tables"). Set before anything imports numpy;
# a value already set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from . import index, query, service  # noqa: E402, F401  (each registers its commands on ``main``)
from .common import main  # noqa: E402

__all__ = ["main"]
