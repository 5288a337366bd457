"""``POST /batch``: addok-server's JSON batch (livingdata-co/addok-server, lib/batch.js).

Body::

    {"params": {...common parameters...},
     "requests": [{"id": "a", "operation": "geocode", "params": {"q": "8 bd du port amiens"}},
                  {"id": "b", "operation": "reverse", "params": {"lat": 48.85, "lon": 2.35}}]}

Answer, one item per request, in order::

    {"results": [{"id": "a", "status": "ok", "result": {...properties, "next_score", "lon", "lat"}},
                 {"id": "b", "status": "not-found"},
                 {"id": "c", "status": "error", "error": "The \\"q\\" parameter is required."}]}

``result`` is the first feature's properties, the second feature's score as ``next_score``
(absent when there is none) and the first feature's point. Parameters are the JSON forms of
``/search/``'s and ``/reverse/``'s: ``q``, ``lat``, ``lon``, ``autocomplete`` (default false
here, as addok-server), ``filters`` (``{"type": "street+locality", "citycode": ["59350"]}``,
or ``type``, ``postcode``, ``citycode`` directly), ``bbox`` (4 numbers, or the string form),
``geo_boost``, ``geo_radius``, and for reverse ``max_distance``. ``limit`` is accepted and
read as 2, as addok-server does. An item's parameters override the common ones (filters name
by name).

A request that is not JSON (400), too big (413, ``BALISE_BATCH_MAX_BYTES``), sent too slowly
(408) or while the worker serves all the bodies it may (429, 503: http/bodies.py), without
a ``requests`` array, or with more than ``BALISE_BATCH_MAX`` items (400) fails as a whole;
any other problem is the item's own ``error`` and the other items are answered. A batch
counts its items against the client's rate limits (ops/ratelimit.py). All items are answered
by the same index version, one after the other, in this worker.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import falcon
import orjson

from ..errors import BaliseError, BodyTooLarge, InvalidJson, InvalidParameter, MissingParameter
from ..geocoder import CurrentGeocoder, Geocoder
from ..search.area import parse_bbox
from ..search.request import FILTER_NAMES, ReverseRequest, SearchRequest
from ..served import AnyGeocoder
from .bodies import BodyReader, BodySlots
from .resources import EngineTurn, send_json

log = logging.getLogger(__name__)

OPERATIONS = ("geocode", "reverse")
COMMON = ("lat", "lon", "limit", "filters", *FILTER_NAMES, "bbox")
ACCEPTED = {
    "geocode": {*COMMON, "q", "autocomplete", "geo_boost", "geo_radius"},
    "reverse": {*COMMON, "max_distance"},
}
LIMIT = 2  # the first result and the next one's score


class Batch:
    """``POST /batch``: see the module docstring."""

    def __init__(self, geocoder: AnyGeocoder, max_requests: int, max_bytes: int, slots: BodySlots,
                 reader: BodyReader, engine: EngineTurn | None = None) -> None:
        self.geocoder, self.max_requests, self.max_bytes = geocoder, max_requests, max_bytes
        self.slots, self.reader = slots, reader
        # the worker's turn in the engine
        self.engine: contextlib.AbstractContextManager[None] = engine or contextlib.nullcontext()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        release = self.slots.take(req)  # a thread for requests with a body (http/bodies.py)
        try:
            self.answer(req, resp)
        finally:
            release()

    def answer(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, self.max_bytes, self.reader)
        if not isinstance(body, dict):
            raise InvalidParameter("body", "must be a JSON object with a `requests` array")
        requests = body.get("requests")
        if not isinstance(requests, list):
            raise InvalidParameter("requests", "is required: an array of {id, operation, params}")
        if len(requests) > self.max_requests:
            raise InvalidParameter("requests", f"at most {self.max_requests} items")
        common = body.get("params")
        if common is None:
            common = {}
        if not isinstance(common, dict):
            raise InvalidParameter("params", "must be an object")
        from ..ops.ratelimit import charge  # NOTE: not at import: it loads prometheus_client

        charge(req, len(requests))  # the work, counted before it is done
        # One version for the whole batch.
        geocoder = self.geocoder.get() if isinstance(self.geocoder, CurrentGeocoder) else self.geocoder
        results = []
        for item in requests:  # one turn an item: a batch does not hold the engine for long
            with self.engine:
                results.append(answer(geocoder, item, common))
        send_json(resp, {"results": results})


def read_json(req: falcon.Request, max_bytes: int, reader: BodyReader) -> object:
    """The body as JSON, at most ``max_bytes`` (413 beyond, whether declared or sent), sent
    at the minimum rate (408 below)."""
    data = reader.open(req, max_bytes, lambda: BodyTooLarge(max_bytes)).read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidJson(f"The body is not JSON: {e}") from None


def answer(geocoder: Geocoder, item: object, common: dict[str, Any]) -> dict[str, Any]:
    """One item's answer; its errors are its own."""
    item_id = item.get("id") if isinstance(item, dict) else None
    try:
        features = run(geocoder, item, common)
    except BaliseError as e:
        return {"id": item_id, "status": "error", "error": e.description}
    except Exception:  # NOTE: one item must not cost the others
        log.exception("batch item %r failed", item_id)
        return {"id": item_id, "status": "error", "error": "Internal error."}
    if not features:
        return {"id": item_id, "status": "not-found"}
    result = dict(features[0]["properties"])
    if len(features) > 1:
        result["next_score"] = features[1]["properties"]["score"]
    result["lon"], result["lat"] = features[0]["geometry"]["coordinates"]
    return {"id": item_id, "status": "ok", "result": result}


def run(geocoder: Geocoder, item: Any, common: dict[str, Any]) -> list[dict[str, Any]]:
    """The features answering one item: its parameters (over the common ones) parsed into a
    request, which checks them."""
    if not isinstance(item, dict):
        raise InvalidParameter("requests", "each item must be an object {id, operation, params}")
    operation = item.get("operation")
    if operation not in OPERATIONS:
        raise InvalidParameter("operation", "must be geocode or reverse")
    params = item.get("params")
    if not isinstance(params, dict):
        raise InvalidParameter("params", "is required for each item: an object")
    merged = {**common, **params}
    if unknown := sorted(set(merged) - ACCEPTED[operation]):
        raise InvalidParameter(unknown[0], f"unknown {operation} parameter")
    filters = {**_filters(common), **_filters(params)}
    lat, lon = _number(merged, "lat"), _number(merged, "lon")
    bbox = merged.get("bbox")
    if isinstance(bbox, str):
        bbox = parse_bbox(bbox)
    elif bbox is not None and not isinstance(bbox, list):
        raise InvalidParameter("bbox", "must be 4 numbers, or minlon,minlat,maxlon,maxlat")
    request: SearchRequest | ReverseRequest
    if operation == "reverse":
        if lat is None or lon is None:
            raise MissingParameter("lat" if lat is None else "lon")
        request = ReverseRequest(lat, lon, LIMIT, filters, _number(merged, "max_distance"), bbox)
    else:
        q = merged.get("q")
        if q is None:
            raise MissingParameter("q")
        geo_boost = merged.get("geo_boost", "score")
        if not isinstance(geo_boost, str):
            raise InvalidParameter("geo_boost", "must be score, favor or strict")
        request = SearchRequest(q, LIMIT, _boolean(merged, "autocomplete"), lat, lon, filters, bbox=bbox,
                                geo_boost=geo_boost, geo_radius=_number(merged, "geo_radius"))
    features: list[dict[str, Any]] = geocoder.answer(request).collection["features"]
    return features


def _number(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidParameter(name, "must be a number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameter(name, "must be a number") from None
    if math.isnan(number):
        raise InvalidParameter(name, "must be a number")
    return number


def _boolean(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, (int, str)) and str(value).strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise InvalidParameter(name, "must be true or false")


def _filters(params: dict[str, Any]) -> dict[str, list[str]]:
    """Filters of one params object: ``filters: {...}`` and the names given directly; a value
    is a string (values split on ``+`` or spaces, as addok-server) or an array of strings
    (the request checks the names)."""
    nested = params.get("filters") or {}
    if not isinstance(nested, dict):
        raise InvalidParameter("filters", "must be an object")
    out: dict[str, list[str]] = {}
    for name, value in [*nested.items(), *((n, params[n]) for n in FILTER_NAMES if n in params)]:
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise InvalidParameter(name, "must be a string or an array of strings")
        out[name] = [part for v in values for part in str(v).replace("+", " ").split()]
    return out
