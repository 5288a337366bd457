"""Reverse geocoding: the points nearest to a position, nearest first, with their distance.

The search itself (the growing blocks of grid cells around the position, then the far search
down a quadtree) is compiled: :mod:`balise.search._reverse`, whose docstring tells how it
works. Here: which points may answer (the filters), and the results.

Beyond Addok, which looks at two rings of cells and may answer nothing, this always answers,
however far the data is, unless ``max_distance`` says how far is too far; and it answers with
the nearest points, so several house numbers of one street can come back (Addok keeps one
result per street).

Filters: ``type=housenumber`` keeps house numbers only; any other type keeps the centres of
documents of that type (``type=street`` answers streets at their own centre, not their house
numbers, as Addok does); kinds mix, as in ``type=housenumber street``. ``postcode`` and
``citycode`` keep the points of documents that have one of the values (a house number is
judged by its street). Without a type, every kind of point answers, as in Addok, where a
street's centre answers when it is nearer than all its house numbers. ``bbox`` keeps the points
inside a box (:mod:`balise.search.area`): the far search then goes down only the squares that
meet it, so a box far from the position, or empty, costs a few squares, not the whole grid.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, lru_cache
from math import inf
from typing import Any, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

from ..index import IndexReader
from ..index.geohash import CELL_LAT, CELL_LON
from ..text.labels import make_labels
from . import scoring
from ._reverse import PointGrid
from .area import Area
from .result import Result
from .scoring import Floats

DIRECT_SCAN_POINTS = 50_000  # filters leaving this few points: measure them all, no grid
Refs: TypeAlias = NDArray[np.int64]  # points: a document n, or a house number as ~n
Found: TypeAlias = tuple[list[int], list[float]]  # refs and km, nearest first (PointGrid's)


class Reverse:
    """Nearest points of one index; built once per index (it caches filter sets)."""

    def __init__(self, index: IndexReader) -> None:
        self.index = index
        self.documents = lru_cache(maxsize=1024)(self._documents)

    def nearest(
        self,
        lat: float,
        lon: float,
        limit: int = 1,
        filters: dict[str, list[str]] | None = None,
        max_distance: float | None = None,
        area: Area | None = None,
    ) -> list[Result]:
        """The ``limit`` points nearest to (lat, lon) that pass the filters, within
        ``max_distance`` metres if given, inside ``area`` if given; as :class:`Result`
        with distance and score."""
        allowed = PointFilter(filters or {}, self.documents, area)  # HOOK(area)
        max_km = inf if max_distance is None else max_distance / 1000
        if allowed.nothing or limit < 1:
            return []
        grid = self.grid
        few = allowed.points(self.index, DIRECT_SCAN_POINTS)
        found: Found | None
        if few is not None:
            found = grid.nearest_of(few, lat, lon, limit)
        else:
            # HOOK(area): from a position outside the area, the far search alone: it prunes the
            # squares outside the area, where the near one would measure blocks of nothing;
            # from inside, the near search stops at the latest with the block that holds it.
            near = area is None or area.contains(lon, lat)
            found = grid.near(lat, lon, limit, max_km, allowed) if near else None
            if found is None:
                found = grid.far(lat, lon, limit, max_km, allowed)
        refs, km = found
        return [self._result(ref, lat, lon) for ref, d in zip(refs, km, strict=True) if d <= max_km]

    def warm(self) -> None:
        """Build what is built once (before a server forks, so that workers share it)."""
        _ = self.grid
        self.nearest(48.8566, 2.3522, 1)

    @cached_property
    def grid(self) -> PointGrid:
        """The index's points as the compiled search reads them."""
        return PointGrid(self.index)

    # --- results -------------------------------------------------------------------------

    def _result(self, ref: int, lat: float, lon: float) -> Result:
        """A point as a result shaped like Addok's reverse ones (load_closer, labels, score)."""
        index = self.index
        if ref >= 0:
            doc, housenumber, doc_number = index.document(ref), None, ref
            original_type = str(doc.get("type") or "")
        else:
            doc_number = index.housenumber_doc(~ref)
            doc = index.document(doc_number)  # a new dict, this result's own
            original_type = str(doc.get("type") or "")
            props = index.housenumber(~ref, doc_number)
            housenumber = props.pop("raw")
            doc.update(props)
            doc["type"] = "housenumber"
        # Addok's argument order, so that distances and scores agree to the last digit.
        km = scoring.haversine_km(float(doc["lat"]), float(doc["lon"]), lat, lon)
        weight = scoring.GEO_DISTANCE_WEIGHT
        parts = {"geo_distance": (scoring.km_to_score(km) * weight, weight)}
        return Result(
            doc_number,
            doc,
            housenumber=housenumber,
            label=make_labels(doc, housenumber, stored=index.labels(doc_number))[0],
            distance_km=km,
            score=scoring.total(parts),
            parts=parts,
            original_type=original_type,
        )

    def _documents(self, name: str, values: tuple[str, ...]) -> Refs:
        """Sorted documents that have one of the values for a filter (int64, as point refs)."""
        ids = [self.index.filter_id(name, v) for v in values]
        arrays = [self.index.postings(i)[0] for i in ids if i >= 0]
        if not arrays:
            return np.empty(0, dtype=np.int64)
        docs = arrays[0] if len(arrays) == 1 else np.unique(np.concatenate(arrays))
        return docs.astype(np.int64)


class PointFilter:
    """Which points may answer, from the filters."""

    def __init__(self, filters: dict[str, list[str]], documents: Callable[[str, tuple[str, ...]], Refs],
                 area: Area | None = None) -> None:
        self.area = area  # HOOK(area): points outside it do not pass
        types = set(filters.get("type") or ())
        self.housenumbers = not types or "housenumber" in types
        # Documents whose centre may answer (sorted), or None for all of them.
        self.centres: Refs | None = None
        if types:
            self.centres = documents("type", tuple(sorted(types - {"housenumber"})))
        # Documents allowed by postcode and citycode, or None for all of them.
        self.documents: Refs | None = None
        for name in ("postcode", "citycode"):
            if filters.get(name):
                docs = documents(name, tuple(sorted(filters[name])))
                if self.documents is not None:
                    docs = np.intersect1d(self.documents, docs, assume_unique=True)
                self.documents = docs

    @property
    def nothing(self) -> bool:
        """No point can pass: answer at once rather than search the whole world."""
        no_centres = self.centres is not None and not len(self.centres)
        no_documents = self.documents is not None and not len(self.documents)
        return (no_centres and not self.housenumbers) or no_documents

    def inside(self, index: IndexReader, refs: Refs) -> Refs:
        """The points inside the area, if any (HOOK(area))."""
        if self.area is None:
            return refs
        lonlat = _lonlat(index, refs)
        return refs[self.area.contains_many(lonlat[:, 0], lonlat[:, 1])]

    def holds_area(self, columns: list[int], rows: list[int], level: int) -> bool:
        """Whether a block of squares (its columns and rows at a level: ``PointGrid.near``) holds
        the whole area (HOOK(area))."""
        if self.area is None:
            return False
        west, south, _, _ = _edges(columns[0], rows[0], level)
        _, _, east, north = _edges(columns[-1], rows[-1], level)
        a = self.area
        return west <= a.west and a.east < east and south <= a.south and a.north < north

    def meets(self, x: NDArray[np.int64], y: NDArray[np.int64], level: int) -> NDArray[np.bool_]:
        """Whether each square of a level may hold points inside the area (HOOK(area))."""
        if self.area is None:
            return np.ones(len(x), dtype=bool)
        return self.area.intersects_many(*_edges(x, y, level))

    def points(self, index: IndexReader, at_most: int) -> Refs | None:
        """Every point that passes, as refs, when the filters leave at most ``at_most``; else None."""
        if self.documents is not None:
            docs = self.documents
        elif self.centres is not None and not self.housenumbers:
            docs = self.centres
        else:
            return None
        if len(docs) > at_most:
            return None
        centres = docs if self.centres is None else np.intersect1d(docs, self.centres, assume_unique=True)
        refs = [centres]
        if self.housenumbers:
            # A document's house numbers are one range.
            lo, hi = index.doc_hn[docs], index.doc_hn[docs + 1]
            if int((hi - lo).sum()) + len(centres) > at_most:
                return None
            refs.append(~_ranges(lo, hi))
        return self.inside(index, np.concatenate(refs))  # HOOK(area)


# --- geometry --------------------------------------------------------------------------------


@overload  # one square's edges (holds_area)
def _edges(x: int, y: int, level: int) -> tuple[float, float, float, float]: ...
@overload  # each square's
def _edges(x: NDArray[np.int64], y: NDArray[np.int64], level: int) -> tuple[Floats, ...]: ...
def _edges(x: int | NDArray[np.int64], y: int | NDArray[np.int64], level: int) -> tuple[Any, Any, Any, Any]:
    """West, south, east and north edges (degrees) of squares of a level."""
    size = 1 << level
    west = x * size * CELL_LON - 180
    east = (x + 1) * size * CELL_LON - 180
    south = y * size * CELL_LAT - 90
    north = np.minimum((y + 1) * size * CELL_LAT - 90, 90)
    return west, south, east, north


def _lonlat(index: IndexReader, refs: Refs) -> Floats:
    """(lon, lat) of each point."""
    is_hn = refs < 0
    lonlat = np.empty((len(refs), 2))
    lonlat[is_hn] = index.hn_lonlat_many(~refs[is_hn])
    lonlat[~is_hn] = index.doc_lonlat[refs[~is_hn]]
    return lonlat


def _ranges(lo: NDArray[np.integer], hi: NDArray[np.integer]) -> NDArray[np.int64]:
    """The indices lo[0]..hi[0]-1, lo[1]..hi[1]-1, ... as one array."""
    lengths = (hi - lo).astype(np.int64)
    total = int(lengths.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    offsets: NDArray[np.int64] = np.cumsum(lengths) - lengths
    return np.arange(total) + np.repeat(lo.astype(np.int64) - offsets, lengths)
