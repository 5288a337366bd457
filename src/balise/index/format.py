"""The on-disk index format, in one place: what each file holds, its type and its length.

An index is a directory of flat little-endian arrays and byte blobs, memory-mapped on open,
plus ``manifest.json``, written last and renamed into place: a directory without a
manifest is not an index. The manifest's ``counts`` give every length; the writer saves by
the table below and the reader checks each file against it (type, length) when it opens.

Documents (municipalities, streets, localities) are numbered 0..N-1 in *descending* order
of their id, so that ordering candidates by (score desc, number asc) breaks ties exactly as
Addok's Redis sorted sets do, and an id is found by bisection. A document's house numbers
are one range (``docs.hn``), sorted by key, their records laid end to end in ``hn.bin`` in
that order; ``hn.off`` holds the start of every ``HN_BLOCK``-th record only (a record is
found from its block's start, skipping at most HN_BLOCK - 1 records). A record is a header
byte: its low 3 bits the key's length (``HN_KEY_ESCAPE``: a varint length follows), then
``HN_RAW`` (the raw form differs from the key: varint length and bytes after the key), the
id's kind in 3 bits from ``HN_ID_SHIFT`` (none; the document's id then ``_`` or ``-`` and
the raw form, or BAN's ``_`` and 5-digit number and ``_`` suffix: nothing stored; else the
rest after the document's id, or the whole id: varint length and bytes), and ``HN_EXTRA``
(the JSON of any other property: varint length and bytes, last). House-number coordinates
are integers of 1e-7 degree (1 cm; exact for the 6 decimals of the BAN).

A document is stored as its JSON (without its house numbers, longitude and latitude, and
without its id when that is its first key: ``docs.id`` has it), each one a record of its
members: keys, and the values of the keys whose values repeat, are numbers into the parts
``docs.parts`` that every document shares, other values are inline (``_parts.pyx`` writes
and reads them; which keys share their values, the import chooses on a sample of the
documents); one is read in under a microsecond.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

FORMAT_NAME = "balise-index"
FORMAT_VERSION = 6  # 6: documents as records of shared parts (5: term.flags; zstd frames)
MANIFEST = "manifest.json"

# Postings under these keys are filters, not words: "|" never occurs in a token.
FILTER_PREFIX = "|"

LABEL_SEPARATOR = "\x1f"  # ASCII unit separator: never in a label
MULTI_POSTCODE = 1  # docs.flags: a street or locality with several postcodes

# Documents (docs.bin): the keys whose values are shared parts are chosen on this many.
DOCS_SAMPLES = 30_000

GEOHASH_BITS = 35  # geohash precision 7, as Addok uses for its center bias.
# The points' cells (geo.*): each point keeps the low bits of its cell; the others, its square,
# are given by the range of points it falls in (geo.square: the start of each square's points).
GEO_LOW_BITS = 16
GEO_SQUARES = 1 << (GEOHASH_BITS - GEO_LOW_BITS)
# Addok's weight of a document's importance: in the token scores of post.scores (an index
# built with another weight scores otherwise: a new format), and in search/scoring.py.
IMPORTANCE_WEIGHT = 0.1
COORDINATE_SCALE = 10_000_000  # hn.lonlat: integers of 1e-7 degree

# House-number records (hn.bin): the header byte, and one offset every HN_BLOCK records.
HN_BLOCK_BITS = 4
HN_BLOCK = 1 << HN_BLOCK_BITS
HN_KEY_ESCAPE = 7  # the low 3 bits: the key's length, or this and a varint length
HN_RAW = 0x08
HN_ID_SHIFT = 4
HN_EXTRA = 0x80
# The id of a house number, from what is stored (bits 4-6 of the header).
HN_ID_NONE = 0  # no id, or one that is not a string (kept in the extra JSON)
HN_ID_UNDERSCORE_RAW = 1  # document id + "_" + raw
HN_ID_DASH_RAW = 2  # document id + "-" + raw (BANO)
HN_ID_BAN = 3  # document id + "_" + the number on 5 digits + "_" + the key's suffix (BAN)
HN_ID_SUFFIX = 4  # document id + the bytes stored
HN_ID_FULL = 5  # the bytes stored

# A document: a JSON object as imported, and as docs.bin keeps it (without its house numbers).
Document: TypeAlias = dict[str, Any]

# A document's place: the fields that say where it is (and a municipality's name). A term of
# their texts is flagged PLACE_TERM in term.flags: a text with a word that is no place term
# names no document's place (search/_readings.pyx's names_the_place), so no search is spent on it.
PLACE_FIELDS = ("city", "postcode", "citycode", "context", "district", "oldcity")
PLACE_TERM = 1  # term.flags


def place_texts(doc: Document) -> list[str]:
    """The texts of a document's place, as stored (a value or a list of values)."""
    fields = PLACE_FIELDS + (("name",) if doc.get("type") == "municipality" else ())
    texts = []
    for name in fields:
        value = doc.get(name)
        for v in value if isinstance(value, list) else [value]:
            if v:
                texts.append(str(v))
    return texts


@dataclass(frozen=True)
class Array:
    """A flat array file: its dtypes (the writer picks the first that fits), the count it
    has one row per (``+1`` for offsets), its columns, and what it holds."""

    name: str
    dtypes: tuple[str, ...]
    per: str
    about: str
    columns: int = 1


@dataclass(frozen=True)
class Blob:
    """A byte file, cut by an offsets array ("": a whole)."""

    name: str
    offsets: str
    about: str


ARRAYS = (
    Array("terms.off", ("<u8",), "terms+1", "start of each term in terms.bin (terms sorted)"),
    Array("terms.table", ("<u4",), "terms.table", "hash table of the terms (term numbers)"),
    Array("term.maxscore", ("<f8",), "terms", "highest posting score of each term"),
    Array("term.flags", ("<u1",), "terms", "PLACE_TERM: a token of some document's place_texts"),
    Array("post.start", ("<u8",), "terms+1", "start of each term's postings"),
    Array("post.docs", ("<u4",), "postings", "documents of each term, ascending"),
    Array("post.scores", ("<f8",), "postings", "score of each posting"),
    Array("docs.id.off", ("<u8",), "documents+1", "start of each document id in docs.id.bin"),
    Array("docs.off", ("<u4", "<u8"), "documents+1", "start of each document in docs.bin"),
    Array("docs.parts.off", ("<u8",), "document_parts+1", "start of each shared part in docs.parts"),
    Array("labels.off", ("<u8",), "documents+1", "start of each document's labels"),
    Array("docs.importance", ("<f8",), "documents", "importance"),
    Array("docs.lonlat", ("<f8",), "documents", "longitude, latitude", columns=2),
    Array("docs.flags", ("<u1",), "documents", "MULTI_POSTCODE"),
    Array("docs.extent", ("<f4",), "documents",
          "west, south, east, north of the document and its house numbers (rounded outward)",
          columns=4),
    Array("docs.hn", ("<u8",), "documents+1", "first house number of each document"),
    Array("hn.off", ("<u4", "<u8"), "housenumber_blocks", "start of every HN_BLOCK-th house-number record"),
    Array("hn.lonlat", ("<i4",), "housenumbers", "longitude, latitude in 1e-7 degree", columns=2),
    Array("geo.square", ("<u4", "<u8"), "geo_squares+1",
          "start of the points of each square of 2^GEO_LOW_BITS cells (points sorted by cell)"),
    Array("geo.low", ("<u2",), "points", "the low GEO_LOW_BITS bits of each point's geohash cell"),
    Array("geo.ref", ("<i4",), "points", "the point: a document n, or a house number ~n"),
    Array("words.off", ("<u8",), "words+1", "start of each lexicon word in words.bin (sorted)"),
    Array("words.table", ("<u4",), "words.table", "hash table of the lexicon words"),
    Array("words.start", ("<u8",), "words+1", "start of each word's tokens in words.tokens"),
    Array("words.tokens", ("<u4",), "word_tokens", "the term numbers a word is searched as"),
)

BLOBS = (
    Blob("terms.bin", "terms.off", "terms, UTF-8"),
    Blob("docs.id.bin", "docs.id.off", "document ids, UTF-8 (descending)"),
    Blob("docs.bin", "docs.off", "each document's record: its JSON members, without its house numbers"),
    Blob("docs.parts", "docs.parts.off", "the keys, and the values several documents share, as JSON text"),
    Blob("labels.bin", "labels.off",
         "each document's labels: the one shown, then the folded variants best first, "
         "joined by LABEL_SEPARATOR"),
    Blob("hn.bin", "hn.off", "house-number records (see the module docstring)"),
    Blob("words.bin", "words.off", "lexicon words: raw query words known to the index"),
)

COUNTS = ("documents", "document_parts", "terms", "postings", "housenumbers", "housenumber_blocks",
          "housenumber_bytes", "points", "geo_squares", "words", "word_tokens", "terms.table", "words.table")

ARRAY = {a.name: a for a in ARRAYS}


def expected_length(array: Array, counts: Mapping[str, int]) -> int:
    per, _, plus = array.per.partition("+")
    return int(counts[per]) + (int(plus) if plus else 0)


def filter_term(name: str, value: str) -> str:
    return f"{FILTER_PREFIX}{name}|{value}"
