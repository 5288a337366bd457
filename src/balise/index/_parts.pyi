# Stub of the compiled _parts.pyx (the types mypy checks its callers against).
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

def members(json: bytes) -> list[tuple[bytes, bytes]]: ...
def tabled_keys(samples: list[bytes]) -> set[bytes]: ...

@disjoint_base  # a cdef class: its own C layout
class PartsWriter:
    parts: list[bytes]
    def __init__(self, tabled: set[bytes]) -> None: ...
    def record(self, json: bytes) -> bytes: ...

@disjoint_base
class Parts:
    def __init__(self, blob: Any, offsets: npt.NDArray[np.uint64]) -> None: ...
