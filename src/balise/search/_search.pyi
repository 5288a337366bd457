# Stub of the compiled _search.pyx (the types mypy checks its callers against).
from collections.abc import Iterable
from typing import Any

from typing_extensions import disjoint_base

from ._query import Query, QueryText
from ._scorer import Scorer
from .area import Area

@disjoint_base  # a cdef class: its own C layout
class Search:
    @property
    def query(self) -> Query: ...
    @property
    def wanted(self) -> int: ...
    @property
    def autocomplete(self) -> bool: ...
    trace: list[str] | None
    @property
    def area(self) -> Area | None: ...
    @property
    def scorer(self) -> Scorer: ...
    def __init__(self, engine: Any, text: QueryText, limit: int = 5, autocomplete: bool = False,
                 lat: float | None = None, lon: float | None = None,
                 filters: dict[str, list[str]] | None = None, fuzzy: bool = True,
                 trailing_number_as_housenumber: bool = False, extract: bool = True,
                 area: Area | None = None, trace: bool = False) -> None: ...
    def note(self, action: str, keys: Iterable[int] | None = None) -> None: ...
    def describe(self, keys: Iterable[int]) -> list[str]: ...
    @property
    def bucket_size(self) -> int: ...
