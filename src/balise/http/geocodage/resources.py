"""The falcon resources of the Géoplateforme API: parameters read once (params.py), the
operation run in the worker's engine turn (operations.py), the answer sent as JSON and handed
to the cache, as the Addok API's are (http/resources.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
import orjson

from ...errors import BaliseError
from ...ops.cache.entry import Cacheable
from ...search.engine import Match
from ...served import ServedIndexes
from ..resources import JSON, EngineTurn
from . import capabilities, operations
from .params import completion_params, reverse_params, search_params
from .reading import GeocodageError, single_values


def send(req: falcon.Request, resp: falcon.Response, body: dict[str, Any], match: Match | None = None
         ) -> None:
    resp.data = orjson.dumps(body)
    resp.content_type = JSON
    if match is not None:
        req.context.cacheable = Cacheable((resp.data,), match)


class _Operation:
    """One operation of the API over the served indexes, in the engine's turn."""

    def __init__(self, served: ServedIndexes, engine: EngineTurn) -> None:
        self.served, self.engine = served, engine

    def query(self, req: falcon.Request) -> dict[str, str]:
        return single_values(req.params)

    def run(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in the engine's turn; an error of the engine is the service's 400."""
        try:
            with self.engine:
                return work()
        except BaliseError as error:
            raise GeocodageError([error.description]) from error


class Search(_Operation):
    """``GET {prefix}/search``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = search_params(self.query(req), self.served.names)
        found = self.run(lambda: operations.search(self.served, params))
        send(req, resp, {"type": "FeatureCollection", "features": found.features}, found.match)


class Reverse(_Operation):
    """``GET {prefix}/reverse``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = reverse_params(self.query(req), self.served.names)
        found = self.run(lambda: operations.reverse(self.served, params))
        send(req, resp, {"type": "FeatureCollection", "features": found.features}, found.match)


class Completion(_Operation):
    """``GET {prefix}/completion``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = completion_params(self.query(req), self.served.names)
        results, match = self.run(lambda: operations.completion(self.served, params))
        send(req, resp, {"status": "OK", "results": results}, match)


class Document:
    """A JSON document made per request from what is served (capabilities, OpenAPI)."""

    def __init__(self, make: Callable[[], dict[str, Any]]) -> None:
        self.make = make

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(req, resp, self.make())


def routes(prefix: str, served: ServedIndexes, engine: EngineTurn, version: str) -> dict[str, object]:
    """The API's resources by path (``prefix`` + ``/search``...)."""
    from .openapi import completion_document, geocode_document

    categories = capabilities.CategoryCache()
    return {
        f"{prefix}/search": Search(served, engine),
        f"{prefix}/reverse": Reverse(served, engine),
        f"{prefix}/completion": Completion(served, engine),
        f"{prefix}/getCapabilities": Document(lambda: capabilities.geocode(served, categories)),
        f"{prefix}/completion/getCapabilities": Document(lambda: capabilities.completion(served, categories)),
        f"{prefix}/openapi": Document(lambda: geocode_document(prefix, served, version)),
        f"{prefix}/completion/openapi": Document(lambda: completion_document(prefix, served, version)),
    }
