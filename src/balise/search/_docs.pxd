# cython: language_level=3
"""Sets and maps of document numbers in C, for one search's bucket and candidates: a few
hundred documents, so an array in insertion order with an open-addressing table beside it."""

from libc.stdint cimport int32_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cdef enum:
    NO_DOC = 0xFFFFFFFF


cdef struct DocMap:
    uint32_t* docs  # in insertion order
    int32_t* values  # the value of each
    Py_ssize_t size
    Py_ssize_t capacity  # of docs and values; the table has twice as many slots
    int32_t* slots  # positions in docs, -1 when free


cdef inline uint32_t mix(uint32_t doc) noexcept nogil:
    doc ^= doc >> 16
    doc *= 0x7FEB352D
    doc ^= doc >> 15
    return doc


cdef inline int docmap_init(DocMap* m, Py_ssize_t capacity) except -1:
    m.size = 0
    m.capacity = capacity
    m.docs = <uint32_t*> malloc(capacity * sizeof(uint32_t))
    m.values = <int32_t*> malloc(capacity * sizeof(int32_t))
    m.slots = <int32_t*> malloc(2 * capacity * sizeof(int32_t))
    if m.docs == NULL or m.values == NULL or m.slots == NULL:
        raise MemoryError()
    memset(m.slots, 0xFF, 2 * capacity * sizeof(int32_t))
    return 0


cdef inline void docmap_free(DocMap* m) noexcept nogil:
    free(m.docs)
    free(m.values)
    free(m.slots)
    m.docs = NULL
    m.values = NULL
    m.slots = NULL


cdef inline void docmap_clear(DocMap* m) noexcept nogil:
    m.size = 0
    memset(m.slots, 0xFF, 2 * m.capacity * sizeof(int32_t))


cdef inline Py_ssize_t docmap_slot(const DocMap* m, uint32_t doc) noexcept nogil:
    """The slot of doc, or the free slot where it would go."""
    cdef Py_ssize_t mask = 2 * m.capacity - 1
    cdef Py_ssize_t slot = mix(doc) & mask
    while m.slots[slot] >= 0 and m.docs[m.slots[slot]] != doc:
        slot = (slot + 1) & mask
    return slot


cdef inline int32_t docmap_get(const DocMap* m, uint32_t doc, int32_t missing) noexcept nogil:
    cdef Py_ssize_t slot = docmap_slot(m, doc)
    return missing if m.slots[slot] < 0 else m.values[m.slots[slot]]


cdef inline bint docmap_has(const DocMap* m, uint32_t doc) noexcept nogil:
    return m.slots[docmap_slot(m, doc)] >= 0


cdef inline int docmap_grow(DocMap* m) except -1:
    cdef DocMap bigger
    cdef Py_ssize_t i
    docmap_init(&bigger, 2 * m.capacity)
    for i in range(m.size):
        bigger.docs[i] = m.docs[i]
        bigger.values[i] = m.values[i]
        bigger.slots[docmap_slot(&bigger, m.docs[i])] = <int32_t> i
    bigger.size = m.size
    docmap_free(m)
    m[0] = bigger
    return 0


cdef inline int docmap_set(DocMap* m, uint32_t doc, int32_t value) except -1:
    """Set doc's value; returns 1 when doc is new, 0 when it was there."""
    cdef Py_ssize_t slot = docmap_slot(m, doc)
    if m.slots[slot] >= 0:
        m.values[m.slots[slot]] = value
        return 0
    if m.size == m.capacity:
        docmap_grow(m)
        slot = docmap_slot(m, doc)
    m.slots[slot] = <int32_t> m.size
    m.docs[m.size] = doc
    m.values[m.size] = value
    m.size += 1
    return 1
