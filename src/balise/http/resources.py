"""The HTTP resources: parse a request as Addok's views do, call the geocoder, answer JSON.

Parameters are read with falcon's own helpers (as Addok does), so that defaults, aliases,
repeated values and the texts of errors are Addok's.
"""

from __future__ import annotations

import codecs
import math
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import falcon
import orjson

from ..errors import FileTooLarge, InvalidParameter, MissingParameter, TooManyRows
from ..geocoder import Answer, CurrentGeocoder, Geocoder
from ..ops.cache.entry import Cacheable
from ..search.area import parse_bbox
from ..search.request import FILTER_NAMES, LookupRequest, ReverseRequest, SearchRequest
from ..served import ServedIndexes
from .bodies import BodyReader, BodySlots, Releasing

if TYPE_CHECKING:
    from falcon.media.multipart import MultipartForm

    from ..csv.options import Mode

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

    The body is read at its minimum rate (:class:`~balise.http.bodies.BodyReader`); the file
    is spooled (memory, then disk) because form fields may follow it, and counted against the
    client's rate limits by its lines; the answer is streamed as rows are geocoded, so memory
    stays bounded. The whole exchange holds one of the worker's body slots
    (:class:`~balise.http.bodies.BodySlots`).
    """

    def __init__(self, geocoder: AnyGeocoder, mode: Mode, limits: CsvLimits, slots: BodySlots,
                 reader: BodyReader) -> None:
        self.geocoder, self.mode, self.limits = geocoder, mode, limits
        self.slots, self.reader = slots, reader

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        from ..csv import CsvOptions, GeocodedCsv, check_size, count_lines, geocode_rows, output_filename
        from ..csv.parquet import ParquetAnswer, is_parquet
        from ..csv.parquet import output_filename as parquet_filename
        from ..csv.run import in_process

        limits = self.limits
        check_size(req.content_length, limits.max_bytes)
        if not (req.content_type or "").startswith("multipart/form-data"):
            raise InvalidParameter("data", "send a multipart/form-data form with the CSV in `data`")
        release = self.slots.take(req)
        try:
            form, data, filename = self.read_form(req)
            options = CsvOptions.from_form(form)
            check_text_encoding(options.encoding)
            parquet = is_parquet(data.read(4))  # a Parquet upload is answered in Parquet
            data.seek(0)
            try:
                out: GeocodedCsv | ParquetAnswer
                if parquet:
                    out = ParquetAnswer(in_process(self.geocoder, options.min_score), data, options,
                                        self.mode, limits.max_bytes)
                    self.check_rows(req, out.rows)
                else:
                    self.check_rows(req, count_lines(data) - 1)  # the header is no row
                    out = geocode_rows(self.geocoder, data, options, mode=self.mode)
            except (UnicodeError, LookupError) as e:  # the file is not in the encoding given
                raise InvalidParameter("encoding", f"the file cannot be read as {options.encoding}") from e
        except BaseException:
            release()
            raise
        resp.content_type = out.content_type
        resp.downloadable_as = parquet_filename(filename) if parquet else output_filename(filename)
        resp.stream = Releasing(out, release)

    def read_form(self, req: falcon.Request) -> tuple[dict[str, list[str]], IO[bytes], str | None]:
        """The form's fields, its file (spooled) and the file's name; the body is read at its
        minimum rate, whether its length was given or it came chunked."""
        from ..csv import spool_upload

        limits = self.limits
        most = limits.max_bytes or sys.maxsize
        body = self.reader.open(req, most, lambda: FileTooLarge(limits.max_bytes))
        form: dict[str, list[str]] = {}
        data, filename = None, None
        try:
            handler = req.options.media_handlers[falcon.MEDIA_MULTIPART]
            # falcon types deserialize() as object; the multipart handler's is a MultipartForm.
            parts: MultipartForm = handler.deserialize(  # type: ignore[assignment]
                body, req.content_type, req.content_length or most)
            for part in parts:
                if part.name == "data" and data is None:
                    data = spool_upload(part.stream, limits.max_bytes, directory=limits.spool_dir)
                    filename = part.filename
                else:
                    form.setdefault(part.name or "", []).append(part.get_text() or "")
        except falcon.MediaMalformedError as e:
            raise InvalidParameter("data", "the multipart form could not be read") from e
        if data is None:
            raise MissingParameter("data")
        return form, data, filename

    def check_rows(self, req: falcon.Request, rows: int) -> None:
        """A file of over ``BALISE_CSV_MAX_ROWS`` rows (CSV lines but the header, or Parquet
        rows) is refused (413); its rows count against the client's rate limits (429 when over)."""
        from ..ops.ratelimit import charge  # NOTE: not at import: it loads prometheus_client

        if self.limits.max_rows and rows > self.limits.max_rows:
            raise TooManyRows(rows, self.limits.max_rows)
        charge(req, rows)


@dataclass(frozen=True)
class CsvLimits:
    """What one CSV upload may be: bytes, lines, and where it is spooled."""

    max_bytes: int
    max_rows: int = 0
    spool_dir: str = ""


# Bytes a CSV is searched in for delimiters, quotes and line ends: the encoding must keep them.
ASCII = "".join(map(chr, range(32, 127))) + "\t\r\n"


def check_text_encoding(name: str | None) -> None:
    """Refuse (400) an ``encoding`` that is not a text encoding the CSV reader can use: one
    that keeps ASCII as it is (the reader splits lines and cells on its bytes), UTF-8 with its
    byte order mark (``utf-8-sig``), or UTF-16 or UTF-32 (decoded whole). ``base64``,
    ``rot13``, ``zlib``, ``hex``, ``idna``, EBCDIC... are refused here rather than failing in
    the reader.
    """
    if not name:
        return
    try:
        codec = codecs.lookup(name)
        if codec.name.startswith(("utf-16", "utf-32", "utf-8")):
            return
        encoded = ASCII.encode(codec.name)
        if encoded == ASCII.encode("ascii") and encoded.decode(codec.name, "replace") == ASCII:
            return
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass
    raise InvalidParameter("encoding", f"not a text encoding this service reads: {name!r}")


class Health:
    """``GET /health``: Addok's answer (``{"status": "HEALTHY", ...}``), made once per index
    version; with a POI index served, ``indexes`` says each (``served``)."""

    def __init__(self, geocoder: AnyGeocoder, version: str, served: ServedIndexes | None = None) -> None:
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
    version and the uptime; never cached (``Cache-Control: no-cache``). The sources' file names
    and dates are for operators only (ops/access.py sets ``req.context.operator``): they tell
    how the host's data is laid out."""

    def __init__(self, geocoder: AnyGeocoder, version: str, started: float | None = None,
                 served: ServedIndexes | None = None) -> None:
        self.geocoder, self.version, self.served = geocoder, version, served
        self.started = time.time() if started is None else started

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        operator = bool(req.context.get("operator"))
        body = {
            "status": "ok",
            "software": {"name": "balise", "version": self.version},
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            "uptime_seconds": round(time.time() - self.started, 1),
            "index": describe(self.geocoder.index.manifest, operator),  # in service now (it can be swapped)
        }
        if self.served is not None and len(self.served.names) > 1:
            current = self.served.current
            body["indexes"] = {name: describe(current(name).index.manifest, operator) for name in self.served}
        send_json(resp, body)
        resp.cache_control = ["no-cache"]


def describe(manifest: dict[str, Any], operator: bool = False) -> dict[str, Any]:
    """What ``/status`` says of an index: version, build, format, rules, counts, sources (their
    file names and dates to an operator only)."""
    keep = ("path", "format", "producer", "bytes", "sha256", "modified") if operator else (
        "format", "producer", "bytes", "sha256")
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
