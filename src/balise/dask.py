"""Geocoding a Dask DataFrame partition by partition, for tables too big for one machine.

    import dask.dataframe as dd
    from balise.dask import geocode

    df = dd.read_parquet("s3://bucket/sirene/*.parquet")
    geocoded = geocode(df, index="/data/balise/index", columns=["adresse", "commune"],
                       postcode="code_postal", split_housenumber=True)
    geocoded.to_parquet("s3://bucket/sirene-geocoded/")

The answers and columns are ``balise geocode``'s, typed as its Parquet output (scores and
coordinates as floats, ``result_number`` an integer, nulls where nothing was found), as
pyarrow-backed pandas dtypes. Each worker process opens the index once, on its first
partition, and keeps it: ``index`` is a directory present on every machine, or
``bundle_url`` an index bundle (``balise bundle create``) that the first process of each
machine downloads into ``root``, checks against ``sha256`` (else ``URL.sha256``) and unpacks,
the others waiting for it, then open. Geocoding holds the GIL: run workers with one thread
each, one per core (docs/operations.md, "Geocoding a national file").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .csv.answers import RowGeocoder
from .csv.options import CsvOptions, Mode
from .csv.run import CHUNK_ROWS
from .csv.table import TableJob, TablePlan, arrow
from .geocoder import Geocoder

DEFAULT_ROOT = "/tmp/balise-indexes"  # noqa: S108 (a bundle is unpacked here on each machine unless told)


@dataclass(frozen=True)
class IndexSource:
    """Where each worker finds the index: a local directory, or a bundle fetched once per machine."""

    path: str | None = None
    bundle_url: str | None = None
    sha256: str | None = None
    root: str = DEFAULT_ROOT

    def directory(self) -> Path:
        """The index directory on this machine (a bundle fetched first, once: bundle.fetch
        locks the root and does not download a bundle it already installed)."""
        if self.path:
            return Path(self.path)
        from .bundle import fetch

        assert self.bundle_url
        return fetch(self.bundle_url, self.root, sha256=self.sha256)


# NOTE: per process on purpose: the index each worker process opened, kept for its next
# partitions (the point of this module); a lock, as a Dask worker may run several threads.
_opened: dict[IndexSource, RowGeocoder] = {}
_opening = threading.Lock()


def _row_geocoder(source: IndexSource, min_score: float) -> RowGeocoder:
    with _opening:
        if source not in _opened:
            _opened[source] = RowGeocoder(Geocoder.open(source.directory()), min_score)
        return _opened[source]


@dataclass(frozen=True)
class _Work:
    source: IndexSource
    options: CsvOptions
    mode: Mode


def geocode_partition(frame: Any, work: _Work) -> Any:
    """One pandas partition geocoded: its columns, then the result columns (replacing input
    columns of the same name), its index kept."""
    import pandas as pd

    pa = arrow()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    plan = TablePlan(table.schema, work.options, work.mode)
    job = TableJob(plan)
    batches = table.to_batches(max_chunksize=CHUNK_ROWS)
    results = []
    if frame.shape[0]:
        geocode = _row_geocoder(work.source, work.options.min_score)
        results = [job(geocode, batch.select(plan.read), {}).output for batch in batches if batch.num_rows]
    found = pa.Table.from_batches(results, schema=plan.result_schema)
    out = found.to_pandas(types_mapper=pd.ArrowDtype)
    out.index = frame.index
    kept = frame.drop(columns=[c for c in plan.wanted if c in frame.columns])
    return pd.concat([kept, out], axis=1)


def geocode(frame: Any, index: str | Path | None = None, *, bundle_url: str | None = None,
            sha256: str | None = None, root: str | Path = DEFAULT_ROOT, mode: Mode = "search",
            columns: Sequence[str] = (), lat: str | None = None, lon: str | None = None,
            citycode: str | None = None, postcode: str | None = None, type: str | None = None,
            result_columns: Sequence[str] = (), split_housenumber: bool = False,
            min_score: float = 0.5, bbox: Sequence[float] | str | None = None) -> Any:
    """A Dask DataFrame geocoded lazily, as ``balise geocode`` geocodes a file (its options,
    by the same names). Give ``index`` (a directory on every machine) or ``bundle_url``."""
    if (index is None) == (bundle_url is None):
        raise ValueError("give index (a directory on every machine) or bundle_url, not both")
    if index is not None:
        Geocoder.open(index, preload=False)  # a bad index fails here, not on every worker
    options = CsvOptions(columns=tuple(columns), lat=lat, lon=lon, citycode=citycode, postcode=postcode,
                         type=type, result_columns=tuple(result_columns), min_score=min_score,
                         bbox=None if bbox is None else bbox if isinstance(bbox, str) else (
                             bbox[0], bbox[1], bbox[2], bbox[3]),
                         split_housenumber=split_housenumber)
    path = None if index is None else str(Path(index).absolute())
    source = IndexSource(path, bundle_url, sha256, str(root))
    work = _Work(source, options, mode)
    meta = geocode_partition(frame._meta, work)  # the columns and dtypes, from no rows
    return frame.map_partitions(geocode_partition, work, meta=meta)
