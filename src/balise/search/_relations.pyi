# Stub of the compiled _relations.pyx (the types mypy checks its callers against).
from typing_extensions import disjoint_base

from ..index._postings import Postings

@disjoint_base  # a cdef class: its own C layout
class Pairs:
    def __init__(self, postings: Postings) -> None: ...
    def __call__(self, a: int, b: int) -> bool: ...
