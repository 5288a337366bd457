"""balise: a fast, Addok-compatible address geocoder for France."""

from .geocoder import Geocoder

__version__ = "0.1.0"
__all__ = ["Geocoder", "__version__"]
