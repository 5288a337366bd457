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

Modules: ``options`` (what a request asks), ``spooling`` (uploads), ``dialect`` (reading:
encoding, delimiter, rows), ``plan`` (a row to its request, results to the row), ``run``
(geocoding and writing, in this process), ``parallel`` (on worker processes).
"""

from __future__ import annotations

from .options import RESULT_COLUMNS, CsvOptions
from .run import BatchStats, GeocodedCsv, geocode_rows, geocode_rows_parallel
from .spooling import check_size, count_lines, output_filename, spool_upload

__all__ = ["RESULT_COLUMNS", "BatchStats", "CsvOptions", "GeocodedCsv", "check_size", "count_lines",
           "geocode_rows", "geocode_rows_parallel", "output_filename", "spool_upload"]
