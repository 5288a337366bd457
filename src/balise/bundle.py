"""Index bundles: an index directory shipped as one archive, fetched and swapped in safely.

``create`` packs an index into ``OUT`` (a tar, zstd- or gzip-compressed, chosen by the
suffix ``.tar.zst`` or ``.tar.gz``) and publishes beside it ``OUT.sha256`` (the
``sha256sum`` line of the archive) and ``OUT.json`` (a descriptor: checksum, size, and
the manifest's version and counts).

``fetch`` downloads a bundle into ``ROOT/.download/`` (resuming with HTTP Range after a
dropped connection, retrying with exponential backoff, every socket operation under a
timeout), refuses it unless its sha256 is the one expected, unpacks it into a hidden
staging directory under ``ROOT``, opens it with ``IndexReader``, renames it to
``ROOT/<version>/`` and only then points ``ROOT/current`` at it (``index/pointer.py``).
Whatever fails, the version in service is not touched, and a refused download is deleted
(an interrupted one is kept, to resume). Every refusal is a :class:`BundleError` of one line.

The archive holds the index's manifest first (bundle format 2): its ``bytes`` bound what
unpacking may write, member by member as the archive streams, before any is written (a
1.28 MB archive used to expand to about 1 GB before a size check refused it).

NOTE: why these choices.
- zstd (the ``zstandard`` package, a dependency of balise) for the
  bundles we publish: level 9 (the default) is smaller than gzip and faster to make and to
  unpack, which every replica does at start; ``--level 19`` is smaller still but many times
  slower to make (measured: bench/README.md). gzip (stdlib) is always readable and needs
  nothing extra.
- ``urllib`` (stdlib) for the download: one GET with a Range header is all that is
  needed, and the init container then carries no HTTP client library.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import http.client
import logging
import os
import random
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import __version__
from .archive import (
    UNREADABLE,
    BundleError,
    ChecksumError,
    compressed_writer,
    extract,
)
from .index import pointer
from .index.format import MANIFEST
from .index.reader import IndexFormatError, IndexReader

BUNDLE_FORMAT = "balise-bundle"
BUNDLE_FORMAT_VERSION = 2  # 2: the manifest first in the archive (1: last)
CHUNK = 1 << 20
DEFAULT_LEVEL = {"zstd": 9, "gzip": 6}
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}

log = logging.getLogger(__name__)


# A version names a directory directly under the index root: one plain name, never hidden.
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_version(version: object) -> str:
    """``version`` if it is safe as ``ROOT/<version>``, else ``BundleError``.

    NOTE: the version comes from the manifest inside the archive, so from whoever made the
    bundle: "../x" or an absolute path would install outside ROOT, and "current" would make
    ROOT/current a link to itself.
    """
    if (not isinstance(version, str) or not VERSION_NAME.fullmatch(version)
            or version == pointer.CURRENT):
        raise BundleError(f"refused: the index version {version!r} is not a plain name (letters, digits, "
                          f"'.', '_', '-'; not {pointer.CURRENT!r}); nothing was installed")
    return version


# --- create ------------------------------------------------------------------------------------


def compression_of(name: str) -> str:
    if name.endswith((".tar.zst", ".tzst")):
        return "zstd"
    if name.endswith((".tar.gz", ".tgz")):
        return "gzip"
    raise BundleError(f"{name}: a bundle name ends with .tar.zst or .tar.gz")


def create(index_dir: Path | str, out: Path | str, level: int | None = None) -> dict[str, Any]:
    """Pack ``index_dir`` into ``out``; write ``out.sha256`` and ``out.json``; return the descriptor.

    The archive holds one directory named after the index version, its manifest first: its
    sizes bound what unpacking writes (an archive cut short is refused by its checksum, and
    an unpacked index is opened and checked before it is used).
    """
    index_dir, out = Path(index_dir), Path(out)
    manifest = IndexReader(index_dir).manifest  # refuses a directory that is not an index
    compression = compression_of(out.name)
    level = DEFAULT_LEVEL[compression] if level is None else level
    version = check_version(manifest.get("version"))
    files = sorted(p for p in index_dir.iterdir() if p.is_file() and p.name != MANIFEST)
    files.insert(0, index_dir / MANIFEST)
    partial = out.with_name(f".{out.name}.part")
    try:
        with open(partial, "wb") as raw:
            hashing = _HashingWriter(raw)
            with compressed_writer(hashing, compression, level) as stream, \
                    tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path in files:
                    info = tar.gettarinfo(str(path), arcname=f"{version}/{path.name}")
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o644
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    descriptor = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "archive": out.name,
        "compression": compression,
        "bytes": hashing.size,
        "sha256": hashing.hexdigest(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "created_by": f"balise {__version__}",
        "index": {
            "version": version,
            "format_version": manifest.get("format_version"),
            "built_at": manifest.get("built_at"),
            "counts": manifest.get("counts"),
            "bytes": manifest.get("bytes"),
        },
    }
    _write_atomic(out.with_name(out.name + ".sha256"), f"{descriptor['sha256']}  {out.name}\n".encode())
    _write_atomic(out.with_name(out.name + ".json"), orjson.dumps(descriptor, option=orjson.OPT_INDENT_2))
    return descriptor


class _HashingWriter:
    """A file wrapper that hashes and counts what goes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.size, self._hash = f, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- fetch -------------------------------------------------------------------------------------


def fetch(
    url: str,
    into: Path | str,
    sha256: str | None = None,
    keep: int = pointer.DEFAULT_KEEP,
    timeout: float = 30.0,
    retries: int = 6,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Install the bundle at ``url`` as the current index of the root ``into``; return its directory.

    ``sha256`` pins the expected checksum (else it is read from ``url + ".sha256"``). A
    bundle already installed (same checksum, its version still on disk) is published
    again without a download, so an init container that runs twice is cheap.
    """
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    get = _Getter(timeout, retries, backoff, sleep)
    expected = (sha256 or (get.text(url + ".sha256").split() or [""])[0]).lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise BundleError(f"not a sha256: {expected!r}")
    with _locked(into):
        known = _fetched(into, expected)
        if known is not None:
            log.info("bundle %s already installed as %s", expected[:12], known.name)
            return pointer.publish(into, known, keep)
        downloads = into / ".download"
        downloads.mkdir(exist_ok=True)
        part = downloads / f"{expected}.part"  # by checksum: never resumed from another bundle's bytes
        resumed = get.download(url, part)
        actual = sha256_of(part)
        if actual != expected and resumed:
            # The bytes kept from an earlier attempt may be the bad ones: once, from zero.
            log.warning("checksum mismatch after a resumed download; downloading again from the start")
            part.unlink()
            get.download(url, part)
            actual = sha256_of(part)
        if actual != expected:
            part.unlink()
            raise ChecksumError(f"{url}: sha256 {actual}, expected {expected}; refused, nothing changed")
        try:
            directory = _unpack(part, into)
        finally:
            part.unlink(missing_ok=True)  # unpacked, or refused: never worth resuming
        _remember(into, expected, directory)
        return pointer.publish(into, directory, keep)


class _Getter:
    """GETs with a timeout on every socket operation and retries with exponential backoff."""

    def __init__(self, timeout: float, retries: int, backoff: float, sleep: Callable[[float], None]) -> None:
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep
        self.headers = {"User-Agent": f"balise/{__version__}"}

    def _pause(self, attempt: int, why: object) -> None:
        delay = min(self.backoff * 2**attempt, 60.0) * random.uniform(0.5, 1.0)  # jitter: replicas spread out
        log.warning("download failed (%s); retry %d/%d in %.1f s", why, attempt + 1, self.retries, delay)
        self.sleep(delay)

    def text(self, url: str) -> str:
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(url, headers=self.headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    text: bytes = response.read(1 << 16)  # urlopen's answer is typed Any
                    return text.decode()
            except urllib.error.HTTPError as e:
                if e.code not in RETRYABLE_STATUS or attempt == self.retries:
                    raise BundleError(f"{url}: HTTP {e.code}") from e
                self._pause(attempt, e)
            except (OSError, http.client.HTTPException) as e:
                if attempt == self.retries:
                    raise BundleError(f"{url}: {e}") from e
                self._pause(attempt, e)
        raise AssertionError("unreachable")

    def download(self, url: str, part: Path) -> bool:
        """Complete ``part`` from ``url``; True if it started from bytes already there.

        A failed attempt that brought new bytes does not count against ``retries``:
        a long download over a flaky link gets there.
        """
        resumed = part.exists() and part.stat().st_size > 0
        attempt = 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            try:
                if self._get_range(url, part, have):
                    return resumed
                why: object = "connection closed early"
            except urllib.error.HTTPError as e:
                if e.code not in RETRYABLE_STATUS:
                    raise BundleError(f"{url}: HTTP {e.code}") from e
                why = e
            except (OSError, http.client.HTTPException) as e:
                why = e
            if part.exists() and part.stat().st_size > have:
                attempt = 0  # progress: start counting failures again
            if attempt >= self.retries:
                raise BundleError(f"{url}: gave up after {self.retries} retries ({why}); "
                                  f"{part} is kept to resume")
            self._pause(attempt, why)
            attempt += 1

    def _get_range(self, url: str, part: Path, have: int) -> bool:
        """One GET from byte ``have``; True when the file is complete."""
        headers = dict(self.headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # nothing left past `have`: complete (the checksum will tell)
                return True
            raise
        with response:
            if have and response.status == 206:
                start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
                if start != str(have):
                    raise BundleError(f"{url}: asked for bytes from {have}, got {start or '?'}")
                mode = "ab"
            else:  # 200: the server ignored the range; start over
                have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            expected = have + int(length) if length is not None else None
            with open(part, mode) as f:
                # read1: what has arrived, so a stall or a reset loses nothing already received.
                while chunk := response.read1(CHUNK):
                    f.write(chunk)
                size = f.tell()
        # NOTE: http.client returns b"" rather than raising when the peer closes before
        # Content-Length; the size is what tells a cut transfer.
        return expected is None or size >= expected


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` under ``into`` and return ``into/<version>``, validated."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=into))
    try:
        try:
            unpacked = extract(archive, staging, BUNDLE_FORMAT_VERSION)
        except BundleError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a damaged archive raises (zstandard's too)
            if not isinstance(e, UNREADABLE) and type(e).__name__ != "ZstdError":
                raise
            raise BundleError(f"the archive cannot be read ({type(e).__name__}: {e}); nothing was installed"
                              ) from e
        try:
            manifest = IndexReader(unpacked).manifest
        except (IndexFormatError, OSError, ValueError, AttributeError, KeyError, TypeError) as e:
            raise BundleError(f"the bundle does not hold a valid index: {e}") from e
        written = sum(p.stat().st_size for p in unpacked.iterdir() if p.name != MANIFEST)
        if manifest.get("bytes") != written:
            raise BundleError(f"index files hold {written} bytes, its manifest says {manifest.get('bytes')}")
        target = into / check_version(manifest.get("version"))
        if target.exists():
            try:  # the same version already there: keep it (it may be in service)
                IndexReader(target)
            except (IndexFormatError, OSError, ValueError) as e:
                raise BundleError(f"{target} exists and is not an index ({e}); nothing was installed") from e
        else:
            unpacked.chmod(0o755)
            os.replace(unpacked, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One fetch at a time per root (two init containers on one volume); stale staging
    directories of an interrupted fetch are removed under the lock."""
    with open(root / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in root.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _fetched(root: Path, sha256: str) -> Path | None:
    """The version directory a bundle with this checksum was unpacked into, if still valid."""
    marker = root / ".fetched" / sha256
    try:
        directory = root / marker.read_text().strip()
        IndexReader(directory)
        return directory
    except (OSError, IndexFormatError, ValueError, AttributeError):
        marker.unlink(missing_ok=True)
        return None


def _remember(root: Path, sha256: str, directory: Path) -> None:
    (root / ".fetched").mkdir(exist_ok=True)
    _write_atomic(root / ".fetched" / sha256, directory.name.encode())
