# Stub of the compiled _postings.pyx (the types mypy checks its callers against); the search
# reads the lists in C (_postings.pxd).
from typing import Self

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

@disjoint_base  # a cdef class: its own C layout
class Postings:
    def __new__(cls, start: npt.NDArray[np.uint64], docs: npt.NDArray[np.uint32],
                scores: npt.NDArray[np.float64], lonlat: npt.NDArray[np.float64],
                extent: npt.NDArray[np.float32]) -> Self: ...  # __cinit__
    def frequency(self, term: int) -> int: ...
    def share(self, a: int, b: int) -> bool: ...
    def intersects(self, terms: list[int]) -> bool: ...
    def intersection(self, terms: list[int]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]: ...
