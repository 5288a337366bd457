"""What the index keeps of each document: its tokens and their scores, its labels, its
stored JSON, its house-number records.

This is the per-document work of an import, done by worker processes on batches of
documents (:func:`process_batch`); the writer only files the results (``writer.py``).
"""

from __future__ import annotations

from typing import TypedDict, cast

import numpy as np
from numpy.typing import NDArray

from ..text import Pipeline
from ._documents import Batch
from ._documents import invalid_reason as invalid_reason  # the importers' check too
from .format import Document


class DocumentError(ValueError):
    """A document that cannot be indexed (it is skipped and counted)."""


def check_document(doc: object) -> None:
    reason = invalid_reason(doc)
    if reason:
        raise DocumentError(reason)


class Packed(TypedDict):
    """A batch as :func:`pack` sends it (``IndexWriter.add_batch`` files it)."""

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
    words: dict[str, list[str]]  # the words of the texts, each with its tokens (Pipeline.expand)
    place_tokens: list[str]  # the tokens of the documents' places (format.place_texts), each once
    bad: list[tuple[int, str, str]]
    housenumbers: int
    read_documents: int
    read_housenumbers: int


def pack(batch: Batch) -> Packed:
    """Plain arrays and bytes (cheap to send between processes)."""
    return {
        "ids": batch.ids,
        "importance": np.frombuffer(batch.importance, dtype=np.float64),
        "lonlat": np.frombuffer(batch.lonlat, dtype=np.float64).reshape(-1, 2),
        "flags": np.frombuffer(bytes(batch.flags), dtype=np.uint8),
        "extent": outward(np.frombuffer(batch.extent, dtype=np.float64).reshape(-1, 4)),
        "docs": b"".join(batch.docs),
        "doc_lengths": np.fromiter(map(len, batch.docs), dtype=np.uint64, count=len(batch.docs)),
        "labels": b"".join(batch.labels),
        "label_lengths": np.fromiter(map(len, batch.labels), dtype=np.uint64, count=len(batch.labels)),
        "terms": list(batch.terms),
        "post_term": np.frombuffer(batch.post_term, dtype=np.uint32),
        "post_doc": np.frombuffer(batch.post_doc, dtype=np.uint32),
        "post_score": np.frombuffer(batch.post_score, dtype=np.float64),
        "hn_count": np.frombuffer(batch.hn_count, dtype=np.uint32),
        "hn_records": bytes(batch.hn_records),
        "hn_lengths": np.frombuffer(batch.hn_lengths, dtype=np.uint32),
        "hn_lonlat": np.frombuffer(bytes(batch.hn_lonlat), dtype=np.int32).reshape(-1, 2),
        "words": batch.words,
        "place_tokens": list(batch.place_tokens),
        "bad": batch.bad,
        "housenumbers": batch.housenumbers,
        "read_documents": batch.read_documents,
        "read_housenumbers": batch.read_housenumbers,
    }


def outward(extent: NDArray[np.float64]) -> NDArray[np.float32]:
    """Extents (west, south, east, north; float64) as float32 rounded away from the inside."""
    rounded = extent.astype(np.float32)
    low = rounded[:, :2] > extent[:, :2]
    high = rounded[:, 2:] < extent[:, 2:]
    rounded[:, :2][low] = np.nextafter(rounded[:, :2][low], np.float32(-np.inf))
    rounded[:, 2:][high] = np.nextafter(rounded[:, 2:][high], np.float32(np.inf))
    return rounded


def add_document(batch: Batch, doc: Document, checked: bool = False) -> None:
    """File one document into the batch (raises DocumentError when it cannot be indexed)."""
    if not checked:
        check_document(doc)
    batch.add(doc)


def process_batch(pipeline: Pipeline, items: list[Document] | list[bytes] | bytes, first_line: int = 0,
                  reported: set[str] | None = None) -> Packed:
    """Records of a batch: documents (dicts), or NDJSON lines (bytes, or a block of them)
    numbered from ``first_line``; a bad line or document is counted in ``bad``, never fatal.
    ``reported``: the texts whose words this process already sent in this import."""
    batch = Batch(pipeline, reported)
    if isinstance(items, bytes):
        batch.add_lines(items, first_line)
        return pack(batch)
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            batch.add_line(item, first_line + i)
            continue
        try:
            add_document(batch, cast(Document, item))  # checked there
        except DocumentError as e:
            doc_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            batch.bad.append((0, str(e), doc_id))
    return pack(batch)
