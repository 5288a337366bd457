# Stub of the compiled _stored.pyx (the types mypy checks its callers against).
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from ._lookup import StringTable
from ._parts import Parts

@disjoint_base  # a cdef class: its own C layout
class StoredDocuments:
    def __init__(self, blob: Any, offsets: npt.NDArray[np.uint32] | npt.NDArray[np.uint64],
                 lonlat: npt.NDArray[np.float64], ids: StringTable,
                 parts: Parts, error: type[Exception], where: str) -> None: ...
    def document(self, n: int) -> dict[str, Any]: ...
