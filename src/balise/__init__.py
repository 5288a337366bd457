"""balise: a fast, Addok-compatible address geocoder for France."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .geocoder import Geocoder

__version__ = "0.1.0"
__all__ = ["Geocoder", "__version__"]


def __getattr__(name: str) -> object:
    """``balise.Geocoder``, imported when first asked for: ``import balise.cli`` must not load
    numpy before the command has set how it runs (cli/__init__.py)."""
    if name == "Geocoder":
        from .geocoder import Geocoder

        return Geocoder
    raise AttributeError(f"module 'balise' has no attribute {name!r}")
