# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The French phonetic folding of ``french.PHONETIC_RULES``, compiled for the words it meets.

``french.PHONETIC_RULES`` (38 regular expressions, after addok-fr) stay the rules' text and
what any other word goes through; this module is the same rewriting by hand for the words a
query or a document makes after folding (lower-case ASCII letters, digits, ``_``): each rule
is one ``re.sub`` (leftmost matches, none empty, each rule on the previous one's output), its
lookbehinds and lookaheads read in the text the rule starts from. A test holds the two equal
on every word of three letters or fewer and on random and real words.

PERF: a word the index does not know (a typo) went through the 38 expressions in ~3.1 us (most
of its ~5 us in the pipeline); here in ~0.4 us, the call and the copies included.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy

DEF RULES = 38


cdef inline bint vowel(unsigned char c) noexcept nogil:  # [aeiouy]
    return c == b'a' or c == b'e' or c == b'i' or c == b'o' or c == b'u' or c == b'y'


cdef inline bint digit(unsigned char c) noexcept nogil:
    return b'0' <= c <= b'9'


cdef inline bint lower(unsigned char c) noexcept nogil:  # [a-z]
    return b'a' <= c <= b'z'


cdef inline bint word_char(unsigned char c) noexcept nogil:  # \w, in the characters taken here
    return lower(c) or digit(c) or c == b'_'


cdef inline bint one_of(unsigned char c, const char* chars) noexcept nogil:
    while chars[0]:
        if <unsigned char> chars[0] == c:
            return True
        chars += 1
    return False


cdef inline bint at(const unsigned char* s, Py_ssize_t n, Py_ssize_t i, const char* text) noexcept nogil:
    """``text`` is in ``s`` at ``i``."""
    while text[0]:
        if i >= n or s[i] != <unsigned char> text[0]:
            return False
        i += 1
        text += 1
    return True


cdef inline Py_ssize_t emit(unsigned char* out, Py_ssize_t* written, const char* text, Py_ssize_t taken,
                            unsigned char kept=0) noexcept nogil:
    """Put the replacement ``text`` in ``out`` (each ``*`` in it: the byte ``kept``, a
    captured group) and return ``taken``, the length of the match it replaces."""
    cdef Py_ssize_t k = 0
    while text[k]:
        out[k] = kept if text[k] == b'*' else <unsigned char> text[k]
        k += 1
    written[0] = k
    return taken


cdef Py_ssize_t match(int rule, const unsigned char* s, Py_ssize_t n, Py_ssize_t i,
                      unsigned char* out, Py_ssize_t* written) noexcept nogil:
    """The length of rule ``rule``'s match at ``i`` in ``s`` (0: none), its replacement put in
    ``out`` (``written`` bytes). The comment of each case is its expression and replacement."""
    cdef unsigned char c = s[i]
    cdef unsigned char before = s[i - 1] if i > 0 else 0  # 0: no character (a lookbehind fails)
    cdef bint has_before = i > 0
    cdef unsigned char after = s[i + 1] if i + 1 < n else 0
    cdef unsigned char third = s[i + 2] if i + 2 < n else 0
    cdef Py_ssize_t end
    if rule == 0:  # (?<=a)(mp|nd|nt)s?$ -> n
        if before == b'a' and (at(s, n, i, b"mp") or at(s, n, i, b"nd") or at(s, n, i, b"nt")):
            if i + 2 == n:
                return emit(out, written, b"n", 2)
            if i + 3 == n and third == b's':
                return emit(out, written, b"n", 3)
    elif rule == 1:  # ([aeiouy])mp(?=[^aeiouyr]) -> \1n
        if vowel(c) and at(s, n, i + 1, b"mp") and i + 3 < n and not vowel(s[i + 3]) and s[i + 3] != b'r':
            return emit(out, written, b"*n", 3, c)
    elif rule == 2:  # ngt(?=[aeiouy]) -> nt
        if at(s, n, i, b"ngt") and i + 3 < n and vowel(s[i + 3]):
            return emit(out, written, b"nt", 3)
    elif rule == 3:  # ngt -> n
        if at(s, n, i, b"ngt"):
            return emit(out, written, b"n", 3)
    elif rule == 4:  # ((?<=[^g])g|^g)(?=[eyi]) -> j
        if c == b'g' and (not has_before or before != b'g') and one_of(after, b"eyi"):
            return emit(out, written, b"j", 1)
    elif rule == 5:  # (?<=g)u(?=[aeio]) -> ""
        if c == b'u' and before == b'g' and one_of(after, b"aeio"):
            return emit(out, written, b"", 1)
    elif rule == 6:  # (?<=ei)gn([aeiouy]) -> ni\1
        if i >= 2 and s[i - 2] == b'e' and before == b'i' and at(s, n, i, b"gn") and vowel(third):
            return emit(out, written, b"ni*", 3, third)
    elif rule == 7:  # je([aeiouy]) -> j\1
        if at(s, n, i, b"je") and vowel(third):
            return emit(out, written, b"j*", 3, third)
    elif rule == 8:  # c(?=[^hieyw]) -> k
        if c == b'c' and i + 1 < n and not one_of(after, b"hieyw"):
            return emit(out, written, b"k", 1)
    elif rule == 9:  # anc$ -> an
        if at(s, n, i, b"anc") and i + 3 == n:
            return emit(out, written, b"an", 3)
    elif rule == 10:  # ((?<=[^s])ch|(?<=[^0-9])c)$ -> k
        if has_before and before != b's' and at(s, n, i, b"ch") and i + 2 == n:
            return emit(out, written, b"k", 2)
        if has_before and not digit(before) and c == b'c' and i + 1 == n:
            return emit(out, written, b"k", 1)
    elif rule == 11:  # (?<=[aeiouy])s(?=[aeiouy]) -> z
        if c == b's' and vowel(before) and vowel(after):
            return emit(out, written, b"z", 1)
    elif rule == 12:  # ((?<=[^0-9])q|^q)u? -> k
        if c == b'q' and not digit(before):
            return emit(out, written, b"k", 2 if after == b'u' else 1)
    elif rule == 13:  # cc(?=[ie]) -> s
        if at(s, n, i, b"cc") and (third == b'i' or third == b'e'):
            return emit(out, written, b"s", 2)
    elif rule == 14:  # ck -> k
        if at(s, n, i, b"ck"):
            return emit(out, written, b"k", 2)
    elif rule == 15:  # ph -> f
        if at(s, n, i, b"ph"):
            return emit(out, written, b"f", 2)
    elif rule == 16:  # th$ -> te
        if at(s, n, i, b"th") and i + 2 == n:
            return emit(out, written, b"te", 2)
    elif rule == 17:  # (?<=[^sc0-9])h -> ""
        if c == b'h' and has_before and before != b's' and before != b'c' and not digit(before):
            return emit(out, written, b"", 1)
    elif rule == 18:  # ^h(?=.)+ -> ""
        if c == b'h' and i == 0 and n > 1:
            return emit(out, written, b"", 1)
    elif rule == 19:  # sc -> s
        if at(s, n, i, b"sc"):
            return emit(out, written, b"s", 2)
    elif rule == 20:  # sh -> ch
        if at(s, n, i, b"sh"):
            return emit(out, written, b"ch", 2)
    elif rule == 21:  # ((?<=[^0-9])w|^w) -> v
        if c == b'w' and not digit(before):
            return emit(out, written, b"v", 1)
    elif rule == 22:  # c(?=[eiy]) -> s
        if c == b'c' and one_of(after, b"eiy"):
            return emit(out, written, b"s", 1)
    elif rule == 23:  # ((?<=[^0-9])y|^y) -> i
        if c == b'y' and not digit(before):
            return emit(out, written, b"i", 1)
    elif rule == 24:  # esn -> en
        if at(s, n, i, b"esn"):
            return emit(out, written, b"en", 3)
    elif rule == 25:  # eim( |$) -> aim
        if at(s, n, i, b"eim") and (i + 3 == n or s[i + 3] == b' '):
            return emit(out, written, b"aim", 3 if i + 3 == n else 4)
    elif rule == 26:  # (ae|ei)(?=\w) -> e
        if (at(s, n, i, b"ae") or at(s, n, i, b"ei")) and word_char(third):
            return emit(out, written, b"e", 2)
    elif rule == 27:  # oeufs( |$) -> eu
        if at(s, n, i, b"oeufs") and (i + 5 == n or s[i + 5] == b' '):
            return emit(out, written, b"eu", 5 if i + 5 == n else 6)
    elif rule == 28:  # oeu?(?=\w) -> eu
        if at(s, n, i, b"oe"):
            if third == b'u' and i + 3 < n and word_char(s[i + 3]):
                return emit(out, written, b"eu", 3)
            if word_char(third):
                return emit(out, written, b"eu", 2)
    elif rule == 29:  # (?<=[^0-9])s$ -> ""
        if c == b's' and i + 1 == n and has_before and not digit(before):
            return emit(out, written, b"", 1)
    elif rule == 30:  # (?<=u)l?x$ -> ""
        if before == b'u' and c == b'l' and after == b'x' and i + 2 == n:
            return emit(out, written, b"", 2)
        if before == b'u' and c == b'x' and i + 1 == n:
            return emit(out, written, b"", 1)
    elif rule == 31:  # (?<=u)lt$ -> t
        if before == b'u' and at(s, n, i, b"lt") and i + 2 == n:
            return emit(out, written, b"t", 2)
    elif rule == 32:  # (?<=[a-z])[dg]$ -> ""
        if (c == b'd' or c == b'g') and i + 1 == n and lower(before):
            return emit(out, written, b"", 1)
    elif rule == 33:  # (?<=[^es0-9])t$ -> ""
        if c == b't' and i + 1 == n and has_before and before != b'e' and before != b's' and not digit(before):
            return emit(out, written, b"", 1)
    elif rule == 34:  # (?<=[aeiou])(m)(?=[pbgft]) -> n
        if c == b'm' and before != b'y' and vowel(before) and one_of(after, b"pbgft"):
            return emit(out, written, b"n", 1)
    elif rule == 35:  # (?<=[a-z]{2})(e$) -> ""
        if c == b'e' and i + 1 == n and i >= 2 and lower(s[i - 2]) and lower(before):
            return emit(out, written, b"", 1)
    elif rule == 36:  # (?<=[aeiouy])n[dt](?=[^aeiouyr]) -> n
        if (c == b'n' and vowel(before) and (after == b'd' or after == b't') and i + 2 < n
                and not vowel(third) and third != b'r'):
            return emit(out, written, b"n", 2)
    elif rule == 37:  # ([a-z])\1+ -> \1
        if lower(c) and after == c:
            end = i + 2
            while end < n and s[end] == c:
                end += 1
            return emit(out, written, b"*", end - i, c)
    return 0


# The letters a match of each rule starts with (PERF: the others are copied without a call).
_STARTS = (b"mn", b"aeiouy", b"n", b"n", b"g", b"u", b"g", b"j", b"c", b"a", b"c", b"s", b"q", b"c",
          b"c", b"p", b"t", b"h", b"h", b"s", b"s", b"w", b"c", b"y", b"e", b"e", b"ae", b"o", b"o",
          b"s", b"lx", b"l", b"dg", b"t", b"m", b"e", b"n", b"abcdefghijklmnopqrstuvwxyz")
cdef unsigned int STARTING[RULES]  # _STARTS as bits, 1 << (letter - 'a')
for _rule, _letters in enumerate(_STARTS):
    STARTING[_rule] = sum(1 << (letter - 97) for letter in _letters)


cdef inline unsigned int letter_bit(unsigned char c) noexcept nogil:
    return (<unsigned int> 1) << (c - 97) if lower(c) else 0


cdef Py_ssize_t apply(int rule, const unsigned char* s, Py_ssize_t n, unsigned char* out) noexcept nogil:
    """One rule over ``s`` into ``out`` (re.sub): the output's length (never longer)."""
    cdef Py_ssize_t i = 0, o = 0, taken, written = 0
    cdef unsigned int starting = STARTING[rule]
    while i < n:
        if not (letter_bit(s[i]) & starting):
            out[o] = s[i]
            o += 1
            i += 1
            continue
        taken = match(rule, s, n, i, out + o, &written)
        if taken:
            o += written
            i += taken
        else:
            out[o] = s[i]
            o += 1
            i += 1
    return o


cpdef str phonetic_ascii(str word):
    """``word`` through the phonetic rules, or None when it holds a character other than
    ``[a-z0-9_]`` (the regular expressions take it)."""
    cdef Py_ssize_t n = len(word)
    cdef int rule
    cdef Py_UCS4 c
    for c in word:
        if not (u'a' <= c <= u'z' or u'0' <= c <= u'9' or c == u'_'):
            return None
    cdef bytes encoded = word.encode("ascii")
    cdef unsigned char* buffers = <unsigned char*> PyMem_Malloc(2 * n + 2)
    if buffers == NULL:
        raise MemoryError()
    cdef unsigned char* src = buffers
    cdef unsigned char* dst = buffers + n + 1
    cdef unsigned char* swap
    try:
        memcpy(src, <const char*> encoded, n)
        for rule in range(RULES):
            n = apply(rule, src, n, dst)
            swap = src
            src = dst
            dst = swap
        return (<char*> src)[:n].decode("ascii")
    finally:
        PyMem_Free(buffers)
