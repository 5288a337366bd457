# Stub of the compiled _documents.pyx (the types mypy checks its callers against).
from array import array
from typing import Any

from typing_extensions import disjoint_base

from ..text import Pipeline

FIELDS: tuple[tuple[str, float], ...]
FILTERS: tuple[str, ...]
NOT_STORED: tuple[str, ...]
REPORTED_MAX: int

def invalid_reason(doc: object) -> str: ...
def as_list(value: Any) -> list[Any]: ...
def document_labels(doc: dict[str, Any]) -> bytes: ...

@disjoint_base  # a cdef class: its own C layout
class Batch:
    ids: list[str]
    docs: list[bytes]
    labels: list[bytes]
    bad: list[tuple[int, str, str]]  # (line, reason, text)
    importance: array[float]
    lonlat: array[float]
    extent: array[float]
    post_term: array[int]
    post_doc: array[int]
    post_score: array[float]
    hn_count: array[int]
    hn_lengths: array[int]
    flags: bytearray
    hn_records: bytearray
    hn_lonlat: bytearray
    terms: dict[str, int]
    words: dict[str, list[str]]
    place_tokens: set[str]
    housenumbers: int
    read_documents: int
    read_housenumbers: int
    def __init__(self, pipeline: Pipeline, reported: set[str] | None = None) -> None: ...
    def add_lines(self, block: bytes, first_line: int) -> None: ...
    def add_line(self, line: bytes, lineno: int) -> None: ...
    def tokens(self, doc: dict[str, Any]) -> dict[str, float]: ...
    def add(self, doc: dict[str, Any]) -> None: ...
