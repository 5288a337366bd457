# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The French rules a query goes through, compiled: noise cleaning, leading zeros, the words
in context (ordinals glued and folded, house numbers flagged), and the whole way from a query
string to its words. ``text/french.py`` gives them their data (regular expressions, word
lists) and wires them into the pipeline.

NOTE: the only implementation of these steps (documents' fields go through ``context`` too):
there is no pure-Python twin to keep in step.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport Py_UNICODE_ISDIGIT

from ._text cimport Word, ascii_label, split_words


cdef extern from "string.h":  # GNU's (Python.h defines _GNU_SOURCE): a text may hold a NUL
    void* memmem(const void* haystack, size_t haystack_len, const void* needle, size_t needle_len) nogil


DEF STREET_TYPE = 1
DEF ORDINAL = 2
DEF HOUSENUMBER = 4
DEF PARCEL = 8
DEF TRAILING_NUMBER = 16
DEF FLAGS_CACHE = 200000


cdef inline bint is_digit(Py_UCS4 c) noexcept:
    return 48 <= c <= 57


cdef inline bint digits(str s) noexcept:
    """str.isdigit() of a folded (ASCII) word."""
    cdef Py_UCS4 c
    if not s:
        return False
    for c in s:
        if not 48 <= c <= 57:
            return False
    return True


cdef inline Py_ssize_t leading_digits(str s) noexcept:
    cdef Py_ssize_t n = 0
    cdef Py_UCS4 c
    for c in s:
        if not 48 <= c <= 57:
            break
        n += 1
    return n


cpdef str space_postcodes(str q):
    """A run of five digits is a word of its own: re.sub(r"([\\d]{5})", r" \\1 ", q) for
    ASCII digits (runs longer than five are cut every five, from the left)."""
    cdef list parts = []
    cdef Py_ssize_t n = len(q), i = 0, start = 0, run
    while i < n:
        if not is_digit(q[i]):
            i += 1
            continue
        run = i
        while run < n and is_digit(q[run]):
            run += 1
        while run - i >= 5:
            parts.append(q[start:i])
            parts.append(" " + q[i:i + 5] + " ")
            i += 5
            start = i
        i = run
    if start == 0:
        return q
    parts.append(q[start:])
    return "".join(parts)


cpdef str rewrite(str word, list rules):
    """``word`` through each rule (a regex's ``sub``, its replacement, and the substrings one
    of which the word must hold for it to match at all; none: always tried), in order.

    PERF: compiled so that the substring tests, which spare most regex calls, cost less
    than the calls (the phonetic rules: 38 of them for each word not seen before)."""
    cdef tuple rule, needs
    cdef str needed
    for rule in rules:
        needs = <tuple> rule[2]
        if needs:
            for needed in needs:
                if needed in word:
                    break
            else:
                continue
        word = rule[0](rule[1], word)
    return word


cdef str spaced_and_collapsed(str q):
    """collapse_spaces(space_postcodes(q)).strip() in one pass (ASCII text)."""
    cdef bytes text = q.encode("ascii")
    cdef const char* src = text
    cdef Py_ssize_t n = len(text), i = 0, out = 0, run, start
    cdef char* dst = <char*> PyMem_Malloc(n + n // 5 * 2 + 2)
    if dst == NULL:
        raise MemoryError()
    try:
        while i < n:
            if 48 <= src[i] <= 57:
                run = i
                while run < n and 48 <= src[run] <= 57:
                    run += 1
                while run - i >= 5:  # a space either side of every five digits
                    if out and dst[out - 1] != 32:
                        dst[out] = 32
                        out += 1
                    for start in range(i, i + 5):
                        dst[out] = src[start]
                        out += 1
                    dst[out] = 32
                    out += 1
                    i += 5
                while i < run:
                    dst[out] = src[i]
                    out += 1
                    i += 1
            elif src[i] == 32:
                if out and dst[out - 1] != 32:
                    dst[out] = 32
                    out += 1
                i += 1
            else:
                dst[out] = src[i]
                out += 1
                i += 1
        while out and dst[out - 1] == 32:
            out -= 1
        return dst[:out].decode("ascii")
    finally:
        PyMem_Free(dst)


cpdef str collapse_spaces(str q):
    """re.sub(" {2,}", " ", q): every run of spaces one space."""
    while "  " in q:
        q = q.replace("  ", " ")
    return q


cdef class FrenchRules:
    """The compiled steps of the French rules, over the word tests and noise rules they are
    given (``text/french.py``)."""

    cdef frozenset street_types  # the words of street types ("rue", "av"...)
    cdef frozenset ordinals  # "bis", "ter"... and single letters
    cdef tuple number_tests  # (house number, parcel, trailing number): str -> match or None
    cdef list noise  # (rewrite: str -> str, substrings one of which the text must hold)
    cdef tuple rare  # the ASCII substrings of the noise rules other than postcodes and spaces
    cdef dict fold_words  # "bis" -> "b"...
    cdef frozenset months
    cdef frozenset preceders  # words after which a number belongs to the name
    cdef dict flags  # word -> its tests' bits, cached

    def __init__(self, street_types, ordinals, number_tests, noise, fold_words, months, preceders):
        self.street_types = frozenset(street_types)
        self.ordinals = frozenset(ordinals)
        self.number_tests = tuple(number_tests)
        self.noise = [(rewrite, tuple(needs)) for rewrite, needs in noise]
        self.rare = tuple(dict.fromkeys(needed.encode() for rewrite, needs in self.noise for needed in needs
                                        if rewrite is not space_postcodes and rewrite is not collapse_spaces
                                        and needed.isascii()))
        self.fold_words = dict(fold_words)
        self.months = frozenset(months)
        self.preceders = frozenset(preceders)
        self.flags = {}

    cdef int test(self, Word word) except -1:
        return self.test_value(word.value)

    cdef int test_value(self, str value) except -1:
        """The bits of the word tests a word passes (cached by the word): a street type, an
        ordinal (a lower-cased word in their sets), then, for a word that starts with a digit,
        a house number, a parcel, a trailing number (each a regular expression's match)."""
        cdef object found = self.flags.get(value)
        cdef int bits = 0, bit = HOUSENUMBER
        if found is not None:
            return found
        lower = value.lower()
        if lower in self.street_types:
            bits |= STREET_TYPE
        if lower in self.ordinals:
            bits |= ORDINAL
        if value and Py_UNICODE_ISDIGIT(value[0]):
            for test in self.number_tests:
                if test(value) is not None:
                    bits |= bit
                bit <<= 1
        if len(self.flags) >= FLAGS_CACHE:
            self.flags.clear()
        self.flags[value] = bits
        return bits

    # --- the query string ----------------------------------------------------------------

    cpdef str clean_noise(self, str q):
        """Drop CEDEX, BP/CS/TSA numbers, floors; expand s/ (sur) and s/s (sous).

        PERF: a text that holds none of the rarer rules' substrings only has its postcodes
        spaced and its spaces collapsed (which cannot make one of those): one compiled pass."""
        cdef str lower = q.lower()
        cdef bytes text
        cdef bytes needed_bytes
        if q.isascii():  # PERF: memmem over the bytes (an ASCII text holds no other substring)
            text = lower.encode("ascii")
            for needed_bytes in self.rare:
                if memmem(<const char*> text, len(text), <const char*> needed_bytes, len(needed_bytes)) != NULL:
                    break
            else:
                return spaced_and_collapsed(q)
        for rewrite, needs in self.noise:
            for needed in <tuple> needs:
                if needed in lower:
                    q = rewrite(q)
                    lower = q.lower()
                    break
        return q.strip()

    cpdef str remove_leading_zeros(self, str q):
        """0003 -> 3 (up to three digits, so postcodes are left alone): re.sub(r"\\b0+(\\d{1,3})\\b",
        r"\\1", q) on a cleaned query (words of [A-Za-z0-9_] between spaces)."""
        cdef list words
        cdef str word, rest
        cdef Py_ssize_t i
        cdef bint changed = False
        cdef Py_ssize_t at = q.find("0")
        while at > 0 and q[at - 1] != " ":  # PERF: a word that starts with 0, or nothing to do
            at = q.find("0", at + 1)
        if at < 0:
            return q
        words = q.split(" ")
        for i in range(len(words)):
            word = words[i]
            if len(word) > 1 and word[0] == "0" and word.isdigit() and word.isascii():
                rest = word.lstrip("0")
                if not rest:
                    words[i] = "0"
                    changed = True
                elif len(rest) <= 3:
                    words[i] = rest
                    changed = True
        return " ".join(words) if changed else q

    cpdef Py_ssize_t address_start(self, str q) except -1:
        """Where the address starts in a folded text (a number before a street type), else 0:
        "22 rue des Fleurs 59350 Lille" out of "Ets XYZ bat B 22 rue des Fleurs...".

        addok-france's regular expression, ``\\b\\d{1,4}( *(ORDINAL))?,? +(TYPES) .*``, read
        by words (folded text is words between single spaces): the first word that is a
        number of 1 to 4 digits, with an ordinal glued to it or as the next word, then a
        street type ("rond point" is two words) that is not the text's last word."""
        cdef list words = q.split(" ")
        cdef Py_ssize_t i, j, n = len(words), start = 0, d
        cdef str word
        for i in range(n):
            word = words[i]
            d = leading_digits(word)
            if 1 <= d <= 4 and (d == len(word) or self.test_value(word[d:]) & ORDINAL):
                if self.type_at(words, i + 1):
                    return start
                if d == len(word) and i + 1 < n and self.test_value(words[i + 1]) & ORDINAL \
                        and self.type_at(words, i + 2):
                    return start
            start += len(word) + 1
        return 0

    cdef bint type_at(self, list words, Py_ssize_t i) except -1:
        """Whether a street type starts at word i and a space follows it."""
        cdef Py_ssize_t n = len(words)
        if i + 1 < n and self.test_value(words[i]) & STREET_TYPE:
            return True
        return i + 2 < n and words[i] == "rond" and words[i + 1] == "point"

    cpdef str clean_query(self, str query, bint extract=True):
        """The folded query after address extraction and noise cleaning, before its words."""
        return self.clean_folded(ascii_label(query), extract)

    cpdef str clean_folded(self, str q, bint extract=True):
        """:meth:`clean_query` of a query already folded (``ascii_label``)."""
        if extract:
            q = q[self.address_start(q):]
        return self.remove_leading_zeros(self.clean_noise(q))

    cpdef str dropped(self, str query):
        """What the address extraction leaves out of a query (folded), or ''."""
        return self.dropped_folded(ascii_label(query))

    cpdef str dropped_folded(self, str q):
        """:meth:`dropped` of a query already folded (``ascii_label``)."""
        return q[:self.address_start(q)].strip()

    cpdef list query_words(self, str query, bint extract=True):
        """A query's words in context (house numbers flagged), before their tokens."""
        return self.context(split_words(self.clean_query(query, extract)))

    cpdef list folded_words(self, str q, bint extract=True):
        """:meth:`query_words` of a query already folded (``ascii_label``)."""
        return self.words(q[self.address_start(q):] if extract else q)

    cpdef list words(self, str q):
        """The words in context of a folded query from where its address starts (or whole)."""
        return self.context(split_words(self.remove_leading_zeros(self.clean_noise(q))))

    # --- words in context ------------------------------------------------------------------

    cpdef list context(self, list words):
        """The words of a text in context: ordinals glued to their number and folded ("3 bis"
        -> "3b"), the house number flagged, a trailing number flagged as a maybe."""
        words = self.glue_ordinal(words)
        for i in range(len(words)):
            words[i] = self.fold_ordinal(<Word> words[i])
        self.flag_housenumber(words)
        self.flag_trailing_housenumber(words)
        return words

    cdef list glue_ordinal(self, list words):
        """"3 bis rue" -> "3bis rue": an ordinal glued to the number before it.

        NOTE: as in Addok, of two numbers in a row only the second is kept ("10-12
        rue X" is searched as "12 rue X").
        """
        cdef list out = []
        cdef Word held = None, token, following
        cdef Py_ssize_t i, last = len(words) - 1
        cdef str raw
        for i in range(last + 1):
            token = <Word> words[i]
            following = <Word> words[i + 1] if i < last else None
            if following is not None and len(token.value) < 5 and digits(token.value):
                held = token
                continue
            if held is not None:
                if self.test(token) & ORDINAL and (following is None or self.test(following) & STREET_TYPE):
                    raw = held.value + " " + token.value
                    token = held.update(held.value + token.value, raw)
                else:
                    out.append(held)
                held = None
            out.append(token)
        return out

    cdef Word fold_ordinal(self, Word token):
        """3bis -> 3b (the form Addok indexes): NUMBER_WITH_ORDINAL, ^(\\d{1,4})(bis|ter|quater|
        quinquies|sexies|[a-z])$ ignoring case."""
        cdef str value = token.value
        cdef Py_ssize_t n = len(value)
        cdef str ordinal
        cdef Py_ssize_t number = leading_digits(value)
        if number == 0 or number == n or number > 4:
            return token
        ordinal = value[number:]
        folded = self.fold_words.get(ordinal.lower())
        if folded is not None:
            return token.update(value[:number] + folded)
        if len(ordinal) == 1 and ordinal.isascii() and ordinal.isalpha():
            return token.update(value[:number] + ordinal)
        return token

    cdef flag_housenumber(self, list words):
        """The first number at the start or before a street type is a house number.

        Beyond Addok, a parcel number ("12p2") is one too when the street's name repeats it
        ("12p2 12p2 rue des rosiers", "saucats 33650 12p2 12p2 rue..."); once, it is the name.
        """
        cdef Py_ssize_t i, last = len(words) - 1
        cdef Word token, following
        cdef int bits
        for i in range(last + 1):
            token = <Word> words[i]
            following = <Word> words[i + 1] if i < last else None
            bits = self.test(token)
            if ((token.position == 0 or (following is not None and self.test(following) & STREET_TYPE))
                    and bits & HOUSENUMBER
                    or bits & PARCEL and following is not None and token.value == following.value):
                token.kind = "housenumber"
                break

    cdef flag_trailing_housenumber(self, list words):
        """"rue de Rivoli 12": a number after the street name may be the house number.

        Beyond Addok, which only looks for a number at the start or before a street
        type. The word is only flagged ``maybe_housenumber``: it is still searched
        as a word, and a result takes it as its house number only if it has one, and
        if the street's name does not hold it ("route nationale 7": search/_scorer.pyx).
        """
        cdef Py_ssize_t i, n = len(words)
        cdef Word token, previous, following
        for token in words:
            if token.kind == "housenumber":
                return
        for i in range(1, n):
            token = <Word> words[i]
            if not self.test(token) & TRAILING_NUMBER:
                continue
            previous = <Word> words[i - 1]
            following = <Word> words[i + 1] if i + 1 < n else None
            if (digits(previous.value) or previous.value in self.preceders
                    or previous.value in self.months and len(token.value) == 4):
                continue
            if following is not None and (following.value in self.months
                                          or digits(following.value) and len(following.value) < 5):
                continue
            token.kind = "maybe_housenumber"
            if following is not None and (following.value in self.fold_words
                                          or len(following.value) == 1 and following.value.isalpha()):
                following.kind = "maybe_housenumber_suffix"  # "12 bis", "12 b"
            break
