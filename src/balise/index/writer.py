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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..text import Pipeline, make_pipeline
from ._lookup import build_table
from .arrays import ArrayFile, offsets_of, write_array, write_strings
from .documents import Packed, process_batch
from .format import FORMAT_NAME, FORMAT_VERSION, GEO_LOW_BITS, GEO_SQUARES, MANIFEST, PLACE_TERM, Document
from .ordering import POINT, permute_blob, write_housenumbers, write_stored
from .runs import Spill, sorted_chunks

MB = 1 << 20
POSTING = np.dtype([("term", "<u4"), ("doc", "<u4"), ("score", "<f8")])
DOCUMENT = np.dtype([
    ("importance", "<f8"), ("lon", "<f8"), ("lat", "<f8"), ("extent", "<f4", (4,)),
    ("flags", "<u1"), ("id_len", "<u4"), ("doc_len", "<u4"), ("label_len", "<u4"),
    ("hn_count", "<u4"), ("hn_len", "<u4"),
])


# The manifest's counts, in the order the phases made them when they ran one after the other.
COUNTS_ORDER = ("documents", "document_parts", "terms", "terms.table", "postings", "housenumbers",
                "housenumber_blocks", "housenumber_bytes", "points", "geo_squares", "words", "word_tokens",
                "words.table")


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
        self.words: dict[str, list[str]] = {}  # word -> its tokens, as the workers expanded it
        self.place_tokens: set[str] = set()  # of the documents' places (format.place_texts)
        self.occurrences = 0  # documents filed, repeated ids included
        self.phases: dict[str, float] = {}  # seconds: reading and filing, then each sort
        self._phases_lock = threading.Lock()  # the finishing's two threads add to it

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

        self.words.update(packed["words"])
        self.place_tokens.update(packed["place_tokens"])

    def abort(self) -> None:
        for f in (self.hn_blob, self.hn_xy, self.ids_blob, self.docs_blob, self.labels_blob):
            f.close()
        for spill in (self.postings, self.documents):
            spill.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- writing ---------------------------------------------------------------------------

    def finish(self, sources: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
               report: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
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
        new_of, first_of, doc_len, label_len = self._write_documents(out, counts)
        self.phases["documents"] = round(time.time() - clock, 2)
        # PERF: two lines of work side by side, each on its own core (the sorts, the reads
        # and writes and the compression release the GIL), about as long as each other: the
        # terms, postings, lexicon and stored documents; the labels, house numbers and
        # points. Each sort gets half the budget it would have alone.
        self.phases.update({phase: 0.0 for phase in ("postings", "housenumbers", "points", "lexicon")})
        side_counts: dict[str, int] = {}
        with ThreadPoolExecutor(1) as side:
            terms = side.submit(self._side_line, out, side_counts, new_of, first_of, doc_len)
            self._timed("documents", permute_blob, self.work / "labels", label_len, first_of, out, "labels")
            points = Spill(self.work / "points", POINT)
            self._timed("housenumbers", write_housenumbers, self.work, out, counts, new_of, first_of,
                        self.hn_count, self.hn_len, points)
            del self.hn_count, self.hn_len
            self._timed("points", self._write_points, out, counts, points, self.memory // 4)
            terms.result()
        counts.update(side_counts)
        counts = {name: counts[name] for name in COUNTS_ORDER}
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

    def _timed(self, phase: str, step: Callable[..., None], *args: Any) -> None:
        """Run a step of the finishing, its seconds added to its phase's (either thread)."""
        clock = time.time()
        step(*args)
        with self._phases_lock:
            self.phases[phase] = round(self.phases.get(phase, 0.0) + time.time() - clock, 2)

    def _side_line(self, out: Path, counts: dict[str, int], new_of: np.ndarray, first_of: np.ndarray,
                   doc_len: np.ndarray) -> None:
        """The finishing's second line of work (see finish)."""
        clock = time.time()
        term_order = self._write_terms(out, counts)
        self._write_postings(out, counts, new_of, term_order, self.memory // 4)
        self.phases["postings"] = round(time.time() - clock, 2)
        self._timed("lexicon", self._write_lexicon, out, counts)
        self._timed("documents", write_stored, self.work / "docs", doc_len, first_of, out, counts)

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

    def _write_documents(self, out: Path, counts: dict[str, int]
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Number the documents (descending id, repeated ids merged) and write their arrays;
        returns the new number of each occurrence, the first occurrence of each number and
        the lengths of the documents' JSON and labels (by arrival)."""
        self.documents.close()
        meta = self.documents.read(0, self.documents.count)
        rows = fixed_width((self.work / "ids").read_bytes(), meta["id_len"])
        ids = rows.view(f"S{rows.shape[1]}").ravel()
        order = np.argsort(ids, kind="stable")  # ascending; equal ids in arrival order
        starts = np.flatnonzero(np.r_[True, ids[order][1:] != ids[order][:-1]]) if len(ids) else order
        n_docs = len(starts)
        group = np.cumsum(np.r_[False, ids[order][1:] != ids[order][:-1]]) if len(ids) else order
        new_of = np.empty(len(ids), dtype=np.uint32)
        new_of[order] = (n_docs - 1 - group).astype(np.uint32)  # descending id
        first_of = order[starts][::-1].copy()  # the first occurrence of each new number
        counts["documents"] = n_docs

        first = meta[first_of]
        write_stripped(out, "docs.id", rows[first_of])
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
        return new_of, first_of, meta["doc_len"].copy(), meta["label_len"].copy()

    def _write_terms(self, out: Path, counts: dict[str, int]) -> np.ndarray:
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
        flags = np.zeros(len(terms), dtype=np.uint8)
        for token in self.place_tokens:
            arrival = self.term_ids.get(token)
            if arrival is not None:  # (a place word no document is searched by)
                flags[order[arrival]] = PLACE_TERM
        write_array(out, "term.flags", flags)
        self.final_terms = terms
        return order

    def _write_postings(self, out: Path, counts: dict[str, int], new_of: np.ndarray,
                        term_order: np.ndarray, budget: int) -> None:
        def prepare(records: np.ndarray) -> np.ndarray:
            records["term"] = term_order[records["term"]]
            records["doc"] = new_of[records["doc"]]
            return records

        def key(records: np.ndarray) -> np.ndarray:
            term: np.ndarray = records["term"].astype(np.uint64)
            both: np.ndarray = (term << np.uint64(32)) | records["doc"]
            return both

        n_terms = counts["terms"]
        per_term = np.zeros(n_terms, dtype=np.int64)
        maxscore = np.zeros(n_terms, dtype=np.float64)
        docs, scores = ArrayFile(out, "post.docs"), ArrayFile(out, "post.scores")
        for chunk in sorted_chunks(self.postings, key, budget, prepare):
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

    def _write_points(self, out: Path, counts: dict[str, int], points: Spill, budget: int) -> None:
        """geo.square, geo.low, geo.ref: the points sorted by cell (format.py)."""
        low, ref = ArrayFile(out, "geo.low"), ArrayFile(out, "geo.ref")
        per_square = np.zeros(GEO_SQUARES, dtype=np.int64)
        for chunk in sorted_chunks(points, _field("cell"), budget):
            low.write(chunk["cell"] & np.uint64((1 << GEO_LOW_BITS) - 1))
            ref.write(chunk["ref"])
            per_square += np.bincount((chunk["cell"] >> np.uint64(GEO_LOW_BITS)).astype(np.int64),
                                      minlength=GEO_SQUARES)
        counts["points"] = low.close()
        ref.close()
        points.remove()
        start = offsets_of(per_square)
        write_array(out, "geo.square", start, "<u4" if int(start[-1]) < 1 << 32 else "<u8")
        counts["geo_squares"] = GEO_SQUARES

    def _write_lexicon(self, out: Path, counts: dict[str, int]) -> None:
        """Each word of the documents (before synonyms and phonetics) and the term numbers
        it is searched as: a query's known words then cost one lookup (see search/_query.pyx)."""
        number = {t: i for i, t in enumerate(self.final_terms)}
        words, tokens, starts = [], [], [0]
        for word in sorted(self.words, key=str.encode):
            ids = [number.get(t, -1) for t in self.words[word]]  # PERF: expanded by the workers
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


def fixed_width(blob: bytes, lengths: np.ndarray) -> np.ndarray:
    """Strings laid end to end, as the rows (uint8, zero-padded) of a fixed-width array: the
    bytes of ``np.array(strings, dtype="S<width>")``, without a Python object a string."""
    width = max(1, int(lengths.max(initial=1)))
    rows = np.zeros((len(lengths), width), dtype=np.uint8)
    rows[np.arange(width) < lengths.astype(np.int64)[:, None]] = np.frombuffer(blob, dtype=np.uint8)
    return rows


def write_stripped(directory: Path, name: str, rows: np.ndarray) -> None:
    """``write_strings`` of fixed-width rows, each without its trailing zero bytes (as
    ``bytes(numpy.bytes_)`` gives it)."""
    nonzero = rows != 0
    lengths = rows.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    lengths[~nonzero.any(axis=1)] = 0
    (directory / f"{name}.bin").write_bytes(rows[np.arange(rows.shape[1]) < lengths[:, None]].tobytes())
    write_array(directory, f"{name}.off", offsets_of(lengths))


def _field(name: str) -> Callable[[np.ndarray], np.ndarray]:
    def key(records: np.ndarray) -> np.ndarray:
        column: np.ndarray = records[name]
        return column

    return key


def version_of(manifest: dict[str, Any]) -> str:
    """A short id of the index content, for cache keys and /health."""
    basis = orjson.dumps(
        [manifest["built_at"], manifest["counts"], manifest["sources"]], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(basis).hexdigest()[:12]
