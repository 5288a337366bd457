# Stub of the compiled _textscore.pyx (the types mypy checks its callers against).
# A typed memoryview parameter (``const uint8_t[::1]``...) takes a C-contiguous array of that dtype.
import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

@disjoint_base  # a cdef class: its own C layout
class Query:
    @property
    def text(self) -> bytes: ...  # cdef readonly
    def __init__(self, query: str) -> None: ...
    def compare(self, label: str) -> float: ...

def score_stored(query: Query, blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.uint64],
                 docs: npt.NDArray[np.int64], numbers: list[bytes | None],
                 autocomplete: bool, extras: list[tuple[bytes, ...] | None] | None = None
                 ) -> npt.NDArray[np.float64]: ...
def score_labels(query: Query, candidates: list[tuple[str, ...]], autocomplete: bool
                 ) -> npt.NDArray[np.float64]: ...
