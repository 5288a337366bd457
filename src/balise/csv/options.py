"""What a CSV request asks for (addok-csv's form fields, ``balise geocode``'s options), checked
once: :class:`CsvOptions`; and the result columns each mode writes."""

from __future__ import annotations

import codecs
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidParameter
from ..search.area import Area, parse_bbox
from ..values import FALSE, TRUE

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
# The house number split as BAN writes it (``numero``, ``rep``: 12 and bis), for joins with
# other data: written when asked (``split_housenumber``, or named in ``result_columns``).
SPLIT_COLUMNS = ("result_number", "result_suffix")
# Every column a mode can write, in the order of the values a found row gets (answers.py).
KNOWN_COLUMNS: dict[str, tuple[str, ...]] = {mode: columns[:-1] + SPLIT_COLUMNS + (STATUS,)
                                             for mode, columns in RESULT_COLUMNS.items()}
# The typed columns of a Parquet output (the others are text); a row without a result has nulls.
FLOAT_COLUMNS = frozenset(("latitude", "longitude", "result_score", "result_score_next", "result_latitude",
                           "result_longitude", "result_distance"))
INTEGER_COLUMNS = frozenset(("result_number",))
MIN_SCORE = 0.5  # addok-csv's CSV_MIN_SCORE: a first result scoring at most this is not shown

Mode = Literal["search", "reverse"]


def _bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in TRUE:
        return True
    if text in ("", *FALSE):
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
    results inside that box. ``split_housenumber`` adds ``result_number`` and
    ``result_suffix`` after ``result_housenumber`` (``12`` and ``bis`` for ``12 bis``).
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
    split_housenumber: bool = False

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
        unknown = set(self.result_columns) - set(KNOWN_COLUMNS["search"] + KNOWN_COLUMNS["reverse"])
        if unknown:
            raise InvalidParameter("result_columns", f"unknown columns: {', '.join(sorted(unknown))}")

    @property
    def filter_columns(self) -> dict[str, str]:
        """{filter name: column name} for the per-row filters given."""
        named = (("citycode", self.citycode), ("postcode", self.postcode), ("type", self.type))
        return {name: column for name, column in named if column}

    def wanted(self, mode: Mode) -> tuple[str, ...]:
        """The result columns to write, in order: ``result_columns``, else all of the mode's
        (the split house number after ``result_housenumber`` when asked)."""
        if self.result_columns:
            return self.result_columns
        columns = RESULT_COLUMNS[mode]
        if not self.split_housenumber:
            return columns
        at = columns.index("result_housenumber") + 1
        return columns[:at] + SPLIT_COLUMNS + columns[at:]

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

        kwargs: dict[str, Any] = {"columns": tuple(values("columns")),
                        "result_columns": tuple(values("result_columns"))}
        for name in ("encoding", "delimiter", "quote", "lat", "lon", "citycode", "postcode", "type", "bbox"):
            if (value := one(name)) is not None:
                kwargs[name] = value
        for name in ("with_bom", "split_housenumber"):
            if (value := one(name)) is not None:
                kwargs[name] = _bool(name, value)
        if (value := one("min_score")) is not None:
            try:
                kwargs["min_score"] = float(value)
            except ValueError:
                raise InvalidParameter("min_score", "must be a number") from None
        return cls(**kwargs)
