# cython: language_level=3, boundscheck=False, wraparound=False
"""A query's readings (compiled): searched as written, then, when no answer matches it
clearly, in the other ways it may be meant; the reading whose best answer scores highest
wins (:func:`best_reading`).

PERF: every search goes through here once; compiled, its choices cost no bytecode, and the
readings' scores are read straight from their scorers' columns.
"""

from ..index.format import PLACE_TERM as _PLACE_TERM
from ..index.format import place_texts
from . import scoring
from ._collectors import collect

from ._query cimport QueryText, maybe_housenumbers
from ._scorer cimport Scorer
from ._search cimport Search

cdef double MATCH_THRESHOLD = scoring.MATCH_THRESHOLD
cdef int PLACE_TERM = _PLACE_TERM


cdef inline bint has_postcode(str text):
    """Whether a word of ``text`` is five digits (a postcode)."""
    for word in text.split():
        if len(<str> word) == 5 and (<str> word).isdigit():
            return True
    return False


cdef inline double first_text(Search search, list columns):
    return (<Scorer> search.scorer).text[<Py_ssize_t> columns[0]]


cdef inline double first_score(Search search, list columns):
    return (<Scorer> search.scorer).score[<Py_ssize_t> columns[0]]


def best_candidates(engine, request) -> list:
    """The best ``request.limit`` candidates of a search (a :class:`SearchRequest`), each a
    search and a column of its scorer: its areas in turn until it has them (``favor``: near
    first, then anywhere), a candidate already found once."""
    cdef str q = request.q
    cdef Py_ssize_t limit = request.limit
    cdef bint trace = request.debug, autocomplete = request.autocomplete
    cdef list found = [], columns
    cdef tuple reading
    cdef Search search
    if not q.strip():
        return found
    lat, lon, filters = request.lat, request.lon, request.filters
    for area in request.areas():
        if len(found) >= limit:
            break
        reading = read(engine, q, trace, limit, autocomplete, lat, lon, filters, area)
        search, columns = reading
        if found:
            seen = {s.scorer.identity(i) for s, i in found}
            columns = [i for i in columns if search.scorer.identity(i) not in seen]
        found += [(search, i) for i in columns]
    return found[:limit]


def best_reading(engine, str q, bint trace=False, *, Py_ssize_t limit=5, bint autocomplete=False, lat=None,
                 lon=None, dict filters=None, area=None):
    """A query searched as written, then, when no answer matches it clearly, in the other
    ways it may be meant (beyond Addok); the reading whose best answer scores highest wins.

    - "Rue de Rivoli 12": a number after the street name may be the house number.
    - "Gradignan 33170 39 Rue du Moulin": Addok keeps the address out of a longer text
      ("SARL X 22 rue Y"), which drops a city written first; at the scale of France, "39 rue
      du moulin" alone is in hundreds of towns. A dropped part with a postcode is a place,
      not noise: it is kept. Other dropped text is kept only when it names the place of the
      answer it leads to ("Palais de la Porte Dorée 293 avenue Daumesnil" stays noise).
    Every reading is scored against the whole query, so their scores compare. The readings
    share the query's text (:class:`QueryText`). Returns the winner and the columns of its
    best candidates (``search.scorer.feature(i)`` builds one's answer).
    """
    return read(engine, q, trace, limit, autocomplete, lat, lon, filters, area)


cdef tuple read(engine, str q, bint trace, Py_ssize_t limit, bint autocomplete, lat, lon, dict filters, area):
    """:func:`best_reading`."""
    cdef QueryText text = QueryText(engine.pipeline, q)
    cdef str dropped = text.dropped
    cdef bint extract = not dropped or not has_postcode(dropped)
    cdef Search trailing = None, first, other, best_search
    cdef list found = None, columns, best_columns
    if filters is None:
        filters = {}
    if maybe_housenumbers(text.query_words(extract)):
        # PERF: read as a house number first; flagged, the number is one far more often
        # than part of the name, and a clear answer spares the other reading (not even built).
        trailing = Search(engine, text, limit, autocomplete, lat, lon, filters, True, True, extract, area,
                          trace)
        found = collect(trailing)
        if found and first_text(trailing, found) >= MATCH_THRESHOLD:
            return trailing, found
    first = Search(engine, text, limit, autocomplete, lat, lon, filters, True, False, extract, area, trace)
    best_search, best_columns = first, collect(first)
    if trailing is not None and found and (
            not best_columns or first_score(trailing, found) > first_score(best_search, best_columns)):
        best_search, best_columns = trailing, found
    if best_columns and first_text(best_search, best_columns) >= MATCH_THRESHOLD:
        return best_search, best_columns
    if extract and dropped and could_name_a_place(engine, dropped):
        other = Search(engine, text, limit, autocomplete, lat, lon, filters, True, False, False, area, trace)
        columns = collect(other)
        if columns and (not best_columns
                        or first_score(other, columns) > first_score(best_search, best_columns)) \
                and names_the_place(engine.pipeline, dropped, other.scorer.result(columns[0]).doc):
            best_search, best_columns = other, columns
    return best_search, best_columns


def features_of(list found) -> list:
    """The geocodejson features of candidates (each a search and a column of its scorer)."""
    return [(<Search> search).scorer.feature(i) for search, i in found]


def could_name_a_place(engine, str text) -> bool:
    """Whether every word of ``text`` is a word of some document's place and some document
    has them all: else no answer's place can be named by it (:func:`names_the_place`), and
    the reading that keeps it is not tried (PERF: "Ets Leroy, 12 rue ..." read twice)."""
    index = engine.index
    terms = [index.term_id(t) for t in engine.pipeline.index_tokens(text)]
    if not terms or min(terms) < 0:
        return False
    flags = index.term_flags
    for t in terms:
        if not flags[t] & PLACE_TERM:
            return False
    return index.postings_lists.intersects(terms)


def names_the_place(pipeline, str text, dict doc) -> bool:
    """Whether every word of ``text`` is a word of the document's place (its city,
    postcode, département...), compared as index tokens (so "St" is "Saint")."""
    cdef set place = set()
    for value in place_texts(doc):
        place.update(pipeline.index_tokens(value))
    return set(pipeline.index_tokens(text)) <= place
