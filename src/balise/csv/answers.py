"""A row's request answered into the values of its result columns (:class:`RowGeocoder`), typed:
numbers as numbers, None where the answer has nothing; CSV writes them as text, Parquet in
typed columns. The house number split as BAN writes it (:func:`split_housenumber`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import BaliseError
from ..geocoder import Answer
from ..search.request import ReverseRequest, SearchRequest
from .options import EXTRA_FIELDS, MIN_SCORE
from .plan import Failed, Outcome, Request

log = logging.getLogger(__name__)

HOUSENUMBER = re.compile(r"\s*(\d*)[\s-]*(.*?)\s*")
assert EXTRA_FIELDS[:2] == ("name", "street")
LATER_FIELDS = EXTRA_FIELDS[2:]  # the first result's properties after its name and street, in order
Answered = tuple[Any, float | None]  # the first feature and the next score (None: no next)


class Answering(Protocol):
    """What answers a request: a :class:`~balise.geocoder.Geocoder`."""

    def answer(self, request: Any) -> Answer: ...

    def first(self, request: SearchRequest) -> tuple[dict[str, Any] | None, float | None]: ...


def split_housenumber(housenumber: str | None) -> tuple[int | None, str | None]:
    """(number, suffix) as BAN's ``numero`` and ``rep``: ``"12 bis"``, ``"12bis"`` and
    ``"12 BIS"`` are (12, "bis"), ``"1b"`` is (1, "b"), ``"12"`` is (12, None); a house number
    that does not start with digits has no number."""
    if not housenumber:
        return None, None
    if housenumber.isdigit() and housenumber.isascii():  # PERF: most are; the pattern costs ~0.5 us
        return int(housenumber), None
    match = HOUSENUMBER.fullmatch(housenumber)
    assert match is not None  # the pattern matches any text
    digits, suffix = match.groups()
    return (int(digits) if digits else None), (suffix.lower() or None)


class RowGeocoder:
    """A chunk's requests to their outcomes: each row's result values (in ``KNOWN_COLUMNS``
    order, ``"ok"`` last), a ``Failed`` for a row that could not be geocoded (a ``Failed``
    given passes through), or None when nothing was found (or the first result scores
    ``min_score`` or less). A row's error is returned, never raised.

    PERF: the engine answers the whole chunk in one loop, then the answers become values in
    another: row by row, each half evicted the other's code and data from the CPU caches, and
    the table machinery beside the engine cost twice what it costs alone (bench/csv_speed.py).
    """

    def __init__(self, geocoder: Answering, min_score: float = MIN_SCORE) -> None:
        self.geocoder = geocoder
        self.min_score = min_score

    def __call__(self, requests: Sequence[Request | Failed]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        append, values = outcomes.append, self._values
        for request, answer in zip(requests, self._answers(requests), strict=True):
            if answer is None or isinstance(answer, Failed):
                append(answer)
            else:
                assert not isinstance(request, Failed)  # it was answered
                append(values(request, answer))
        return outcomes

    def _answers(self, requests: Sequence[Request | Failed]) -> list[Answered | Failed | None]:
        """Each request's first feature and the next score, its failure, or None."""
        answers: list[Answered | Failed | None] = []
        append, first = answers.append, self.geocoder.first
        for request in requests:
            if isinstance(request, Failed):
                append(request)
                continue
            try:
                if isinstance(request, SearchRequest):
                    found = first(request)
                    append(None if found[0] is None else found)
                else:
                    features = self.geocoder.answer(request).collection["features"]
                    append((features[0], None) if features else None)
            except BaliseError as e:
                append(Failed(e.title.lower(), e.description))
            except Exception as e:  # NOTE: one row must not cost the other million
                log.exception("geocoding %r failed", request)
                append(Failed("internal error", repr(e)))
        return answers

    def _values(self, request: Request, answer: Answered) -> tuple[Any, ...] | None:
        """A found row's result values."""
        first, after = answer
        props = first["properties"]
        lon, lat = first["geometry"]["coordinates"]
        head: tuple[Any, ...]
        if isinstance(request, ReverseRequest):
            head = (lat, lon, props.get("label"), props.get("distance"))
        else:
            score = round(props["score"], 2)
            if score <= self.min_score:
                return None
            head = (lat, lon, props.get("label"), score, 0 if after is None else round(after, 2))
        get = props.get
        kind, housenumber, name, street = get("type"), get("housenumber"), get("name") or "", get("street")
        if housenumber and name.startswith(f"{housenumber} "):
            name = name[len(housenumber) + 1:]  # as addok-csv: the street's name, not "12 Rue…"
        if not street and kind in ("housenumber", "street"):
            street = name
        return (*head, kind, get("id"), housenumber, name or None, street, *map(get, LATER_FIELDS),
                *split_housenumber(housenumber), "ok")
