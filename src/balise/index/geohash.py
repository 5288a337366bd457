"""Geohash cells as integers, vectorized.

Addok biases searches towards a centre with the 3x3 block of precision-7
geohash cells around it; balise uses the same cells, as 35-bit integers
(longitude bit first, as in the geohash string), for that bias and as the
grid of its reverse-geocoding index. Written here rather than taken from
python-geohash because balise needs numpy-vectorized encoding of millions of
points at import, which that C extension does not offer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .format import GEOHASH_BITS

LON_BITS = (GEOHASH_BITS + 1) // 2  # 18
LAT_BITS = GEOHASH_BITS // 2  # 17
CELL_LON = 360.0 / (1 << LON_BITS)
CELL_LAT = 180.0 / (1 << LAT_BITS)


def _spread(v: NDArray[np.integer]) -> NDArray[np.uint64]:
    """Insert a zero bit between each bit of v (up to 32 bits)."""
    v = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def cell_xy(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Column and row of the cells holding the points."""
    x = np.floor((np.asarray(lon, dtype=np.float64) + 180.0) / CELL_LON).astype(np.int64)
    y = np.floor((np.asarray(lat, dtype=np.float64) + 90.0) / CELL_LAT).astype(np.int64)
    return np.clip(x, 0, (1 << LON_BITS) - 1), np.clip(y, 0, (1 << LAT_BITS) - 1)


def interleave(x: ArrayLike, y: ArrayLike) -> NDArray[np.uint64]:
    """Geohash integer of cell columns and rows: lon and lat bits alternate, lon first."""
    return _spread(np.asarray(x)) | (_spread(np.asarray(y)) << np.uint64(1))


def encode(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.uint64]:
    x, y = cell_xy(lon, lat)
    return interleave(x, y)


def block(lon: float, lat: float, radius: int = 1) -> NDArray[np.uint64]:
    """Cells of the (2r+1)^2 block centred on the point's cell."""
    x, y = cell_xy(lon, lat)
    d = np.arange(-radius, radius + 1)
    xs = (int(x) + d[:, None] + np.zeros_like(d)[None, :]).ravel()
    ys = (int(y) + d[None, :] + np.zeros_like(d)[:, None]).ravel()
    xs = np.mod(xs, 1 << LON_BITS)
    ys = np.clip(ys, 0, (1 << LAT_BITS) - 1)
    return np.unique(interleave(xs, ys))
