# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Folding (compiled): lower case without accents, and the folded form labels are compared
as, on every query and every label.

NOTE: the only implementation: there is no pure-Python twin to keep in step.
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint8_t

from unidecode import unidecode


def _latin_table() -> dict:
    # PERF: unidecode walks a string character by character in Python; French
    # text is Latin-1 and Latin Extended-A, folded here by one str.translate.
    return {c: unidecode(chr(c)) for c in range(0xC0, 0x180)}


LATIN = _latin_table()

cdef uint8_t WORD[256]  # [A-Za-z0-9_]: what \w is in ASCII


cdef void _init_word() noexcept:
    cdef int c
    for c in range(256):
        WORD[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95


_init_word()


cdef list LATIN_ASCII = [unidecode(chr(c)) for c in range(0xC0, 0x180)]


cpdef str fold(s):
    """Lowercase and strip accents (Œ -> oe, ß -> ss...), as unidecode does: always ASCII.

    PERF: French text is ASCII, Latin-1 and Latin Extended-A; those are folded here from a
    table (``LATIN``), the rest by unidecode (which walks a string in Python)."""
    cdef str lower = s.lower()
    cdef Py_UCS4 c
    cdef list parts
    cdef Py_ssize_t i, start = 0, n
    if lower.isascii():
        return lower
    parts = []
    n = len(lower)
    for i in range(n):
        c = lower[i]
        if c < 128:
            continue
        if not 0xC0 <= c < 0x180:
            folded = lower.translate(LATIN)
            return folded if folded.isascii() else unidecode(folded)
        parts.append(lower[start:i])
        parts.append(LATIN_ASCII[<Py_ssize_t> c - 0xC0])
        start = i + 1
    parts.append(lower[start:])
    return "".join(parts)


cpdef str ascii_label(s):
    """Folded text with every run of punctuation and spaces turned to one space, trimmed: what
    labels are compared as (``\\w`` is [A-Za-z0-9_] in folded, ASCII, text)."""
    cdef bytes folded = fold(s).encode("ascii")
    cdef const uint8_t* src = <const uint8_t*> PyBytes_AS_STRING(folded)
    cdef Py_ssize_t n = len(folded), i, out = 0
    cdef char* dst = <char*> PyMem_Malloc(n + 1)
    cdef bint space = False
    if dst == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            if WORD[src[i]]:
                if space and out:
                    dst[out] = 32
                    out += 1
                space = False
                dst[out] = src[i]
                out += 1
            else:
                space = True
        return dst[:out].decode("ascii")
    finally:
        PyMem_Free(dst)


cdef class Word:
    """A word of a query as the text rules see it: its value, the text it was written as,
    what the rules flagged it as (``kind``: None, "housenumber", "maybe_housenumber",
    "maybe_housenumber_suffix"), its position in the text, whether it is the last."""

    def __init__(self, str value, str raw=None, kind=None, Py_ssize_t position=0, bint is_last=False):
        self.value = value
        self.raw = value if raw is None else raw
        self.kind = kind
        self.position = position
        self.is_last = is_last

    cpdef Word update(self, str value, str raw=None):
        """A word with ``value`` (and ``raw``), keeping this word's context."""
        return Word(value, self.raw if raw is None else raw, self.kind, self.position, self.is_last)

    @property
    def is_first(self) -> bool:
        return self.position == 0

    def isdigit(self) -> bool:
        return self.value.isdigit()

    def __str__(self):
        return self.value

    def __repr__(self):
        return f"<Word {self.value!r} {self.kind or ''}>"


cpdef list split_words(str text):
    """The words of a cleaned query (folded words between spaces, as ``ascii_label`` and the
    rules' cleaning leave it), each with its position; ``raw`` is the word as written."""
    cdef list out = []
    cdef Py_ssize_t i = 0, position = 0, n = len(text), start
    cdef Py_UCS4 c
    cdef bint folded = True
    cdef str word
    cdef Word w
    for c in text:  # PERF: folded text is ASCII lower case: no fold per word (unidecode can
        if c >= 128 or 65 <= c <= 90:  # give capitals, e.g. "Ⅻ" -> "XII")
            folded = False
            break
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i == n:
            break
        start = i
        while i < n and text[i] != " ":
            i += 1
        word = text[start:i]
        w = Word.__new__(Word)
        w.raw = word
        w.value = word if folded else fold(word)
        if w.value == word:
            w.value = word
        w.kind = None
        w.position = position
        w.is_last = False
        out.append(w)
        position += 1
    return out
