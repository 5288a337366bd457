"""Reading address files: lines of a gzip or plain file (bad bytes reported, not fatal), and
the fields of a CSV line."""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .report import ImportReport


class LineReader:
    """Decoded lines of a gzip or plain file, tracking the line number and compressed bytes read."""

    def __init__(self, path: str | Path, report: ImportReport) -> None:
        self.path = str(path)
        self.report = report
        self.lineno = 0
        self.line = ""
        self._raw: IO[bytes] | None = None
        self._base = report.bytes_read

    def consumed(self) -> None:
        """Publish the compressed bytes consumed so far (for progress bars)."""
        if self._raw is not None and not self._raw.closed:
            self.report.bytes_read = self._base + self._raw.tell()

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as raw:
            self._raw = raw
            stream = decompressed(raw)
            try:
                for data in stream:
                    self.lineno += 1
                    try:
                        line = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = data.decode("utf-8", "replace")
                        self.report.bad(self.path, self.lineno, "invalid UTF-8", text)
                        continue
                    if self.lineno == 1:
                        line = line.lstrip("\ufeff")
                    self.line = line.rstrip("\r\n")
                    yield self.line
            except (EOFError, OSError, zlib.error) as exc:
                # Truncated or corrupt gzip: keep what was read, say where it stopped.
                reason = f"unreadable after this line ({type(exc).__name__}: {exc})"
                self.report.bad(self.path, self.lineno, reason, "")
            self.consumed()


def decompressed(raw: IO[bytes]) -> IO[bytes]:
    """The bytes of a file opened in binary, gunzipped when it starts with gzip's magic."""
    gzipped = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[return-value]


def first_line(path: str | Path) -> str:
    """First non-empty line of a file (gzip or plain), '' if none can be read."""
    with open(path, "rb") as raw:
        stream = decompressed(raw)
        try:
            for data in stream:
                line = data.decode("utf-8", "replace").lstrip("\ufeff").strip()
                if line:
                    return line
        except (EOFError, OSError, zlib.error):
            pass
    return ""


def split_line(line: str, sep: str) -> list[str] | None:
    """Split one CSV line (None if its quotes are broken); never reads across lines."""
    if '"' not in line:
        return line.split(sep)
    try:
        return next(csv.reader((line,), delimiter=sep, strict=True))
    except (csv.Error, StopIteration):
        return None


def coordinates(lon_text: str, lat_text: str) -> tuple[float, float] | None:
    """Parsed (lon, lat), or None when unparsable, not finite, out of range or (0, 0)."""
    try:
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        return None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0) or (lon == 0.0 and lat == 0.0):
        return None
    return lon, lat


def float_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
