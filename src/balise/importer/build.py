"""``balise import``: read sources, index them, report what happened."""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..index import DocumentError, IndexWriter
from ..text import make_pipeline
from .communes import Communes
from .report import ImportReport
from .sources import detect_format, iter_documents


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_index(
    sources: list[Path],
    index_dir: Path,
    communes_dir: Path | None = None,
    rules: str = "fr",
    progress: Callable[[int], None] | None = None,
) -> tuple[dict, ImportReport]:
    """Build ``index_dir`` from ``sources``; the previous index there is replaced only at the end.

    ``progress`` is called with the number of source bytes read so far.
    """
    started = time.perf_counter()
    report = ImportReport()
    communes = Communes.load(communes_dir) if communes_dir else None
    writer = IndexWriter(index_dir, make_pipeline(rules), rules=rules)
    described = []
    try:
        done_bytes = 0
        for path in sources:
            path = Path(path)
            fmt = detect_format(path) if path.stat().st_size else "empty"
            described.append(
                {"path": path.name, "format": fmt, "bytes": path.stat().st_size,
                 "sha256": file_sha256(path),
                 # HOOK(status): the source's date as /status shows it (its modification time)
                 "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")}
            )
            before = report.bytes_read
            for doc in iter_documents(path, report, communes):
                try:
                    writer.add(doc)
                except DocumentError as e:
                    report.bad(str(path), 0, str(e), str(doc.get("id", "")) if isinstance(doc, dict) else "")
                if progress:
                    progress(done_bytes + report.bytes_read - before)
            done_bytes += path.stat().st_size
        manifest = writer.finish(
            sources=described,
            report=lambda: {
                **report.as_dict(),
                "merged_duplicate_ids": writer.merged,
                "communes": bool(communes_dir),
                "seconds": round(time.perf_counter() - started, 2),
                "peak_memory_mb": round(peak_memory_mb(), 1),
            },
        )
    except BaseException:
        writer.abort()
        raise
    return manifest, report
