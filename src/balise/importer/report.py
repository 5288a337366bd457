"""Counters filled while a source is read, so a bad file is diagnosed without being fatal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_EXAMPLES = 10


@dataclass
class ImportReport:
    """What an import produced and what it had to skip."""

    documents: int = 0
    housenumbers: int = 0
    bad_lines: int = 0
    bytes_read: int = 0
    examples: list[tuple[str, int, str, str]] = field(default_factory=list)

    def bad(self, path: str, lineno: int, reason: str, line: str) -> None:
        """Count a skipped line; keep the first few for the user to look at."""
        self.bad_lines += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((str(path), lineno, reason, line[:200]))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (examples as lists), ready for JSON."""
        data = asdict(self)
        data["examples"] = [list(example) for example in self.examples]
        return data
