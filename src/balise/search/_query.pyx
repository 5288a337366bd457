# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A forward query, read once: its tokens and what the index knows of them, its house
number, its filters (compiled).

:class:`QueryText` is what every reading of a query shares (its folded text, words,
postcodes, bigrams, and the pipeline's words in context, made once for each way of
extracting the address); :class:`Query` is one reading: its tokens sorted as Addok's
collectors want them. A word the documents had is looked up in the index's lexicon (one
hash probe gives the term numbers it is searched as, cached by the engine); only unknown
words go through the synonyms and phonetics of the text pipeline.
"""

import numpy as np

from cpython.unicode cimport Py_UNICODE_ISDIGIT, Py_UNICODE_ISSPACE

from ..text._text cimport Word, ascii_label

DEF COMMON_THRESHOLD = 10000
DEF MAX_MEANINGFUL = 10
DEF WORD_CACHE = 100000  # query words and their tokens (the lexicon of France has about 400,000)


cdef class WordTokens:
    """The tokens a query word is searched as, with their term numbers and frequencies, as
    one flat tuple (token, term or -1, frequency, token...): from the lexicon for a word the
    documents had, else from the pipeline's synonyms and phonetics.

    NOTE: cached in a plain dict, emptied when full, not an lru_cache, and as flat tuples of
    strings and ints: the cyclic GC stops tracking them, where it would walk every entry of
    an lru_cache or every inner tuple at each full pass.
    """

    def __init__(self, index, pipeline):
        self.index = index
        self.pipeline = pipeline
        self.cache = {}
        self.words = index.words
        self.terms = index.terms
        self.post_start = index.post_start

    def __call__(self, str word) -> tuple:
        return self.get(word)

    cdef tuple get(self, str word):
        cdef object found = self.cache.get(word)
        if found is not None:
            return <tuple> found
        found = self.words.flat_tokens(word, self.terms, self.post_start)
        if found is None:
            index = self.index
            known = []
            for t in self.pipeline.expand(word):
                tid = index.term_id(t)
                known.extend((t, tid, index.frequency(tid) if tid >= 0 else 0))
            found = tuple(known)
        if len(self.cache) >= WORD_CACHE:
            self.cache.clear()
        self.cache[word] = found
        return <tuple> found


cdef class QueryToken:
    """A query token and what the index knows of it."""

    def __init__(self, str value, str raw, Py_ssize_t position, bint is_last, Py_ssize_t tid,
                 Py_ssize_t frequency):
        self.set(value, raw, position, is_last, tid, frequency)

    cdef void set(self, str value, str raw, Py_ssize_t position, bint is_last, Py_ssize_t tid,
                  Py_ssize_t frequency):
        self.value = value
        self.raw = raw
        self.position = position
        self.is_last = is_last
        self.tid = tid
        self.frequency = frequency
        self.is_common = frequency > COMMON_THRESHOLD
        self.digits = value.isdigit()

    def isdigit(self) -> bool:
        return self.digits

    def __repr__(self):
        return f"<QueryToken {self.value!r} {self.tid} {self.frequency}>"


cdef QueryToken new_token(str value, str raw, Py_ssize_t position, bint is_last, Py_ssize_t tid,
                          Py_ssize_t frequency):
    """A QueryToken made in C (PERF: no Python call, no int objects for its numbers)."""
    cdef QueryToken token = QueryToken.__new__(QueryToken)
    token.set(value, raw, position, is_last, tid, frequency)
    return token


cdef class QueryText:
    """What every reading of one query shares."""

    def __init__(self, pipeline, str q):
        self.q = q
        self.rules = pipeline.rules
        self.text = ascii_label(q)
        self.postcodes = five_digit_words(self.text)
        self.bigrams = TextQuery(self.text)
        self.start = self.rules.address_start(self.text)
        self.dropped = self.text[:self.start].strip()
        self._words = {}

    @property
    def words(self) -> set:
        return self.word_set()

    cdef set word_set(self):
        """set(text.split()), made when first asked for (PERF: only the postcodes of a
        street with several need it)."""
        if self._word_set is None:
            self._word_set = set(self.text.split())
        return self._word_set

    cpdef list query_words(self, bint extract):
        """The query's words in context (house numbers flagged), for one way of extracting."""
        words = self._words.get(extract)
        if words is None:
            words = self._words[extract] = self.rules.words(self.text[self.start:] if extract else self.text)
        return words


cdef set five_digit_words(str text):
    """{w for w in text.split() if len(w) == 5 and w.isdigit()} in one pass, without the
    words (PERF: 0.9 -> 0.1 us a query)."""
    cdef set found = set()
    cdef Py_ssize_t i, n = len(text), start = 0
    cdef bint digits = True
    cdef Py_UCS4 c
    for i in range(n + 1):
        if i == n or Py_UNICODE_ISSPACE(text[i]):
            if i - start == 5 and digits:
                found.add(text[start:i])
            start, digits = i + 1, True
        else:
            c = text[i]
            if not Py_UNICODE_ISDIGIT(c):
                digits = False
    return found


cpdef list maybe_housenumbers(list words):
    """The words that may be a house number by where they are ("rue de rivoli 12": flagged
    maybe_housenumber, a suffix after it maybe_housenumber_suffix)."""
    return [w for w in words if (<Word> w).kind and (<Word> w).kind.startswith("maybe_")]


cdef list sorted_by(list tokens, bint by_frequency, bint descending):
    """A stable sort of QueryTokens by frequency or by length (as Python's sort is stable,
    ``reverse`` too: equal keys keep their order)."""
    cdef Py_ssize_t i, j, n = len(tokens)
    cdef list out = list(tokens)
    cdef QueryToken item
    cdef Py_ssize_t key, other
    for i in range(1, n):
        item = <QueryToken> out[i]
        key = item.frequency if by_frequency else len(item.value)
        j = i
        while j > 0:
            other = (<QueryToken> out[j - 1]).frequency if by_frequency else len((<QueryToken> out[j - 1]).value)
            if (other < key) if descending else (other > key):
                out[j] = out[j - 1]
                j -= 1
            else:
                break
        out[j] = item
    return out


cdef class Query:
    """Tokens sorted as Addok's collectors want them: ``meaningful`` (the rarest, at most
    10), ``common`` (over 10,000 documents) and ``not_found``; house numbers apart."""

    def __init__(self, engine, QueryText source, dict filters, bint trailing_number_as_housenumber,
                 bint extract):
        self.source = source
        self.text = source.text
        self.extract = extract
        self.housenumbers = []
        self.meaningful = []
        self.common = []
        self.not_found = []
        self.filter_keys = []
        self.filter_docs = []
        self._setup_filters(engine.index, filters)
        self._tokenize(engine, source.query_words(extract), trailing_number_as_housenumber)
        self.housenumber_key = self._housenumber_key(engine.pipeline)

    cdef _setup_filters(self, index, dict filters):
        types = set(filters.get("type") or [])
        self.check_housenumber = not types or "housenumber" in types
        self.only_housenumber = types == {"housenumber"}
        for name, values in sorted(filters.items()):
            values = sorted({str(v).strip() for v in values if str(v).strip()})
            if not values:
                continue
            ids = [index.filter_id(name, v) for v in values]
            arrays = [index.postings(i)[0] for i in ids if i >= 0]
            if len(arrays) == 1:
                docs = arrays[0]
            elif arrays:
                docs = np.unique(np.concatenate(arrays))
            else:
                docs = np.empty(0, dtype=np.uint32)
            self.filter_keys.append(("filter", name, tuple(values)))
            self.filter_docs.append(np.ascontiguousarray(docs, dtype=np.uint32))

    cdef _tokenize(self, engine, list words, bint trailing_number_as_housenumber):
        cdef Py_ssize_t i, j, last_word = len(words) - 1, count
        cdef bint is_last
        cdef list selected = []
        cdef QueryToken qt
        cdef Word word, token, last
        cdef WordTokens known = engine.word_tokens
        cdef tuple expanded
        self.last_token = None
        self.maybe_housenumbers = maybe_housenumbers(words)
        for i in range(len(words)):
            word = <Word> words[i]
            kind = word.kind
            expanded = known.get(word.value)  # (token, term, frequency) flattened
            count = len(expanded) // 3
            for j in range(count):
                value, tid, frequency = expanded[3 * j], expanded[3 * j + 1], expanded[3 * j + 2]
                is_last = i == last_word and j == count - 1
                if kind == "housenumber" or (trailing_number_as_housenumber and kind == "maybe_housenumber"):
                    token = word if count == 1 and value == word.value else word.update(value)
                    token.is_last = is_last
                    self.housenumbers.append(token)
                    continue
                if kind == "maybe_housenumber_suffix":
                    continue
                qt = new_token(value, word.raw, word.position, is_last, tid, frequency)
                if is_last:
                    self.last_token = qt
                selected.append(qt)
        if words and (<Word> words[last_word]).kind == "housenumber":
            last = self.housenumbers[len(self.housenumbers) - 1] if self.housenumbers else words[last_word]
            self.last_token = new_token(last.value, last.raw, last.position, True, -1, 0)
        selected = sorted_by(selected, False, True)
        meaningful = []
        for qt in selected:
            if qt.is_common:
                self.common.append(qt)
            elif qt.tid >= 0:
                meaningful.append(qt)
            else:
                self.not_found.append(qt)
        self.tokens = selected
        self.common = sorted_by(self.common, True, False)
        meaningful = sorted_by(meaningful, True, False)
        self.common.extend(meaningful[MAX_MEANINGFUL:])
        self.meaningful = meaningful[:MAX_MEANINGFUL]
        count = len(self.tokens)
        self.should_match_threshold = (2 * count + 2) // 3  # math.ceil(2 / 3 * count)

    cdef _housenumber_key(self, pipeline):
        """Key of the house number asked for: a flagged one, else one written after the street."""
        tokens = [t for t in self.housenumbers if t.kind == "housenumber"] or self.maybe_housenumbers
        if not tokens:
            return None
        if len(tokens) == 1:
            return pipeline.housenumber_key((<Word> tokens[0]).raw)
        ordered = sorted(tokens, key=lambda t: t.position)
        return pipeline.housenumber_key(" ".join(dict.fromkeys(t.raw for t in ordered)))

    @property
    def only_commons(self) -> bool:
        return self.commons_only()

    @property
    def words(self) -> set:
        return self.source.word_set()

    @property
    def postcodes(self) -> set:
        return self.source.postcodes

    @property
    def bigrams(self):
        return self.source.bigrams
