"""What the index keeps of each document: its tokens and their scores, its labels, its
stored JSON, its house-number records.

This is the per-document work of an import, done by worker processes on batches of
documents (:func:`process_batch`); the writer only files the results (``writer.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import orjson
from numpy.typing import NDArray

from ..text import Pipeline
from ..text.labels import as_list as _as_list
from ..text.labels import make_labels
from ._records import housenumbers as housenumbers_records
from .format import (
    COORDINATE_SCALE,
    IMPORTANCE_WEIGHT,
    LABEL_SEPARATOR,
    MULTI_POSTCODE,
    Document,
    filter_term,
)

# (field, boost) as Addok's FIELDS plus the EXTRA_FIELDS of BAN's production
# configuration; postcode weighs 1.2 on municipalities.
# HOOK(poi): ``category`` is a field and a filter of points of interest, as in the
# Géoplateforme's POI index (indexes/poi/config/addok.conf); address documents have none, so
# their indexes are unchanged (http/geocodage/, importer/poi.py).
FIELDS = (
    ("name", 4.0), ("street", 1.0), ("postcode", 1.0), ("city", 1.0), ("context", 1.0),
    ("citycode", 1.0), ("oldcitycode", 1.0), ("oldcity", 1.0), ("district", 1.0),
    ("category", 1.0),
)
FILTERS = ("type", "postcode", "citycode", "category")
NOT_STORED = ("housenumbers", "lon", "lat", "_folded")  # lon/lat live in docs.lonlat, the id in docs.id


class DocumentError(ValueError):
    """A document that cannot be indexed (it is skipped and counted)."""


def as_list(value: Any) -> list[Any]:
    if type(value) is str:  # PERF: the usual case, first
        return [value] if value else []
    if value is None:
        return []
    return [v for v in _as_list(value) if v not in (None, "")]


def invalid_reason(doc: object) -> str:
    """'' when a document can be indexed, else why not."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    for key in ("id", "type", "name"):
        if not doc.get(key):
            return f"missing {key}"
    for key, bound in (("lon", 180.0), ("lat", 90.0)):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{key} is not a number"
        if not -bound <= value <= bound:
            return f"{key} out of range"
    if not isinstance(doc.get("housenumbers", {}), dict):
        return "housenumbers is not an object"
    return ""


def check_document(doc: object) -> None:
    reason = invalid_reason(doc)
    if reason:
        raise DocumentError(reason)


REPORTED_MAX = 500_000  # texts remembered as reported (past it, they are reported again)


def document_tokens(pipeline: Pipeline, doc: Document, words: dict[str, None] | None = None,
                    reported: set[str] | None = None) -> dict[str, float]:
    """Each token of the document with its score, as Addok's FieldsIndexer computes it;
    ``words`` receives the words the tokens come from (for the lexicon), except those of
    the texts in ``reported`` (what this process already sent, for this import)."""
    importance = float(doc.get("importance") or 0.0) * IMPORTANCE_WEIGHT
    tokens: dict[str, float] = {}
    for name, boost in FIELDS:
        if name == "postcode" and doc.get("type") == "municipality":
            boost = 1.2
        for value in as_list(doc.get(name)):
            text = str(value)
            raw_words, found = pipeline.index_words(text)
            if not found:
                continue
            if words is not None and (reported is None or text not in reported):
                if reported is not None:
                    if len(reported) >= REPORTED_MAX:
                        reported.clear()
                    reported.add(text)
                words.update(dict.fromkeys(raw_words))
            score = (boost + importance) / len(found)
            for word in found:
                if tokens.get(word, 0.0) < score:
                    tokens[word] = score
    return tokens


class Packed(TypedDict):
    """A batch as :meth:`Batch.packed` sends it (``IndexWriter.add_batch`` files it)."""

    ids: list[str]
    importance: NDArray[np.float64]
    lonlat: NDArray[np.float64]  # (lon, lat) rows
    flags: NDArray[np.uint8]
    extent: NDArray[np.float32]  # (west, south, east, north) rows
    docs: bytes
    doc_lengths: NDArray[np.uint64]
    labels: bytes
    label_lengths: NDArray[np.uint64]
    terms: list[str]
    post_term: NDArray[np.uint32]
    post_doc: NDArray[np.uint32]
    post_score: NDArray[np.float64]
    hn_count: NDArray[np.uint32]  # per document
    hn_records: bytes  # each document's records, laid end to end
    hn_lengths: NDArray[np.uint32]  # bytes of each document's records
    hn_lonlat: NDArray[np.int32]  # (x, y) rows, in 1e-7 degree
    words: list[str]
    bad: list[tuple[int, str, str]]
    housenumbers: int
    read_documents: int
    read_housenumbers: int


@dataclass
class Batch:
    """The records of a batch of documents, as compact arrays, ready to be filed."""

    ids: list[str] = field(default_factory=list)
    importance: list[float] = field(default_factory=list)
    lonlat: list[float] = field(default_factory=list)
    flags: bytearray = field(default_factory=bytearray)
    extent: list[float] = field(default_factory=list)
    docs: list[bytes] = field(default_factory=list)
    labels: list[bytes] = field(default_factory=list)
    terms: dict[str, int] = field(default_factory=dict)  # term -> number in this batch
    post_term: list[int] = field(default_factory=list)
    post_doc: list[int] = field(default_factory=list)
    post_score: list[float] = field(default_factory=list)
    hn_count: list[int] = field(default_factory=list)  # per document
    hn_lengths: list[int] = field(default_factory=list)  # bytes of records, per document
    hn_records: bytearray = field(default_factory=bytearray)
    hn_lonlat: list[int] = field(default_factory=list)
    words: dict[str, None] = field(default_factory=dict)
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, text)
    housenumbers: int = 0
    read_documents: int = 0  # valid NDJSON lines
    read_housenumbers: int = 0  # their house numbers, as read

    def packed(self) -> Packed:
        """Plain arrays and bytes (cheap to send between processes)."""
        return {
            "ids": self.ids,
            "importance": np.asarray(self.importance, dtype=np.float64),
            "lonlat": np.asarray(self.lonlat, dtype=np.float64).reshape(-1, 2),
            "flags": np.frombuffer(bytes(self.flags), dtype=np.uint8),
            "extent": outward(np.asarray(self.extent, dtype=np.float64).reshape(-1, 4)),
            "docs": b"".join(self.docs),
            "doc_lengths": np.fromiter(map(len, self.docs), dtype=np.uint64, count=len(self.docs)),
            "labels": b"".join(self.labels),
            "label_lengths": np.fromiter(map(len, self.labels), dtype=np.uint64, count=len(self.labels)),
            "terms": list(self.terms),
            "post_term": np.asarray(self.post_term, dtype=np.uint32),
            "post_doc": np.asarray(self.post_doc, dtype=np.uint32),
            "post_score": np.asarray(self.post_score, dtype=np.float64),
            "hn_count": np.asarray(self.hn_count, dtype=np.uint32),
            "hn_records": bytes(self.hn_records),
            "hn_lengths": np.asarray(self.hn_lengths, dtype=np.uint32),
            "hn_lonlat": np.asarray(self.hn_lonlat, dtype=np.int32).reshape(-1, 2),
            "words": list(self.words),
            "bad": self.bad,
            "housenumbers": self.housenumbers,
            "read_documents": self.read_documents,
            "read_housenumbers": self.read_housenumbers,
        }


def outward(extent: NDArray[np.float64]) -> NDArray[np.float32]:
    """Extents (west, south, east, north; float64) as float32 rounded away from the inside."""
    rounded = extent.astype(np.float32)
    low = rounded[:, :2] > extent[:, :2]
    high = rounded[:, 2:] < extent[:, 2:]
    rounded[:, :2][low] = np.nextafter(rounded[:, :2][low], np.float32(-np.inf))
    rounded[:, 2:][high] = np.nextafter(rounded[:, 2:][high], np.float32(np.inf))
    return rounded


def add_document(batch: Batch, pipeline: Pipeline, doc: Document, checked: bool = False,
                 reported: set[str] | None = None) -> None:
    """File one document into the batch (raises DocumentError when it cannot be indexed)."""
    if not checked:
        check_document(doc)
    doc_id = str(as_list(doc["id"])[0])
    n = len(batch.ids)
    for term, score in document_tokens(pipeline, doc, batch.words, reported).items():
        batch.post_term.append(batch.terms.setdefault(term, len(batch.terms)))
        batch.post_doc.append(n)
        batch.post_score.append(score)
    housenumbers = doc.get("housenumbers") or {}
    filters = {name: as_list(doc.get(name)) for name in FILTERS}
    if housenumbers:
        filters["type"] = filters["type"] + ["housenumber"]
    for name, values in filters.items():
        for value in values:
            term = filter_term(name, str(value))
            batch.post_term.append(batch.terms.setdefault(term, len(batch.terms)))
            batch.post_doc.append(n)
            batch.post_score.append(1.0)

    lon, lat = float(doc["lon"]), float(doc["lat"])
    batch.ids.append(doc_id)
    batch.importance.append(float(doc.get("importance") or 0.0))
    batch.lonlat.extend((lon, lat))
    several = len(as_list(doc.get("postcode"))) > 1 and doc.get("type") != "municipality"
    batch.flags.append(MULTI_POSTCODE if several else 0)
    shown, folded = make_labels(doc, None)
    batch.labels.append(LABEL_SEPARATOR.join([shown, *folded]).encode())
    stored = {k: v for k, v in doc.items() if k not in NOT_STORED}
    if next(iter(stored)) == "id" and stored["id"] == doc_id:  # docs.id has it (a string)
        del stored["id"]
    batch.docs.append(orjson.dumps(stored))

    before = len(batch.hn_records)
    count, west, south, east, north = housenumbers_records(
        housenumbers, doc_id, pipeline.housenumber_key, COORDINATE_SCALE, batch.hn_records, batch.hn_lonlat)
    batch.hn_count.append(count)
    batch.hn_lengths.append(len(batch.hn_records) - before)
    batch.housenumbers += count
    # The extent holds the points as stored (to 1e-7 degree), as the reader gives them.
    batch.extent.extend((min(lon, west), min(lat, south), max(lon, east), max(lat, north)))


def process_batch(pipeline: Pipeline, items: list[Document] | list[bytes] | bytes, first_line: int = 0,
                  reported: set[str] | None = None) -> Packed:
    """Records of a batch: documents (dicts), or NDJSON lines (bytes, or a block of them)
    numbered from ``first_line``; a bad line or document is counted in ``bad``, never fatal.
    ``reported``: the texts whose words this process already sent in this import."""
    if isinstance(items, bytes):
        items = items.split(b"\n")
        if items and not items[-1]:
            items.pop()
    batch = Batch()
    lines = read = 0
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            lines += 1
            doc = _parse_line(batch, item, first_line + i)
            if doc is None:
                continue
            reason = invalid_reason(doc)
            if reason:
                batch.bad.append((first_line + i, reason, item.decode("utf-8", "replace")[:200]))
                continue
            read += 1
            batch.read_housenumbers += len(doc.get("housenumbers") or ())
        else:
            doc = item
        try:
            add_document(batch, pipeline, doc, checked=bool(lines), reported=reported)
        except DocumentError as e:
            doc_id = str(doc.get("id", "")) if isinstance(doc, dict) else ""
            batch.bad.append((first_line + i if lines else 0, str(e), doc_id))
    batch.read_documents = read
    return batch.packed()


# Any JSON value (the caller checks that it is a document), or None.
def _parse_line(batch: Batch, line: bytes, lineno: int) -> Any:
    if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:  # PERF: the bytes as they are (orjson checks the UTF-8 and skips the line's end)
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    line = line.rstrip(b"\r\n")
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        batch.bad.append((lineno, "invalid UTF-8", line.decode("utf-8", "replace")[:200]))
        return None
    batch.bad.append((lineno, "invalid JSON", text[:200]))
    return None
