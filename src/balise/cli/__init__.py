"""The ``balise`` command: one click group (``common.py``), one function per verb, the verbs
by what they are for: making indexes (``index.py``), geocoding (``query.py``), running the
service (``service.py``)."""

from . import index, query, service  # noqa: F401  (each registers its commands on ``main``)
from .common import main

__all__ = ["main"]
