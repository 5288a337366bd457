# Stub of the compiled _reverse.pyx (the types mypy checks its callers against).
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

NEAR_LEVELS: int
FAR_LEVEL: int
LEAF_POINTS: int

Found = tuple[list[int], list[float]]  # refs and km, nearest first

@disjoint_base  # a cdef class: its own C layout
class PointGrid:
    measured: int  # cdef public: points measured so far
    def __init__(self, index: Any) -> None: ...
    def near(self, lat: float, lon: float, limit: int, max_km: float, allowed: Any) -> Found | None: ...
    def far(self, lat: float, lon: float, limit: int, max_km: float, allowed: Any) -> Found: ...
    def nearest_of(self, refs: npt.NDArray[np.int64], lat: float, lon: float, limit: int) -> Found: ...
