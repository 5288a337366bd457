"""Reverse geocoding: the points nearest to a position, nearest first, with their distance.

Every point of the index (house numbers, and the centres of streets, localities and
municipalities) is in ``geo.cell``: its geohash-7 cell as a 35-bit integer, sorted. Dropping
the 2k low bits of a cell gives its ancestor of level k, a square of 2^k x 2^k cells whose
points are one contiguous range of that array. The search reads the 3x3 block of ancestors
around the position, level 0 (cells of about 100 m) first, then one level up at a time, until
the ``limit`` nearest points are certainly inside the block (nearer than anything outside it
can be) or ``max_distance`` is covered.

Beyond Addok, which looks at two rings of cells and may answer nothing, this always answers,
however far the data is; and it answers with the nearest points, so several house numbers of
one street can come back (Addok keeps one result per street). Points on the far side of the
antimeridian are not looked for.

Filters: ``type=housenumber`` keeps house numbers only; any other type keeps the centres of
documents of that type (``type=street`` answers streets at their own centre, not their house
numbers, as Addok does); both kinds mix, as in ``type=housenumber street``. ``postcode`` and
``citycode`` keep the points of documents that have one of the values (a house number is
judged by its street).
"""

from __future__ import annotations

from collections.abc import Iterable
from math import asin, cos, inf, pi, radians, sin, sqrt

import numpy as np

from ..index import IndexReader
from ..index.geohash import CELL_LAT, CELL_LON, LAT_BITS, LON_BITS, cell_xy, interleave
from . import scoring
from .engine import Result

MAX_LEVEL = LON_BITS  # a level-18 ancestor is the whole world
DIRECT_SCAN_POINTS = 50_000  # filters leaving this few points: measure them all, no grid
EARTH_RADIUS_KM = scoring.EARTH_RADIUS_KM


def nearest(
    index: IndexReader,
    lat: float,
    lon: float,
    limit: int = 1,
    filters: dict[str, list[str]] | None = None,
    max_distance: float | None = None,
) -> list[Result]:
    """The ``limit`` points nearest to (lat, lon) that pass the filters, within
    ``max_distance`` metres if given; as :class:`Result` with distance and score."""
    allowed = PointFilter(index, filters or {})
    max_km = inf if max_distance is None else max_distance / 1000
    if allowed.nothing:
        return []
    direct = allowed.points(index, DIRECT_SCAN_POINTS)
    if direct is not None:
        refs, km = direct, _distances(index, direct, lat, lon)
    else:
        refs, km = _grid_search(index, allowed, lat, lon, limit, max_km)
    chosen = _smallest(km, refs, limit)
    chosen = chosen[km[chosen] <= max_km]
    return [_result(index, int(refs[i]), lat, lon) for i in chosen]


class PointFilter:
    """Which points may answer, from the filters."""

    def __init__(self, index: IndexReader, filters: dict[str, list[str]]) -> None:
        types = set(filters.get("type") or ())
        self.housenumbers = not types or "housenumber" in types
        # Documents whose centre may answer (sorted), or None for all of them.
        self.centres: np.ndarray | None = None
        if types:
            self.centres = _documents(index, "type", types - {"housenumber"})
        # Documents allowed by postcode and citycode, or None for all of them.
        self.documents: np.ndarray | None = None
        for name in ("postcode", "citycode"):
            if filters.get(name):
                docs = _documents(index, name, filters[name])
                if self.documents is not None:
                    docs = np.intersect1d(self.documents, docs, assume_unique=True)
                self.documents = docs

    @property
    def nothing(self) -> bool:
        """No point can pass: answer at once rather than search the whole world."""
        no_centres = self.centres is not None and not len(self.centres)
        return (no_centres and not self.housenumbers) or (
            self.documents is not None and not len(self.documents)
        )

    def keep(self, refs: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Mask of the points (refs, and the document of each) that pass."""
        is_hn = refs < 0
        keep = is_hn.copy() if self.housenumbers else np.zeros(len(refs), dtype=bool)
        centres = ~is_hn
        if self.centres is not None:
            centres &= _isin_sorted(docs, self.centres)
        keep |= centres
        if self.documents is not None:
            keep &= _isin_sorted(docs, self.documents)
        return keep

    def points(self, index: IndexReader, at_most: int) -> np.ndarray | None:
        """Every point that passes, as refs, when filters leave at most ``at_most``; else None."""
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
            # hn.lookup is sorted by (document << 32 | key hash): one range per document.
            keys = docs.astype(np.uint64) << np.uint64(32)
            lo = np.searchsorted(index.hn_lookup, keys)
            hi = np.searchsorted(index.hn_lookup, keys + np.uint64(1 << 32))
            if int((hi - lo).sum()) + len(centres) > at_most:
                return None
            refs.append(~index.hn_lookup_ids[_ranges(lo, hi)].astype(np.int64))
        return np.concatenate(refs)


def _grid_search(
    index: IndexReader, allowed: PointFilter, lat: float, lon: float, limit: int, max_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points of the smallest block of cells that surely holds the answer, with distances."""
    qx, qy = (int(v) for v in cell_xy(lon, lat))
    for level in range(MAX_LEVEL + 1):
        starts, ends, covered = _block(qx, qy, lat, lon, level)
        lo = np.searchsorted(index.geo_cell, starts)
        hi = np.searchsorted(index.geo_cell, ends)
        refs = index.geo_ref[_ranges(lo, hi)]
        refs = refs[allowed.keep(refs, _documents_of(index, refs))]
        km = _distances(index, refs, lat, lon)
        sure = min(covered, max_km)
        if covered >= max_km or int((km <= sure).sum()) >= limit or level == MAX_LEVEL:
            return refs, km
    raise AssertionError("unreachable: the last level covers the world")


def _block(qx: int, qy: int, lat: float, lon: float, level: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Cell ranges [starts, ends) of the 3x3 block of level-``level`` ancestors around
    cell (qx, qy), and the distance (km) from the position within which no point lies
    outside the block."""
    size = 1 << level
    columns = np.unique(np.clip(np.arange(-1, 2) + (qx >> level), 0, max((1 << LON_BITS) // size - 1, 0)))
    rows = np.unique(np.clip(np.arange(-1, 2) + (qy >> level), 0, max((1 << LAT_BITS) // size - 1, 0)))
    xs = np.repeat(columns, len(rows)) << level
    ys = np.tile(rows, len(columns)) << level
    starts = interleave(xs, ys)
    ends = starts + np.uint64(size * size)
    x0, x1 = int(columns[0]) << level, (int(columns[-1]) + 1) << level
    y0, y1 = int(rows[0]) << level, (int(rows[-1]) + 1) << level
    west, east = x0 * CELL_LON - 180, x1 * CELL_LON - 180
    south, north = y0 * CELL_LAT - 90, y1 * CELL_LAT - 90
    # Beyond a latitude edge, a point is at least that difference of latitude away.
    to_south = inf if y0 == 0 else EARTH_RADIUS_KM * radians(lat - south)
    to_north = inf if y1 >= 1 << LAT_BITS else EARTH_RADIUS_KM * radians(north - lat)
    # Between them, beyond a longitude edge: haversine with the smallest cosine of the band.
    shrink = sqrt(max(cos(radians(lat)) * min(cos(radians(south)), cos(radians(north))), 0.0))

    def across(degrees: float) -> float:
        half = min(radians(degrees), pi) / 2
        return 2 * EARTH_RADIUS_KM * asin(min(1.0, shrink * sin(half)))

    to_west = inf if x0 == 0 else across(lon - west)
    to_east = inf if x1 >= 1 << LON_BITS else across(east - lon)
    return starts, ends, min(to_south, to_north, to_west, to_east)


def _result(index: IndexReader, ref: int, lat: float, lon: float) -> Result:
    """A point as a result shaped like Addok's reverse ones (``load_closer``, labels, score)."""
    if ref >= 0:
        doc, housenumber, doc_number = index.document(ref), None, ref
    else:
        doc_number = int(index.hn_doc[~ref])
        doc = dict(index.document(doc_number))  # Shared and cached: copied before a change.
        props = index.housenumber(~ref)
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
        labels=scoring.make_labels(doc, housenumber),
        distance_km=km,
        score=scoring.total(parts),
        parts=parts,
    )


# --- numpy helpers -----------------------------------------------------------------------


def _documents(index: IndexReader, name: str, values: Iterable[str]) -> np.ndarray:
    """Sorted documents that have one of the values for a filter (int64, as point refs)."""
    ids = [index.filter_id(name, str(v)) for v in values]
    arrays = [index.postings(i)[0] for i in ids if i >= 0]
    if not arrays:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(arrays)).astype(np.int64)


def _documents_of(index: IndexReader, refs: np.ndarray) -> np.ndarray:
    """The document of each point: itself, or the street of a house number."""
    is_hn = refs < 0
    return np.where(is_hn, index.hn_doc[np.where(is_hn, ~refs, 0)].astype(np.int64), refs)


def _distances(index: IndexReader, refs: np.ndarray, lat: float, lon: float) -> np.ndarray:
    """Haversine distances (km) of the points to the position."""
    is_hn = refs < 0
    lonlat = np.empty((len(refs), 2))
    lonlat[is_hn] = index.hn_lonlat[~refs[is_hn]]
    lonlat[~is_hn] = index.doc_lonlat[refs[~is_hn]]
    lon1, lat1 = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    lon2, lat2 = radians(lon), radians(lat)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _smallest(km: np.ndarray, refs: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest distances, nearest first (ties: house numbers first)."""
    if len(km) > k:
        positions = np.argpartition(km, k - 1)[:k]
    else:
        positions = np.arange(len(km))
    return positions[np.lexsort((refs[positions], km[positions]))]


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The indices lo[0]..hi[0]-1, lo[1]..hi[1]-1, ... as one array."""
    lengths = (hi - lo).astype(np.int64)
    total = int(lengths.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total) + np.repeat(lo.astype(np.int64) - offsets, lengths)


def _isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values
