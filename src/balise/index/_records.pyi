# Stub of the compiled _records.pyx (the types mypy checks its callers against).
from collections.abc import Callable
from typing import Any

def housenumber_record(key: str, raw: str, data: dict[str, Any], doc_id: str) -> bytes: ...
# ``numbers``: a document's "housenumbers" (raw number -> its properties, with lon and lat).
def housenumbers(numbers: dict[str, Any], doc_id: str, key_of: Callable[[str], str], scale: float,
                 records: list[bytes], lonlat: list[int]) -> tuple[int, float, float, float, float]: ...
