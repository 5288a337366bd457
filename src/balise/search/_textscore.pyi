# Stub of the compiled _textscore.pyx (the types mypy checks its callers against).
from typing import Any

import numpy as np
import numpy.typing as npt

class Query:
    text: bytes
    def __init__(self, query: str) -> None: ...
    def compare(self, label: str) -> float: ...

def score_stored(query: Query, blob: Any, offsets: Any, docs: Any, numbers: list[bytes | None],
                 autocomplete: bool) -> npt.NDArray[np.float64]: ...
def score_labels(query: Query, candidates: list[Any], autocomplete: bool) -> npt.NDArray[np.float64]: ...
