"""Where each value of a row goes, decided once from the header (:class:`Plan`): which cells
make the query, the point or the filters of the row's request, and where each result value
is written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from ..errors import BaliseError, InvalidParameter, QueryTooLong
from ..search.request import QUERY_MAX_LENGTH, ReverseRequest, SearchRequest
from .options import KNOWN_COLUMNS, STATUS, CsvOptions, Mode

SEARCH_LIMIT = 3  # as addok-csv: enough for result_score_next
# Columns addok-csv's reverse reads the point from, when none is named.
REVERSE_LAT = ("latitude", "lat")
REVERSE_LON = ("longitude", "lon", "lng", "long")

Request = SearchRequest | ReverseRequest


class Failed(NamedTuple):
    """A row that was not geocoded: a short reason (counted) and the detail (shown); its
    ``status`` is ``error``, or ``skipped`` when there was nothing to geocode."""

    reason: str
    detail: str = ""
    status: str = "error"


Outcome = tuple[Any, ...] | Failed | None  # result values (answers.py), a failure, or not found
Row = Sequence[str]


class Chunk(NamedTuple):
    """Rows read together: their cells (or a table's record batch of them), their line numbers
    in the input (for messages), and what is wrong with some of them, by position in the chunk
    (those are not geocoded)."""

    rows: Sequence[Row]
    lines: list[int]
    problems: dict[int, Failed]


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


class Plan:
    """Where each input and result value goes, decided once from the header."""

    def __init__(self, header: list[str], options: CsvOptions, mode: Mode) -> None:
        if mode not in KNOWN_COLUMNS:
            raise InvalidParameter("mode", "must be search or reverse")
        if mode == "search" and bool(options.lat) != bool(options.lon):
            raise InvalidParameter("lon" if options.lat else "lat", "give both lat and lon columns")
        self.mode = mode
        assert not isinstance(options.bbox, str)  # parsed by CsvOptions
        self.bbox = options.bbox
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
        # PERF: the query's cells taken by one call (a generator a row cost ~0.4 us)
        pick = itemgetter(*self.query) if self.query else None
        self.query_of: Callable[[Row], str] = (
            (lambda row: "") if pick is None else pick if len(self.query) == 1
            else lambda row: " ".join(pick(row)))
        self.filters = tuple((name, _find(header, column, name))
                             for name, column in options.filter_columns.items())
        known = KNOWN_COLUMNS[mode]
        wanted = options.wanted(mode)
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
        self.wanted = wanted
        # Where a found row's values go: the common case, all appended in order, is a concatenation.
        self.appended = [position for position, _ in self.slots] == list(range(self.width, len(self.header)))
        picks = [value for _, value in self.slots]
        self.picked = itemgetter(*picks) if len(picks) > 1 else lambda values: (values[picks[0]],)

    def request(self, row: Row) -> Request | Failed:
        """The row parsed into a request (checked by it), or why it has none."""
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
        query = self.query_of(row) if self.mode == "search" else ""
        if self.mode == "search" and not query.strip():
            return Failed("empty query", status="skipped")
        filters: dict[str, Any] = {name: value for name, i in self.filters if (value := row[i].strip())}
        try:
            if self.mode == "reverse":
                assert lat is not None and lon is not None  # read above, or Failed
                return ReverseRequest(lat, lon, 1, filters, bbox=self.bbox)
            return SearchRequest(query, SEARCH_LIMIT, False, lat, lon, filters, bbox=self.bbox)
        except QueryTooLong:
            return Failed("query too long", f"{len(query)} characters, at most {QUERY_MAX_LENGTH}",
                          status="skipped")
        except BaliseError as e:
            return Failed(e.title.lower(), e.description)

    def output(self, row: Row, outcome: Outcome) -> list[str]:
        """The row as read (a short one padded, a long one cut to the header's width), then
        the result columns as text: every one for a result, only ``result_status`` otherwise."""
        if outcome.__class__ is tuple and self.appended and len(row) == self.width:
            values = self.picked(outcome)  # PERF: text() inlined: a call per value cost ~1 us a row
            return [*row, *[v if v.__class__ is str else "" if v is None else str(v) for v in values]]
        out = [*row[: self.width]] + [""] * (self.width - min(len(row), self.width) + self.added)
        if outcome is not None and not isinstance(outcome, Failed):
            for position, value in self.slots:
                out[position] = text(outcome[value])
        elif self.status is not None:
            out[self.status] = "not-found" if outcome is None else outcome.status
        return out


def text(value: Any) -> str:
    """A result value as a CSV cell: None empty, numbers as Python writes them."""
    return value if value.__class__ is str else "" if value is None else str(value)
