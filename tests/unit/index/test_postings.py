"""The posting lists' intersections (index/_postings): the documents every list has, their
scores summed shortest list first, as a plain set intersection and left-to-right sums give."""

from __future__ import annotations

import random

import numpy as np

from balise.index._postings import Postings


def clustered_lists(rng: random.Random, count: int, documents: int) -> list[list[int]]:
    """Sorted lists of document numbers drawn in runs (documents are numbered commune by
    commune: a word's documents cluster), some long, some short, some empty."""
    lists = []
    for _ in range(count):
        chosen: set[int] = set()
        for _ in range(rng.choice([0, 1, 2, 5, 20])):
            start = rng.randrange(documents)
            chosen.update(d for d in range(start, min(documents, start + rng.randint(1, 400)))
                          if rng.random() < rng.choice([0.05, 0.5, 1.0]))
        lists.append(sorted(chosen))
    return lists


def postings_of(lists: list[list[int]], documents: int,
                rng: random.Random) -> tuple[Postings, list[list[float]]]:
    scores = [[rng.choice([0.1, 0.3, 1 / 3, 0.7, 1.0]) for _ in docs] for docs in lists]
    start = np.array([0] + list(np.cumsum([len(d) for d in lists])), dtype=np.uint64)
    flat_docs = np.array([d for docs in lists for d in docs], dtype=np.uint32)
    flat_scores = np.array([s for ss in scores for s in ss], dtype=np.float64)
    lonlat = np.zeros((documents, 2), dtype=np.float64)
    extent = np.zeros((documents, 4), dtype=np.float32)
    return Postings(start, flat_docs, flat_scores, lonlat, extent), scores


def test_intersections_are_every_common_document_with_its_scores_summed_shortest_first():
    rng = random.Random(5)
    documents = 5_000
    lists = clustered_lists(rng, 40, documents)
    postings, scores = postings_of(lists, documents, rng)
    for _ in range(3_000):
        terms = rng.sample(range(len(lists)), rng.randint(1, 5))
        order = sorted(terms, key=lambda t: len(lists[t]))  # stable: Addok's shortest first
        common = sorted(set.intersection(*(set(lists[t]) for t in terms)))
        want = []
        for doc in common:
            total = 0.0
            for k, t in enumerate(order):
                score = scores[t][lists[t].index(doc)]
                total = score if k == 0 else total + score
            want.append(total)
        docs, totals = postings.intersection(terms)
        assert docs.tolist() == common, terms
        assert totals.tolist() == want, terms  # exact: the same sums in the same order
        assert postings.intersects(terms) == bool(common)
