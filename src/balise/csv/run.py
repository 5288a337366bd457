"""Geocoding a CSV: rows read, parsed into requests, answered, and written as chunks of the
output file, in bounded memory (:class:`GeocodedCsv`); in this process (:func:`geocode_rows`)
or on worker processes (``csv.parallel``)."""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from ..errors import BaliseError
from ..geocoder import Geocoder
from ..search.request import ReverseRequest
from .dialect import Input
from .options import EXTRA_FIELDS, MIN_SCORE, CsvOptions, Mode
from .plan import Failed, Outcome, Plan, Request

log = logging.getLogger(__name__)

LOGGED_ERRORS = 100  # error rows logged one by one per file; the others are only counted
CHUNK_ROWS = 500
CHUNK_BYTES = 1 << 20  # of input at most in a chunk (plus its last line): wide rows come fewer at a time


class Executor(Protocol):
    """Where chunks of requests are answered: this process, or worker processes."""

    def submit(self, requests: list[Request]) -> Callable[[], list[Outcome]]: ...

    def close(self, completed: bool) -> None: ...


def _cell(value: object) -> str:
    return "" if value is None else str(value)


class RowGeocoder:
    """A row's request to addok-csv's result values; a row's error is returned, never raised."""

    def __init__(self, geocoder: Geocoder, min_score: float = MIN_SCORE) -> None:
        self.geocoder = geocoder
        self.min_score = min_score

    def __call__(self, request: Request) -> Outcome:
        try:
            answer = self.geocoder.answer(request).collection
        except BaliseError as e:
            return Failed(e.title.lower(), e.description)
        except Exception as e:  # NOTE: one row must not cost the other million
            log.exception("geocoding %r failed", request)
            return Failed("internal error", repr(e))
        features = answer["features"]
        if not features:
            return None
        props = features[0]["properties"]
        lon, lat = features[0]["geometry"]["coordinates"]
        head: tuple[Any, ...]
        if isinstance(request, ReverseRequest):
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


class InProcess:
    """Geocodes a chunk right away, in this process."""

    def __init__(self, geocode: RowGeocoder) -> None:
        self.geocode = geocode

    def submit(self, requests: list[Request]) -> Callable[[], list[Outcome]]:
        outcomes = [self.geocode(request) for request in requests]
        return lambda: outcomes

    def close(self, completed: bool) -> None:
        pass

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
                 executor: Callable[[], Executor], in_flight: int = 1,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self._input = Input(source, options)
        self._plan = Plan(self._input.header, options, mode)
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

    def _take(self, rows: Iterator[tuple[list[str], Failed | None, int]], most: int) -> list:
        """The next rows: ``most``, or fewer when they hold over ``CHUNK_BYTES`` of input."""
        start, chunk = self._input.bytes_read, []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= most or self._input.bytes_read - start >= CHUNK_BYTES:
                break
        return chunk

    def _run(self, executor: Executor, in_flight: int, chunk_rows: int) -> Iterator[bytes]:
        completed = False
        try:
            self._writer.writerow(self._plan.header)
            yield self._flush()
            rows = self._input.rows()
            pending: deque = deque()
            while True:
                while len(pending) < in_flight and (chunk := self._take(rows, chunk_rows)):
                    items = [(row, problem or self._plan.request(row), line) for row, problem, line in chunk]
                    requests = [item for _, item, _ in items if not isinstance(item, Failed)]
                    pending.append((items, executor.submit(requests) if requests else list))
                    self.stats.bytes_read = self._input.bytes_read
                if not pending:
                    break
                items, wait = pending.popleft()
                outcomes = iter(wait())
                for row, item, line in items:
                    outcome = item if isinstance(item, Failed) else next(outcomes)
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
    row_geocoder = RowGeocoder(geocoder, options.min_score)
    return GeocodedCsv(source, options, mode, lambda: InProcess(row_geocoder), chunk_rows=chunk_rows)
