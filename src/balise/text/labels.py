"""The labels of a place, as addok-france makes them: the one shown, and the folded
variants a query is compared with (best first).

Made once per document at import (``labels.bin``); at query time only a house number (or,
rarely, a postcode the query asks for) changes them.
"""

from __future__ import annotations

from typing import Any

from .pipeline import ascii_label

# (label shown, folded variants best first). PERF: a plain tuple of strings, which the
# garbage collector stops tracking: tens of thousands of them sit in caches, and every
# tracked object lengthens each full collection (a tuple subclass would stay tracked).
Labels = tuple[str, tuple[str, ...]]
Part = tuple[str, str]  # (as written, folded)


def as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def fold_fields(doc: dict[str, Any]) -> list[list[str]]:
    """Folded names and cities of a document."""
    cities = as_list(doc.get("city")) if doc.get("city") else []
    return [[ascii_label(str(n)) for n in as_list(doc.get("name"))], [ascii_label(str(c)) for c in cities]]


def first_postcode_of(doc: dict[str, Any]) -> str | None:
    """A document's first postcode (the one its labels show), or None."""
    return as_list(doc.get("postcode"))[0] if doc.get("postcode") else None


def make_labels(
    doc: dict[str, Any],
    housenumber: str | None,
    number_last: bool = False,
    postcode: str | None = None,
    stored: Labels | None = None,
) -> Labels:
    """The label to show and the folded label variants to compare with the query.

    ``postcode`` replaces the document's first postcode (the one a query asked for).
    ``stored`` are the document's own labels, made at import (``IndexReader.labels``).
    """
    first_postcode = first_postcode_of(doc)
    if stored is not None and postcode in (None, first_postcode):
        return with_housenumber(stored, doc, housenumber, number_last, first_postcode)
    if postcode is None:
        postcode = first_postcode
    names, cities = as_list(doc.get("name")), as_list(doc.get("city")) if doc.get("city") else []
    folded_names, folded_cities = fold_fields(doc)
    name_parts = tuple(zip(names, folded_names, strict=True))
    city_parts = tuple(zip(cities, folded_cities, strict=True))
    postcode_part = (postcode, ascii_label(postcode)) if postcode else None
    base = labels_of(name_parts, city_parts, postcode_part, doc.get("type") == "municipality")
    return with_housenumber(base, doc, housenumber, number_last, postcode)


def with_housenumber(base: Labels, doc: dict[str, Any], housenumber: str | None, number_last: bool,
                     postcode: str | None) -> Labels:
    """The labels of a place with a house number: addok-france puts "N label" before each."""
    if not housenumber:
        return base
    number = ascii_label(housenumber)
    shown = f"{housenumber} {base[0]}"
    folded = [v for label in base[1] for v in (f"{number} {label}".strip(), label)]
    if number_last:
        folded += number_last_labels(doc, number, postcode)
    return (shown, tuple(dict.fromkeys(folded)))


def number_last_labels(doc: dict[str, Any], number: str, postcode: str | None) -> list[str]:
    """What addok-france adds after a place's labels when the house number (folded) was
    written after the street's name: "<name> <number>", then "<name> <number> <postcode>
    <city>" (``postcode``: the one the labels show)."""
    folded_names, folded_cities = fold_fields(doc)
    labels = [f"{folded_names[0]} {number}"]
    if postcode and folded_cities:
        labels.append(f"{folded_names[0]} {number} {ascii_label(postcode)} {folded_cities[0]}")
    return labels


def labels_of(
    names: tuple[Part, ...], cities: tuple[Part, ...], postcode: Part | None, is_municipality: bool
) -> Labels:
    """Label variants of a place, best first (addok-france's make_labels).

    NOTE: not cached: made once per document at import, where the places are all different,
    and rarely at query time (a postcode asked for, a number written last)."""
    labels: list[tuple[Part, ...]] = []
    for name in names:
        for city in cities or (None,):
            group: list[tuple[Part, ...]] = []  # addok-france inserts each variant first
            if postcode and is_municipality:
                group[:0] = [(postcode, name), (name, postcode)]
            group.insert(0, (name,))
            if city and city[0] != name[0]:
                group[:0] = [(name, postcode, city), (name, postcode), (name, city)] if postcode else [
                    (name, city)
                ]
            labels.extend(group)
    shown = " ".join(raw for raw, _ in labels[0]) if labels else ""
    # Duplicates (streets of Paris have two cities) cannot change the score.
    folded = dict.fromkeys(" ".join(f for _, f in label if f) for label in labels)
    return (shown, tuple(folded))
