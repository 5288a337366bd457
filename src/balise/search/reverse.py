"""Reverse geocoding: the points nearest to a position, nearest first, with their distance.

Every point of the index (house numbers, and the centres of streets, localities and
municipalities) is in ``geo.ref``, sorted by its geohash-7 cell, a 35-bit integer
(``IndexReader.geo_search`` finds where a cell's points start). Dropping
the 2k low bits of a cell gives its ancestor of level k, a square of 2^k x 2^k cells whose
points are one contiguous range of that array. Near data, the search reads the 3x3 block of
ancestors around the position, level 0 (cells of about 100 m) first, then one level up at a
time, until the ``limit`` nearest points are certainly inside the block (nearer than anything
outside it can be). Far from data (past level ``NEAR_LEVELS``, about 6 km), it goes best-first
down the quadtree of squares, from the non-empty ones of level ``FAR_LEVEL`` (about 30 km):
the square that may hold the nearest point is split in four, or measured when small, until no
square left can hold anything nearer than the ``limit`` points found. (Only the far search
looks across the antimeridian: no French address lies within a few km of it.)

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

import heapq
from collections.abc import Callable
from functools import cached_property, lru_cache
from math import asin, cos, floor, inf, pi, radians, sin, sqrt
from typing import Any, NamedTuple, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

from ..index import IndexReader, geohash
from ..index.geohash import CELL_LAT, CELL_LON, LAT_BITS, LON_BITS
from ..text.labels import make_labels
from . import scoring
from .area import Area
from .result import Result
from .scoring import Floats

NEAR_LEVELS = 6  # grid blocks up to 3 x 64 cells (at least 6 km around), then the far search
FAR_LEVEL = 8  # far search squares: 256 x 256 cells (about 35 x 25 km in France)
LEAF_POINTS = 256  # a far search square with this few points is measured, not split
CHILD_X, CHILD_Y = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
DIRECT_SCAN_POINTS = 50_000  # filters leaving this few points: measure them all, no grid
EARTH_RADIUS_KM = scoring.EARTH_RADIUS_KM
Refs: TypeAlias = NDArray[np.int64]  # points: a document n, or a house number as ~n


class Squares(NamedTuple):
    """The non-empty squares of one level: columns, rows, and range in ``geo.ref``."""

    x: NDArray[np.int64]
    y: NDArray[np.int64]
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]


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
        if allowed.nothing:
            return []
        refs = allowed.points(self.index, DIRECT_SCAN_POINTS)
        if refs is not None:
            km = _distances(self.index, refs, lat, lon)
        else:
            # HOOK(area): from a position outside the area, the far search alone: it prunes the
            # squares outside the area, where the near one would measure blocks of nothing;
            # from inside, the near search stops at the latest with the block that holds it.
            near = area is None or area.contains(lon, lat)
            refs, km = self._near(allowed, lat, lon, limit, max_km) if near else (None, None)  # type: ignore[assignment]
            if refs is None:  # km too: _near gives both arrays or neither (mypy cannot follow it)
                refs, km = self._far(allowed, lat, lon, limit, max_km)
        chosen = _smallest(km, refs, limit)
        chosen = chosen[km[chosen] <= max_km]
        return [self._result(int(refs[i]), lat, lon) for i in chosen]

    def warm(self) -> None:
        """Build what is built once (before a server forks, so that workers share it)."""
        _ = self.squares
        self.nearest(48.8566, 2.3522, 1)

    # --- search --------------------------------------------------------------------------

    def _near(
        self, allowed: PointFilter, lat: float, lon: float, limit: int, max_km: float
    ) -> tuple[Refs, Floats] | tuple[None, None]:
        """Grid blocks around the position, growing until the answer is surely inside;
        (None, None) when it is not by level ``NEAR_LEVELS``."""
        qx, qy = _cell(lat, lon)
        for level in range(NEAR_LEVELS + 1):
            columns, rows, starts, ends = _block(qx, qy, level)
            bounds = self.index.geo_search(np.array(starts + ends, dtype=np.uint64))  # PERF: one call
            lo, hi = bounds[: len(starts)], bounds[len(starts) :]
            count = int((hi - lo).sum())
            whole = allowed.holds_area(columns, rows, level)  # HOOK(area): every point that may answer
            if count < limit and max_km == inf and not whole:
                continue  # fewer points than wanted, even unfiltered: the next level, unmeasured
            covered = _reach(columns, rows, level, lat, lon)
            if count < limit and covered < max_km and not whole:
                continue
            refs = allowed.filter(self.index, self.index.geo_ref[_ranges(lo, hi)].astype(np.int64))
            km = _distances(self.index, refs, lat, lon)
            if whole or covered >= max_km or int((km <= covered).sum()) >= limit:
                return refs, km
        return None, None

    def _far(
        self, allowed: PointFilter, lat: float, lon: float, limit: int, max_km: float
    ) -> tuple[Refs, Floats]:
        """Best-first down the quadtree: take the square that may hold the nearest point,
        split it (or measure its points when few), until no square can beat the answer."""
        geo_ref = self.index.geo_ref
        squares = self.squares
        if allowed.area is not None:  # HOOK(area): only the squares that meet it
            meets = allowed.meets(squares.x, squares.y, FAR_LEVEL)
            squares = Squares(*(a[meets] for a in squares))
        bounds = _lower_bounds(lat, lon, *_rectangles(squares.x, squares.y, FAR_LEVEL))
        heap = list(zip(bounds.tolist(), [FAR_LEVEL] * len(bounds), squares.x.tolist(), squares.y.tolist(),
                        squares.starts.tolist(), squares.ends.tolist(), strict=True))
        heapq.heapify(heap)
        refs, km = np.empty(0, dtype=np.int64), np.empty(0)
        while heap:
            bound, level, x, y, lo, hi = heapq.heappop(heap)
            if bound > max_km or (len(km) >= limit and bound > km[-1]):
                break
            if hi - lo <= LEAF_POINTS or level == 0:
                found = allowed.filter(self.index, geo_ref[lo:hi].astype(np.int64))
                refs = np.concatenate([refs, found])
                km = np.concatenate([km, _distances(self.index, found, lat, lon)])
                keep = _smallest(km, refs, limit)  # nearest first: km[-1] is the limit-th
                refs, km = refs[keep], km[keep]
                continue
            # The four children, in the order of their codes (x bit, then y bit): each is a
            # quarter of the parent's range of cells, and their points follow each other.
            level -= 1
            first = self.index.geo_cell(lo) >> (2 * level + 2) << (2 * level + 2)
            starts = first + (np.arange(4, dtype=np.uint64) << np.uint64(2 * level))
            edges = self.index.geo_search(starts).tolist() + [hi]  # within [lo, hi]: the parent's
            xs, ys = CHILD_X + 2 * x, CHILD_Y + 2 * y
            child_bounds = _lower_bounds(lat, lon, *_rectangles(xs, ys, level)).tolist()
            meets = allowed.meets(xs, ys, level)  # HOOK(area)
            for i in range(4):
                if edges[i + 1] > edges[i] and meets[i]:
                    heapq.heappush(heap, (child_bounds[i], level, 2 * x + i % 2, 2 * y + i // 2,
                                          edges[i], edges[i + 1]))
        return refs, km

    @cached_property
    def squares(self) -> Squares:
        """The non-empty level-``FAR_LEVEL`` squares (a few thousand for all of France)."""
        codes, starts, ends = self.index.geo_squares(FAR_LEVEL)
        x, y = _deinterleave(codes)
        return Squares(x, y, starts, ends)

    # --- results -------------------------------------------------------------------------

    def _result(self, ref: int, lat: float, lon: float) -> Result:
        """A point as a result shaped like Addok's reverse ones (load_closer, labels, score)."""
        index = self.index
        if ref >= 0:
            doc, housenumber, doc_number = index.document(ref), None, ref
        else:
            doc_number = index.housenumber_doc(~ref)
            doc = dict(index.document(doc_number))  # Shared and cached: copied before a change.
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

    def filter(self, index: IndexReader, refs: Refs) -> Refs:
        """The points (refs) that pass."""
        if not self.housenumbers:
            refs = refs[refs >= 0]
        if self.centres is not None:
            refs = refs[(refs < 0) | _isin_sorted(refs, self.centres)]
        if self.documents is not None:
            is_hn = refs < 0
            docs = np.where(is_hn, index.housenumber_docs(np.where(is_hn, ~refs, 0)), refs)
            refs = refs[_isin_sorted(docs, self.documents)]
        return self.inside(index, refs)

    def inside(self, index: IndexReader, refs: Refs) -> Refs:
        """The points inside the area, if any (HOOK(area))."""
        if self.area is None:
            return refs
        lonlat = _lonlat(index, refs)
        return refs[self.area.contains_many(lonlat[:, 0], lonlat[:, 1])]

    def holds_area(self, columns: list[int], rows: list[int], level: int) -> bool:
        """Whether a block of squares (see :func:`_block`) holds the whole area (HOOK(area))."""
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


def _block(qx: int, qy: int, level: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """The 3x3 block of level-``level`` ancestors around cell (qx, qy): its columns and
    rows (in cells of that level, clamped to the grid) and its cell ranges [starts, ends).

    PERF: plain Python on these few integers; numpy costs more than it saves here."""
    size = 1 << level
    last_column, last_row = (1 << LON_BITS) // size - 1, max((1 << LAT_BITS) // size - 1, 0)
    x, y = qx >> level, qy >> level
    columns = sorted({min(max(x - 1, 0), last_column), x, min(x + 1, last_column)})
    rows = sorted({min(max(y - 1, 0), last_row), y, min(y + 1, last_row)})
    xs = [_spread(c << level) for c in columns]
    ys = [_spread(r << level) << 1 for r in rows]
    starts = [a | b for a in xs for b in ys]
    return columns, rows, starts, [start + size * size for start in starts]


def _reach(columns: list[int], rows: list[int], level: int, lat: float, lon: float) -> float:
    """The distance (km) within which no point lies outside a block (see :func:`_block`)."""
    x0, x1 = columns[0] << level, (columns[-1] + 1) << level
    y0, y1 = rows[0] << level, (rows[-1] + 1) << level
    south, north = y0 * CELL_LAT - 90, y1 * CELL_LAT - 90
    # Beyond a latitude edge, a point is at least that difference of latitude away.
    to_south = inf if y0 == 0 else EARTH_RADIUS_KM * radians(lat - south)
    to_north = inf if y1 >= 1 << LAT_BITS else EARTH_RADIUS_KM * radians(north - lat)
    # Between them, beyond a longitude edge: haversine with the smallest cosine of the band.
    shrink = sqrt(max(cos(radians(lat)) * min(cos(radians(south)), cos(radians(north))), 0.0))

    def across(degrees: float) -> float:
        return 2 * EARTH_RADIUS_KM * asin(min(1.0, shrink * sin(min(radians(degrees), pi) / 2)))

    to_west = inf if x0 == 0 else across(lon - (x0 * CELL_LON - 180))
    to_east = inf if x1 >= 1 << LON_BITS else across((x1 * CELL_LON - 180) - lon)
    return min(to_south, to_north, to_west, to_east)


def _cell(lat: float, lon: float) -> tuple[int, int]:
    """Column and row of the grid cell of a point (``geohash.cell_xy`` for one point)."""
    x = min(max(floor((lon + 180.0) / CELL_LON), 0), (1 << LON_BITS) - 1)
    y = min(max(floor((lat + 90.0) / CELL_LAT), 0), (1 << LAT_BITS) - 1)
    return x, y


# geohash._spread of every 9-bit number, so one integer is spread by three lookups.
_SPREAD_9: list[int] = geohash._spread(np.arange(512)).tolist()


def _spread(v: int) -> int:
    """``geohash._spread`` of one column or row number (under 2^27), 9 bits at a time.

    PERF: plain Python on a few integers; numpy costs more than it saves here."""
    return _SPREAD_9[v & 511] | _SPREAD_9[(v >> 9) & 511] << 18 | _SPREAD_9[v >> 18] << 36


def _rectangles(x: NDArray[np.int64], y: NDArray[np.int64], level: int) -> tuple[Floats, ...]:
    """West, east, south and north edges (radians) of squares of a level."""
    west, south, east, north = _edges(x, y, level)
    return np.radians(west), np.radians(east), np.radians(south), np.radians(north)


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


def _lower_bounds(lat: float, lon: float, west: Floats, east: Floats, south: Floats, north: Floats) -> Floats:
    """For each rectangle, a distance (km) that none of its points is nearer than:
    hav(d) = hav(dlat) + cos(lat1) cos(lat2) hav(dlon), each term at its smallest."""
    phi, lam = radians(lat), radians(lon)
    dphi = np.maximum(0.0, np.maximum(south - phi, phi - north))
    past_west = np.mod(lam - west, 2 * pi)  # eastward angle from the west edge
    dlam = np.where(past_west <= east - west, 0.0, np.minimum(past_west - (east - west), 2 * pi - past_west))
    cos_min = np.maximum(np.minimum(np.cos(south), np.cos(north)), 0.0)
    hav: Floats = np.sin(dphi / 2) ** 2 + cos(phi) * cos_min * np.sin(np.minimum(dlam, pi) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(hav, 1.0)))


def _distances(index: IndexReader, refs: Refs, lat: float, lon: float) -> Floats:
    """Haversine distances (km) of the points to the position."""
    lonlat = _lonlat(index, refs)
    return scoring.haversine_km_array(lonlat[:, 1], lonlat[:, 0], lat, lon)


def _lonlat(index: IndexReader, refs: Refs) -> Floats:
    """(lon, lat) of each point."""
    is_hn = refs < 0
    lonlat = np.empty((len(refs), 2))
    lonlat[is_hn] = index.hn_lonlat_many(~refs[is_hn])
    lonlat[~is_hn] = index.doc_lonlat[refs[~is_hn]]
    return lonlat


def _deinterleave(codes: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Columns and rows of geohash integers (the inverse of ``geohash.interleave``)."""

    def compact(v: NDArray[np.uint64]) -> NDArray[np.int64]:
        v = v & np.uint64(0x5555555555555555)
        for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                            (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):  # fmt: skip
            v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
        return v.astype(np.int64)

    codes = codes.astype(np.uint64)
    return compact(codes), compact(codes >> np.uint64(1))


# --- arrays ----------------------------------------------------------------------------------


def _smallest(km: Floats, refs: Refs, k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` smallest distances, nearest first (ties: house numbers first,
    then by ref, whatever the order of the points)."""
    # Every point as near as the k-th (all its ties), then the k first of them in order.
    positions = np.flatnonzero(km <= np.partition(km, k - 1)[k - 1]) if len(km) > k else np.arange(len(km))
    return positions[np.lexsort((refs[positions], km[positions]))][:k]


def _ranges(lo: NDArray[np.integer], hi: NDArray[np.integer]) -> NDArray[np.int64]:
    """The indices lo[0]..hi[0]-1, lo[1]..hi[1]-1, ... as one array."""
    lengths = (hi - lo).astype(np.int64)
    total = int(lengths.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    offsets: NDArray[np.int64] = np.cumsum(lengths) - lengths
    return np.arange(total) + np.repeat(lo.astype(np.int64) - offsets, lengths)


def _isin_sorted(values: Refs, sorted_set: Refs) -> NDArray[np.bool_]:
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values  # type: ignore[no-any-return]  # numpy's == gives Any
