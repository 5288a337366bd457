# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Which words of a query go together (compiled): whether two terms share a document (Addok's
pair sets) and the groups of words that do two by two, for the relations collector
(``_collectors.pyx``)."""

from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free

from ..index._postings cimport Postings
from ._query cimport QueryToken

DEF PAIRS_CACHE = 50000


cdef class Pairs:
    """Whether two terms share a document (what Addok keeps as pair sets), cached: the
    relations collector asks it of every two words of a query."""

    def __init__(self, Postings postings):
        self.postings = postings
        self.cache = {}

    cdef bint share(self, Py_ssize_t a, Py_ssize_t b) except -1:
        cdef object key = (min(a, b) << 32) | max(a, b)
        cdef object found = self.cache.get(key)
        if found is None:
            if len(self.cache) >= PAIRS_CACHE:
                self.cache.clear()
            found = self.cache[key] = self.postings.share_c(a, b)
        return found

    def __call__(self, Py_ssize_t a, Py_ssize_t b) -> bool:
        return self.share(a, b)


cdef extern from *:
    """static inline int balise_popcount64(unsigned long long v) { return __builtin_popcountll(v); }"""
    int popcount "balise_popcount64"(unsigned long long v) noexcept nogil


cdef list manytomany_relations(Pairs pairs, list tokens):
    """Groups of query words that share documents two by two (Addok's relations).

    NOTE: Addok grows one group greedily from each word, visiting words in the order
    of a Python set of strings, that is of their salted hashes; balise takes every
    maximal group (Bron-Kerbosch with a pivot, over bit sets), which includes each group
    Addok can build. The groups kept do not depend on the order cliques are found in: longer
    ones come first, a group is dropped when inside a kept one, and the collector sorts them.
    """
    cdef list words = list({t.value: t for t in tokens}.values())
    cdef Py_ssize_t i, j, n = len(words), width = (len(words) + 63) // 64
    cdef QueryToken a, b
    # linked[i * width:(i + 1) * width]: bit j set when words i and j share a document; then
    # the search's stack, three bit sets (clique, candidates, excluded) per depth.
    cdef uint64_t* linked = <uint64_t*> calloc(n * width + (n + 2) * 3 * width + 1, sizeof(uint64_t))
    cdef uint64_t* stack
    if linked == NULL:
        raise MemoryError()
    cliques = []
    try:
        for i in range(n):
            a = <QueryToken> words[i]
            for j in range(i + 1, n):
                b = <QueryToken> words[j]
                if a.tid >= 0 and b.tid >= 0 and pairs.share(a.tid, b.tid):
                    linked[i * width + j // 64] |= 1ULL << (j % 64)
                    linked[j * width + i // 64] |= 1ULL << (i % 64)
        stack = linked + n * width
        for i in range(n):  # every word a candidate
            stack[width + i // 64] |= 1ULL << (i % 64)
        grow(n, width, linked, stack, cliques)
    finally:
        free(linked)
    groups = []
    for clique in cliques:
        group = [words[i] for i in clique if not (<QueryToken> words[i]).is_common]
        if len(group) > 1:
            groups.append(group)
    unique = []
    for group in sorted(groups, key=len, reverse=True):
        if not any(set(group) <= set(u) for u in unique):
            unique.append(group)
    return unique


cdef inline bint has(const uint64_t* bits, Py_ssize_t i) noexcept nogil:
    return (bits[i // 64] >> (i % 64)) & 1


cdef int grow(Py_ssize_t n, Py_ssize_t width, const uint64_t* linked, uint64_t* level,
              list cliques) except -1:
    """Bron-Kerbosch with a pivot: every maximal clique of ``linked`` into ``cliques`` (each
    a list of word positions). ``level`` holds this call's clique, candidates and excluded
    bit sets, ``width`` words each; the next call's follow them.

    PERF: bit sets of C words, not Python ints."""
    cdef uint64_t* clique = level
    cdef uint64_t* candidates = level + width
    cdef uint64_t* excluded = level + 2 * width
    cdef uint64_t* deeper = level + 3 * width
    cdef const uint64_t* neighbours
    cdef Py_ssize_t i, w, best = -1, degree, most = -1
    cdef bint empty = True
    for w in range(width):
        if candidates[w] or excluded[w]:
            empty = False
            break
    if empty:
        cliques.append([i for i in range(n) if has(clique, i)])
        return 0
    for i in range(n):  # the pivot: the word with the most neighbours among the candidates
        if has(candidates, i) or has(excluded, i):
            degree = 0
            for w in range(width):
                degree += popcount(linked[i * width + w] & candidates[w])
            if degree > most:
                best, most = i, degree
    for i in range(n):
        if has(candidates, i) and not has(linked + best * width, i):
            neighbours = linked + i * width
            for w in range(width):
                deeper[w] = clique[w]
                deeper[width + w] = candidates[w] & neighbours[w]
                deeper[2 * width + w] = excluded[w] & neighbours[w]
            deeper[i // 64] |= 1ULL << (i % 64)
            grow(n, width, linked, deeper, cliques)
            candidates[i // 64] &= ~(1ULL << (i % 64))
            excluded[i // 64] |= 1ULL << (i % 64)
    return 0
