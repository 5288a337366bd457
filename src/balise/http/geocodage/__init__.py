"""The Géoplateforme's geocoding API (``https://data.geopf.fr/geocodage/``, gpf-geocodeur), served
beside the Addok API under ``BALISE_GEOCODAGE_PREFIX`` (``/geocodage``), so that a client of the
public service switches to balise by changing its base URL (docs/geocodage.md).

- ``reading.py``: a query read as the service reads it, one 400 listing every problem
- ``params.py``: the parameters, their checks and the rules between them
- ``geometry.py``: ``searchgeom`` (Point, LineString, Polygon, Circle) and what lies inside
- ``cities.py``: the ``city`` parameter's communes, ``terr``'s départements (shipped list)
- ``operations.py``: search, reverse, completion over the indexes served, merged by score
- ``features.py``: the shapes of the answers
- ``capabilities.py``, ``openapi.py``: what this server says of itself
- ``resources.py``: the falcon resources and their routes
"""

from __future__ import annotations

from .params import COMPLETION, SEARCH


def cached_routes(prefix: str) -> dict[str, tuple[str, ...]]:
    """The API's routes the cache keeps answers of, each with the parameters that change them."""
    names = tuple(p.name or key for key, p in SEARCH.items())
    # NOTE: not q for reverse, which ignores it (the cache skips routes whose q is blank).
    return {f"{prefix}/search": names, f"{prefix}/reverse": tuple(n for n in names if n != "q"),
            f"{prefix}/completion": tuple(p.name or key for key, p in COMPLETION.items())}
