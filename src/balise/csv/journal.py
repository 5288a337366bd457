"""A geocoding job's journal: what it is (its input, options and index) and how far it got, saved
after each finished chunk of output, so that a job killed or crashed and started again with
the same arguments goes on from there (``job.py``).

The journal is written to a temporary file, synced and renamed over the previous one, and
only after the output it counts is synced: whatever a crash leaves, the journal never counts
output that is not on disk, and output beyond what it counts is cut off when the job resumes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..index import pointer

VERSION = 1


def sync_directory(directory: Path) -> None:
    """Make the names created or renamed in ``directory`` durable (as index/pointer.py does)."""
    pointer._fsync_dir(directory)


@dataclass
class Journal:
    """How far a job got: ``rows`` of the input done, held by the first ``out_bytes`` of the
    CSV output or by the first ``parts`` Parquet part files; ``seconds`` of work so far and
    the counts (``BatchStats.as_dict``)."""

    key: dict[str, Any]
    rows: int = 0
    out_bytes: int = 0
    parts: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, key: dict[str, Any]) -> Journal | None:
        """The journal at ``path`` if it is one of this same job (same ``key``), else None."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("key") != key:
            return None
        try:
            return cls(key, int(data["rows"]), int(data["out_bytes"]), int(data["parts"]),
                       float(data["seconds"]), dict(data["stats"]))
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, path: Path) -> None:
        """Write the journal where a crash leaves either the previous one or this one."""
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as f:
            json.dump({"version": VERSION, **asdict(self)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        sync_directory(path.parent)


def job_key(**what: Any) -> dict[str, Any]:
    """A job's identity as JSON values (tuples become lists, as they come back from a file)."""
    key: dict[str, Any] = json.loads(json.dumps(what, default=str))
    return key
