# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled text similarity of candidate labels against a query, as Addok computes it.

Similarity is python-ngram's ``NGram.compare(label, query, N=2, pad_len=0)``: the bigrams
both strings share (with multiplicity) over all bigram slots of both. A candidate's text
score is the similarity of its first label that matches (>= MATCH_THRESHOLD), else its best
one; with autocomplete, a label the query equals, starts or is inside of scores 1, 0.9 or 0.7.

Labels are folded ASCII ([a-z0-9_ ]); each byte maps to a 6-bit class, so a bigram is a
number under 4096 and the query's bigram counts are a table.

NOTE: these loops exist only here, compiled: there is no pure-Python twin to keep in step.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcmp, memcpy

import numpy as np

cdef double MATCH_THRESHOLD = 0.9
cdef uint8_t SEPARATOR = 0x1F  # between the labels of a document in the labels blob

cdef uint8_t CLASS[256]
_letters = b"abcdefghijklmnopqrstuvwxyz0123456789_ "


cdef void _init_classes():
    cdef int i
    for i in range(256):
        CLASS[i] = 63
    CLASS[0] = 0
    for i in range(len(_letters)):
        CLASS[_letters[i]] = i + 1


_init_classes()


cdef inline bint take(Query q, int code, Py_ssize_t* ntouched) noexcept nogil:
    """Count one bigram of a text against the query's: whether the query had one left. The
    codes counted are kept (``touched``) to be reset after the text; past 256 of them (a long
    text), ``ntouched`` is -1 and every code is reset."""
    if q.used[code] >= q.counts[code]:
        return False
    if q.used[code] == 0 and ntouched[0] >= 0:
        if ntouched[0] < 256:
            q.touched[ntouched[0]] = code
            ntouched[0] += 1
        else:
            ntouched[0] = -1
    q.used[code] += 1
    return True


cdef inline void reset(Query q, Py_ssize_t ntouched) noexcept nogil:
    """``used`` back to zero after a text (``take``)."""
    cdef Py_ssize_t i
    if ntouched < 0:
        for i in range(CODES):
            q.used[i] = 0
    else:
        for i in range(ntouched):
            q.used[q.touched[i]] = 0


cdef class Query:
    """The bigram counts of a folded query, compared with many labels."""

    def __init__(self, str query):
        cdef Py_ssize_t i
        cdef int code
        self.text = query.encode("ascii", "replace")
        self.length = len(self.text)
        self.q = self.text
        cdef const uint8_t* q = self.q
        # NOTE: counts and used start at zero: the object's memory comes zeroed.
        for i in range(self.length - 1):
            code = (CLASS[q[i]] << 6) | CLASS[q[i + 1]]
            if self.counts[code] < 65535:
                self.counts[code] += 1

    cdef double similarity(self, const uint8_t* label, Py_ssize_t n) noexcept nogil:
        cdef const uint8_t* q = self.q
        cdef Py_ssize_t i, same = 0, ntouched = 0
        if self.length < 2:
            return 1.0 if self.length == 1 and n == 1 and label[0] == q[0] else 0.0
        for i in range(n - 1):
            same += take(self, (CLASS[label[i]] << 6) | CLASS[label[i + 1]], &ntouched)
        reset(self, ntouched)
        if same == 0:
            return 0.0
        return <double> same / <double> ((n - 1) + (self.length - 1) - same)

    cdef double similarity_with_prefix(self, const uint8_t* prefix, Py_ssize_t plen,
                                       const uint8_t* label, Py_ssize_t n, double* plain) noexcept nogil:
        """The similarity of ``prefix + label`` (returned) and of ``label`` (in ``plain``), in
        one pass over the label: the bigrams shared are, code by code, the smaller of the
        query's count and the text's, so the prefix's bigrams only add where the label left
        some of the query's unmatched. Needs a query and a prefix of 2 bytes or more, a label
        of 1 or more.

        PERF: addok-france compares "<number> <label>" then "<label>"; the label was read twice."""
        cdef Py_ssize_t i, same = 0, extra = 0, ntouched = 0
        for i in range(n - 1):
            same += take(self, (CLASS[label[i]] << 6) | CLASS[label[i + 1]], &ntouched)
        for i in range(plen):  # the prefix's own bigrams, then the one it makes with the label
            extra += take(self, (CLASS[prefix[i]] << 6) | CLASS[prefix[i + 1] if i + 1 < plen else label[0]],
                          &ntouched)
        reset(self, ntouched)
        plain[0] = 0.0 if same == 0 else <double> same / <double> ((n - 1) + (self.length - 1) - same)
        same += extra
        if same == 0:
            return 0.0
        return <double> same / <double> ((plen + n - 1) + (self.length - 1) - same)

    cdef double completion(self, const uint8_t* label, Py_ssize_t n) noexcept nogil:
        """1 when the query is the label, 0.9 when it starts it, 0.7 when it is inside."""
        cdef const uint8_t* q = self.q
        cdef Py_ssize_t m = self.length, i
        if n == m and memcmp(label, q, m) == 0:
            return 1.0
        if n >= m and memcmp(label, q, m) == 0:
            return 0.9
        for i in range(1, n - m + 1):
            if memcmp(label + i, q, m) == 0:
                return 0.7
        return 0.0

    def compare(self, str label) -> float:
        """The similarity of one label (for tests and explanations)."""
        cdef bytes b = label.encode("ascii", "replace")
        return self.similarity(b, len(b))


cdef struct Best:
    double first_match  # the similarity of the first matching label, or -1
    double best  # the best similarity
    double completion  # autocomplete: the best of 1 / 0.9 / 0.7


cdef inline double bound(Query q, Py_ssize_t n, bint autocomplete) noexcept nogil:
    """The most a label of n bytes can score against the query: all the bigrams of the
    shorter shared, over the longer's (``similarity``'s ``same / slots``, with ``same`` at
    most the shorter's count and ``slots`` at least the longer's); 1 where it does not apply.

    PERF: exact: a division rounds monotonically, so the similarity never exceeds it; a label
    it puts at or below the best so far can change nothing, and is not compared."""
    cdef Py_ssize_t a = n - 1, b = q.length - 1
    cdef double most
    if a < 1 or b < 1:
        return 1.0
    most = <double> a / <double> b if a < b else <double> b / <double> a
    return most * 0.9 if autocomplete else most


cdef inline void record(double s, Best* b) noexcept nogil:
    """A label's similarity, for the best so far and the first match."""
    if s > b.best:
        b.best = s
    if s >= MATCH_THRESHOLD:
        b.first_match = s


cdef inline void offer(Query q, const uint8_t* label, Py_ssize_t n, bint autocomplete,
                       Best* b) noexcept:
    cdef double s
    if autocomplete:
        s = q.completion(label, n)
        if s > b.completion:
            b.completion = s
    if b.first_match >= 0:
        return
    if bound(q, n, autocomplete) <= b.best:  # it can neither beat the best nor match (< 0.9)
        return
    s = q.similarity(label, n)
    record(s * 0.9 if autocomplete else s, b)


cdef inline void offer_pair(Query q, const uint8_t* prefix, Py_ssize_t plen, const uint8_t* label,
                            Py_ssize_t n, Best* b) noexcept nogil:
    """``offer`` of "<number> <label>" then of "<label>" (no autocomplete), the label read
    once for both (``Query.similarity_with_prefix``)."""
    cdef double plain = 0
    cdef bint both = False
    if b.first_match >= 0:
        return
    if bound(q, plen + n, False) > b.best:
        record(q.similarity_with_prefix(prefix, plen, label, n, &plain), b)
        both = True
        if b.first_match >= 0:
            return
    if bound(q, n, False) <= b.best:
        return
    record(plain if both else q.similarity(label, n), b)


cdef inline double result(Best* b) noexcept nogil:
    if b.completion > 0:
        return b.completion
    return b.first_match if b.first_match >= 0 else b.best


cdef double stored_score(Query query, const uint8_t* blob, uint64_t start, uint64_t end,
                         const uint8_t* number, Py_ssize_t nlen, bint autocomplete, uint8_t* buf,
                         tuple extra=None) noexcept:
    """The text score of one document from its stored labels (``labels.bin``: the label shown,
    then the folded variants, separated by 0x1F), with its house number (``nlen`` bytes, 0 for
    none): addok-france compares "<number> <label>" then "<label>" for every variant; then the
    folded labels of ``extra`` (bytes; a number written last: ``labels.number_last_labels``).
    ``buf`` has room for ``nlen + 1 + end - start`` bytes."""
    cdef Best b
    cdef bytes label
    cdef uint64_t pos = start, cut
    cdef Py_ssize_t m
    b.first_match = -1
    b.best = 0
    b.completion = 0
    cdef bint paired = nlen > 0 and not autocomplete and query.length >= 2
    while pos < end and blob[pos] != SEPARATOR:  # the label shown
        pos += 1
    if paired:
        memcpy(buf, number, nlen)
        buf[nlen] = 32
    while pos < end:
        pos += 1
        cut = pos
        while cut < end and blob[cut] != SEPARATOR:
            cut += 1
        m = cut - pos
        if paired and m:
            offer_pair(query, buf, nlen + 1, &blob[pos], m, &b)
            pos = cut
            continue
        if nlen:
            memcpy(buf, number, nlen)
            buf[nlen] = 32
            if m:
                memcpy(buf + nlen + 1, &blob[pos], m)
            # "<number> <label>".strip(): no trailing space when the label is empty
            offer(query, buf, nlen + 1 + m if m else nlen, autocomplete, &b)
        offer(query, &blob[pos] if m else buf, m, autocomplete, &b)
        pos = cut
    if extra is not None:
        for label in extra:
            offer(query, label, len(label), autocomplete, &b)
    return result(&b)


def score_stored(Query query, const uint8_t[::1] blob, const uint64_t[::1] offsets,
                 const int64_t[::1] docs, list numbers, bint autocomplete, list extras=None):
    """Text scores of documents from their stored labels, each with its house number ("12
    bis") or None, then its ``extras`` (a tuple of bytes labels, or None) (:func:`stored_score`)."""
    cdef Py_ssize_t count = docs.shape[0], i, nlen, longest = 0
    out_array = np.zeros(count, dtype=np.float64)
    cdef double[::1] out = out_array
    cdef bytes number
    for i in range(count):
        longest = max(longest, <Py_ssize_t> (offsets[docs[i] + 1] - offsets[docs[i]]))
    cdef bytearray scratch = bytearray(longest + 2 + max([len(n) for n in numbers if n] or [0]))
    for i in range(count):
        number = numbers[i]
        nlen = len(number) if number is not None else 0
        out[i] = stored_score(query, &blob[0], offsets[docs[i]], offsets[docs[i] + 1],
                              <const uint8_t*> number if nlen else NULL, nlen, autocomplete,
                              <uint8_t*> scratch, None if extras is None else extras[i])
    return out_array


cdef double labels_score(Query query, tuple labels, bint autocomplete) except -1.0:
    """The text score of a candidate given as a tuple of folded labels, in order."""
    cdef Best b
    cdef bytes encoded
    b.first_match = -1
    b.best = 0
    b.completion = 0
    for label in labels:
        encoded = (<str> label).encode("ascii", "replace")
        offer(query, encoded, len(encoded), autocomplete, &b)
    return result(&b)


def score_labels(Query query, list candidates, bint autocomplete):
    """Text scores of candidates given as tuples of folded labels, in order."""
    cdef Py_ssize_t count = len(candidates), i
    out_array = np.zeros(count, dtype=np.float64)
    cdef double[::1] out = out_array
    for i in range(count):
        out[i] = labels_score(query, tuple(candidates[i]), autocomplete)
    return out_array
