"""Build an index directory from batches of processed documents, in bounded memory.

Documents arrive as batches of records (``documents.process_batch``, run by the import's
worker processes) and are filed as they come: postings, house numbers and points go to
spill files of fixed-size records, document JSON, labels and house numbers (records and
coordinates) to temporary blobs in arrival order; only a few dozen bytes per document stay
in memory. :meth:`IndexWriter.finish` numbers the documents (descending id; a repeated id
joins its first occurrence), copies each document's blobs into that order (``gather``: a
document's house numbers are already sorted, so they need no sort), sorts the postings and
the points within the memory budget (``runs.py``) and writes the arrays of ``format.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import zstandard

from ..text import Pipeline, make_pipeline
from . import geohash
from ._lookup import build_table, record_ends, record_key
from ._records import gather
from .documents import Packed, process_batch
from .format import (
    ARRAY,
    COORDINATE_SCALE,
    DOCS_DICT_BYTES,
    DOCS_DICT_SAMPLES,
    DOCS_LEVEL,
    FORMAT_NAME,
    FORMAT_VERSION,
    HN_BLOCK,
    MANIFEST,
    Document,
)
from .runs import Spill, sorted_chunks

MB = 1 << 20
POSTING = np.dtype([("term", "<u4"), ("doc", "<u4"), ("score", "<f8")])
POINT = np.dtype([("cell", "<u8"), ("ref", "<i4")])
DOCUMENT = np.dtype([
    ("importance", "<f8"), ("lon", "<f8"), ("lat", "<f8"), ("extent", "<f4", (4,)),
    ("flags", "<u1"), ("id_len", "<u4"), ("doc_len", "<u4"), ("label_len", "<u4"),
    ("hn_count", "<u4"), ("hn_len", "<u4"),
])
GROUP = 1 << 16  # documents moved into their final order at a time (a few MB)


class ArrayFile:
    """One array of the format, written in pieces, checked against the table."""

    def __init__(self, directory: Path, name: str, dtype: str | None = None) -> None:
        spec = ARRAY[name]
        self.dtype = np.dtype(dtype or spec.dtypes[0])
        if self.dtype not in [np.dtype(d) for d in spec.dtypes]:
            raise ValueError(f"{name}: {self.dtype.str} is not one of {spec.dtypes}")
        self.columns = spec.columns
        self.file = open(directory / name, "wb")  # noqa: SIM115 (closed by close())
        self.count = 0

    def write(self, values) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(values.tobytes())
        self.count += len(values)

    def close(self) -> int:
        self.file.close()
        return self.count


def write_array(directory: Path, name: str, values, dtype: str | None = None) -> int:
    out = ArrayFile(directory, name, dtype)
    out.write(values)
    return out.close()


def offsets_of(lengths) -> np.ndarray:
    """Offsets (uint64, one more than the lengths) of records of these lengths laid end to end."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def write_strings(directory: Path, name: str, strings: list[bytes]) -> None:
    """Strings as ``name.bin`` plus ``name.off`` (uint64, one more than the strings)."""
    offsets = offsets_of([len(b) for b in strings])
    (directory / f"{name}.bin").write_bytes(b"".join(strings))
    write_array(directory, f"{name}.off", offsets)


class IndexWriter:
    """Files batches of processed documents, then writes the index with :meth:`finish`."""

    def __init__(self, path: Path, pipeline: Pipeline | None = None, rules: str = "fr",
                 memory: int = 1024 * MB) -> None:
        self.path = Path(path)
        self.rules = rules
        self.pipeline = pipeline or make_pipeline(rules)
        self.memory = memory
        self.started = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.work = self.tmp / "work"
        self.work.mkdir()
        self.postings = Spill(self.work / "postings", POSTING)
        self.documents = Spill(self.work / "documents", DOCUMENT)
        self.hn_blob = open(self.work / "hn", "wb")  # noqa: SIM115 (closed in finish/abort)
        self.hn_xy = open(self.work / "hnxy", "wb")  # noqa: SIM115
        self.ids_blob = open(self.work / "ids", "wb")  # noqa: SIM115
        self.docs_blob = open(self.work / "docs", "wb")  # noqa: SIM115
        self.labels_blob = open(self.work / "labels", "wb")  # noqa: SIM115
        self.term_ids: dict[str, int] = {}
        self.words: dict[str, None] = {}
        self.occurrences = 0  # documents filed, repeated ids included
        self.phases: dict[str, float] = {}  # seconds: reading and filing, then each sort

    # --- filing ------------------------------------------------------------------------

    def add(self, doc: Document) -> None:
        """Index one document (raises DocumentError when it cannot be)."""
        from .documents import DocumentError

        packed = process_batch(self.pipeline, [doc])
        if packed["bad"]:
            raise DocumentError(packed["bad"][0][1])
        self.add_batch(packed)

    def add_batch(self, packed: Packed) -> None:
        """File the records of a batch (``documents.process_batch``)."""
        n = len(packed["ids"])
        if not n:
            return
        first = self.occurrences
        self.occurrences += n
        ids = [i.encode() for i in packed["ids"]]
        self.ids_blob.write(b"".join(ids))
        self.docs_blob.write(packed["docs"])
        self.labels_blob.write(packed["labels"])
        meta = np.zeros(n, dtype=DOCUMENT)
        meta["importance"] = packed["importance"]
        meta["lon"], meta["lat"] = packed["lonlat"][:, 0], packed["lonlat"][:, 1]
        meta["extent"] = packed["extent"]
        meta["flags"] = packed["flags"]
        meta["id_len"] = [len(i) for i in ids]
        meta["doc_len"] = packed["doc_lengths"]
        meta["label_len"] = packed["label_lengths"]
        meta["hn_count"] = packed["hn_count"]
        meta["hn_len"] = packed["hn_lengths"]
        self.documents.append(meta)
        self.hn_blob.write(packed["hn_records"])
        self.hn_xy.write(np.ascontiguousarray(packed["hn_lonlat"], dtype=np.int32).tobytes())

        local = np.fromiter((self.term_ids.setdefault(t, len(self.term_ids)) for t in packed["terms"]),
                            dtype=np.uint32, count=len(packed["terms"]))
        postings = np.empty(len(packed["post_term"]), dtype=POSTING)
        postings["term"] = local[packed["post_term"]] if len(local) else packed["post_term"]
        postings["doc"] = packed["post_doc"] + first
        postings["score"] = packed["post_score"]
        self.postings.append(postings)

        self.words.update(dict.fromkeys(packed["words"]))

    def abort(self) -> None:
        for f in (self.hn_blob, self.hn_xy, self.ids_blob, self.docs_blob, self.labels_blob):
            f.close()
        for spill in (self.postings, self.documents):
            spill.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- writing ---------------------------------------------------------------------------

    def finish(self, sources: list[dict] | None = None, extra: dict | None = None, report=None) -> dict:
        """Write every array, then the manifest, then move the directory into place.

        ``report`` is called once the arrays are written; what it returns goes into the
        manifest under "import_report" (so times and peak memory cover the whole build).
        """
        for f in (self.hn_blob, self.hn_xy, self.ids_blob, self.docs_blob, self.labels_blob):
            f.close()
        out = self.tmp
        counts: dict[str, int] = {}
        self.phases["filing"] = round(time.time() - self.started, 2)
        clock = time.time()

        def done(phase: str) -> None:
            nonlocal clock
            self.phases[phase] = round(time.time() - clock, 2)
            clock = time.time()

        new_of, first_of = self._write_documents(out, counts)
        done("documents")
        term_order = self._write_terms(out, counts)
        self._write_postings(out, counts, new_of, term_order)
        done("postings")
        points = Spill(self.work / "points", POINT)
        self._write_housenumbers(out, counts, new_of, first_of, points)
        del self.hn_count, self.hn_len
        done("housenumbers")
        self._write_points(out, counts, points)
        done("points")
        self._write_lexicon(out, counts, term_order)
        done("lexicon")
        shutil.rmtree(self.work)

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "rules": self.rules,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.time() - self.started, 3),
            "counts": counts,
            "sources": sources or [],
            **(extra or {}),
        }
        manifest["bytes"] = sum(f.stat().st_size for f in out.iterdir())
        if report is not None:
            manifest["import_report"] = report()
        manifest["version"] = version_of(manifest)
        tmp_manifest = out / (MANIFEST + ".tmp")
        tmp_manifest.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.replace(tmp_manifest, out / MANIFEST)
        self._move_into_place()
        return manifest

    def _move_into_place(self) -> None:
        # mkdtemp made the directory private (0700): an index is read by the server's user.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)

    def _write_documents(self, out: Path, counts: dict) -> tuple[np.ndarray, np.ndarray]:
        """Number the documents (descending id, repeated ids merged) and write their arrays;
        returns the new number of each occurrence and the first occurrence of each number."""
        self.documents.close()
        meta = self.documents.read(0, self.documents.count)
        id_off = offsets_of(meta["id_len"])
        blob = (self.work / "ids").read_bytes()
        ids = np.array([blob[a:b] for a, b in zip(id_off[:-1].tolist(), id_off[1:].tolist(), strict=True)],
                       dtype=f"S{max(1, int(meta['id_len'].max(initial=1)))}")
        del blob
        order = np.argsort(ids, kind="stable")  # ascending; equal ids in arrival order
        starts = np.flatnonzero(np.r_[True, ids[order][1:] != ids[order][:-1]]) if len(ids) else order
        n_docs = len(starts)
        group = np.cumsum(np.r_[False, ids[order][1:] != ids[order][:-1]]) if len(ids) else order
        new_of = np.empty(len(ids), dtype=np.uint32)
        new_of[order] = (n_docs - 1 - group).astype(np.uint32)  # descending id
        first_of = order[starts][::-1].copy()  # the first occurrence of each new number
        counts["documents"] = n_docs

        first = meta[first_of]
        write_strings(out, "docs.id", [bytes(i) for i in ids[first_of]])
        write_array(out, "docs.importance", first["importance"])
        write_array(out, "docs.lonlat", np.stack([first["lon"], first["lat"]], axis=1))
        write_array(out, "docs.flags", first["flags"])
        extent = first["extent"].copy()
        if len(ids) > n_docs:  # a repeated id: the extent of every occurrence
            np.minimum.at(extent[:, 0], new_of, meta["extent"][:, 0])
            np.minimum.at(extent[:, 1], new_of, meta["extent"][:, 1])
            np.maximum.at(extent[:, 2], new_of, meta["extent"][:, 2])
            np.maximum.at(extent[:, 3], new_of, meta["extent"][:, 3])
        write_array(out, "docs.extent", extent)
        self.merged = len(ids) - n_docs
        self.hn_count = meta["hn_count"].astype(np.uint64)
        self.hn_len = meta["hn_len"].astype(np.uint64)
        _write_compressed(self.work / "docs", meta["doc_len"], first_of, out)
        _permute_blob(self.work / "labels", meta["label_len"], first_of, out, "labels")
        return new_of, first_of

    def _write_terms(self, out: Path, counts: dict) -> np.ndarray:
        """Terms sorted (bytewise); returns the final number of each term by arrival."""
        terms = sorted(self.term_ids, key=str.encode)
        order = np.empty(len(terms), dtype=np.uint32)
        for new, term in enumerate(terms):
            order[self.term_ids[term]] = new
        encoded = [t.encode() for t in terms]
        write_strings(out, "terms", encoded)
        offsets = np.fromfile(out / "terms.off", dtype=np.uint64)
        table = build_table(np.frombuffer((out / "terms.bin").read_bytes() or b"\0", dtype=np.uint8), offsets)
        write_array(out, "terms.table", table)
        counts["terms"], counts["terms.table"] = len(terms), len(table)
        self.final_terms = terms
        return order

    def _write_postings(self, out: Path, counts: dict, new_of: np.ndarray, term_order: np.ndarray) -> None:
        def prepare(records: np.ndarray) -> np.ndarray:
            records["term"] = term_order[records["term"]]
            records["doc"] = new_of[records["doc"]]
            return records

        def key(records: np.ndarray) -> np.ndarray:
            return (records["term"].astype(np.uint64) << np.uint64(32)) | records["doc"]

        n_terms = counts["terms"]
        per_term = np.zeros(n_terms, dtype=np.int64)
        maxscore = np.zeros(n_terms, dtype=np.float64)
        docs, scores = ArrayFile(out, "post.docs"), ArrayFile(out, "post.scores")
        for chunk in sorted_chunks(self.postings, key, self.memory // 2, prepare):
            # A repeated id may hold a word twice: keep its best score.
            k = key(chunk)
            starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
            best = np.maximum.reduceat(chunk["score"], starts) if len(chunk) else chunk["score"]
            chunk = chunk[starts]
            docs.write(chunk["doc"])
            scores.write(best)
            per_term += np.bincount(chunk["term"], minlength=n_terms)
            np.maximum.at(maxscore, chunk["term"], best)
        counts["postings"] = docs.close()
        scores.close()
        self.postings.remove()
        start = np.zeros(n_terms + 1, dtype=np.uint64)
        np.cumsum(per_term, out=start[1:])
        write_array(out, "post.start", start)
        write_array(out, "term.maxscore", maxscore)

    def _write_housenumbers(self, out: Path, counts: dict, new_of: np.ndarray, first_of: np.ndarray,
                            points: Spill) -> None:
        """hn.bin, hn.off, hn.lonlat and docs.hn: each document's house numbers (sorted by
        key in the worker) copied into the documents' order, GROUP documents at a time; the
        points of the house numbers go to ``points``."""
        n_docs = counts["documents"]
        count, length = self.hn_count, self.hn_len
        rec_start, xy_start = offsets_of(length), offsets_of(count) * np.uint64(8)
        occurrences = np.bincount(new_of, minlength=n_docs)
        repeated: dict[int, list[int]] = {}
        for o in np.flatnonzero(occurrences[new_of] > 1).tolist():  # arrival order
            repeated.setdefault(int(new_of[o]), []).append(o)
        offsets = ArrayFile(out, "hn.off", "<u4" if int(length.sum()) < 1 << 32 else "<u8")
        lonlat = ArrayFile(out, "hn.lonlat")
        per_doc = np.zeros(n_docs, dtype=np.uint64)
        number = written = 0
        fd_rec, fd_xy = os.open(self.work / "hn", os.O_RDONLY), os.open(self.work / "hnxy", os.O_RDONLY)
        try:
            with open(out / "hn.bin", "wb", buffering=1 << 20) as blob:
                for start in range(0, n_docs, GROUP):
                    docs = np.arange(start, min(start + GROUP, n_docs))
                    firsts = first_of[docs]
                    pieces = []
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
        (self.work / "hn").unlink()
        (self.work / "hnxy").unlink()
        start = np.zeros(n_docs + 1, dtype=np.uint64)
        np.cumsum(per_doc, out=start[1:])
        write_array(out, "docs.hn", start)
        lonlat_docs = np.fromfile(out / "docs.lonlat", dtype=np.float64).reshape(-1, 2)
        cells = np.empty(n_docs, dtype=POINT)
        cells["cell"] = geohash.encode(lonlat_docs[:, 0], lonlat_docs[:, 1])
        cells["ref"] = np.arange(n_docs, dtype=np.int32)
        points.append(cells)

    def _write_points(self, out: Path, counts: dict, points: Spill) -> None:
        cell, ref = ArrayFile(out, "geo.cell"), ArrayFile(out, "geo.ref")
        for chunk in sorted_chunks(points, _field("cell"), self.memory // 2):
            cell.write(chunk["cell"])
            ref.write(chunk["ref"])
        counts["points"] = cell.close()
        ref.close()
        points.remove()

    def _write_lexicon(self, out: Path, counts: dict, term_order: np.ndarray) -> None:
        """Each word of the documents (before synonyms and phonetics) and the term numbers
        it is searched as: a query's known words then cost one lookup (see search/query.py)."""
        number = {t: i for i, t in enumerate(self.final_terms)}
        words, tokens, starts = [], [], [0]
        for word in sorted(self.words, key=str.encode):
            ids = [number.get(t, -1) for t in self.pipeline.expand(word)]
            if not ids or min(ids) < 0:
                continue
            words.append(word.encode())
            tokens.extend(ids)
            starts.append(len(tokens))
        write_strings(out, "words", words)
        offsets = np.fromfile(out / "words.off", dtype=np.uint64)
        table = build_table(np.frombuffer((out / "words.bin").read_bytes() or b"\0", dtype=np.uint8), offsets)
        write_array(out, "words.table", table)
        write_array(out, "words.start", np.asarray(starts, dtype=np.uint64))
        write_array(out, "words.tokens", np.asarray(tokens, dtype=np.uint32))
        counts["words"], counts["word_tokens"], counts["words.table"] = len(words), len(tokens), len(table)


def _field(name: str):
    def key(records: np.ndarray) -> np.ndarray:
        return records[name]

    return key


def _runs(docs: np.ndarray, repeated: dict[int, list[int]]) -> list[np.ndarray]:
    """The documents cut into runs of unrepeated ones, each repeated one a run of its own."""
    if not repeated:
        return [docs]
    cuts = [i for i, d in enumerate(docs.tolist()) if d in repeated]
    if not cuts:
        return [docs]
    edges = sorted({0, len(docs), *cuts, *(c + 1 for c in cuts)})
    return [docs[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _merge_repeated(fd_rec: int, fd_xy: int, occurrences: list[int], rec_start: np.ndarray,
                    length: np.ndarray, xy_start: np.ndarray, count: np.ndarray) -> tuple[bytes, bytes, int]:
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


def _permute_blob(source: Path, lengths: np.ndarray, order: np.ndarray, out: Path, name: str) -> None:
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


def _write_compressed(source: Path, lengths: np.ndarray, order: np.ndarray, out: Path) -> None:
    """docs.bin, docs.off, docs.dict: each document (``source`` holds them in arrival
    order, of the given lengths) in the order given, a zstd frame of its own compressed with
    a dictionary trained on an even sample of them."""
    starts = offsets_of(lengths)
    chosen = lengths[order].astype(np.uint64)
    fd = os.open(source, os.O_RDONLY)
    try:
        every = np.linspace(0, len(order) - 1, min(len(order), DOCS_DICT_SAMPLES))
        sample = np.unique(every.astype(np.int64))
        dictionary = _train(_split(gather(fd, starts[order[sample]], chosen[sample]), chosen[sample]))
        (out / "docs.dict").write_bytes(dictionary)
        compress = _compressor(dictionary).compress
        sizes = np.empty(len(order), dtype=np.uint64)
        with open(out / "docs.bin", "wb", buffering=1 << 20) as f:
            for a in range(0, len(order), GROUP):
                part = order[a : a + GROUP]
                frames = [compress(doc) for doc in _split(gather(fd, starts[part], chosen[a : a + GROUP]),
                                                           chosen[a : a + GROUP])]
                sizes[a : a + len(part)] = [len(frame) for frame in frames]
                f.write(b"".join(frames))
    finally:
        os.close(fd)
    source.unlink()
    offsets = offsets_of(sizes)
    write_array(out, "docs.off", offsets, "<u4" if int(offsets[-1]) < 1 << 32 else "<u8")


def _split(blob: bytes | bytearray, lengths: np.ndarray) -> list[bytes]:
    ends = np.cumsum(lengths).tolist()
    view = memoryview(blob)
    return [bytes(view[a:b]) for a, b in zip([0, *ends][: len(ends)], ends, strict=True)]


def _train(samples: list[bytes]) -> bytes:
    """A zstd dictionary for these documents (b"" when they are too few to train one)."""
    if sum(map(len, samples)) < 8 * DOCS_DICT_BYTES:
        return b""
    try:  # NOTE: k and d given (fastcover's defaults), no search over them: a tenth of a second
        trained = zstandard.train_dictionary(DOCS_DICT_BYTES, samples, k=200, d=8, threads=1)
    except zstandard.ZstdError:
        return b""
    return trained.as_bytes()


def _compressor(dictionary: bytes) -> zstandard.ZstdCompressor:
    params = zstandard.ZstdCompressionParameters.from_level(
        DOCS_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=True, write_checksum=False,
        write_dict_id=False)
    trained = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
    return zstandard.ZstdCompressor(dict_data=trained, compression_params=params)


def version_of(manifest: dict) -> str:
    """A short id of the index content, for cache keys and /health."""
    basis = orjson.dumps(
        [manifest["built_at"], manifest["counts"], manifest["sources"]], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(basis).hexdigest()[:12]
