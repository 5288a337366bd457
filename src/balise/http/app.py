"""The falcon application: routes, CORS, and every error turned into Addok's JSON, here only."""

from __future__ import annotations

import contextlib
from importlib.resources import files
from typing import Any

import falcon
import orjson

from .. import __version__, ops
from ..config import Settings
from ..errors import BaliseError, QueryTooLong
from ..geocoder import CurrentGeocoder
from ..ops.clientip import AddressSet, ClientAddress, rate_key
from ..ops.process import at_worker_start
from ..search.geojson import Credits
from ..served import ADDRESS, POI, ServedIndexes
from . import bodies, geocodage, jsonbatch, resources, web
from .geocodage.resources import routes as geocodage_routes


def create_app(geocoder: resources.AnyGeocoder, settings: Settings, with_ops: bool = True,
               poi: resources.AnyGeocoder | None = None) -> falcon.App[Request, falcon.Response]:
    """The WSGI app serving the address geocoder (and ``poi``, a POI index, if given): Addok's
    ``/search/``, ``/reverse/`` (and their ``csv/``), ``/lookup/``, ``/batch``, ``/status``,
    ``/health``, ``/openapi.json``; the Géoplateforme's API under ``BALISE_GEOCODAGE_PREFIX``
    (http/geocodage/); the web page ``/`` and its ``/static/`` files."""
    served = ServedIndexes({ADDRESS: geocoder, **({POI: poi} if poi is not None else {})})
    app = falcon.App(middleware=[Cors(settings.cors_origin)], request_type=Request)
    # As Addok: "q=a,b" is one value, and "/search/" is "/search".
    app.req_options.auto_parse_qs_csv = False
    app.req_options.strip_url_path_trailing_slash = True
    engine = resources.EngineTurn()
    app.add_route("/search", resources.Search(geocoder, engine))
    app.add_route("/reverse", resources.Reverse(geocoder, engine))
    # Requests with a body hold THREADS threads of a worker at most (it runs twice as many),
    # a few per client; their bodies must keep up a minimum rate (http/bodies.py).
    client = ClientAddress(AddressSet(settings.trusted_proxies), settings.trusted_hops)
    slots = bodies.BodySlots(settings.threads, settings.client_uploads, client_key(client))
    reader = bodies.BodyReader(settings.body_timeout, settings.body_min_rate)
    csv_limits = resources.CsvLimits(settings.csv_max_bytes, settings.csv_max_rows, settings.spool_dir)
    app.add_route("/search/csv", resources.GeocodeCsv(geocoder, "search", csv_limits, slots, reader))
    app.add_route("/reverse/csv", resources.GeocodeCsv(geocoder, "reverse", csv_limits, slots, reader))
    app.add_route("/health", resources.Health(geocoder, __version__, served))
    app.add_route("/lookup", resources.Lookup(geocoder, engine))
    app.add_route("/batch", jsonbatch.Batch(geocoder, settings.batch_max, settings.batch_max_bytes, slots,
                                            reader, engine))
    app.add_route("/status", resources.Status(geocoder, __version__, served=served))
    cached = dict(resources.CACHED)
    if settings.geocodage_prefix:
        routes = geocodage_routes(settings.geocodage_prefix, served, engine, __version__)
        for path, resource in routes.items():
            app.add_route(path, resource)
        cached.update(geocodage.cached_routes(settings.geocodage_prefix))
    app.add_route("/", web.Page(__version__, settings.tiles_url, settings.tiles_attribution,
                                settings.geocodage_prefix))
    app.add_route("/static/{path:path}", web.Static(web.load_static()))
    app.add_route("/openapi.json", resources.OpenApi(openapi_document()))
    app.add_error_handler(BaliseError, raise_http_error)
    app.set_error_serializer(serialize_error)
    if with_ops:  # Tests of the ops layer install their own pieces on the bare API.
        # Cache tiers, rate limits, compression, metrics, /health/*, request logs (balise/ops/).
        ops.install(app, geocoder, settings, cached, resources.JSON, served, client)
    return app


def client_key(client: ClientAddress) -> bodies.ClientOf:
    """What a request's client counts as for its body slots: as for its rate limits."""

    def key(req: falcon.Request) -> str:
        return rate_key(client.of(req))

    return key


def serve(settings: Settings) -> falcon.App[Request, falcon.Response]:
    """The app ``balise serve`` serves (http/server.py): the index of ``BALISE_INDEX``, warmed up.

    This runs once, in the server's master, before it forks: the index maps and the
    structures built here are shared by every worker.
    """
    # Follows `BALISE_INDEX/current` when it is an index root: a new version published
    # there is picked up by every worker without a restart (balise/index/pointer.py), and
    # a worker forked after that (a replaced one) starts on it.
    geocoder = CurrentGeocoder(settings.index, credits=Credits(settings.attribution, settings.licence))
    at_worker_start(geocoder.refresh)
    poi = None
    if settings.poi_index:  # the same for the POI index, on its own
        poi = CurrentGeocoder(settings.poi_index)
        at_worker_start(poi.refresh)
    return create_app(geocoder, settings, poi=poi)


class Request(falcon.Request):
    """Falcon's request, its query string read as UTF-8.

    NOTE: a WSGI server hands the query string over as bytes tunnelled through Latin-1 (PEP
    3333); falcon decodes the path back to UTF-8 but not the query string, so bytes a client
    sends raw (``?q=rue µ``, not ``%C2%B5``) were read as Latin-1 (``rue Âµ``). Percent-escapes
    are UTF-8 either way. PERF: a query string in ASCII (nearly all) is left as it is.
    """

    def __init__(self, env: dict[str, Any], options: falcon.request.RequestOptions | None = None) -> None:
        query = env.get("QUERY_STRING")
        if query and not query.isascii():
            # (a character past Latin-1: a server that decoded the bytes already)
            with contextlib.suppress(UnicodeEncodeError):
                env["QUERY_STRING"] = query.encode("latin-1").decode("utf-8", "replace")
        super().__init__(env, options)


def openapi_document() -> bytes:
    document = orjson.loads(files(__package__).joinpath("openapi.json").read_bytes())
    document["info"]["version"] = __version__
    return orjson.dumps(document)


class Cors:
    """Addok's CORS headers on every answer (errors too), and preflight answers."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_header("Access-Control-Allow-Origin", self.origin)
        resp.set_header("Access-Control-Allow-Headers", "X-Requested-With")
        if req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            # Falcon answers OPTIONS itself (200, Allow); a browser's preflight also wants these.
            allowed = [m.strip() for m in (resp.get_header("Allow") or "GET").split(",") if m.strip()]
            resp.set_header("Access-Control-Allow-Methods", ", ".join(dict.fromkeys([*allowed, "OPTIONS"])))
            requested = req.get_header("Access-Control-Request-Headers")
            if requested:
                resp.set_header("Access-Control-Allow-Headers", requested)
            resp.set_header("Access-Control-Max-Age", "86400")


def raise_http_error(req: falcon.Request, resp: falcon.Response, error: BaliseError,
                     params: dict[str, Any]) -> None:
    """A balise error as the falcon error Addok raises for the same input."""
    if isinstance(error, QueryTooLong):
        # Addok's 413 has its message as title and no description.
        raise falcon.HTTPContentTooLarge(title=error.description)
    raise falcon.HTTPError(falcon.code_to_http_status(error.status), title=error.title,
                           description=error.description)


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Every error as JSON ``{"title", "description"}``, whatever the client accepts."""
    resp.data = orjson.dumps(error.to_dict())
    resp.content_type = "application/json"
