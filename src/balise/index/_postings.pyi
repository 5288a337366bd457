# Stub of the compiled _postings.pyx (the types mypy checks its callers against).
# A typed memoryview parameter (``const uint32_t[::1]``...) takes a C-contiguous array of that dtype.
from typing import Self, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

# Documents (ascending) and their scores: a filter, the block around a centre, an intersection.
_Pair: TypeAlias = tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]
# A key: a term number (its postings in the index's arrays) or a pair of arrays.
_Key = TypeVar("_Key", bound=int | _Pair)
# (west, south, east, north, by_extent), or None for no box.
_Box: TypeAlias = tuple[float, float, float, float, bool] | None

@disjoint_base  # a cdef class: its own C layout
class Postings:
    def __new__(cls, start: npt.NDArray[np.uint64], docs: npt.NDArray[np.uint32],
                scores: npt.NDArray[np.float64], lonlat: npt.NDArray[np.float64],
                extent: npt.NDArray[np.float32]) -> Self: ...  # __cinit__
    def frequency(self, term: int) -> int: ...
    def share(self, a: int, b: int) -> bool: ...
    def length(self, key: int | _Pair) -> int: ...
    def best(self, keys: list[_Key], limit: int, by_length: bool = True, box: _Box = None) -> list[int]: ...
    def intersection(self, keys: list[_Key], by_length: bool = True, box: _Box = None) -> _Pair: ...
    def intersects(self, keys: list[_Key], box: _Box = None) -> bool: ...
    def extend(self, fixed: list[_Key], fixed_terms: set[int], terms: list[int], bucket: set[int],
               wanted: int, bucket_max: int, stop: int, box: _Box = None) -> int: ...

def best(docs: npt.NDArray[np.uint32], scores: npt.NDArray[np.float64], limit: int
         ) -> npt.NDArray[np.int64]: ...
def members(values: npt.NDArray[np.uint32], sorted_set: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]: ...
