"""A bundle's archive: one index directory in a tar, compressed with zstd or gzip; written,
and read back within the sizes its manifest states (see :mod:`balise.bundle`)."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    import zstandard

import orjson

from .index.format import MANIFEST

MANIFEST_MAX = 16 << 20  # bytes a manifest may have
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_DATA_FILTER = hasattr(tarfile, "data_filter")  # Python 3.11.4+


class Sink(Protocol):
    """Where a compressed archive is written: a file, or a wrapper that hashes on the way."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class BundleError(Exception):
    """A bundle could not be created, downloaded, verified or installed."""


class ChecksumError(BundleError):
    """The downloaded archive is not the one expected (its sha256 differs)."""


@contextlib.contextmanager
def compressed_writer(raw: Sink, compression: str, level: int) -> Iterator[gzip.GzipFile | BinaryIO]:
    """A stream that compresses what is written to ``raw`` (``compression``: zstd or gzip)."""
    if compression == "gzip":
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as stream:
            yield stream
        return
    zstd = _zstandard()
    compressor: zstandard.ZstdCompressor = zstd.ZstdCompressor(level=level, threads=-1, write_checksum=True)
    # zstandard's stub asks for IO[bytes]; it calls only write() and flush(), a Sink's.
    with compressor.stream_writer(raw, closefd=False) as stream:  # type: ignore[arg-type]
        yield stream


@contextlib.contextmanager
def decompressed_reader(raw: BinaryIO) -> Iterator[gzip.GzipFile | BinaryIO]:
    """A stream of ``raw`` decompressed, the compression told by its first bytes."""
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream
    elif magic == ZSTD_MAGIC:
        decompressor: zstandard.ZstdDecompressor = _zstandard().ZstdDecompressor()
        with decompressor.stream_reader(raw, closefd=False) as stream:
            yield stream
    else:
        raise BundleError("not a gzip or zstd archive")


def _zstandard() -> ModuleType:
    """The zstandard module, or a clear error naming the package."""
    try:
        import zstandard
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BundleError("zstd bundles need the zstandard package (pip install 'balise[bundle]'); "
                          "or use a .tar.gz bundle") from e
    return zstandard


# What reading a damaged archive raises: tarfile's errors, gzip's (EOFError when cut short,
# OSError when not gzip), zlib's, zstandard's (ZstdError is a ValueError... or not: caught
# by name below), and a JSON manifest that is not one.
UNREADABLE = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError)


def extract(archive: Path, staging: Path, format_version: int) -> Path:
    """Extract the archive's one directory into ``staging``: its manifest first, whose
    ``bytes`` bound the files after it, each checked by its header before it is written."""
    top, budget = None, 0
    with open(archive, "rb") as raw, decompressed_reader(raw) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if (not member.isfile() or member.issparse() or len(parts) != 2 or ".." in parts
                    or member.name.startswith("/")):
                raise BundleError(f"unexpected archive member {member.name!r}")
            if top is None:
                if parts[1] != MANIFEST or member.size > MANIFEST_MAX:
                    raise BundleError(f"the archive does not start with the index's {MANIFEST} (a bundle of "
                                      f"format {format_version} does; make it again with `balise "
                                      "bundle create`)")
                f = tar.extractfile(member)
                data = f.read(MANIFEST_MAX + 1) if f is not None else b""
                top, budget = parts[0], _manifest_bytes(data)
                free = shutil.disk_usage(staging).free
                if budget > free:
                    raise BundleError(f"the index needs {budget:,} bytes, {free:,} are free; nothing was "
                                      "installed")
                (staging / top).mkdir()
                (staging / top / MANIFEST).write_bytes(data)
                continue
            if parts[0] != top:
                raise BundleError("a bundle holds one index directory, found more")
            if member.size > budget:
                raise BundleError(f"the archive holds more than its manifest's {budget:,} bytes left "
                                  f"({member.name}: {member.size:,}); nothing was installed")
            budget -= member.size
            member.mode = 0o644
            # NOTE: the checks above already allow only regular files, two levels deep;
            # the "data" filter (Python 3.11.4+) is one more guard where it exists.
            if _DATA_FILTER:
                tar.extract(member, staging, filter="data")
            else:  # Python before 3.11.4 (Debian 12 has 3.11.2)
                tar.extract(member, staging)
    if top is None:
        raise BundleError("the archive is empty")
    return staging / top


def _manifest_bytes(data: bytes) -> int:
    """The ``bytes`` of the index files a manifest lists."""
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BundleError(f"the index's manifest is not JSON ({e})") from e
    size = manifest.get("bytes") if isinstance(manifest, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BundleError("the index's manifest is not an object with its files' bytes")
    return size
