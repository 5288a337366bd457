"""CSV batch geocoding, as addok-csv's ``/search/csv/`` and ``/reverse/csv/``, in bounded memory.

One core for the HTTP layer and ``balise geocode``. Opening a file reads only its head to
decide the encoding, the delimiter and the columns, so a bad request fails (400) before any
output; then rows go through in chunks, each one geocoded and written before more is read.

Beyond addok-csv: per-row filters work, ``result_street`` is filled, a bad row (wrong column
count, undecodable bytes, over-long query, bad coordinates) gets empty result columns and is
counted instead of failing the file, the output has one BOM only when asked for, and when no
``columns`` are given the ``lat``/``lon`` columns are left out of the query.

As the national address API's CSV, each row says what happened in ``result_status``: ``ok``,
``not-found``, ``skipped`` (nothing to geocode: an empty query or point, or a query over 200
characters) or ``error`` (a row with more or fewer cells than the header, undecodable bytes,
bad coordinates...; the reason goes to the log, and to the counts of ``balise geocode``). A
row's cells beyond the header's width are dropped, never written into the result columns.
A ``bbox`` (minlon, minlat, maxlon, maxlat) restricts every row of the file to that box.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import multiprocessing
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from itertools import chain, islice
from pathlib import Path
from typing import IO, Literal, NamedTuple

from .errors import BaliseError, FileTooLarge, InvalidCsv, InvalidParameter
from .geocoder import QUERY_MAX_LENGTH, Geocoder
from .search.area import Area, parse_bbox

log = logging.getLogger(__name__)

Mode = Literal["search", "reverse"]

# addok-csv's CSV_HEADERS / CSV_REVERSE_HEADERS, then "result_" + each field of the BAN
# config but house numbers (CSV_EXTRA_FIELDS), in this order.
SEARCH_COLUMNS = ("latitude", "longitude", "result_label", "result_score", "result_score_next",
                  "result_type", "result_id", "result_housenumber")
REVERSE_COLUMNS = ("result_latitude", "result_longitude", "result_label", "result_distance",
                   "result_type", "result_id", "result_housenumber")
EXTRA_FIELDS = ("name", "street", "postcode", "city", "context", "citycode", "oldcitycode",
                "oldcity", "district")
STATUS = "result_status"  # the national API's: ok, not-found, skipped or error
RESULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "search": SEARCH_COLUMNS + tuple(f"result_{key}" for key in EXTRA_FIELDS) + (STATUS,),
    "reverse": REVERSE_COLUMNS + tuple(f"result_{key}" for key in EXTRA_FIELDS) + (STATUS,),
}
# Columns addok-csv's reverse reads the point from, when none is named.
REVERSE_LAT = ("latitude", "lat")
REVERSE_LON = ("longitude", "lon", "lng", "long")

DELIMITERS = ",;|\t"
MIN_SCORE = 0.5  # addok-csv's CSV_MIN_SCORE: a first result scoring at most this is not shown
SEARCH_LIMIT = 3  # as addok-csv: enough for result_score_next
HEAD_BYTES = 64 * 1024  # what encoding and delimiter detection look at
LOGGED_ERRORS = 100  # error rows logged one by one per file; the others are only counted
CHUNK_ROWS = 500
SPOOL_MEMORY = 1 << 20  # an upload bigger than this is spooled to a temporary file
MISSING_DELIMITER = 'Unable to detect the delimiter; give one with the "delimiter" parameter.'


# -- options ---------------------------------------------------------------------------------


def _bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise InvalidParameter(name, "must be a boolean (true or false)")


@dataclass(frozen=True)
class CsvOptions:
    """What addok-csv reads from a request, column names being names in the file's header.

    ``columns`` are joined with spaces into the query; by default every column but ``lat`` and
    ``lon``. ``encoding`` is detected by default (UTF-8 with or without BOM, else cp1252, else
    latin-1) and ``delimiter`` sniffed among ``, ; | TAB``. ``lat``/``lon`` name the columns of
    the search center, or of the point to reverse (default: ``latitude``/``lat`` and
    ``longitude``/``lon``/``lng``/``long``). ``citycode``, ``postcode`` and ``type`` name
    columns whose value on each row filters that row. ``result_columns`` picks and orders the
    result columns (default: all of them, in addok-csv's order, then ``result_status``).
    ``bbox`` (minlon, minlat, maxlon, maxlat, or that text with commas) keeps every row's
    results inside that box.
    """

    columns: tuple[str, ...] = ()
    encoding: str | None = None
    delimiter: str | None = None
    quote: str = '"'
    with_bom: bool = False
    lat: str | None = None
    lon: str | None = None
    citycode: str | None = None
    postcode: str | None = None
    type: str | None = None
    result_columns: tuple[str, ...] = ()
    min_score: float = MIN_SCORE
    bbox: tuple[float, float, float, float] | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.bbox is not None:
            bbox = parse_bbox(self.bbox) if isinstance(self.bbox, str) else tuple(self.bbox)
            Area.box(bbox)  # a bad box fails the file now (400), not every row
            object.__setattr__(self, "bbox", bbox)
        object.__setattr__(self, "result_columns", tuple(self.result_columns))
        delimiter = {"\\t": "\t", "tab": "\t"}.get(self.delimiter or "", self.delimiter)
        object.__setattr__(self, "delimiter", delimiter)
        if delimiter is not None and (len(delimiter) != 1 or delimiter in "\r\n" + self.quote):
            raise InvalidParameter("delimiter", "must be one character, not a quote or a newline")
        if len(self.quote) != 1 or self.quote in "\r\n":
            raise InvalidParameter("quote", "must be one character")
        if self.encoding:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise InvalidParameter("encoding", f"unknown encoding {self.encoding!r}") from None
        unknown = set(self.result_columns) - set(RESULT_COLUMNS["search"] + RESULT_COLUMNS["reverse"])
        if unknown:
            raise InvalidParameter("result_columns", f"unknown columns: {', '.join(sorted(unknown))}")

    @property
    def filter_columns(self) -> dict[str, str]:
        """{filter name: column name} for the per-row filters given."""
        named = (("citycode", self.citycode), ("postcode", self.postcode), ("type", self.type))
        return {name: column for name, column in named if column}

    @classmethod
    def from_form(cls, form: Mapping[str, str | Sequence[str]]) -> CsvOptions:
        """Options from a multipart form: {field name: value or list of values}.

        ``columns`` and ``result_columns`` may be repeated; for other fields the last non-empty
        value counts, and an empty value is as if absent (what an HTML form sends).
        """

        def values(name: str) -> list[str]:
            raw = form.get(name) or []
            spaces = name in ("delimiter", "quote")  # a tab or a space is a value there
            return [v for v in ([raw] if isinstance(raw, str) else raw) if v and (spaces or v.strip())]

        def one(name: str) -> str | None:
            found = values(name)
            return found[-1] if found else None

        kwargs: dict = {"columns": tuple(values("columns")),
                        "result_columns": tuple(values("result_columns"))}
        for name in ("encoding", "delimiter", "quote", "lat", "lon", "citycode", "postcode", "type", "bbox"):
            if (value := one(name)) is not None:
                kwargs[name] = value
        if (value := one("with_bom")) is not None:
            kwargs["with_bom"] = _bool("with_bom", value)
        if (value := one("min_score")) is not None:
            try:
                kwargs["min_score"] = float(value)
            except ValueError:
                raise InvalidParameter("min_score", "must be a number") from None
        return cls(**kwargs)


FORM_FIELDS = tuple(f.name for f in fields(CsvOptions))


# -- upload size -----------------------------------------------------------------------------


def check_size(length: int | None, max_bytes: int) -> None:
    """Raise FileTooLarge (413) when a declared body length is over ``max_bytes`` (0: no limit)."""
    if max_bytes and length is not None and length > max_bytes:
        raise FileTooLarge(max_bytes)


def spool_upload(stream: IO[bytes], max_bytes: int, block: int = 1 << 16) -> IO[bytes]:
    """Copy an uploaded file to a temporary file (in memory while small), rewound.

    NOTE: multipart fields may come after the file, so the file is kept aside while the rest
    of the form is read; past ``max_bytes`` (0: no limit) it raises FileTooLarge (413).
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 (the caller's)
    size = 0
    while chunk := stream.read(block):
        size += len(chunk)
        if max_bytes and size > max_bytes:
            spool.close()
            raise FileTooLarge(max_bytes)
        spool.write(chunk)
    spool.seek(0)
    return spool


def output_filename(filename: str | None) -> str:
    """The download name of a geocoded upload, as addok-csv: ``NAME.geocoded.csv``."""
    stem = Path(filename or "data.csv").stem or "data"
    return f"{stem}.geocoded.csv"


# -- rows to lookups -------------------------------------------------------------------------


class Lookup(NamedTuple):
    """What geocoding one row needs; small and picklable, for worker processes."""

    query: str
    lat: float | None
    lon: float | None
    filters: dict[str, str]


class Failed(NamedTuple):
    """A row that was not geocoded: a short reason (counted) and the detail (shown); its
    ``status`` is ``error``, or ``skipped`` when there was nothing to geocode."""

    reason: str
    detail: str = ""
    status: str = "error"


Outcome = tuple[str, ...] | Failed | None  # result values, a failure, or not found


def _find(header: Sequence[str], name: str, parameter: str) -> int:
    if name in header:
        return header.index(name)
    folded = [h.strip().lower() for h in header]
    if name.strip().lower() in folded:
        return folded.index(name.strip().lower())
    raise InvalidParameter(parameter, f"Cannot find column {name!r} in columns {list(header)}")


def _find_any(header: Sequence[str], names: Sequence[str]) -> int | None:
    folded = [h.strip().lower() for h in header]
    return next((folded.index(n) for n in names if n in folded), None)


class _Plan:
    """Where each input and result value goes, decided once from the header."""

    def __init__(self, header: list[str], options: CsvOptions, mode: Mode) -> None:
        if mode not in RESULT_COLUMNS:
            raise InvalidParameter("mode", "must be search or reverse")
        if mode == "search" and bool(options.lat) != bool(options.lon):
            raise InvalidParameter("lon" if options.lat else "lat", "give both lat and lon columns")
        self.mode = mode
        self.width = len(header)
        self.lat = _find(header, options.lat, "lat") if options.lat else None
        self.lon = _find(header, options.lon, "lon") if options.lon else None
        if mode == "reverse":
            self.lat = self.lat if self.lat is not None else _find_any(header, REVERSE_LAT)
            self.lon = self.lon if self.lon is not None else _find_any(header, REVERSE_LON)
            if self.lat is None or self.lon is None:
                missing = "lat" if self.lat is None else "lon"
                raise InvalidParameter(missing, f"no such column in {list(header)}; give its name")
        if options.columns:
            self.query = tuple(_find(header, name, "columns") for name in options.columns)
        else:
            self.query = tuple(i for i in range(self.width) if i not in (self.lat, self.lon))
        self.filters = tuple((name, _find(header, column, name))
                             for name, column in options.filter_columns.items())
        known = RESULT_COLUMNS[mode]
        wanted = options.result_columns or known
        if unknown := [c for c in wanted if c not in known]:
            raise InvalidParameter("result_columns", f"not {mode} columns: {', '.join(unknown)}")
        # NOTE: as addok-csv, a result column already in the file is written over when found.
        self.header = list(header)
        self.slots: list[tuple[int, int]] = []
        for name in wanted:
            if name not in self.header:
                self.header.append(name)
            self.slots.append((self.header.index(name), known.index(name)))
        self.added = len(self.header) - self.width
        self.status = self.header.index(STATUS) if STATUS in wanted else None

    def lookup(self, row: list[str]) -> Lookup | Failed:
        lat = lon = None
        if self.lat is not None and self.lon is not None:
            lat_text, lon_text = row[self.lat].strip(), row[self.lon].strip()
            if lat_text or lon_text or self.mode == "reverse":
                if self.mode == "reverse" and not (lat_text or lon_text):
                    return Failed("no point", status="skipped")
                try:
                    lat, lon = float(lat_text.replace(",", ".")), float(lon_text.replace(",", "."))
                except ValueError:
                    return Failed("invalid coordinates", f"{lat_text!r}, {lon_text!r}")
        query = " ".join(row[i] for i in self.query) if self.mode == "search" else ""
        if self.mode == "search" and not query.strip():
            return Failed("empty query", status="skipped")
        if len(query) > QUERY_MAX_LENGTH:
            return Failed("query too long", f"{len(query)} characters, at most {QUERY_MAX_LENGTH}",
                          status="skipped")
        filters = {name: value for name, i in self.filters if (value := row[i].strip())}
        return Lookup(query, lat, lon, filters)

    def output(self, row: list[str], outcome: Outcome) -> list[str]:
        """The row as read (a short one padded, a long one cut to the header's width), then
        the result columns: every one for a result, only ``result_status`` otherwise."""
        out = row[: self.width] + [""] * (self.width - min(len(row), self.width) + self.added)
        if outcome is not None and not isinstance(outcome, Failed):
            for position, value in self.slots:
                out[position] = outcome[value]
        elif self.status is not None:
            out[self.status] = "not-found" if outcome is None else outcome.status
        return out


# -- reading ---------------------------------------------------------------------------------


def detect_encoding(head: Sequence[bytes]) -> str:
    """UTF-8 (with BOM: utf-8-sig) unless most non-ASCII lines are not UTF-8; then cp1252,
    or latin-1 when a byte is undefined in cp1252. Broken UTF-8 lines stay bad rows."""
    if head and head[0].startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head and head[0].startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    good = bad = 0
    for line in head:
        if not line.isascii():
            try:
                line.decode("utf-8")
                good += 1
            except UnicodeDecodeError:
                bad += 1
    if good >= bad:
        return "utf-8"
    try:
        b"".join(head).decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _raw_lines(source: IO | Iterable) -> Iterator:
    readline = getattr(source, "readline", None)
    if readline is None:
        yield from source
        return
    while line := readline():
        yield line


def _decode_lines(raw: Iterator[bytes], encoding: str) -> Iterator[tuple[str, bool]]:
    """(line, decoded cleanly); an undecodable line is kept with replacement characters."""
    for line in raw:
        try:
            yield line.decode(encoding), True
        except UnicodeDecodeError:
            yield line.decode(encoding, "replace"), False


def _decode_wide(raw: Iterator[bytes], encoding: str) -> Iterator[tuple[str, bool]]:
    """UTF-16/32: bytes split on b"\\n" are not lines, so decode the stream, then split."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    pending = ""
    for chunk in chain(raw, [b""]):
        *lines, pending = (pending + decoder.decode(chunk, final=not chunk)).split("\n")
        for line in lines:
            yield line + "\n", "\ufffd" not in line
    if pending:
        yield pending, "\ufffd" not in pending


class _Feed:
    """The decoded lines given to csv.reader; remembers whether an undecodable one went by."""

    def __init__(self, lines: Iterator[tuple[str, bool]]) -> None:
        self._lines = lines
        self.bad = False

    def __iter__(self) -> Iterator[str]:
        for line, ok in self._lines:
            self.bad |= not ok
            yield line


def sniff_delimiter(sample: Sequence[str], quote: str = '"', complete: bool = True) -> str:
    """The candidate splitting the header in columns that most rows have too.

    A file whose header is one column under every candidate is a one-column file: it gets the
    first candidate absent from the sample. A header split by some candidate while the rows
    do not follow raises InvalidCsv (400): the caller must say which delimiter.
    """
    candidates, split = [], False
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            widths = [len(r) for r in csv.reader(sample, delimiter=delimiter, quotechar=quote) if r]
        except csv.Error:
            continue
        if not complete and len(widths) > 2:
            widths.pop()  # the sample may end inside a quoted field
        if not widths or widths[0] < 2:
            continue
        split = True
        rows = widths[1:] or widths[:1]
        share = sum(w == widths[0] for w in rows) / len(rows)
        if share >= 0.5:
            candidates.append((share, widths[0], -rank, delimiter))
    if candidates:
        return max(candidates)[-1]
    if split:
        raise InvalidCsv(MISSING_DELIMITER)
    return next((d for d in DELIMITERS if not any(d in line for line in sample)), ",")


class _Input:
    """A CSV source opened: encoding, dialect and header known, then rows one at a time."""

    def __init__(self, source: IO | Iterable, options: CsvOptions) -> None:
        raw = _raw_lines(source)
        head: list = []
        for line in raw:
            head.append(line)
            if sum(map(len, head)) >= HEAD_BYTES:
                break
        complete = sum(map(len, head)) < HEAD_BYTES
        self.bytes_read = 0
        lines = self._counted(chain(head, raw))
        decoded: Iterator[tuple[str, bool]]
        if head and isinstance(head[0], str):
            self.encoding = codecs.lookup(options.encoding or "utf-8").name
            decoded = ((line, True) for line in lines)
        else:
            self.encoding = codecs.lookup(options.encoding or detect_encoding(head)).name
            if self.encoding.startswith(("utf-16", "utf-32")):
                decoded = _decode_wide(lines, self.encoding)
            else:
                decoded = _decode_lines(lines, "utf-8" if self.encoding == "utf-8-sig" else self.encoding)
        sample = list(islice(decoded, max(1, len(head))))
        if sample and sample[0][0].startswith("\ufeff"):
            sample[0] = (sample[0][0][1:], sample[0][1])  # a UTF-8 BOM, whatever was declared
        texts = [text for text, _ in sample]
        if not any(text.strip() for text in texts):
            raise InvalidCsv("The file is empty.")
        self.delimiter = options.delimiter or sniff_delimiter(texts, options.quote, complete)
        self.quote = options.quote
        self.feed = _Feed(chain(sample, decoded))
        self.reader = csv.reader(self.feed, delimiter=self.delimiter, quotechar=self.quote,
                                 doublequote=True, strict=False)
        try:
            header = next((r for r in self.reader if r), None)
        except csv.Error as e:
            raise InvalidCsv(f"Cannot read the header: {e}") from None
        if header is None:
            raise InvalidCsv("The file is empty.")
        self.header: list[str] = header
        self.feed.bad = False
        first = next(text for text in texts if text.strip()).rstrip("\r\n")
        quoted = self.delimiter.join(
            self.quote + name.replace(self.quote, 2 * self.quote) + self.quote for name in header)
        self.quote_all = first == quoted  # NOTE: then the output quotes every field too

    def _counted(self, lines: Iterable) -> Iterator:
        for line in lines:
            self.bytes_read += len(line)
            yield line

    def rows(self) -> Iterator[tuple[list[str], Failed | None, int]]:
        """(fields, what is wrong with the row or None, line number), blank lines skipped."""
        while True:
            problem = None
            try:
                row = next(self.reader)
            except StopIteration:
                return
            except csv.Error as e:
                row, problem = [], Failed("unreadable CSV", str(e))
            if self.feed.bad:
                self.feed.bad = False
                problem = problem or Failed("undecodable", f"not {self.encoding}")
            if not row and problem is None:
                continue
            if problem is None and len(row) != len(self.header):
                detail = f"{len(row)} columns, the header has {len(self.header)}"
                problem = Failed("wrong column count", detail)
            yield row, problem, self.reader.line_num


# -- geocoding -------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return "" if value is None else str(value)


class RowGeocoder:
    """One lookup to addok-csv's result values; a row's error is returned, never raised."""

    def __init__(self, geocoder: Geocoder, mode: Mode = "search", min_score: float = MIN_SCORE,
                 bbox: tuple[float, float, float, float] | None = None) -> None:
        self.geocoder = geocoder
        self.mode = mode
        self.min_score = min_score
        self.bbox = bbox

    def __call__(self, lookup: Lookup) -> Outcome:
        try:
            if self.mode == "reverse":
                answer = self.geocoder.reverse(lookup.lat, lookup.lon, limit=1, filters=lookup.filters,
                                               bbox=self.bbox)
            else:
                answer = self.geocoder.search(lookup.query, limit=SEARCH_LIMIT, autocomplete=False,
                                              lat=lookup.lat, lon=lookup.lon, filters=lookup.filters,
                                              bbox=self.bbox)
        except BaliseError as e:
            return Failed(e.title.lower(), e.description)
        except Exception as e:  # NOTE: one row must not cost the other million
            log.exception("geocoding %r failed", lookup)
            return Failed("internal error", repr(e))
        features = answer["features"]
        if not features:
            return None
        props = features[0]["properties"]
        lon, lat = features[0]["geometry"]["coordinates"]
        if self.mode == "reverse":
            head = (lat, lon, props.get("label"), props.get("distance"))
        else:
            score = round(props["score"], 2)
            if score <= self.min_score:
                return None
            after = round(features[1]["properties"]["score"], 2) if len(features) > 1 else 0
            head = (lat, lon, props.get("label"), score, after)
        housenumber = props.get("housenumber")
        name = props.get("name") or ""
        if housenumber and name.startswith(f"{housenumber} "):
            name = name[len(housenumber) + 1:]  # as addok-csv: the street's name, not "12 Rue…"
        street = props.get("street") or (name if props.get("type") in ("housenumber", "street") else "")
        extra = {**props, "name": name, "street": street}
        values = (*head, props.get("type"), props.get("id"), housenumber,
                  *(extra.get(key) for key in EXTRA_FIELDS), "ok")
        return tuple(_cell(v) for v in values)


class _InProcess:
    """Geocodes a chunk right away, in this process."""

    def __init__(self, geocode: RowGeocoder) -> None:
        self.geocode = geocode

    def submit(self, lookups: list[Lookup]) -> Callable[[], list[Outcome]]:
        outcomes = [self.geocode(lookup) for lookup in lookups]
        return lambda: outcomes

    def close(self, completed: bool) -> None:
        pass


_worker: RowGeocoder | None = None  # set once in each worker process by _init_worker


def _init_worker(index_dir: str, mode: Mode, min_score: float, bbox: tuple | None) -> None:
    global _worker
    _worker = RowGeocoder(Geocoder.open(index_dir), mode, min_score, bbox)


def _geocode_chunk(lookups: list[Lookup]) -> list[Outcome]:
    assert _worker is not None
    return [_worker(lookup) for lookup in lookups]


class _Workers:
    """Worker processes, each opening the memory-mapped index itself; started at once."""

    def __init__(self, index_dir: str, mode: Mode, min_score: float, workers: int,
                 bbox: tuple | None = None) -> None:
        # NOTE: fork, not spawn: spawn re-runs the parent's __main__ (a notebook, "python -")
        # in each child. Forked now, before the caller starts threads (a progress bar).
        # A pool of concurrent.futures, not multiprocessing.Pool: a dead worker breaks it
        # (BrokenProcessPool) instead of leaving a result waited for forever.
        context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(workers, context, _init_worker, (index_dir, mode, min_score, bbox))
        self.pool.submit(int).result()  # all workers are forked on the first task

    def submit(self, lookups: list[Lookup]) -> Callable[[], list[Outcome]]:
        return self.pool.submit(_geocode_chunk, lookups).result

    def close(self, completed: bool) -> None:
        self.pool.shutdown(wait=completed, cancel_futures=not completed)


# -- writing and driving ---------------------------------------------------------------------


@dataclass
class BatchStats:
    """What happened to the rows so far; ``bytes_read`` (of the input) is for progress bars."""

    rows: int = 0
    found: int = 0
    errors: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0

    @property
    def not_found(self) -> int:
        return self.rows - self.found - self.errors - self.skipped

    def count(self, outcome: Outcome, line: int) -> None:
        self.rows += 1
        if isinstance(outcome, Failed):
            if outcome.status == "skipped":
                self.skipped += 1
            else:
                self.errors += 1
                if self.errors <= LOGGED_ERRORS:
                    log.warning("CSV line %d: result_status=error: %s: %s", line, outcome.reason,
                                outcome.detail)
                    if self.errors == LOGGED_ERRORS:
                        log.warning("further CSV errors of this file are counted, not logged")
            self.reasons[outcome.reason] += 1
            if len(self.examples) < 10:
                self.examples.append((line, f"{outcome.reason}: {outcome.detail}" if outcome.detail
                                      else outcome.reason))
        elif outcome is not None:
            self.found += 1


class GeocodedCsv(Iterator[bytes]):
    """The output CSV as chunks of bytes; the input's head was checked when this was built.

    ``encoding`` and ``content_type`` are known before the first chunk, for response headers;
    ``stats`` grows as chunks are taken. At most ``in_flight`` chunks of rows are held.
    """

    def __init__(self, source: IO | Iterable, options: CsvOptions, mode: Mode,
                 executor: Callable[[], _InProcess | _Workers], in_flight: int = 1,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self._input = _Input(source, options)
        self._plan = _Plan(self._input.header, options, mode)
        self.stats = BatchStats()
        self.delimiter = self._input.delimiter
        encoding = self._input.encoding
        if encoding.startswith("utf-8"):
            encoding = "utf-8-sig" if options.with_bom else "utf-8"  # the codec writes one BOM
        elif encoding.startswith(("utf-16", "utf-32")):
            encoding = encoding[:6]  # with the byte order mark these need
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.content_type = f"text/csv; charset={self.encoding}"
        self._encoder = codecs.getincrementalencoder(encoding)("replace")
        self._buffer = io.StringIO()
        quoting = csv.QUOTE_ALL if self._input.quote_all else csv.QUOTE_MINIMAL
        self._writer = csv.writer(self._buffer, delimiter=self.delimiter, quotechar=self._input.quote,
                                  quoting=quoting, lineterminator="\r\n")
        # Made last: no worker process starts for a file refused above.
        self._executor = executor()
        self._chunks = self._run(self._executor, max(1, in_flight), chunk_rows)

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """Stop early (a client gone): worker processes, if any, are stopped."""
        self._chunks.close()
        self._executor.close(completed=False)  # NOTE: a generator never started skips its finally

    def _flush(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return self._encoder.encode(text)

    def _run(self, executor: _InProcess | _Workers, in_flight: int, chunk_rows: int) -> Iterator[bytes]:
        completed = False
        try:
            self._writer.writerow(self._plan.header)
            yield self._flush()
            rows = self._input.rows()
            pending: deque = deque()
            while True:
                while len(pending) < in_flight and (chunk := list(islice(rows, chunk_rows))):
                    items = [(row, problem or self._plan.lookup(row), line) for row, problem, line in chunk]
                    lookups = [item for _, item, _ in items if isinstance(item, Lookup)]
                    pending.append((items, executor.submit(lookups) if lookups else list))
                    self.stats.bytes_read = self._input.bytes_read
                if not pending:
                    break
                items, wait = pending.popleft()
                outcomes = iter(wait())
                for row, item, line in items:
                    outcome = next(outcomes) if isinstance(item, Lookup) else item
                    self.stats.count(outcome, line)
                    self._writer.writerow(self._plan.output(row, outcome))
                yield self._flush()
            if tail := self._encoder.encode("", final=True):
                yield tail
            completed = True
        finally:
            executor.close(completed)


def geocode_rows(geocoder: Geocoder, source: IO | Iterable, options: CsvOptions | None = None,
                 mode: Mode = "search", chunk_rows: int = CHUNK_ROWS) -> GeocodedCsv:
    """Geocode a CSV in this process: ``source`` is a binary file, or an iterable of byte or
    text lines. A bad file or option raises a BaliseError (400) now; bad rows are counted."""
    options = options or CsvOptions()
    row_geocoder = RowGeocoder(geocoder, mode, options.min_score, options.bbox)
    return GeocodedCsv(source, options, mode, lambda: _InProcess(row_geocoder), chunk_rows=chunk_rows)


def geocode_rows_parallel(index_dir: Path | str, source: IO | Iterable,
                          options: CsvOptions | None = None, mode: Mode = "search",
                          workers: int = 2, chunk_rows: int = CHUNK_ROWS) -> GeocodedCsv:
    """As geocode_rows, on ``workers`` processes that each memory-map the index.

    Output order is input order; two chunks per worker at most are in flight, so memory stays
    flat whatever the file size. The file's head is checked before any worker starts.
    """
    options = options or CsvOptions()
    Geocoder.open(index_dir)  # NOTE: a bad index fails here, clearly, not in every worker

    def executor() -> _Workers:
        return _Workers(str(index_dir), mode, options.min_score, workers, options.bbox)

    return GeocodedCsv(source, options, mode, executor, in_flight=2 * workers, chunk_rows=chunk_rows)
