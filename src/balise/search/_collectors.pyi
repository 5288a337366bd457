# Stub of the compiled _collectors.pyx (the types mypy checks its callers against).
from ._search import Search

COLLECTORS: tuple[str, ...]

def collect(s: Search) -> list[int]: ...
