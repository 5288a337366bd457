# cython: language_level=3
from libc.stdint cimport uint64_t

from ..index._lookup cimport Lexicon, StringTable
from ._textscore cimport Query as TextQuery


cdef class WordTokens:
    cdef object index
    cdef object pipeline
    cdef dict cache
    cdef Lexicon words
    cdef StringTable terms
    cdef const uint64_t[::1] post_start

    cdef tuple get(self, str word)


cdef class QueryToken:
    cdef readonly str value
    cdef readonly str raw
    cdef readonly Py_ssize_t position
    cdef readonly bint is_last
    cdef readonly Py_ssize_t tid
    cdef readonly Py_ssize_t frequency
    cdef readonly bint is_common
    cdef readonly bint digits  # value.isdigit()

    cdef void set(self, str value, str raw, Py_ssize_t position, bint is_last, Py_ssize_t tid,
                  Py_ssize_t frequency)


cdef class QueryText:
    cdef readonly str q  # as given
    cdef readonly str text  # folded, punctuation as spaces
    cdef set _word_set  # its words, made when first asked for (word_set)
    cdef readonly set postcodes
    cdef readonly TextQuery bigrams
    cdef readonly str dropped  # what the address extraction leaves out, or ''
    cdef Py_ssize_t start  # where the address starts in ``text``
    cdef object rules  # the pipeline's compiled rules
    cdef dict _words  # extract -> the query's words in context (Words)

    cpdef list query_words(self, bint extract)
    cdef set word_set(self)


cdef class Query:
    cdef readonly QueryText source
    cdef readonly str text
    cdef readonly bint extract
    cdef readonly list housenumbers  # the Words searched as house numbers
    cdef readonly list maybe_housenumbers  # the Words flagged maybe_housenumber(_suffix)
    cdef public list meaningful  # QueryTokens: the rarest, at most MAX_MEANINGFUL
    cdef public list common  # QueryTokens over COMMON_THRESHOLD documents
    cdef readonly list not_found  # QueryTokens the index does not have
    cdef public list tokens  # every QueryToken, longest first
    cdef readonly QueryToken last_token
    cdef readonly object housenumber_key  # str or None
    cdef readonly bint check_housenumber
    cdef readonly bint only_housenumber
    cdef readonly Py_ssize_t should_match_threshold
    cdef readonly list filter_keys  # ("filter", name, values) of each filter, in order
    cdef readonly list filter_docs  # the documents of each filter (uint32, ascending)

    cdef _setup_filters(self, index, dict filters)
    cdef _tokenize(self, engine, list words, bint trailing_number_as_housenumber)
    cdef _housenumber_key(self, pipeline)

    cdef inline bint commons_only(self) noexcept:
        """Every token common (``only_commons``; in C for the collectors)."""
        return self.tokens is not None and len(self.tokens) > 0 and len(self.tokens) == len(self.common)


cpdef list maybe_housenumbers(list words)
