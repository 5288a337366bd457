# cython: language_level=3, boundscheck=False, wraparound=False
"""A batch of documents turned into index records, compiled: the per-document work of an
import (tokens and their scores, filters, labels, stored JSON, house numbers), which the
worker processes do 2.4 million times for France (``documents.py`` drives it).

Every step computes what the Python rules compute (``text/labels.py`` for the labels,
Addok's FieldsIndexer for the scores), in the same order, so the index is the same.
"""

from cpython cimport array
from cpython.object cimport Py_SIZE

import array as py_array

import orjson
from orjson import JSONDecodeError
from orjson import loads as json_loads

from ..text._text import ascii_label
from ._records import housenumbers as housenumbers_records
from . import format as _format
from .format import place_texts

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
REPORTED_MAX = 500_000  # texts remembered as reported (past it, they are reported again)

cdef double WEIGHT = _format.IMPORTANCE_WEIGHT
cdef str PREFIX = _format.FILTER_PREFIX
cdef str SEPARATOR = _format.LABEL_SEPARATOR
cdef int MULTI = _format.MULTI_POSTCODE
cdef double SCALE = _format.COORDINATE_SCALE
cdef frozenset UNSTORED = frozenset(NOT_STORED)
cdef array.array UINTS = py_array.array("I")
cdef array.array DOUBLES = py_array.array("d")


cpdef str invalid_reason(doc):
    """'' when a document can be indexed, else why not."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    for key in ("id", "type", "name"):
        if not doc.get(key):
            return "missing " + key
    for key, bound in (("lon", 180.0), ("lat", 90.0)):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return key + " is not a number"
        if not -bound <= value <= bound:
            return key + " out of range"
    if not isinstance(doc.get("housenumbers", {}), dict):
        return "housenumbers is not an object"
    return ""


cdef inline list _labels_as_list(value):
    """``labels.as_list``: the items of a list or tuple, else the value alone."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


cdef dict FOLDED = {}  # ascii_label of cities and postcodes, which repeat from document to document
cdef Py_ssize_t FOLDED_MAX = 100_000


cdef str folded(str text):
    """ascii_label(text), cached."""
    cdef object found = FOLDED.get(text)
    if found is None:
        found = ascii_label(text)
        if len(FOLDED) >= FOLDED_MAX:
            FOLDED.clear()
        FOLDED[text] = found
    return <str> found


cpdef list as_list(value):
    """A field's values: a string alone, the items of a list, without None nor ""."""
    if type(value) is str:  # PERF: the usual case, first
        return [value] if value else []
    if value is None:
        return []
    return [v for v in _labels_as_list(value) if v not in (None, "")]


cdef inline void push_uint(array.array a, unsigned int value) except *:
    cdef Py_ssize_t n = Py_SIZE(a)
    array.resize_smart(a, n + 1)
    a.data.as_uints[n] = value


cdef inline void push_double(array.array a, double value) except *:
    cdef Py_ssize_t n = Py_SIZE(a)
    array.resize_smart(a, n + 1)
    a.data.as_doubles[n] = value


cdef str fold_join(tuple label):
    """A label's folded parts joined by spaces, the empty ones left out."""
    cdef list parts = []
    for part in label:
        if part[1]:
            parts.append(part[1])
    return " ".join(parts)


cdef inline str join2(str a, str b):
    """``" ".join`` of two folded parts, an empty one left out."""
    if a and b:
        return a + " " + b
    return a or b


cdef inline void add_label(list out, set seen, str label) except *:
    if label not in seen:
        seen.add(label)
        out.append(label)


cpdef bytes document_labels(dict doc):
    """``labels.make_labels(doc, None)`` joined by LABEL_SEPARATOR, as labels.bin keeps it:
    the same variants in the same order (addok-france's make_labels; see labels_of)."""
    postcode = doc.get("postcode")
    first_postcode = _labels_as_list(postcode)[0] if postcode else None
    names = _labels_as_list(doc.get("name"))
    city = doc.get("city")
    cities = _labels_as_list(city) if city else []
    if not (all([type(v) is str for v in names]) and all([type(v) is str for v in cities])
            and (first_postcode is None or type(first_postcode) is str) and names):
        return labels_of_any(first_postcode, names, cities, doc.get("type") == "municipality")
    # PERF: the usual document (names, cities and postcode as strings) without the parts
    # as tuples: each variant's folded text made at once, in labels_of's order.
    cdef bint part = bool(first_postcode), municipality = part and doc.get("type") == "municipality"
    cdef str fp = folded(first_postcode) if part else ""
    cdef list folded_cities = [folded(v) for v in cities]
    cdef str n, c, fn, fc, shown
    cdef Py_ssize_t i
    n, c = names[0], cities[0] if cities else None
    if c is not None and c != n:
        shown = n + " " + first_postcode + " " + c if part else n + " " + c
    else:
        shown = n
    cdef list out = [shown]
    cdef set seen = set()
    for n in names:
        fn = ascii_label(n)
        for i in range(len(cities) or 1):
            if cities and cities[i] != n:
                fc = folded_cities[i]
                if part:
                    add_label(out, seen, join2(join2(fn, fp), fc))
                    add_label(out, seen, join2(fn, fp))
                add_label(out, seen, join2(fn, fc))
            add_label(out, seen, fn)
            if municipality:
                add_label(out, seen, join2(fp, fn))
                add_label(out, seen, join2(fn, fp))
    return SEPARATOR.join(out).encode()


cdef bytes labels_of_any(first_postcode, list names, list cities, bint municipality):
    """document_labels of any document, as labels.make_labels builds them (parts as tuples)."""
    cdef list name_parts = [(n, ascii_label(str(n))) for n in names]
    cdef list city_parts = [(c, ascii_label(str(c))) for c in cities] or [None]
    part = (first_postcode, ascii_label(first_postcode)) if first_postcode else None
    cdef list labels = [], group
    for name in name_parts:
        for city_part in city_parts:
            group = []  # addok-france inserts each variant first
            if part and municipality:
                group = [(part, name), (name, part)]
            group.insert(0, (name,))
            if city_part and city_part[0] != name[0]:
                group[:0] = [(name, part, city_part), (name, part), (name, city_part)] if part else [
                    (name, city_part)]
            labels.extend(group)
    cdef list out = [" ".join([p[0] for p in labels[0]]) if labels else ""]
    cdef dict seen = {}
    cdef str folded
    for label in labels:
        folded = fold_join(label)
        if folded not in seen:
            seen[folded] = None
            out.append(folded)
    return SEPARATOR.join(out).encode()


cdef class Batch:
    """The records of a batch of documents, as compact arrays (``documents.pack`` sends them)."""

    cdef public list ids, docs, labels, bad
    cdef public array.array importance, lonlat, extent, post_term, post_doc, post_score, hn_count, hn_lengths
    cdef public bytearray flags, hn_records, hn_lonlat
    # term -> its number in this batch; word of the texts -> its tokens (for the lexicon)
    cdef public dict terms, words
    cdef public set place_tokens  # the tokens of the documents' places (format.place_texts)
    cdef public long long housenumbers, read_documents, read_housenumbers
    cdef object index_words, expansion, key_of
    cdef dict cache, keys
    cdef set reported

    def __init__(self, pipeline, reported=None):
        self.ids, self.docs, self.labels, self.bad = [], [], [], []
        self.importance, self.lonlat, self.extent = (array.clone(DOUBLES, 0, False) for _ in range(3))
        self.post_score = array.clone(DOUBLES, 0, False)
        self.post_term, self.post_doc, self.hn_count, self.hn_lengths = (
            array.clone(UINTS, 0, False) for _ in range(4))
        self.flags, self.hn_records, self.hn_lonlat = bytearray(), bytearray(), bytearray()
        self.terms, self.words, self.place_tokens = {}, {}, set()
        self.housenumbers = self.read_documents = self.read_housenumbers = 0
        self.index_words = pipeline.index_words
        self.expansion = pipeline.expansion
        self.cache = pipeline._index_cache  # PERF: read in place; index_words fills it
        self.key_of = pipeline.housenumber_key
        self.keys = pipeline.housenumber_keys
        self.reported = reported

    cdef void post(self, str term, unsigned int doc, double score) except *:
        cdef object number = self.terms.get(term)
        if number is None:
            number = len(self.terms)
            self.terms[term] = number
        push_uint(self.post_term, number)
        push_uint(self.post_doc, doc)
        push_double(self.post_score, score)

    def add_lines(self, bytes block, Py_ssize_t first_line):
        """File a block of NDJSON lines, the first numbered ``first_line``."""
        cdef list lines = block.split(b"\n")
        cdef Py_ssize_t i
        if lines and not lines[len(lines) - 1]:  # (no negative index: wraparound=False)
            lines.pop()
        for i in range(len(lines)):
            self.add_line(lines[i], first_line + i)

    cpdef add_line(self, bytes line, Py_ssize_t lineno):
        """File one NDJSON line numbered ``lineno``: a bad one is counted in ``bad``, never fatal."""
        doc = self.parse(line, lineno)
        if doc is None:
            return
        cdef str reason = invalid_reason(doc)
        if reason:
            self.bad.append((lineno, reason, line.decode("utf-8", "replace")[:200]))
            return
        self.read_documents += 1
        self.read_housenumbers += len(doc.get("housenumbers") or ())
        self.add(doc)

    cdef object parse(self, bytes line, Py_ssize_t lineno):
        """Any JSON value (add_line checks that it is a document), or None."""
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:  # PERF: the bytes as they are (orjson checks the UTF-8 and skips the line's end)
            return json_loads(line)
        except JSONDecodeError:
            pass
        line = line.rstrip(b"\r\n")
        if not line.strip():
            return None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad.append((lineno, "invalid UTF-8", line.decode("utf-8", "replace")[:200]))
            return None
        self.bad.append((lineno, "invalid JSON", text[:200]))
        return None

    cpdef dict tokens(self, dict doc):
        """Each token of the document with its score, as Addok's FieldsIndexer computes it;
        ``words`` receives the words the tokens come from and their tokens (for the lexicon),
        except those of the texts already reported by this process."""
        cdef double importance = float(doc.get("importance") or 0.0) * WEIGHT
        cdef double boost, score
        cdef dict tokens = {}
        cdef set reported = self.reported
        cdef list raw_words, found
        cdef str text
        for name, field_boost in FIELDS:
            boost = field_boost
            if name == "postcode" and doc.get("type") == "municipality":
                boost = 1.2
            for value in as_list(doc.get(name)):
                text = value if type(value) is str else str(value)
                cached = self.cache.get(text)
                if cached is None:
                    cached = self.index_words(text)
                raw_words, found = cached
                if not found:
                    continue
                if reported is None or text not in reported:
                    if reported is not None:
                        if len(reported) >= REPORTED_MAX:
                            reported.clear()
                        reported.add(text)
                    for word in raw_words:
                        if word not in self.words:
                            self.words[word] = self.expansion(word)
                score = (boost + importance) / len(found)
                for word in found:
                    if tokens.get(word, 0.0) < score:
                        tokens[word] = score
        return tokens

    def add(self, dict doc):
        """File one document, already checked (``documents.invalid_reason``)."""
        cdef unsigned int n = len(self.ids)
        cdef str doc_id = str(as_list(doc["id"])[0])
        cdef double lon, lat, west, south, east, north
        for term, score in self.tokens(doc).items():
            self.post(term, n, score)
        for text in place_texts(doc):
            cached = self.cache.get(text)
            if cached is None:
                cached = self.index_words(text)
            self.place_tokens.update(<list> cached[1])
        housenumbers = doc.get("housenumbers") or {}
        for name in FILTERS:
            values = as_list(doc.get(name))
            if housenumbers and name == "type":
                values.append("housenumber")
            for value in values:
                self.post(PREFIX + name + "|" + str(value), n, 1.0)

        lon, lat = float(doc["lon"]), float(doc["lat"])
        self.ids.append(doc_id)
        push_double(self.importance, float(doc.get("importance") or 0.0))
        push_double(self.lonlat, lon)
        push_double(self.lonlat, lat)
        several = len(as_list(doc.get("postcode"))) > 1 and doc.get("type") != "municipality"
        self.flags.append(MULTI if several else 0)
        self.labels.append(document_labels(doc))
        cdef dict stored = {}
        for k, v in doc.items():
            if k not in UNSTORED:
                stored[k] = v
        if next(iter(stored)) == "id" and stored["id"] == doc_id:  # docs.id has it (a string)
            del stored["id"]
        self.docs.append(orjson.dumps(stored))

        before = len(self.hn_records)
        count, west, south, east, north = housenumbers_records(
            housenumbers, doc_id, self.key_of, self.keys, SCALE, self.hn_records, self.hn_lonlat)
        push_uint(self.hn_count, count)
        push_uint(self.hn_lengths, len(self.hn_records) - before)
        self.housenumbers += count
        # The extent holds the points as stored (to 1e-7 degree), as the reader gives them.
        push_double(self.extent, west if west < lon else lon)  # min(lon, west), max(lon, east)...
        push_double(self.extent, south if south < lat else lat)
        push_double(self.extent, east if east > lon else lon)
        push_double(self.extent, north if north > lat else lat)
