"""Read-only, memory-mapped access to an index directory.

Opening maps the files and checks each against the format table (type and length);
nothing is loaded into private memory, so every worker of a server shares one copy through
the page cache, and a France-sized index opens in milliseconds.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from . import geohash
from ._housenumbers import HouseNumbers
from ._lookup import Lexicon, StringTable, cell_at, cell_positions, touch_pages
from ._parts import Parts
from ._postings import Postings
from ._stored import StoredDocuments
from .format import (
    ARRAYS,
    BLOBS,
    COORDINATE_SCALE,
    FORMAT_NAME,
    FORMAT_VERSION,
    GEO_LOW_BITS,
    LABEL_SEPARATOR,
    MANIFEST,
    MULTI_POSTCODE,
    Document,
    expected_length,
    filter_term,
)


class IndexFormatError(Exception):
    """The directory is not a balise index, or one of another format version, or damaged."""


def _bytes_of(array: NDArray[Any]) -> memoryview:
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data


def _map(path: Path) -> mmap.mmap | bytes:
    """A read-only map of a file (b"" when it is empty: an empty file cannot be mapped)."""
    if path.stat().st_size == 0:
        return b""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


class IndexReader:
    def __init__(self, directory: Path | str) -> None:
        self.path = Path(directory)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise IndexFormatError(f"{self.path} is not a balise index (no {MANIFEST})")
        self.manifest: dict[str, Any] = orjson.loads(manifest_path.read_bytes())
        if self.manifest.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{self.path}: not a {FORMAT_NAME} directory")
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"{self.path}: index format version {self.manifest.get('format_version')}, "
                f"this balise reads version {FORMAT_VERSION}: rebuild it with `balise import`"
            )
        counts = self.manifest.get("counts") or {}
        self.arrays = self._open_arrays(counts)
        self.blobs = self._open_blobs(counts)
        a = self.arrays
        self.terms = StringTable(a["terms.table"], self._bytes("terms.bin"), a["terms.off"])
        self.words = Lexicon(a["words.table"], self._bytes("words.bin"), a["words.off"], a["words.start"],
                             a["words.tokens"])
        no_table = np.full(1, 0xFFFFFFFF, np.uint32)  # document ids are found by bisection
        self.doc_ids = StringTable(no_table, self._bytes("docs.id.bin"), a["docs.id.off"])
        self.post_start: NDArray[np.uint64] = a["post.start"]
        self.post_docs: NDArray[np.uint32] = a["post.docs"]
        self.post_scores: NDArray[np.float64] = a["post.scores"]
        self.postings_lists = Postings(self.post_start, self.post_docs, self.post_scores, a["docs.lonlat"],
                                       a["docs.extent"])
        self.term_maxscore: NDArray[np.float64] = a["term.maxscore"]
        self.term_flags: NDArray[np.uint8] = a["term.flags"]  # PLACE_TERM
        self.doc_offsets: NDArray[np.uint32] | NDArray[np.uint64] = a["docs.off"]
        self.docs_blob = self.blobs["docs.bin"]
        self.labels_offsets: NDArray[np.uint64] = a["labels.off"]
        self.labels_blob = self._bytes("labels.bin")
        self.importance: NDArray[np.float64] = a["docs.importance"]
        self.doc_lonlat: NDArray[np.float64] = a["docs.lonlat"]  # (lon, lat) rows
        self.doc_flags: NDArray[np.uint8] = a["docs.flags"]
        self.doc_extent: NDArray[np.float32] = a["docs.extent"]  # (west, south, east, north) rows
        self.doc_hn: NDArray[np.uint64] = a["docs.hn"]
        # The start of every HN_BLOCK-th house-number record (format.py).
        self.hn_offsets: NDArray[np.uint32] | NDArray[np.uint64] = a["hn.off"]
        self.hn_blob = self._bytes("hn.bin")
        self.hn_lonlat_e7: NDArray[np.int32] = a["hn.lonlat"]  # (x, y) rows
        self.housenumbers = HouseNumbers(self.doc_hn, self.hn_offsets, self.hn_blob)
        # The points sorted by cell: geo_square[s] is where square s's points start (a square:
        # the cells without their GEO_LOW_BITS low bits), geo_low their cells' low bits.
        self.geo_square: NDArray[np.uint32] | NDArray[np.uint64] = a["geo.square"]
        self.geo_low: NDArray[np.uint16] = a["geo.low"]
        self.geo_ref: NDArray[np.int32] = a["geo.ref"]
        self._hn_lonlat_view = _bytes_of(self.hn_lonlat_e7).cast("i")
        # A damaged record or part is said when its document is read (opening stays cheap).
        parts = Parts(self._bytes("docs.parts"), a["docs.parts.off"])
        self.stored = StoredDocuments(self.docs_blob, self.doc_offsets, self.doc_lonlat.reshape(-1),
                                      self.doc_ids, parts, IndexFormatError, str(self.path))
        # A document, a new dict each time (not cached: _stored.pyx says why).
        self.document: Callable[[int], Document] = self.stored.document

    def _open_arrays(self, counts: dict[str, int]) -> dict[str, NDArray[Any]]:
        arrays = {}
        for spec in ARRAYS:
            path = self.path / spec.name
            try:
                length = expected_length(spec, counts)
                size = path.stat().st_size
            except (KeyError, ValueError, OSError) as e:
                raise IndexFormatError(f"{self.path}: {spec.name}: {e}") from e
            fits = [np.dtype(d) for d in spec.dtypes if np.dtype(d).itemsize * spec.columns * length == size]
            dtype = fits[0] if fits else None
            if dtype is None:
                raise IndexFormatError(
                    f"{self.path}: {spec.name} holds {size} bytes, not {length} rows of {spec.dtypes}"
                )
            # PERF: plain ndarray views of the maps; np.memmap slicing is much slower.
            data = _map(path)
            array = np.frombuffer(data, dtype=dtype) if size else np.empty(0, dtype=dtype)
            arrays[spec.name] = array.reshape(-1, spec.columns) if spec.columns > 1 else array
        return arrays

    def _open_blobs(self, counts: dict[str, int]) -> dict[str, mmap.mmap | bytes]:
        """The byte files, each checked against its length: the end of its last record, or
        the count the manifest gives (hn.bin, whose offsets are sparse)."""
        blobs = {}
        for spec in BLOBS:
            try:
                blobs[spec.name] = blob = _map(self.path / spec.name)
            except OSError as e:
                raise IndexFormatError(f"{self.path}: {spec.name}: {e}") from e
            if spec.name == "hn.bin":
                expected = int(counts.get("housenumber_bytes", -1))
            elif spec.offsets:
                offsets = self.arrays[spec.offsets]
                expected = int(offsets[-1]) if len(offsets) else 0
            else:
                continue
            if len(blob) != expected:
                raise IndexFormatError(f"{self.path}: {spec.name} holds {len(blob)} bytes, not {expected}")
        return blobs

    def preload(self) -> int:
        """Read every page of the index through this process's maps (without the GIL); the
        bytes read.

        Why: a search that is the first to need a page, or needs one the kernel dropped from
        the page cache since, waits for the disk: 3-8 reads of ~5 ms each for the first
        queries on a France index (bench/README.md, "France scale"). Read here, the pages
        are mapped into the process, which keeps them (a kernel reclaims unmapped cache
        first; this machine's DAMON pages out only unmapped ones idle for 60 s).
        """
        maps = [a.reshape(-1).view(np.uint8) for a in self.arrays.values() if a.size]
        maps += [np.frombuffer(b, dtype=np.uint8) for b in self.blobs.values() if len(b)]
        for data in maps:
            touch_pages(data, mmap.PAGESIZE)
        return sum(len(data) for data in maps)

    def _bytes(self, name: str) -> NDArray[np.uint8]:
        """A blob as a uint8 array (what the compiled lookups read)."""
        blob = self.blobs[name]
        return np.frombuffer(blob, dtype=np.uint8) if len(blob) else np.zeros(1, dtype=np.uint8)

    @property
    def version(self) -> str:
        return self.manifest["version"]  # type: ignore[no-any-return]

    @property
    def doc_count(self) -> int:
        return len(self.importance)

    @property
    def housenumber_count(self) -> int:
        return len(self.hn_lonlat_e7)

    # --- terms and postings ---------------------------------------------------

    def term_id(self, term: str) -> int:
        """The number of a term, or -1."""
        return self.terms.find(term)

    def filter_id(self, name: str, value: str) -> int:
        return self.term_id(filter_term(name, value))

    def frequency(self, tid: int) -> int:
        return self.postings_lists.frequency(tid)

    def postings(self, tid: int) -> tuple[NDArray[np.uint32], NDArray[np.float64]]:
        start, end = int(self.post_start[tid]), int(self.post_start[tid + 1])
        return self.post_docs[start:end], self.post_scores[start:end]

    def prefix_range(self, prefix: str) -> range:
        """Numbers of the terms that start with ``prefix`` (terms are sorted)."""
        return self.terms.prefix_range(prefix)

    def lexicon(self, word: str) -> list[int] | None:
        """The term numbers a raw query word is searched as, or None for a word the
        documents never had (it then goes through the text pipeline)."""
        return self.words.lookup(word)

    # --- documents and house numbers ----------------------------------------------

    def find_document(self, doc_id: str) -> int:
        """The number of the document with this id, or -1 (ids are sorted descending)."""
        return self.doc_ids.bisect(doc_id, descending=True)

    def doc_id(self, n: int) -> str:
        return self.doc_ids[n]

    def labels(self, n: int) -> tuple[str, tuple[str, ...]]:
        """A document's labels, made at import: (shown, folded variants best first)."""
        raw = bytes(self.labels_blob[int(self.labels_offsets[n]) : int(self.labels_offsets[n + 1])])
        shown, *folded = raw.decode().split(LABEL_SEPARATOR)
        return shown, tuple(folded)

    def shown_label(self, n: int) -> str:
        """The label shown for a document (the first of its labels)."""
        start, end = int(self.labels_offsets[n]), int(self.labels_offsets[n + 1])
        raw = self.blobs["labels.bin"][start:end]
        cut = raw.find(b"\x1f")
        return (raw if cut < 0 else raw[:cut]).decode()

    def has_several_postcodes(self, n: int) -> bool:
        """A street or locality with several postcodes (a municipality counts as one)."""
        return bool(self.doc_flags[n] & MULTI_POSTCODE)

    def housenumber_doc(self, hn: int) -> int:
        """The document a house number belongs to."""
        return self.housenumbers.doc_of(hn)

    def housenumber_docs(self, hns: NDArray[np.int64]) -> NDArray[np.int64]:
        keys = np.asarray(hns).astype(np.uint64)
        return np.searchsorted(self.doc_hn, keys, side="right").astype(np.int64) - 1

    def housenumber_range(self, n: int) -> range:
        return range(int(self.doc_hn[n]), int(self.doc_hn[n + 1]))

    def housenumber_raw(self, hn: int, doc: int | None = None) -> str:
        """A house number as written in the source ("30 BIS")."""
        return self.housenumbers.raw_of(hn)

    def housenumber_key(self, hn: int) -> str:
        return self.housenumbers.fields(hn)[0]

    def housenumber(self, hn: int, doc: int | None = None) -> dict[str, Any]:
        """A house number's properties (raw, id, ...) with its lon and lat."""
        doc = self.housenumber_doc(hn) if doc is None else doc
        props = self.housenumbers.properties(hn, self.doc_id(doc))
        props["lon"], props["lat"] = self.hn_lonlat(hn)
        return props

    def hn_lonlat(self, hn: int) -> tuple[float, float]:
        xy = self._hn_lonlat_view
        return xy[2 * hn] / COORDINATE_SCALE, xy[2 * hn + 1] / COORDINATE_SCALE

    def hn_lonlat_many(self, hns: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.hn_lonlat_e7[hns] / COORDINATE_SCALE

    def find_housenumbers(self, docs: NDArray[np.int64], key: str) -> NDArray[np.int64]:
        """For each document, the number of its house number ``key``, or -1."""
        return self.housenumbers.find_many(np.ascontiguousarray(docs, dtype=np.uint32), key)

    # --- space ----------------------------------------------------------------------

    def geo_search(self, cells: NDArray[np.uint64]) -> NDArray[np.int64]:
        """For each cell (geohash integer), the position of its first point in geo.ref (that
        of the next cell's when it has none): ``np.searchsorted`` over every point's cell."""
        return cell_positions(self.geo_square, self.geo_low, np.ascontiguousarray(cells, dtype=np.uint64))

    def geo_cell(self, point: int) -> int:
        """The cell (geohash integer) of the point at this position of geo.ref."""
        return cell_at(self.geo_square, self.geo_low, point)

    def geo_squares(self, level: int) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.int64]]:
        """The non-empty squares of 2^level x 2^level cells: their codes (cells without
        their 2 * level low bits) and the range of their points, from geo.square."""
        if 2 * level < GEO_LOW_BITS:
            raise ValueError(f"squares of level {level} are smaller than the index's")
        square_start = self.geo_square.astype(np.int64)
        filled = np.flatnonzero(square_start[1:] > square_start[:-1])
        codes = filled >> (2 * level - GEO_LOW_BITS)
        first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else filled
        starts = square_start[filled[first]]
        ends = np.r_[starts[1:], square_start[-1]] if len(starts) else starts
        return codes[first].astype(np.uint64), starts, ends.astype(np.int64)

    def docs_near(self, lon: float, lat: float, radius: int = 1) -> NDArray[np.uint32]:
        """Documents with a point in the block of geohash cells around a point (sorted)."""
        cells = geohash.block(lon, lat, radius)
        lo = self.geo_search(cells)
        hi = self.geo_search(cells + np.uint64(1))
        refs = [self.geo_ref[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        if not refs:
            return np.empty(0, dtype=np.uint32)
        ref = np.concatenate(refs).astype(np.int64)
        docs = np.where(ref >= 0, ref, self.housenumber_docs(np.where(ref < 0, ~ref, 0)))
        return np.unique(docs.astype(np.uint32))
