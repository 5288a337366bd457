"""Which index is in service: a ``current`` symlink over versioned index directories.

Layout of an index root (what ``balise bundle fetch --into ROOT`` builds)::

    ROOT/current -> 3f2a9c0d1e4b          a relative symlink, replaced atomically
    ROOT/3f2a9c0d1e4b/manifest.json ...   one immutable index per version
    ROOT/9be01f27aa10/...                 the previous one, kept for a rollback

A new version is unpacked and validated beside the others, then ``publish`` points
``current`` at it with ``os.replace`` of a temporary symlink: a reader sees the old
target or the new one, never a missing link. Running servers notice through
``geocoder.CurrentGeocoder``, which checks the link at most once a second and swaps its
reference after the new index is open; requests holding the old geocoder finish on
its maps (an unlinked file stays mapped until the last reference goes).

A plain index directory (a ``manifest.json`` and no ``current``) works everywhere a
root does: it is its own single, never-changing version.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from .format import MANIFEST
from .reader import IndexFormatError, IndexReader

CURRENT = "current"
DEFAULT_KEEP = 2  # the version in service and one to roll back to

log = logging.getLogger(__name__)


def resolve(path: Path | str) -> Path:
    """The index directory in service under ``path``: a root's ``current`` target, or
    ``path`` itself when it is a plain index directory (or the ``current`` link)."""
    path = Path(path)
    link = path / CURRENT
    if link.is_symlink():
        return path / os.readlink(link)
    if (path / MANIFEST).is_file():
        return path
    raise IndexFormatError(f"{path} is neither a balise index nor an index root "
                           f"(no {MANIFEST}, no {CURRENT})")


def current_target(path: Path | str) -> str | None:
    """What ``path/current`` points to (one ``readlink``), None for a plain index directory."""
    try:
        return os.readlink(Path(path) / CURRENT)
    except (FileNotFoundError, NotADirectoryError, OSError):
        return None


def versions(root: Path | str) -> list[Path]:
    """Index directories under ``root``, oldest published first (hidden staging names skipped)."""
    root = Path(root)
    found = [p for p in root.iterdir()
             if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def publish(root: Path | str, new_dir: Path | str, keep: int = DEFAULT_KEEP) -> Path:
    """Point ``root/current`` at ``new_dir`` (a directory directly under ``root``), then
    prune older versions so that ``keep`` remain (the new one included).

    ``new_dir`` is opened first: a directory that is not a readable index of this
    format is refused and ``current`` is left as it was.
    """
    root, new_dir = Path(root), Path(new_dir)
    if new_dir.parent.resolve() != root.resolve():
        raise ValueError(f"{new_dir} must sit directly under {root}: the link is relative")
    IndexReader(new_dir)  # raises IndexFormatError: never point at a half-written index
    os.utime(new_dir)  # its publication time orders the versions for pruning
    tmp = root / f".{CURRENT}.{os.getpid()}.{threading.get_ident()}"
    tmp.unlink(missing_ok=True)
    os.symlink(new_dir.name, tmp)
    os.replace(tmp, root / CURRENT)  # atomic: rename(2) over the old link
    _fsync_dir(root)
    log.info("published %s as %s/%s", new_dir.name, root, CURRENT)
    prune(root, keep)
    return new_dir


def install(root: Path | str, directory: Path | str, keep: int = DEFAULT_KEEP) -> Path:
    """Put the index ``directory`` (built anywhere) under ``root`` as ``root/<version>``
    and publish it; a version already there is published again (a rollback).

    The files are hard-linked where the file system allows, else copied, into a
    staging directory renamed at the end: ``directory`` is left as it was.
    """
    root, directory = Path(root), Path(directory)
    version = IndexReader(directory).version
    target = root / version
    if not target.exists():
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".staging-install-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(directory, staging, copy_function=_link_or_copy)
        staging.chmod(0o755)
        os.replace(staging, target)
    return publish(root, target, keep)


def _link_or_copy(src: str, dst: str) -> None:
    # NOTE: safe because index files are never rewritten in place (a new build is a new directory).
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def prune(root: Path | str, keep: int = DEFAULT_KEEP) -> list[Path]:
    """Remove all but the ``keep`` most recently published versions; never the current one.

    NOTE: a server that still maps a removed version keeps reading it (the files live
    on until unmapped); only the disk space waits for that.
    """
    root = Path(root)
    target = current_target(root)
    old = [p for p in versions(root) if p.name != target]
    doomed = old[: max(0, len(old) - max(keep - 1, 0))]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
        log.info("pruned index version %s", path)
    return doomed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
