"""Build an index directory from a stream of Addok-shaped documents.

Memory stays proportional to the number of postings and points kept as flat
arrays (a few dozen bytes each), never to Python objects per house number:
document and house-number JSON go straight to temporary blob files.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import orjson

from ..search.scoring import fold_fields, make_labels
from ..text import Pipeline
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

# (field, boost) as Addok's FIELDS plus the EXTRA_FIELDS of BAN's production
# configuration; postcode weighs 1.2 on municipalities.
FIELDS = (
    ("name", 4.0), ("street", 1.0), ("postcode", 1.0), ("city", 1.0), ("context", 1.0),
    ("citycode", 1.0), ("oldcitycode", 1.0), ("oldcity", 1.0), ("district", 1.0),
)
FILTERS = ("type", "postcode", "citycode")
IMPORTANCE_WEIGHT = 0.1


class DocumentError(ValueError):
    """A document that cannot be indexed (it is skipped and counted)."""


def as_list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")]
    return [value]


def document_tokens(pipeline: Pipeline, doc: dict) -> dict[str, float]:
    """Each token of the document with its score, as Addok's FieldsIndexer computes it."""
    importance = float(doc.get("importance") or 0.0) * IMPORTANCE_WEIGHT
    tokens: dict[str, float] = {}
    for field, boost in FIELDS:
        if field == "postcode" and doc.get("type") == "municipality":
            boost = 1.2
        for value in as_list(doc.get(field)):
            words = pipeline.index_tokens(str(value))
            if not words:
                continue
            score = (boost + importance) / len(words)
            for word in words:
                if tokens.get(word, 0.0) < score:
                    tokens[word] = score
    return tokens


def check_document(doc: dict) -> None:
    if not isinstance(doc, dict):
        raise DocumentError("not an object")
    for key in ("id", "type", "name"):
        if not as_list(doc.get(key)):
            raise DocumentError(f"missing {key}")
    try:
        lon, lat = float(doc["lon"]), float(doc["lat"])
    except (KeyError, TypeError, ValueError) as e:
        raise DocumentError("bad coordinates") from e
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise DocumentError("coordinates out of range")


class IndexWriter:
    """Accumulates documents, then writes the index with :meth:`finish`."""

    def __init__(self, path: Path, pipeline: Pipeline, rules: str = "fr") -> None:
        self.path = Path(path)
        self.pipeline = pipeline
        self.rules = rules
        self.started = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.term_ids: dict[str, int] = {}
        self.post_term = array("I")
        self.post_doc = array("I")
        self.post_score = array("d")
        self.doc_ids: list[str] = []
        self.numbers: dict[str, int] = {}
        self.doc_importance = array("d")
        self.doc_lonlat = array("d")
        self.doc_off = array("Q", [0])
        self.docs_blob = open(self.tmp / "docs.tmp", "wb")  # noqa: SIM115 (closed in finish/abort)
        self.doc_flags = array("B")
        self.labels_off = array("Q", [0])
        self.labels_blob = open(self.tmp / "labels.tmp", "wb")  # noqa: SIM115 (closed in finish/abort)
        self.hn_doc = array("I")
        self.hn_keys: list[str] = []
        self.hn_lonlat = array("d")
        self.hn_off = array("Q", [0])
        self.hn_blob = open(self.tmp / "hn.bin", "wb")  # noqa: SIM115 (closed in finish/abort)
        self.merged = 0

    def _term(self, term: str) -> int:
        tid = self.term_ids.get(term)
        if tid is None:
            tid = self.term_ids[term] = len(self.term_ids)
        return tid

    def add(self, doc: dict) -> int:
        """Index one document; returns its number of house numbers."""
        check_document(doc)
        doc_id = str(as_list(doc["id"])[0])
        housenumbers = doc.pop("housenumbers", None) or {}
        n = self.numbers.get(doc_id)
        if n is not None:
            # NOTE: a repeated id (BANO spells some streets two ways) joins the
            # first document: its words and house numbers are added to it, where
            # Addok would keep only the last one's house numbers.
            self.merged += 1
            self._add_postings(n, doc, housenumbers)
            return self._add_housenumbers(n, housenumbers)
        n = self.numbers[doc_id] = len(self.doc_ids)
        self.doc_ids.append(doc_id)
        self._add_postings(n, doc, housenumbers)
        self.doc_importance.append(float(doc.get("importance") or 0.0))
        self.doc_lonlat.extend((float(doc["lon"]), float(doc["lat"])))
        # Labels are compared folded: fold names and cities, and make the labels, once, here.
        doc["_folded"] = fold_fields(doc)
        shown, folded = make_labels(doc, None)
        self.labels_blob.write(LABEL_SEPARATOR.join([shown, *folded]).encode())
        self.labels_off.append(self.labels_blob.tell())
        several = len(as_list(doc.get("postcode"))) > 1 and doc.get("type") != "municipality"
        self.doc_flags.append(MULTI_POSTCODE if several else 0)
        self.docs_blob.write(orjson.dumps(doc))
        self.doc_off.append(self.docs_blob.tell())
        return self._add_housenumbers(n, housenumbers)

    def _add_postings(self, n: int, doc: dict, housenumbers: dict) -> None:
        for term, score in document_tokens(self.pipeline, doc).items():
            self.post_term.append(self._term(term))
            self.post_doc.append(n)
            self.post_score.append(score)
        filters = {name: as_list(doc.get(name)) for name in FILTERS}
        if housenumbers:
            filters["type"] = filters["type"] + ["housenumber"]
        for name, values in filters.items():
            for value in values:
                self.post_term.append(self._term(filter_term(name, str(value))))
                self.post_doc.append(n)
                self.post_score.append(1.0)

    def _add_housenumbers(self, n: int, housenumbers: dict) -> int:
        keys = set()
        key_of = self.pipeline.housenumber_key
        end = self.hn_off[-1]
        for raw, data in housenumbers.items():
            try:
                lon, lat = float(data["lon"]), float(data["lat"])
            except (KeyError, TypeError, ValueError):
                continue
            key = key_of(str(raw))
            if key in keys:
                continue
            keys.add(key)
            props = dict(data)
            del props["lon"], props["lat"]
            props["raw"] = str(raw)
            blob = orjson.dumps(props)
            self.hn_blob.write(blob)
            end += len(blob)
            self.hn_off.append(end)
            self.hn_doc.append(n)
            self.hn_keys.append(key)
            self.hn_lonlat.append(lon)
            self.hn_lonlat.append(lat)
        return len(keys)

    def add_all(self, docs: Iterable[dict], on_error=None) -> None:
        for doc in docs:
            try:
                self.add(doc)
            except DocumentError as e:
                if on_error is None:
                    raise
                on_error(doc, e)

    def abort(self) -> None:
        self.docs_blob.close()
        self.labels_blob.close()
        self.hn_blob.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def finish(self, sources: list[dict] | None = None, extra: dict | None = None, report=None) -> dict:
        """Write every array, then the manifest, then move the directory into place.

        ``report`` is called once the arrays are written; what it returns goes into the
        manifest under "import_report" (so times and peak memory cover the whole build).
        """
        self.docs_blob.close()
        self.labels_blob.close()
        self.hn_blob.close()
        out = self.tmp
        n_docs = len(self.doc_ids)
        # Document numbers in descending id order (Addok's tie-break).
        order = sorted(range(n_docs), key=self.doc_ids.__getitem__, reverse=True)
        new_number = np.empty(n_docs, dtype=np.uint32)
        new_number[np.asarray(order, dtype=np.int64)] = np.arange(n_docs, dtype=np.uint32)

        self._write_documents(out, order)
        n_terms = self._write_terms_and_postings(out, new_number)
        n_hn = self._write_housenumbers(out, new_number)
        self._write_geo(out, new_number)

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "rules": self.rules,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.time() - self.started, 3),
            "counts": {"documents": n_docs, "housenumbers": n_hn, "terms": n_terms},
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
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)

    def _write_documents(self, out: Path, order: list[int]) -> None:
        reorder_blob(out, "docs", np.frombuffer(self.doc_off, dtype=np.uint64), order)
        reorder_blob(out, "labels", np.frombuffer(self.labels_off, dtype=np.uint64), order)
        idx = np.asarray(order, dtype=np.int64)
        np.save(out / "docs.flags.npy", np.frombuffer(self.doc_flags, dtype=np.uint8)[idx])
        np.save(out / "docs.importance.npy", np.frombuffer(self.doc_importance, dtype=np.float64)[idx])
        lonlat = np.frombuffer(self.doc_lonlat, dtype=np.float64).reshape(-1, 2)
        np.save(out / "docs.lonlat.npy", lonlat[idx] if len(idx) else lonlat)

    def _write_terms_and_postings(self, out: Path, new_number: np.ndarray) -> int:
        terms = sorted(self.term_ids)
        old_to_new = np.empty(len(terms), dtype=np.uint32)
        for new, term in enumerate(terms):
            old_to_new[self.term_ids[term]] = new
        write_strings(out, "terms", terms)

        term = old_to_new[np.frombuffer(self.post_term, dtype=np.uint32)]
        doc = new_number[np.frombuffer(self.post_doc, dtype=np.uint32)]
        score = np.frombuffer(self.post_score, dtype=np.float64)
        order = np.lexsort((-score, doc, term))
        term, doc, score = term[order], doc[order], score[order]
        # A merged duplicate document may hold a term twice: keep its best score.
        first = np.ones(len(term), dtype=bool)
        first[1:] = (term[1:] != term[:-1]) | (doc[1:] != doc[:-1])
        term, doc, score = term[first], doc[first], score[first]
        start = np.zeros(len(terms) + 1, dtype=np.uint64)
        np.cumsum(np.bincount(term, minlength=len(terms)), out=start[1:])
        np.save(out / "post.start.npy", start)
        np.save(out / "post.docs.npy", doc.astype(np.uint32))
        np.save(out / "post.scores.npy", score)
        maxscore = np.zeros(len(terms), dtype=np.float64)
        if len(score):
            np.maximum.at(maxscore, term, score)
        np.save(out / "term.maxscore.npy", maxscore)
        return len(terms)

    def _write_housenumbers(self, out: Path, new_number: np.ndarray) -> int:
        hn_doc = new_number[np.frombuffer(self.hn_doc, dtype=np.uint32)]
        n = len(hn_doc)
        np.save(out / "hn.doc.npy", hn_doc)
        np.save(out / "hn.off.npy", np.frombuffer(self.hn_off, dtype=np.uint64))
        np.save(out / "hn.lonlat.npy", np.frombuffer(self.hn_lonlat, dtype=np.float64).reshape(-1, 2))
        write_strings(out, "hn.key", self.hn_keys)
        lookup = np.fromiter(
            (housenumber_hash(int(d), k) for d, k in zip(hn_doc, self.hn_keys, strict=True)),
            dtype=np.uint64,
            count=n,
        )
        order = np.argsort(lookup, kind="stable")
        np.save(out / "hn.lookup.npy", lookup[order])
        np.save(out / "hn.lookup_ids.npy", order.astype(np.uint32))
        return n

    def _write_geo(self, out: Path, new_number: np.ndarray) -> None:
        doc_lonlat = np.frombuffer(self.doc_lonlat, dtype=np.float64).reshape(-1, 2)
        hn_lonlat = np.frombuffer(self.hn_lonlat, dtype=np.float64).reshape(-1, 2)
        lon = np.concatenate([doc_lonlat[:, 0], hn_lonlat[:, 0]])
        lat = np.concatenate([doc_lonlat[:, 1], hn_lonlat[:, 1]])
        # A point is a document (its number) or a house number (~its number).
        ref = np.concatenate(
            [new_number.astype(np.int64), ~np.arange(len(hn_lonlat), dtype=np.int64)]
        )
        cell = geohash.encode(lon, lat)
        order = np.argsort(cell, kind="stable")
        np.save(out / "geo.cell.npy", cell[order])
        np.save(out / "geo.ref.npy", ref[order])


def reorder_blob(out: Path, name: str, offsets: np.ndarray, order: list[int]) -> None:
    """``NAME.tmp`` (records in the order added) as ``NAME.bin`` + ``NAME.off`` in ``order``."""
    src = (out / f"{name}.tmp").read_bytes()
    new_off = np.zeros(len(order) + 1, dtype=np.uint64)
    with open(out / f"{name}.bin", "wb") as f:
        for i, old in enumerate(order):
            f.write(src[offsets[old] : offsets[old + 1]])
            new_off[i + 1] = f.tell()
    (out / f"{name}.tmp").unlink()
    np.save(out / f"{name}.off.npy", new_off)


def write_strings(out: Path, name: str, strings: list[str]) -> None:
    """A list of strings as one utf-8 blob plus offsets."""
    encoded = [s.encode() for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.uint64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    (out / f"{name}.bin").write_bytes(b"".join(encoded))
    np.save(out / f"{name}.off.npy", offsets)


def version_of(manifest: dict) -> str:
    """A short id of the index content, for cache keys and /health."""
    import hashlib

    basis = orjson.dumps(
        [manifest["built_at"], manifest["counts"], manifest["sources"]], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(basis).hexdigest()[:12]
