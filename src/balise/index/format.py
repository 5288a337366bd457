"""The on-disk index format, in one place: file names, dtypes, version.

An index is a directory of flat little-endian arrays (numpy ``.npy`` files,
memory-mapped on open) and byte blobs, plus ``manifest.json`` written last and
renamed into place: a directory without a manifest is not an index.

Documents (municipalities, streets, localities) are numbered 0..N-1 in
*descending* order of their id string, so that ordering candidates by
(score desc, number asc) breaks ties exactly as Addok's Redis sorted sets do.

Files:
  terms.bin / terms.off         sorted terms (utf-8), offsets (uint64, N+1)
  post.start                    per term, start of its postings (uint64, T+1)
  post.docs / post.scores       postings: doc numbers ascending (uint32), score (float64)
  term.maxscore                 per term, its highest posting score (float64)
  docs.bin / docs.off           per document, orjson without house numbers
  docs.importance / docs.lonlat float64 arrays
  docs.flags                    per document, uint8: MULTI_POSTCODE (a street or locality
                                with several postcodes)
  labels.bin / labels.off       per document, its labels: the one shown, then the folded
                                variants best first, joined by LABEL_SEPARATOR (a new
                                candidate is scored from these without decoding its document)
  hn.key.bin / hn.key.off       per house number, its canonical key
  hn.lookup / hn.lookup_ids     hash(doc, key) sorted (uint64) and house number ids (uint32)
  hn.doc                        per house number, its document (uint32)
  hn.bin / hn.off               per house number, orjson of its properties (raw, id, ...)
  hn.lonlat                     per house number, float64 (lon, lat)
  geo.cell / geo.ref            every point (documents and house numbers) by geohash cell
                                (uint64 sorted) and what it is (int64: doc or ~housenumber)
"""

from __future__ import annotations

import zlib

FORMAT_NAME = "balise-index"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

# Postings under these keys are filters, not words: "|" never occurs in a token.
FILTER_PREFIX = "|"

LABEL_SEPARATOR = "\x1f"  # ASCII unit separator: never in a label
MULTI_POSTCODE = 1

GEOHASH_BITS = 35  # geohash precision 7, as Addok uses for its center bias.


def filter_term(name: str, value: str) -> str:
    return f"{FILTER_PREFIX}{name}|{value}"


def housenumber_hash(doc: int, key: str) -> int:
    return (doc << 32) | zlib.crc32(key.encode())
