"""Read-only, memory-mapped access to an index directory.

Opening maps the files and reads the manifest; nothing is loaded into private
memory, so every worker of a server shares one copy through the page cache.
"""

from __future__ import annotations

import mmap
from bisect import bisect_left
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import orjson

from . import geohash
from .format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LABEL_SEPARATOR,
    MANIFEST,
    MULTI_POSTCODE,
    filter_term,
    housenumber_hash,
)


class IndexFormatError(Exception):
    """The directory is not a balise index, or one of another format version."""


class Strings:
    """A sequence of strings stored as a blob plus offsets (sorted or not)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.offsets = np.load(directory / f"{name}.off.npy", mmap_mode="r").view(np.ndarray)
        self.blob = _map(directory / f"{name}.bin")
        self._n = len(self.offsets) - 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> str:
        return self.raw(i).decode()

    def raw(self, i: int) -> bytes:
        return self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])]


class _RawView:
    """Bytes view used for bisecting sorted terms without decoding them."""

    def __init__(self, strings: Strings) -> None:
        self.strings = strings

    def __len__(self) -> int:
        return len(self.strings)

    def __getitem__(self, i: int) -> bytes:
        return self.strings.raw(i)


def _map(path: Path):
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
        self.manifest = orjson.loads(manifest_path.read_bytes())
        if self.manifest.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{self.path}: not a {FORMAT_NAME} directory")
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"{self.path}: index format version {self.manifest.get('format_version')}, "
                f"this balise reads version {FORMAT_VERSION}: rebuild it with `balise import`"
            )
        load = self._load
        self.terms = Strings(self.path, "terms")
        self._terms_raw = _RawView(self.terms)
        self.post_start = load("post.start")
        self.post_docs = load("post.docs")
        self.post_scores = load("post.scores")
        self.term_maxscore = load("term.maxscore")
        self.doc_offsets = load("docs.off")
        self.doc_flags = load("docs.flags")
        self._labels = Strings(self.path, "labels")
        self.docs_blob = _map(self.path / "docs.bin")
        self.importance = load("docs.importance")
        self.doc_lonlat = load("docs.lonlat")
        self.hn_doc = load("hn.doc")
        self.hn_keys = Strings(self.path, "hn.key")
        self.hn_offsets = load("hn.off")
        self.hn_blob = _map(self.path / "hn.bin")
        self.hn_lonlat = load("hn.lonlat")
        self.hn_lookup = load("hn.lookup")
        self.hn_lookup_ids = load("hn.lookup_ids")
        self.geo_cell = load("geo.cell")
        self.geo_ref = load("geo.ref")
        self.document = lru_cache(maxsize=20_000)(self._document)
        self.co_occur = lru_cache(maxsize=100_000)(self._co_occur)

    def _load(self, name: str) -> np.ndarray:
        # PERF: a plain ndarray view of the map; np.memmap slicing is much slower.
        return np.load(self.path / f"{name}.npy", mmap_mode="r").view(np.ndarray)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def doc_count(self) -> int:
        return len(self.doc_offsets) - 1

    # --- terms and postings ---------------------------------------------------

    def term_id(self, term: str) -> int:
        """The id of a term, or -1."""
        return self.term_ids.get(term, -1)

    @cached_property
    def term_ids(self) -> dict[str, int]:
        """Every term and its id.

        NOTE: the one structure built in private memory (about 100 bytes a term),
        lazily; built before the server forks, its pages stay shared.
        """
        blob = bytes(self.terms.blob[: int(self.terms.offsets[-1])])
        off = self.terms.offsets.tolist()
        return {blob[a:b].decode(): i for i, (a, b) in enumerate(zip(off, off[1:], strict=False))}

    def filter_id(self, name: str, value: str) -> int:
        return self.term_id(filter_term(name, value))

    def frequency(self, tid: int) -> int:
        return int(self.post_start[tid + 1] - self.post_start[tid])

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.post_start[tid]), int(self.post_start[tid + 1])
        return self.post_docs[start:end], self.post_scores[start:end]

    def _co_occur(self, a: int, b: int) -> bool:
        """Whether two terms share a document (what Addok keeps as pair sets)."""
        x, y = self.postings(a)[0], self.postings(b)[0]
        if len(x) > len(y):
            x, y = y, x
        if not len(x):
            return False
        pos = np.searchsorted(y, x)
        pos[pos >= len(y)] = 0
        return bool((y[pos] == x).any())

    def prefix_range(self, prefix: str) -> range:
        """Ids of the terms that start with ``prefix`` (terms are sorted)."""
        p = prefix.encode()
        lo = bisect_left(self._terms_raw, p)
        hi = bisect_left(self._terms_raw, p + b"\xff", lo)
        return range(lo, hi)

    # --- documents and house numbers ----------------------------------------------

    def _document(self, n: int) -> dict:
        """A document, shared by callers, who copy it to change it.

        PERF: its folded names as tuples, which the garbage collector stops tracking: with
        lists, the thousands of cached documents were walked by every full collection
        (pauses of 100 ms and more under load).
        """
        doc = orjson.loads(self.docs_blob[int(self.doc_offsets[n]) : int(self.doc_offsets[n + 1])])
        folded = doc.get("_folded")
        if folded:
            doc["_folded"] = (tuple(folded[0]), tuple(folded[1]))
        return doc

    def labels(self, n: int) -> tuple[str, tuple[str, ...]]:
        """A document's labels, made at import: (shown, folded variants best first)."""
        shown, *folded = self._labels[n].split(LABEL_SEPARATOR)
        return shown, tuple(folded)

    def has_several_postcodes(self, n: int) -> bool:
        """A street or locality with several postcodes (a municipality counts as one)."""
        return bool(self.doc_flags[n] & MULTI_POSTCODE)

    def housenumber_raw(self, hn: int) -> str:
        """A house number as written in the source ("30 BIS")."""
        return self._housenumber_props(hn)["raw"]

    def housenumber(self, hn: int) -> dict:
        props = self._housenumber_props(hn)
        props["lon"], props["lat"] = (float(v) for v in self.hn_lonlat[hn])
        return props

    def _housenumber_props(self, hn: int) -> dict:
        return orjson.loads(self.hn_blob[int(self.hn_offsets[hn]) : int(self.hn_offsets[hn + 1])])

    def find_housenumbers(self, docs: np.ndarray, key: str) -> np.ndarray:
        """For each document, the id of its house number ``key``, or -1."""
        if not len(docs):
            return np.empty(0, dtype=np.int64)
        # housenumber_hash(doc, key) for every doc at once: the doc number over the key's crc.
        wanted = (docs.astype(np.uint64) << np.uint64(32)) | np.uint64(housenumber_hash(0, key))
        pos = np.searchsorted(self.hn_lookup, wanted)
        pos = np.minimum(pos, len(self.hn_lookup) - 1) if len(self.hn_lookup) else pos
        found = np.full(len(docs), -1, dtype=np.int64)
        if not len(self.hn_lookup):
            return found
        hit = self.hn_lookup[pos] == wanted
        encoded = key.encode()
        for i in np.flatnonzero(hit):
            # Walk equal hashes: the low 32 bits could collide within a street.
            j = int(pos[i])
            while j < len(self.hn_lookup) and self.hn_lookup[j] == wanted[i]:
                hn = int(self.hn_lookup_ids[j])
                if self.hn_keys.raw(hn) == encoded:
                    found[i] = hn
                    break
                j += 1
        return found

    # --- space ----------------------------------------------------------------------

    def docs_near(self, lon: float, lat: float, radius: int = 1) -> np.ndarray:
        """Documents with a point in the block of geohash cells around a point (sorted)."""
        cells = geohash.block(lon, lat, radius)
        lo = np.searchsorted(self.geo_cell, cells, side="left")
        hi = np.searchsorted(self.geo_cell, cells, side="right")
        refs = [self.geo_ref[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        if not refs:
            return np.empty(0, dtype=np.uint32)
        ref = np.concatenate(refs)
        docs = np.where(ref >= 0, ref, self.hn_doc[np.where(ref < 0, ~ref, 0)])
        return np.unique(docs.astype(np.uint32))
