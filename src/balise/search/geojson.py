"""geocodejson output, shaped exactly like Addok's /search/ and /reverse/ answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from . import _geojson
from .result import Result


class Credits(NamedTuple):
    """Whose data an answer shows and under which licence: every collection's ``attribution``
    and ``licence`` (Addok's ``ATTRIBUTION`` and ``LICENCE``). Empty: not set."""

    attribution: str = ""
    licence: str = ""


FROM_SOURCES = Credits()  # none chosen: an index's answers credit its sources' producers
# What each producer's data asks to be credited with; an import records each source's producer
# (importer/formats.py), BAN's when unknown: Addok's NDJSON import format is BAN's export.
PRODUCERS = {"BAN": Credits("BAN", "ETALAB-2.0"), "BANO": Credits("BANO", "ODbL")}
DEFAULT_PRODUCER = "BAN"


def credits_of(manifest: Mapping[str, Any], chosen: Credits = FROM_SOURCES) -> Credits:
    """The credits of an index's answers: ``chosen``'s where set (``BALISE_ATTRIBUTION``,
    ``BALISE_LICENCE``), else those of its sources' producers, each once, in import order
    (BAN and BANO sources: ``"BAN, BANO"`` and ``"ETALAB-2.0, ODbL"``)."""
    producers = [source.get("producer") for source in manifest.get("sources") or ()]
    known = list(dict.fromkeys(p for p in producers if p in PRODUCERS)) or [DEFAULT_PRODUCER]
    attribution = ", ".join(dict.fromkeys(PRODUCERS[p].attribution for p in known))
    licence = ", ".join(dict.fromkeys(PRODUCERS[p].licence for p in known))
    return Credits(chosen.attribution or attribution, chosen.licence or licence)


def feature(result: Result, debug: dict[str, Any] | None = None) -> dict[str, Any]:
    """The feature of a result whose document has its house number merged in (reverse,
    lookup); a search builds its features from its candidates (``Scorer.feature``)."""
    return _geojson.feature(result.doc, None, result.housenumber, result.label, result.score,
                            result.distance_km, result.original_type, None, debug)


def collection(
    features: list[dict[str, Any]],
    credits: Credits,
    query: str | None = None,
    filters: dict[str, list[str]] | None = None,
    center: tuple[float, float] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "version": "draft",
        "features": features,
        "attribution": credits.attribution,
        "licence": credits.licence,
    }
    if query:
        out["query"] = query
    if filters:
        out["filters"] = filters
    if center:
        out["center"] = list(center)
    if limit:
        out["limit"] = limit
    return out
