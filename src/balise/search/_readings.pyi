# Stub of the compiled _readings.pyx (the types mypy checks its callers against).
from typing import Any

from ..index.format import Document
from ..text import Pipeline
from ._search import Search
from .area import Area

def best_reading(engine: Any, q: str, trace: bool = False, *, limit: int = 5, autocomplete: bool = False,
                 lat: float | None = None, lon: float | None = None, filters: dict[str, Any] | None = None,
                 area: Area | None = None) -> tuple[Search, list[int]]: ...
def could_name_a_place(engine: Any, text: str) -> bool: ...
def names_the_place(pipeline: Pipeline, text: str, doc: Document) -> bool: ...
