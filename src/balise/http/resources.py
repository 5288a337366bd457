"""The HTTP resources: parse a request as Addok's views do, call the geocoder, answer JSON.

Parameters are read with falcon's own helpers (as Addok does), so that defaults, aliases,
repeated values and the texts of errors are Addok's.
"""

from __future__ import annotations

import codecs
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import falcon
import orjson

from ..errors import InvalidParameter, MissingParameter
from ..geocoder import Answer, CurrentGeocoder, Geocoder
from ..ops.cache.entry import Cacheable
from ..search.area import parse_bbox
from ..search.request import FILTER_NAMES, LookupRequest, ReverseRequest, SearchRequest
from ..served import ServedIndexes

LAT_NAMES = ("lat", "latitude")
LON_NAMES = ("lon", "lng", "long", "longitude")
AREA_PARAMS = ("bbox", "geo_boost", "geo_radius")
SEARCH_PARAMS = ("q", "limit", "autocomplete", *LAT_NAMES, *LON_NAMES, *FILTER_NAMES, "debug", *AREA_PARAMS)
REVERSE_PARAMS = (*LAT_NAMES, *LON_NAMES, "limit", "max_distance", *FILTER_NAMES, "bbox")
JSON = "application/json; charset=utf-8"  # Addok's content type for answers (errors: without charset)
CACHED = {"/search": SEARCH_PARAMS, "/reverse": REVERSE_PARAMS}  # routes cached, and what changes them

AnyGeocoder = Geocoder | CurrentGeocoder


class Search:
    """``GET /search/``: Addok's search."""

    def __init__(self, geocoder: AnyGeocoder, engine: EngineTurn | None = None) -> None:
        self.geocoder = geocoder
        self.engine = engine or EngineTurn()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = search_request(req)
        with self.engine:
            answer = self.geocoder.answer(request)
        send_answer(req, resp, answer)


class Reverse:
    """``GET /reverse/``: the nearest points (always some, unlike Addok)."""

    def __init__(self, geocoder: AnyGeocoder, engine: EngineTurn | None = None) -> None:
        self.geocoder = geocoder
        self.engine = engine or EngineTurn()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = reverse_request(req)
        with self.engine:
            answer = self.geocoder.answer(request)
        send_answer(req, resp, answer)


class Lookup:
    """``GET /lookup/``: features by id (``id`` repeated, then ``ids`` comma-separated)."""

    def __init__(self, geocoder: AnyGeocoder, engine: EngineTurn) -> None:
        self.geocoder, self.engine = geocoder, engine

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ids = [i for i in req.get_param_as_list("id") or () if i]
        ids += [i for value in req.get_param_as_list("ids") or () for i in value.split(",") if i]
        if not ids:
            raise MissingParameter("id")
        request = LookupRequest(ids)
        with self.engine:
            answer = self.geocoder.answer(request)
        send_json(resp, answer.collection)


class EngineTurn:
    """The searches and reverses of a worker take turns in the engine: one at a time.

    NOTE: why. A worker runs THREADS threads, so that a slow upload, a Redis round trip or
    a cache hit does not wait behind a search; but geocoding is CPU-bound and holds the
    GIL, and two searches sharing it swap every few milliseconds, so both finish late: the
    turn lowers the p99 of uncached searches at saturation (measured: bench/README.md, "The
    HTTP server"). Cached answers, request bodies and streamed answers do not wait for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class GeocodeCsv:
    """``POST /search/csv/`` and ``/reverse/csv/``: addok-csv's form, streamed in and out; a
    Parquet ``data`` (by its first bytes) is answered in Parquet, typed as ``balise geocode``'s.

    The upload is spooled (memory, then disk) because form fields may follow the file;
    the answer is streamed as rows are geocoded, so memory stays bounded. The whole
    exchange holds one of the worker's upload slots (:class:`UploadSlots`).
    """

    def __init__(self, geocoder: Geocoder, mode: str, max_bytes: int, slots: UploadSlots) -> None:
        self.geocoder, self.mode, self.max_bytes, self.slots = geocoder, mode, max_bytes, slots

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        from ..csv import CsvOptions, GeocodedCsv, check_size, geocode_rows, output_filename, spool_upload
        from ..csv.parquet import ParquetAnswer, is_parquet
        from ..csv.parquet import output_filename as parquet_filename
        from ..csv.run import in_process

        check_size(req.content_length, self.max_bytes)
        if not (req.content_type or "").startswith("multipart/form-data"):
            raise InvalidParameter("data", "send a multipart/form-data form with the CSV in `data`")
        release = self.slots.take()
        try:
            form: dict[str, list[str]] = {}
            data, filename = None, None
            try:
                for part in read_form(req, self.max_bytes):
                    if part.name == "data" and data is None:
                        data, filename = spool_upload(part.stream, self.max_bytes), part.filename
                    else:
                        form.setdefault(part.name, []).append(part.get_text() or "")
            except falcon.MediaMalformedError as e:
                raise InvalidParameter("data", "the multipart form could not be read") from e
            if data is None:
                raise MissingParameter("data")
            options = CsvOptions.from_form(form)
            check_text_encoding(options.encoding)
            parquet = is_parquet(data.read(4))  # a Parquet upload is answered in Parquet
            data.seek(0)
            try:
                out: GeocodedCsv | ParquetAnswer = ParquetAnswer(
                    in_process(self.geocoder, options.min_score), data, options, self.mode, self.max_bytes,
                ) if parquet else geocode_rows(self.geocoder, data, options, mode=self.mode)
            except (UnicodeError, LookupError) as e:  # the file is not in the encoding given
                raise InvalidParameter("encoding", f"the file cannot be read as {options.encoding}") from e
        except BaseException:
            release()
            raise
        resp.content_type = out.content_type
        resp.downloadable_as = parquet_filename(filename) if parquet else output_filename(filename)
        resp.stream = Releasing(out, release)


def read_form(req: falcon.Request, max_bytes: int):
    """The parts of a multipart form, whether its length was given or it came chunked.

    NOTE: falcon's multipart parser needs the length: a chunked body (no Content-Length)
    is first spooled up to ``max_bytes`` (413 beyond), where the server says it ends
    (``wsgi.input_terminated``, PEP 3333); otherwise it is refused with 411.
    """
    from ..csv import spool_upload

    if req.content_length is not None:
        return req.get_media()
    if not req.env.get("wsgi.input_terminated"):
        raise falcon.HTTPLengthRequired(title="Length required",
                                        description="Send the form with a Content-Length header.")
    body = spool_upload(req.stream, max_bytes)
    length = body.seek(0, 2)
    body.seek(0)
    handler = req.options.media_handlers[falcon.MEDIA_MULTIPART]
    return handler.deserialize(body, req.content_type, length)


# Bytes a CSV is searched in for delimiters, quotes and line ends: the encoding must keep them.
ASCII = "".join(map(chr, range(32, 127))) + "\t\r\n"


def check_text_encoding(name: str | None) -> None:
    """Refuse (400) an ``encoding`` that is not a text encoding the CSV reader can use: one
    that keeps ASCII as it is (the reader splits lines and cells on its bytes), or UTF-16
    or UTF-32 (decoded whole). ``base64``, ``rot13``, ``zlib``, ``hex``, ``idna``, EBCDIC...
    are refused here rather than failing in the reader.
    """
    if not name:
        return
    try:
        codec = codecs.lookup(name)
        if codec.name.startswith(("utf-16", "utf-32")):
            return
        encoded = ASCII.encode(codec.name)
        if encoded == ASCII.encode("ascii") and encoded.decode(codec.name, "replace") == ASCII:
            return
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass
    raise InvalidParameter("encoding", f"not a text encoding this service reads: {name!r}")


class UploadSlots:
    """How many CSV uploads a worker serves at once; one more is refused at once (503).

    NOTE: why. The server hands a request to a worker thread once its headers are in; its
    body is then read by that thread, so a client that sends it slowly (or reads the
    answer slowly) holds the thread for as long as it likes. Uploads are the only requests
    that read a body: with ``THREADS - 1`` slots, a thread is always left for the others.
    """

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._free = threading.BoundedSemaphore(self.count)

    def take(self):
        """Take a slot, or raise 503; returns the function that gives it back (once)."""
        if not self._free.acquire(blocking=False):
            raise falcon.HTTPServiceUnavailable(
                title="Too many uploads",
                description=f"This worker is already geocoding {self.count} file(s); retry shortly.",
                retry_after=5)
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                self._free.release()

        return release


class Releasing:
    """An answer's chunks; ``release`` is called when the server closes it (PEP 3333:
    always, whether the client read it all or went away)."""

    def __init__(self, chunks: Iterable[bytes], release: Callable[[], None]) -> None:
        self.chunks, self.release = chunks, release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        try:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
        finally:
            self.release()


class Health:
    """``GET /health``: Addok's answer (``{"status": "HEALTHY", ...}``), made once per index
    version; with a POI index served, ``indexes`` says each (``served``)."""

    def __init__(self, geocoder: Geocoder, version: str, served: ServedIndexes | None = None) -> None:
        self.geocoder, self.version, self.served = geocoder, version, served
        self._body: tuple[str, bytes] | None = None

    def body(self) -> bytes:
        index = self.geocoder.index  # the index in service now (it can be swapped)
        several = self.served is not None and len(self.served.names) > 1
        version = self.served.version if several and self.served is not None else index.version
        if self._body is None or self._body[0] != version:
            counts = index.manifest.get("counts", {})
            body: dict[str, Any] = {
                "status": "HEALTHY",
                "version": self.version,
                "index": {
                    "version": index.version,
                    "built_at": index.manifest.get("built_at"),
                    "documents": counts.get("documents"),
                    "housenumbers": counts.get("housenumbers"),
                },
            }
            if several and self.served is not None:
                body["indexes"] = {name: self.served.describe(name) for name in self.served}
            self._body = (version, orjson.dumps(body))
        return self._body[1]

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body()
        resp.content_type = JSON


class Status:
    """``GET /status``: the index in service (version, build, sources, counts), the software's
    version and the uptime; never cached (``Cache-Control: no-cache``)."""

    def __init__(self, geocoder: Geocoder, version: str, started: float | None = None,
                 served: ServedIndexes | None = None) -> None:
        self.geocoder, self.version, self.served = geocoder, version, served
        self.started = time.time() if started is None else started

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = {
            "status": "ok",
            "software": {"name": "balise", "version": self.version},
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            "uptime_seconds": round(time.time() - self.started, 1),
            "index": describe(self.geocoder.index.manifest),  # in service now (it can be swapped)
        }
        if self.served is not None and len(self.served.names) > 1:
            served = self.served
            body["indexes"] = {name: describe(served.current(name).index.manifest) for name in served}
        send_json(resp, body)
        resp.cache_control = ["no-cache"]


def describe(manifest: dict[str, Any]) -> dict[str, Any]:
    """What ``/status`` says of an index: version, build, format, rules, counts, sources."""
    keep = ("path", "format", "bytes", "sha256", "modified")
    return {
        "version": manifest.get("version"),
        "built_at": manifest.get("built_at"),
        "format_version": manifest.get("format_version"),
        "rules": manifest.get("rules"),
        "counts": manifest.get("counts", {}),
        "sources": [{k: source.get(k) for k in keep} for source in manifest.get("sources", [])],
    }


class OpenApi:
    """``GET /openapi.json``: the document shipped in the package."""

    def __init__(self, document: bytes) -> None:
        self.document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.document
        resp.content_type = JSON


# --- parameters ------------------------------------------------------------------------------


def send_json(resp: falcon.Response, content: dict[str, Any]) -> None:
    resp.data = orjson.dumps(content)
    resp.content_type = JSON


def send_answer(req: falcon.Request, resp: falcon.Response, answer: Answer) -> None:
    """A search or reverse answer, handed to the cache too (``ops.cache``): its bytes around
    the query echo, and how it matched."""
    body, parts = encode(answer.collection)
    resp.data = body
    resp.content_type = JSON
    req.context.cacheable = Cacheable(parts, answer.match)


def encode(collection: dict[str, Any]) -> tuple[bytes, tuple[bytes, ...]]:
    """The JSON of a collection, and the same cut around its query echo: ``(head, tail)`` with
    ``body == head + dumps(query) + tail``, or ``(body,)`` when it echoes no query."""
    if "query" not in collection:
        body = orjson.dumps(collection)
        return body, (body,)
    names = list(collection)
    at = names.index("query")
    head = orjson.dumps({k: collection[k] for k in names[:at]})[:-1] + b',"query":'
    rest = {k: collection[k] for k in names[at + 1:]}
    tail = b"," + orjson.dumps(rest)[1:] if rest else b"}"
    return head + orjson.dumps(collection["query"]) + tail, (head, tail)


def search_request(req: falcon.Request) -> SearchRequest:
    """``/search/``'s parameters, read as Addok reads them (its defaults: autocomplete on)."""
    q = req.get_param("q")
    if not q:
        raise MissingParameter("q")
    limit = req.get_param_as_int("limit")
    autocomplete = req.get_param_as_bool("autocomplete")
    lon, lat = parse_float(req, *LON_NAMES), parse_float(req, *LAT_NAMES)
    return SearchRequest(
        q, 5 if limit is None else limit, True if autocomplete is None else autocomplete, lat, lon,
        parse_filters(req), bool(req.get_param_as_bool("debug")), parse_box(req),
        req.get_param("geo_boost") or "score", parse_float(req, "geo_radius"))


def reverse_request(req: falcon.Request) -> ReverseRequest:
    """``/reverse/``'s parameters, read as Addok reads them."""
    lon, lat = parse_float(req, *LON_NAMES), parse_float(req, *LAT_NAMES)
    if lon is None:
        raise MissingParameter("lon")
    if lat is None:
        raise MissingParameter("lat")
    limit = req.get_param_as_int("limit")
    return ReverseRequest(lat, lon, 1 if limit is None else limit, parse_filters(req),
                          parse_float(req, "max_distance"), parse_box(req))


def parse_float(req: falcon.Request, *names: str) -> float | None:
    """The first of ``names`` given, as a number (Addok's ``parse_float``); NaN refused."""
    for name in names:
        value = req.get_param(name)
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameter(name, "invalid value") from None
        if math.isnan(number):  # Addok fails with a 500 on "nan"
            raise InvalidParameter(name, "invalid value")
        return number
    return None


def parse_box(req: falcon.Request) -> tuple[float, float, float, float] | None:
    """``bbox=minlon,minlat,maxlon,maxlat`` as numbers (the request checks the box)."""
    value = req.get_param("bbox")
    return None if value is None else parse_bbox(value)


def parse_filters(req: falcon.Request) -> dict[str, list[str]]:
    """Filters repeated (``type=street&type=locality``) or space-separated, as Addok's (the
    request splits and checks them)."""
    return {name: values for name in FILTER_NAMES if (values := req.get_param_as_list(name))}
