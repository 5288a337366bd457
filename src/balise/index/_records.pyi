# Stub of the compiled _records.pyx (the types mypy checks its callers against).
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

def ban_suffix(key: str) -> str: ...
def housenumber_record(key: str, raw: str, data: dict[str, Any], doc_id: str) -> bytes: ...
# ``numbers``: a document's "housenumbers" (raw number -> its properties, with lon and lat).
def housenumbers(numbers: dict[str, Any], doc_id: str, key_of: Callable[[str], str], keys: dict[str, str],
                 scale: float, records: bytearray, lonlat: bytearray
                 ) -> tuple[int, float, float, float, float]: ...
def gather(fd: int, starts: npt.NDArray[np.uint64], lengths: npt.NDArray[np.uint64]) -> bytearray: ...
