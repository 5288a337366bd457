"""The ``current`` pointer of an index root (index/pointer.py): resolve, publish, prune,
install, and the holder that follows the link in a running server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from balise import Geocoder
from balise.geocoder import CurrentGeocoder
from balise.index import IndexFormatError, IndexReader
from balise.index.pointer import (
    CURRENT,
    install,
    prune,
    publish,
    resolve,
    versions,
)


@pytest.fixture
def root(tmp_path, sample_index, alps_index) -> Path:
    """An index root holding the sample (current) and the Alps index (not published)."""
    root = tmp_path / "root"
    install(root, sample_index)
    return root


def version(index: Path) -> str:
    return IndexReader(index).version


def test_a_plain_index_directory_is_its_own_version(sample_index):
    assert resolve(sample_index) == sample_index
    assert CurrentGeocoder(sample_index, opener=lambda d: d).target is None


def test_a_directory_that_is_not_an_index_is_refused(tmp_path):
    with pytest.raises(IndexFormatError, match="neither a balise index nor an index root"):
        resolve(tmp_path)


def test_install_links_a_built_index_under_its_version_and_points_current_at_it(root, sample_index):
    link = root / CURRENT
    assert link.is_symlink()
    assert os.readlink(link) == version(sample_index)  # relative: the root can be mounted anywhere
    assert resolve(root) == root / version(sample_index)
    assert (sample_index / "manifest.json").exists()  # the source is left as it was
    assert Geocoder.open(resolve(root)).search("rue de rivoli", limit=1)["features"]


def test_publish_refuses_a_half_written_index_and_keeps_current(root, sample_index):
    half = root / "half"
    half.mkdir()
    (half / "docs.bin").write_bytes(b"partial")  # no manifest: what a cut copy looks like
    with pytest.raises(IndexFormatError):
        publish(root, half)
    assert os.readlink(root / CURRENT) == version(sample_index)


def test_publish_refuses_a_directory_outside_the_root(root, alps_index):
    with pytest.raises(ValueError, match="directly under"):
        publish(root, alps_index)


def test_a_new_version_replaces_the_link_and_a_rollback_is_a_publish(root, sample_index, alps_index):
    install(root, alps_index)
    assert os.readlink(root / CURRENT) == version(alps_index)
    assert [p.name for p in versions(root)] == [version(sample_index), version(alps_index)]
    install(root, root / version(sample_index))  # roll back to the version kept on disk
    assert os.readlink(root / CURRENT) == version(sample_index)
    assert not list(root.glob(".current.*")) and not list(root.glob(".staging*"))


def test_old_versions_are_pruned_except_the_last_n(root, sample_index, alps_index):
    install(root, alps_index, keep=1)
    assert [p.name for p in versions(root)] == [version(alps_index)]
    # A third copy under another name: prune never removes the current one.
    assert prune(root, keep=1) == []


def test_the_holder_follows_the_link_without_making_a_request_wait(root, sample_index, alps_index):
    opened, release = [], threading.Event()

    def slow_open(directory: Path):
        opened.append(directory.name)
        if len(opened) > 1:
            release.wait(10)  # the new index is still opening...
        return directory.name

    old, new = version(sample_index), version(alps_index)
    holder = CurrentGeocoder(root, interval=0, opener=slow_open)
    assert holder.get() == old
    install(root, alps_index)
    assert holder.get() == old  # ...requests meanwhile get the old one, at once
    release.set()
    assert wait_for(lambda: holder.get() == new)
    assert holder.target == new
    assert opened == [old, new]


def test_the_link_is_read_at_most_once_per_interval(root, alps_index, monkeypatch):
    holder = CurrentGeocoder(root, interval=3600, opener=lambda d: d.name)
    reads = []
    monkeypatch.setattr("balise.index.pointer.current_target", lambda p: reads.append(p))
    for _ in range(1000):
        holder.get()
    assert reads == []


def test_a_version_that_does_not_open_leaves_the_old_one_serving(root, sample_index, alps_index):
    # NOTE: versions read here, not in the opener's thread: CPython 3.11 before 3.11.8 can
    # fail parsing in two threads at once (numpy reads .npy headers with ast.literal_eval).
    bad, good = version(alps_index), version(sample_index)

    def picky_open(directory: Path):
        if directory.name == bad:
            raise OSError("disk on fire")
        return directory.name

    holder = CurrentGeocoder(root, interval=0, opener=picky_open)
    install(root, alps_index)
    holder.get()
    assert wait_for(lambda: holder._failed == bad)
    assert holder.get() == good


def test_refresh_swaps_in_the_calling_thread(root, sample_index, alps_index):
    holder = CurrentGeocoder(root, interval=3600)
    assert holder.refresh() is False
    install(root, alps_index)
    assert holder.refresh() is True
    # Delegation: a holder stands where a Geocoder is expected.
    assert holder.version == version(alps_index)
    answer = holder.search("avenue beau de rochas aiglun", limit=1)
    assert answer["features"][0]["properties"]["city"] == "Aiglun"


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
