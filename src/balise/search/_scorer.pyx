# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Candidates and results (compiled): each bucket document scored once, as Addok's result
processors do (house number, labels, text similarity, importance, distance to a centre),
then the best few turned into results.

Candidates are C columns (one array per property), not objects: a search scores up to a
few hundred of them and returns five.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc


cdef extern from "string.h":  # GNU's (Python.h defines _GNU_SOURCE)
    void* memmem(const void* haystack, size_t haystack_len, const void* needle, size_t needle_len) nogil

import numpy as np

from ..index.format import COORDINATE_SCALE as _COORDINATE_SCALE
from ..index.format import IMPORTANCE_WEIGHT as _IMPORTANCE_WEIGHT
from ..index.format import MULTI_POSTCODE as _MULTI_POSTCODE
from ..text import ascii_label
from ..text.french import housenumber_alternatives
from ..text.labels import as_list, first_postcode_of, make_labels, number_last_labels, with_housenumber
from . import scoring
from .result import Result

from ._geojson cimport feature

from ..index._housenumbers cimport HouseNumbers
from ._docs cimport DocMap, docmap_free, docmap_get, docmap_init, docmap_set
from ._textscore cimport labels_score, stored_score

DEF DROPPED = -2  # a candidate that cannot answer (outside the area, no house number asked for)
cdef double MATCH_THRESHOLD = scoring.MATCH_THRESHOLD
cdef double MIN_SCORE = scoring.MIN_SCORE
cdef double WEIGHT = _IMPORTANCE_WEIGHT
cdef double COORDINATE_SCALE = _COORDINATE_SCALE
cdef double WITHOUT_CENTRE = 1.0 + _IMPORTANCE_WEIGHT
cdef int MULTI_POSTCODE = _MULTI_POSTCODE


cdef int by_doc(const void* a, const void* b) noexcept nogil:
    cdef uint32_t x = (<const uint32_t*> a)[0], y = (<const uint32_t*> b)[0]
    return (x > y) - (x < y)


cdef class IndexView:
    def __init__(self, index):
        self.index = index
        cdef const uint8_t[::1] labels = index.labels_blob
        cdef const uint64_t[::1] labels_offsets = index.labels_offsets
        cdef const double[::1] importance = index.importance
        cdef const double[::1] lonlat = index.doc_lonlat.reshape(-1)
        cdef const uint8_t[::1] flags = index.doc_flags
        self.labels = &labels[0]
        self.labels_offsets = &labels_offsets[0]
        self.importance = &importance[0] if importance.shape[0] else NULL
        self.lonlat = &lonlat[0] if lonlat.shape[0] else NULL
        self.flags = &flags[0] if flags.shape[0] else NULL
        self.housenumbers = index.housenumbers
        self.ids = index.doc_ids
        self.stored = index.stored
        cdef const int32_t[::1] hn_lonlat = index.hn_lonlat_e7.reshape(-1)
        self.hn_lonlat = &hn_lonlat[0] if hn_lonlat.shape[0] else NULL


cdef inline void housenumber_point(IndexView view, int64_t hn, double* lon, double* lat) noexcept:
    """A house number's point in degrees (``hn.lonlat`` holds them in 1e-7 degree)."""
    lon[0] = view.hn_lonlat[2 * hn] / COORDINATE_SCALE
    lat[0] = view.hn_lonlat[2 * hn + 1] / COORDINATE_SCALE


# key -> its spellings (bytes), cached: France has ~20,000 keys. NOTE: tuples of bytes, which
# the cyclic garbage collector stops tracking (tests/unit/search/test_garbage.py).
cdef dict HOUSENUMBER_KEYS = {}


cdef tuple keys_of(str key):
    """A house number's key, then its other spellings (30b <-> 30bis), encoded."""
    cdef object found = HOUSENUMBER_KEYS.get(key)
    if found is None:
        if len(HOUSENUMBER_KEYS) >= 50_000:
            HOUSENUMBER_KEYS.clear()
        found = HOUSENUMBER_KEYS[key] = tuple([k.encode() for k in [key] + housenumber_alternatives(key)])
    return <tuple> found


# a house number as written -> (folded, folded bytes), cached: numbers repeat ("12", "3 bis").
cdef dict FOLDED_NUMBERS = {}


cdef tuple folded_number(str raw):
    cdef object found = FOLDED_NUMBERS.get(raw)
    if found is None:
        if len(FOLDED_NUMBERS) >= 50_000:
            FOLDED_NUMBERS.clear()
        folded = ascii_label(raw)
        found = FOLDED_NUMBERS[raw] = (folded, folded.encode())
    return <tuple> found


cdef inline bint ranks_before(Scorer s, Py_ssize_t a, Py_ssize_t b) noexcept:
    """Score, then importance, descending; then document number (Addok's order)."""
    if s.score[a] != s.score[b]:
        return s.score[a] > s.score[b]
    if s.importance[a] != s.importance[b]:
        return s.importance[a] > s.importance[b]
    return s.docs[a] < s.docs[b]


cdef class Scorer:
    """The scored candidates of one search."""

    def __cinit__(self):
        docmap_init(&self.position, 256)
        self.capacity = 0
        self.count = 0

    def __dealloc__(self):
        docmap_free(&self.position)
        free(self.docs)
        free(self.hns)
        free(self.trailing)
        free(self.text)
        free(self.importance)
        free(self.km)
        free(self.score)

    def __init__(self, IndexView view, Query query, area, bint autocomplete, lat, lon, other_postcodes,
                 list trace):
        self.view = view
        self.index = view.index
        self.query = query
        self.area = area
        self.autocomplete = autocomplete
        self.lat, self.lon = lat, lon
        self.with_centre = lat is not None and lon is not None
        self.other_postcodes = other_postcodes
        self.trace = trace
        self.postcodes = []
        self.cream = 0
        self.scratch = bytearray(1024)

    cdef int grow(self, Py_ssize_t room) except -1:
        cdef Py_ssize_t capacity = max(64, 2 * self.capacity, self.count + room)
        if self.count + room <= self.capacity:
            return 0
        self.docs = <uint32_t*> realloc(self.docs, capacity * sizeof(uint32_t))
        self.hns = <int64_t*> realloc(self.hns, capacity * sizeof(int64_t))
        self.trailing = <uint8_t*> realloc(self.trailing, capacity * sizeof(uint8_t))
        self.text = <double*> realloc(self.text, capacity * sizeof(double))
        self.importance = <double*> realloc(self.importance, capacity * sizeof(double))
        self.km = <double*> realloc(self.km, capacity * sizeof(double))
        self.score = <double*> realloc(self.score, capacity * sizeof(double))
        if (self.docs == NULL or self.hns == NULL or self.trailing == NULL or self.text == NULL
                or self.importance == NULL or self.km == NULL or self.score == NULL):
            raise MemoryError()
        self.capacity = capacity
        return 0

    cdef bint has_cream(self, const DocMap* bucket) except -1:
        if bucket.size == 0 or bucket.size > 10:
            return False
        self.convert(bucket)
        return self.cream > 0

    cdef int convert(self, const DocMap* bucket) except -1:
        """Score every bucket document not scored yet.

        PERF: the new documents and their house numbers in C buffers, not numpy arrays (a
        search converts a few times, a few dozen documents each: the arrays' dispatch and
        views cost more than the work)."""
        cdef Py_ssize_t i, k, n = 0, first
        cdef uint32_t doc
        cdef uint32_t* new = <uint32_t*> malloc(max(bucket.size, 1) * sizeof(uint32_t))
        cdef int64_t* hns = <int64_t*> malloc(max(bucket.size, 1) * sizeof(int64_t))
        cdef uint8_t* trailing = <uint8_t*> calloc(max(bucket.size, 1), 1)
        if new == NULL or hns == NULL or trailing == NULL:
            free(new)
            free(hns)
            free(trailing)
            raise MemoryError()
        try:
            for i in range(bucket.size):
                doc = bucket.docs[i]
                if docmap_get(&self.position, doc, -3) == -3:
                    new[n] = doc
                    n += 1
            if n == 0:
                return 0
            qsort(new, n, sizeof(uint32_t), by_doc)
            raws = [None] * n
            self._match_housenumbers(new, n, hns, raws)
            if self.query.maybe_housenumbers or self.area is not None or self.query.only_housenumber:
                self._adjust(new, n, hns, raws, trailing)  # PERF: a loop over candidates only then
            postcodes = None
            if self.query.source.postcodes:  # the postcode asked for, among a street's several ones
                for i in range(n):
                    if self.view.flags[new[i]] & MULTI_POSTCODE:
                        if postcodes is None:
                            postcodes = [None] * n
                        postcodes[i] = self._asked_postcode(new[i])
            first = self.count
            self.grow(n)
            for i in range(n):
                if hns[i] == DROPPED:
                    docmap_set(&self.position, new[i], -1)
                    continue
                k = self.count
                self.count += 1
                docmap_set(&self.position, new[i], <int32_t> k)
                self.docs[k] = new[i]
                self.hns[k] = hns[i]
                self.trailing[k] = trailing[i]
                self.postcodes.append(None if postcodes is None else postcodes[i])
                self.text[k] = self._text_score(k, raws[i] if hns[i] >= 0 else None)
                self.importance[k] = self.view.importance[new[i]]
                if self.text[k] >= MATCH_THRESHOLD:
                    self.cream += 1
        finally:
            free(new)
            free(hns)
            free(trailing)
        if self.count == first:
            return 0
        if self.with_centre:
            self._with_centre(first)
        else:
            for k in range(first, self.count):
                self.score[k] = (self.text[k] + self.importance[k] * WEIGHT) / WITHOUT_CENTRE
        return 0

    cdef double _text_score(self, Py_ssize_t k, str raw) except -1.0:
        """The text score of the candidate in column k, its house number written ``raw`` (or None).

        PERF: from the stored labels, in C, with what a number written last adds
        (``labels.number_last_labels``); only a postcode asked for among a street's several
        ones makes its labels again (``labels``)."""
        cdef uint32_t doc = self.docs[k]
        cdef uint64_t start = self.view.labels_offsets[doc], end = self.view.labels_offsets[doc + 1]
        cdef bytes number = None
        cdef tuple extra = None
        if self.postcodes[k] is not None:
            return labels_score(self.query.source.bigrams, self.labels(k)[1], self.autocomplete)
        if raw:
            folded = folded_number(raw)
            number = (<tuple> folded)[1]
            if self.trailing[k]:
                document = self.index.document(doc)
                extra = tuple([label.encode("ascii", "replace") for label in number_last_labels(
                    document, (<tuple> folded)[0], first_postcode_of(document))])
        cdef Py_ssize_t nlen = len(number) if number is not None else 0
        if <Py_ssize_t> (end - start) + nlen + 2 > len(self.scratch):
            self.scratch = bytearray(2 * (<Py_ssize_t> (end - start) + nlen + 2))
        return stored_score(self.query.source.bigrams, self.view.labels, start, end,
                            <const uint8_t*> number if nlen else NULL, nlen, self.autocomplete,
                            <uint8_t*> self.scratch, extra)

    cdef _with_centre(self, Py_ssize_t first):
        """Scores with the distance to the centre (search/_distance.pyx: numpy's sines and
        arcsines, whose results the recorded scores are)."""
        cdef Py_ssize_t k, n = self.count - first
        cdef int64_t hn
        cdef uint32_t doc
        lat_array, lon_array = np.empty(n), np.empty(n)
        cdef double[::1] lat = lat_array, lon = lon_array
        for k in range(n):
            hn, doc = self.hns[first + k], self.docs[first + k]
            if hn >= 0:
                housenumber_point(self.view, hn, &lon[k], &lat[k])
            else:
                lon[k] = self.view.lonlat[2 * doc]
                lat[k] = self.view.lonlat[2 * doc + 1]
        km = scoring.haversine_km_array(lat_array, lon_array, self.lat, self.lon)
        score = scoring.total_with_centre(np.asarray(<double[:n]> (self.text + first)),
                                          np.asarray(<double[:n]> (self.importance + first)), km)
        cdef const double[::1] km_view = km
        cdef const double[::1] score_view = score
        for k in range(n):
            self.km[first + k] = km_view[k]
            self.score[first + k] = score_view[k]

    cdef _adjust(self, const uint32_t* docs, Py_ssize_t n, int64_t* hns, list raws, uint8_t* trailing):
        """Which house number answers for each candidate (DROPPED: none may answer): a
        number written after the street's name that is part of that name is not one; in an
        area, the house number if inside, else the place itself; with type=housenumber,
        only candidates with one."""
        cdef Py_ssize_t i
        cdef int64_t hn
        cdef bint maybe = bool(self.query.maybe_housenumbers)
        area = self.area
        for i in range(n):
            hn = hns[i]
            trailing[i] = hn >= 0 and maybe
            if trailing[i] and self._number_in_name(docs[i]):
                hn = -1
                trailing[i] = False
            if area is not None:
                answering = area.answering(self.index, docs[i], hn)
                if answering is None:
                    hns[i] = DROPPED
                    continue
                if answering < 0 and hn >= 0:
                    hn = -1
                    trailing[i] = False
            if hn < 0 and self.query.only_housenumber:
                hn = DROPPED
            hns[i] = hn

    cdef int _match_housenumbers(self, const uint32_t* docs, Py_ssize_t n, int64_t* hns, list raws) except -1:
        """The house number of each document that has the one asked for (its key, else the
        other spelling: 30b <-> 30bis), or -1; and its raw form ("30 BIS")."""
        cdef HouseNumbers numbers = self.view.housenumbers
        cdef Py_ssize_t i
        cdef int64_t hn
        cdef bytes key
        if self.keys is None:
            key_text = self.query.housenumber_key
            self.keys = () if not self.query.check_housenumber or not key_text else keys_of(key_text)
        for i in range(n):
            hn = -1
            for key in self.keys:
                hn = numbers.find(docs[i], key, len(key))
                if hn >= 0:
                    raws[i] = numbers.raw(hn)
                    break
            hns[i] = hn
        return 0

    cdef bint _number_in_name(self, uint32_t doc) except -1:
        """Whether a trailing number of the query is part of this street's name: the
        query writes it no more often than the name does ("route nationale 7" is the
        road; "12p2 rue des rosiers 12p2" and "rue du 8 mai 1945 8" hold a house number).

        PERF: a name holds the number only if the stored labels do (they are made of the
        folded names): most candidates are answered without reading their document ("rue
        haute 17 43750 le puy": the hundred streets of Le Puy with a 17)."""
        number = self.query.maybe_housenumbers[0].raw
        written = self.query.text.split().count(number)
        cdef bytes encoded
        cdef uint64_t start = self.view.labels_offsets[doc], end = self.view.labels_offsets[doc + 1]
        if written > 0 and (<str> number).isascii():
            encoded = (<str> number).encode()
            if memmem(self.view.labels + start, end - start, <const char*> encoded, len(encoded)) == NULL:
                return False
        names = as_list(self.index.document(doc).get("name"))
        return any(written <= ascii_label(str(name)).split().count(number) for name in names)

    cdef _asked_postcode(self, uint32_t doc):
        """The postcode a query asks for, among a street's several ones."""
        for p in self.other_postcodes(doc):
            if p in self.query.source.postcodes:
                return p
        return None

    def labels(self, Py_ssize_t i):
        """The labels of the candidate in column i."""
        doc, hn = self.docs[i], self.hns[i]
        housenumber = self.index.housenumber_raw(hn, doc) if hn >= 0 else None
        stored = self.index.labels(doc)
        if not self.trailing[i] and self.postcodes[i] is None:
            return with_housenumber(stored, {}, housenumber, False, None)
        return make_labels(self.index.document(doc), housenumber, self.trailing[i], self.postcodes[i], stored)

    cpdef str shown_label(self, Py_ssize_t i, object housenumber):
        """The label shown for the candidate in column i (its house number's raw form given).

        A number written last changes only the folded labels; a postcode asked for, the one shown."""
        if self.postcodes[i] is not None:
            return self.labels(i)[0]
        cdef uint32_t doc = self.docs[i]
        cdef uint64_t start = self.view.labels_offsets[doc], end = self.view.labels_offsets[doc + 1], cut = start
        while cut < end and self.view.labels[cut] != 0x1F:  # the label shown comes first
            cut += 1
        shown = (<const char*> self.view.labels + start)[:cut - start].decode()
        return f"{housenumber} {shown}" if housenumber else shown

    # --- results -------------------------------------------------------------------------

    @property
    def candidates(self) -> int:
        """How many documents were scored (those that cannot answer included)."""
        return self.position.size

    @property
    def columns(self) -> int:
        """How many candidates have a column (those that can answer)."""
        return self.count

    def best(self, Py_ssize_t limit) -> list:
        """Columns of the best candidates: score, then importance, then document number."""
        cdef Py_ssize_t i, j, size = 0
        cdef Py_ssize_t* top
        if self.count == 0 or limit <= 0:
            return []
        top = <Py_ssize_t*> malloc(min(limit, self.count) * sizeof(Py_ssize_t))
        try:
            for i in range(self.count):  # insertion into the best ``limit`` so far
                if size == limit and not ranks_before(self, i, top[size - 1]):
                    continue
                j = size if size < limit else size - 1
                while j > 0 and ranks_before(self, i, top[j - 1]):
                    top[j] = top[j - 1]
                    j -= 1
                top[j] = i
                if size < limit:
                    size += 1
            return [top[i] for i in range(size) if self.score[top[i]] >= MIN_SCORE]
        finally:
            free(top)

    def score_of(self, Py_ssize_t i) -> float:
        return self.score[i]

    def text_of(self, Py_ssize_t i) -> float:
        return self.text[i]

    cpdef dict feature(self, Py_ssize_t i, object debug=None):
        """The geocodejson feature of the candidate in column i (its house number's if it
        has one), read from the index; ``debug``: what ``debug`` adds."""
        cdef uint32_t doc_number = self.docs[i]
        cdef int64_t hn = self.hns[i]
        doc = self.view.stored.document(doc_number)
        cdef dict props = None
        cdef double lon, lat
        housenumber = None
        if hn >= 0:  # IndexReader.housenumber's, in C
            props = self.view.housenumbers.properties(hn, self.view.ids[doc_number])
            housenumber = props.pop("raw")
            housenumber_point(self.view, hn, &lon, &lat)
            props["lon"] = lon
            props["lat"] = lat
        return feature(doc, props, housenumber, self.shown_label(i, housenumber), self.score[i],
                       self.km[i] if self.with_centre else None, str(doc.get("type") or ""),
                       self._queried_postcodes(doc), debug)

    def parts(self, Py_ssize_t i) -> dict:
        """The named scores of the candidate in column i (what ``debug`` shows)."""
        return scoring.score_parts(self.text[i], self.importance[i], self.km[i] if self.with_centre else None)

    def identity(self, Py_ssize_t i) -> tuple:
        """What the candidate in column i answers with: its document, its house number's raw
        form or None (readings and areas of one search give each once)."""
        cdef int64_t hn = self.hns[i]
        return (self.docs[i], self.index.housenumber_raw(hn, self.docs[i]) if hn >= 0 else None)

    def result(self, Py_ssize_t i):
        """The full result of a candidate: its document, with its house number merged in."""
        cdef uint32_t doc_number = self.docs[i]
        cdef int64_t hn = self.hns[i]
        doc = self.index.document(doc_number)  # a new dict, this result's own
        self._prefer_queried_postcode(doc)
        km = self.km[i] if self.with_centre else None
        result = Result(doc_number, doc, str_distance=self.text[i], distance_km=km, score=self.score[i])
        if hn >= 0:
            props = self.index.housenumber(hn, doc_number)
            result.housenumber = props.pop("raw")
            doc.update(props)
            doc["type"] = "housenumber"
        result.label = self.shown_label(i, result.housenumber)
        if self.trace is not None:  # only debug answers show them
            result.parts = scoring.score_parts(self.text[i], self.importance[i], km)
        return result

    cdef _prefer_queried_postcode(self, dict doc):
        postcodes = self._queried_postcodes(doc)
        if postcodes is not None:
            doc["postcode"] = postcodes

    cdef _queried_postcodes(self, dict doc):
        """The postcodes of a document with the ones the query names first, or None when
        that changes nothing: show (and score with) the postcode asked for.

        Beyond Addok, whose labels always use a document's first postcode.
        """
        postcodes = doc.get("postcode")
        if isinstance(postcodes, list) and len(postcodes) > 1:
            words = self.query.source.word_set()
            asked = [p for p in postcodes if p in words]
            if asked:
                return asked + [p for p in postcodes if p not in asked]
        return None
