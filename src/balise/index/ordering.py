"""Each document's blobs moved from arrival order into the index's order (descending id):
labels, documents (compressed), house numbers (records and coordinates).

The import keeps them in work files as they arrive; here they are read back (pread, in
groups of documents: the page cache, not the process, holds the files) and written in order.
A document's house numbers are sorted by key when made, so they need no sort of their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from . import geohash
from ._housenumbers import record_ends, record_key
from ._parts import PartsWriter, tabled_keys
from ._records import gather
from .arrays import ArrayFile, offsets_of, write_array
from .format import COORDINATE_SCALE, DOCS_SAMPLES, HN_BLOCK
from .runs import Spill

Ints: TypeAlias = NDArray[Any]  # integer arrays (of several integer dtypes)
POINT = np.dtype([("cell", "<u8"), ("ref", "<i4")])
GROUP = 1 << 16  # documents moved into their final order at a time (a few MB)


def write_housenumbers(work: Path, out: Path, counts: dict[str, int], new_of: Ints, first_of: Ints,
                       hn_count: Ints, hn_len: Ints, points: Spill) -> None:
    """hn.bin, hn.off, hn.lonlat and docs.hn: each document's house numbers (sorted by
    key in the worker) copied into the documents' order, GROUP documents at a time; the
    points of the house numbers go to ``points``."""
    n_docs = counts["documents"]
    count, length = hn_count, hn_len
    rec_start, xy_start = offsets_of(length), offsets_of(count) * np.uint64(8)
    occurrences = np.bincount(new_of, minlength=n_docs)
    repeated: dict[int, list[int]] = {}
    for o in np.flatnonzero(occurrences[new_of] > 1).tolist():  # arrival order
        repeated.setdefault(int(new_of[o]), []).append(o)
    offsets = ArrayFile(out, "hn.off", "<u4" if int(length.sum()) < 1 << 32 else "<u8")
    lonlat = ArrayFile(out, "hn.lonlat")
    per_doc = np.zeros(n_docs, dtype=np.uint64)
    number = written = 0
    fd_rec, fd_xy = os.open(work / "hn", os.O_RDONLY), os.open(work / "hnxy", os.O_RDONLY)
    try:
        with open(out / "hn.bin", "wb", buffering=1 << 20) as blob:
            for start in range(0, n_docs, GROUP):
                docs = np.arange(start, min(start + GROUP, n_docs))
                firsts = first_of[docs]
                pieces: list[tuple[bytes | bytearray, bytes | bytearray, int]] = []
                for run in _runs(docs, repeated):
                    if len(run) == 1 and int(run[0]) in repeated:
                        merged = _merge_repeated(fd_rec, fd_xy, repeated[int(run[0])], rec_start, length,
                                                 xy_start, count)
                        per_doc[run[0]] = merged[2]
                        pieces.append(merged)
                    else:
                        chosen = firsts[run - start]
                        per_doc[run] = count[chosen]
                        pieces.append((gather(fd_rec, rec_start[chosen], length[chosen]),
                                       gather(fd_xy, xy_start[chosen], count[chosen] * np.uint64(8)),
                                       int(count[chosen].sum())))
                records = b"".join(p[0] for p in pieces)
                xy = np.frombuffer(b"".join(p[1] for p in pieces), dtype=np.int32).reshape(-1, 2)
                total = len(xy)
                ends = record_ends(records, total)
                starts = np.r_[np.uint64(0), ends][:total] + np.uint64(written)
                offsets.write(starts[(-number) % HN_BLOCK :: HN_BLOCK])
                blob.write(records)
                lonlat.write(xy)
                cells = np.empty(total, dtype=POINT)
                cells["cell"] = geohash.encode(xy[:, 0] / COORDINATE_SCALE, xy[:, 1] / COORDINATE_SCALE)
                cells["ref"] = ~np.arange(number, number + total, dtype=np.int64)
                points.append(cells)
                number += total
                written += len(records)
    finally:
        os.close(fd_rec)
        os.close(fd_xy)
    counts["housenumbers"] = lonlat.close()
    counts["housenumber_blocks"] = offsets.close()
    counts["housenumber_bytes"] = written
    (work / "hn").unlink()
    (work / "hnxy").unlink()
    write_array(out, "docs.hn", offsets_of(per_doc))
    lonlat_docs = np.fromfile(out / "docs.lonlat", dtype=np.float64).reshape(-1, 2)
    cells = np.empty(n_docs, dtype=POINT)
    cells["cell"] = geohash.encode(lonlat_docs[:, 0], lonlat_docs[:, 1])
    cells["ref"] = np.arange(n_docs, dtype=np.int32)
    points.append(cells)


def _runs(docs: Ints, repeated: dict[int, list[int]]) -> list[Ints]:
    """The documents cut into runs of unrepeated ones, each repeated one a run of its own."""
    if not repeated:
        return [docs]
    cuts = [i for i, d in enumerate(docs.tolist()) if d in repeated]
    if not cuts:
        return [docs]
    edges = sorted({0, len(docs), *cuts, *(c + 1 for c in cuts)})
    return [docs[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _merge_repeated(fd_rec: int, fd_xy: int, occurrences: list[int], rec_start: Ints,
                    length: Ints, xy_start: Ints, count: Ints) -> tuple[bytes, bytes, int]:
    """House numbers of a repeated id come from several occurrences, each sorted: sort
    them together by key, the first occurrence winning a key both have (records keep the
    same bytes: they are written relative to the id, the same in every occurrence)."""
    chosen: dict[bytes, tuple[bytes, bytes]] = {}
    for o in occurrences:
        records = os.pread(fd_rec, int(length[o]), int(rec_start[o]))
        xy = os.pread(fd_xy, int(count[o]) * 8, int(xy_start[o]))
        ends = record_ends(records, int(count[o])).tolist()
        for i, (a, b) in enumerate(zip([0, *ends][: len(ends)], ends, strict=True)):
            chosen.setdefault(record_key(records, a), (records[a:b], xy[8 * i : 8 * i + 8]))
    keys = sorted(chosen)
    return b"".join(chosen[k][0] for k in keys), b"".join(chosen[k][1] for k in keys), len(keys)


def permute_blob(source: Path, lengths: Ints, order: Ints, out: Path, name: str) -> None:
    """``name.bin`` + ``name.off``: the records of ``source`` (in arrival order, of the
    given lengths) in the order given, GROUP at a time (``gather``: pread, so the page
    cache, not this process, holds the file)."""
    starts = offsets_of(lengths)
    chosen = lengths[order].astype(np.uint64)
    write_array(out, f"{name}.off", offsets_of(chosen))
    fd = os.open(source, os.O_RDONLY)
    try:
        with open(out / f"{name}.bin", "wb") as f:
            for a in range(0, len(order), GROUP):
                part = order[a : a + GROUP]
                f.write(gather(fd, starts[part], chosen[a : a + GROUP]))
    finally:
        os.close(fd)
    source.unlink()


def write_stored(source: Path, lengths: Ints, order: Ints, out: Path, counts: dict[str, int]) -> None:
    """docs.bin, docs.off, docs.parts: each document (``source`` holds their JSON texts in
    arrival order, of the given lengths) in the order given, a record of its members, the
    values of the keys that repeat on an even sample of them shared (``_parts.pyx``)."""
    starts = offsets_of(lengths)
    chosen = lengths[order].astype(np.uint64)
    fd = os.open(source, os.O_RDONLY)
    try:
        every = np.linspace(0, len(order) - 1, min(len(order), DOCS_SAMPLES))
        sample = np.unique(every.astype(np.int64))
        samples = _split(gather(fd, starts[order[sample]], chosen[sample]), chosen[sample])
        writer = PartsWriter(tabled_keys(samples))
        sizes = np.empty(len(order), dtype=np.uint64)
        with open(out / "docs.bin", "wb", buffering=1 << 20) as f:
            for a in range(0, len(order), GROUP):
                part, group_lengths = order[a : a + GROUP], chosen[a : a + GROUP]
                records = [writer.record(json) for json in _split(gather(fd, starts[part], group_lengths),
                                                                   group_lengths)]
                sizes[a : a + len(part)] = [len(record) for record in records]
                f.write(b"".join(records))
    finally:
        os.close(fd)
    source.unlink()
    offsets = offsets_of(sizes)
    write_array(out, "docs.off", offsets, "<u4" if int(offsets[-1]) < 1 << 32 else "<u8")
    parts = writer.parts
    (out / "docs.parts").write_bytes(b"".join(parts))
    write_array(out, "docs.parts.off", offsets_of(np.array([len(p) for p in parts], dtype=np.uint64)))
    counts["document_parts"] = len(parts)


def _split(blob: bytes | bytearray, lengths: Ints) -> list[bytes]:
    ends = np.cumsum(lengths).tolist()
    view = memoryview(blob)
    return [bytes(view[a:b]) for a, b in zip([0, *ends][: len(ends)], ends, strict=True)]


