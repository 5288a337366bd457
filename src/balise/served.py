"""The indexes one server serves, by name: ``address`` (``BALISE_INDEX``: what the Addok API and
the Géoplateforme API's ``index=address`` search) and ``poi`` (``BALISE_POI_INDEX``, optional:
the Géoplateforme API's ``index=poi``).

Each is a :class:`~balise.geocoder.CurrentGeocoder` (or a plain :class:`~balise.geocoder.Geocoder`
in tests): published, swapped and bundled on its own, as docs/deploy.md says of the address
index. What depends on all of them (the cache key, the health checks, ``/status``) asks here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .geocoder import CurrentGeocoder, Geocoder

ADDRESS, POI = "address", "poi"
AnyGeocoder = Geocoder | CurrentGeocoder


class ServedIndexes:
    """The geocoders of a server by index name, ``address`` first and always there."""

    def __init__(self, indexes: Mapping[str, AnyGeocoder]) -> None:
        if ADDRESS not in indexes:
            raise ValueError("a server serves an address index")
        self._indexes = {ADDRESS: indexes[ADDRESS], **{k: v for k, v in indexes.items() if k != ADDRESS}}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._indexes)

    def __contains__(self, name: object) -> bool:
        return name in self._indexes

    def __iter__(self) -> Iterator[str]:
        return iter(self._indexes)

    def holder(self, name: str) -> AnyGeocoder:
        """What serves ``name`` (a holder that follows its ``current`` link, or a geocoder)."""
        return self._indexes[name]

    def current(self, name: str) -> Geocoder:
        """The geocoder of ``name`` for one request (a swap may change it between requests)."""
        served = self._indexes[name]
        return served.get() if isinstance(served, CurrentGeocoder) else served

    @property
    def version(self) -> str:
        """The versions in service: the address index's alone when it is the only one (so its
        cache keys do not change), else ``name=version`` of each, joined by ``+``."""
        if len(self._indexes) == 1:
            return self.current(ADDRESS).version
        return "+".join(f"{name}={self.current(name).version}" for name in self._indexes)

    def describe(self, name: str) -> dict[str, Any]:
        """What ``/health`` and ``/status`` say of one index: version, build time, counts."""
        manifest = self.current(name).index.manifest
        return {"version": manifest.get("version"), "built_at": manifest.get("built_at"),
                "counts": manifest.get("counts", {})}
