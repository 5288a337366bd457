"""Commands that geocode: ``search``, ``geocode`` (a CSV or Parquet file), ``lookup``."""

from __future__ import annotations

import csv
import gc
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from ..errors import BaliseError
from .common import in_service, index_option, main, open_geocoder

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..csv.options import Mode


Box = tuple[float, float, float, float]


def filters_of(type_: Sequence[str], postcode: Sequence[str], citycode: Sequence[str]
               ) -> dict[str, list[str]]:
    """The repeated filter options as the geocoder takes them (the empty ones left out)."""
    return {k: list(v) for k, v in (("type", type_), ("postcode", postcode), ("citycode", citycode)) if v}


def parse_bbox_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Box | None:
    """``--bbox minlon,minlat,maxlon,maxlat`` as numbers (the geocoder checks the box)."""
    from ..search.area import parse_bbox

    if value is None:
        return None
    try:
        return parse_bbox(value)
    except BaliseError as e:
        raise click.BadParameter(e.description) from e


BBOX_HELP = "Only results inside this box: minlon,minlat,maxlon,maxlat."


@main.command()
@index_option
@click.argument("query", required=False)
@click.option("--limit", default=5, show_default=True)
@click.option("--autocomplete/--no-autocomplete", default=False, show_default=True)
@click.option("--lat", type=float)
@click.option("--lon", type=float)
@click.option("--type", "type_", multiple=True, help="Filter: housenumber, street, locality, municipality.")
@click.option("--postcode", multiple=True)
@click.option("--citycode", multiple=True)
@click.option("--bbox", callback=parse_bbox_option, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help=BBOX_HELP)
@click.option("--geo-boost", type=click.Choice(["score", "favor", "strict"]), default="score",
              show_default=True, help="With --lat/--lon: score near results higher, show them first "
              "(favor), or only them (strict).")
@click.option("--geo-radius", type=float, help="Km around --lat/--lon for favor and strict [default: 0.5].")
@click.option("--debug", is_flag=True, help="Add tokens, candidates and score parts.")
@click.option("--input", "input_", type=click.File("r", encoding="utf-8"),
              help="A file of queries: one per line, or a CSV with --column.")
@click.option("--column", help="CSV column holding the query (with --input).")
@click.option("--output", type=click.File("wb"), default="-", help="JSON lines output (with --input).")
def search(index_dir: Path, query: str | None, limit: int, autocomplete: bool, lat: float | None,
           lon: float | None, type_: tuple[str, ...], postcode: tuple[str, ...], citycode: tuple[str, ...],
           bbox: Box | None, geo_boost: str, geo_radius: float | None, debug: bool, input_: IO[str] | None,
           column: str | None, output: IO[bytes]) -> None:
    """Search QUERY, or every query of --input, and print geocodejson."""
    from ..search.request import SearchRequest

    geocoder = open_geocoder(index_dir)
    filters = filters_of(type_, postcode, citycode)
    options: dict[str, Any] = dict(limit=limit, autocomplete=autocomplete, lat=lat, lon=lon, filters=filters,
                                   debug=debug, bbox=bbox, geo_boost=geo_boost, geo_radius=geo_radius)
    if input_ is None:
        if not query:
            raise click.UsageError("give a QUERY or --input FILE")
        try:
            result = geocoder.answer(SearchRequest(query, **options)).collection
        except BaliseError as e:
            raise click.ClickException(e.description) from e
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    rows: Iterable[Mapping[str, str | None]] = (
        csv.DictReader(input_) if column else ({"q": line.rstrip("\n")} for line in input_))
    started, count = time.perf_counter(), 0
    for row in rows:
        q = row.get(column or "q") or ""
        try:
            result = geocoder.answer(SearchRequest(q, **options)).collection
        except BaliseError as e:
            result = {"query": q, "error": e.as_dict()}
        output.write(orjson.dumps(result) + b"\n")
        count += 1
    elapsed = time.perf_counter() - started
    click.echo(f"{count} queries in {elapsed:.2f} s ({count / max(elapsed, 1e-9):.0f}/s)", err=True)


@main.command()
@index_option
@click.argument("input_path", metavar="IN", type=click.Path(
    exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(
    dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--mode", type=click.Choice(["search", "reverse"]), default="search", show_default=True,
              help="As POST /search/csv/ or /reverse/csv/.")
@click.option("--columns", multiple=True, metavar="COL",
              help="Column joined into the query; repeat it (default: all but --lat/--lon).")
@click.option("--lat", metavar="COL", help="Latitude column: search center, or the point to reverse.")
@click.option("--lon", metavar="COL", help="Longitude column.")
@click.option("--citycode", metavar="COL", help="Column whose value filters its row by citycode.")
@click.option("--postcode", metavar="COL", help="Column whose value filters its row by postcode.")
@click.option("--type", "type_", metavar="COL", help="Column whose value filters its row by type.")
@click.option("--result-columns", multiple=True, metavar="COL", help="Result columns to write (repeat).")
@click.option("--split-housenumber", is_flag=True,
              help="Add result_number and result_suffix (12 and bis), as BAN's numero and rep.")
@click.option("--min-score", type=float, default=0.5, show_default=True,
              help="A first result scoring at most this is not written (search).")
@click.option("--bbox", callback=parse_bbox_option, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help=BBOX_HELP)
@click.option("--delimiter", help="CSV field delimiter (default: sniffed among , ; | TAB).")
@click.option("--quote", default='"', show_default=True, help="CSV quote character.")
@click.option("--encoding", help="CSV input encoding (default: detected; the output uses it too).")
@click.option("--with-bom", is_flag=True, help="Start a UTF-8 CSV output with a byte order mark.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes that geocode: this one and the workers it forks (0: one per available CPU).")
@click.option("--row-group-rows", type=click.IntRange(min=1), default=65_536, show_default=True,
              help="Rows of a Parquet output's row groups (a resumed run goes on from the last one).")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=2.0, show_default=True,
              metavar="SECONDS", help="How often a CSV run saves how far it got (Parquet: every row group).")
@click.option("--restart", is_flag=True, help="Start over, even if an interrupted run can be resumed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def geocode(index_dir: Path, input_path: Path, output_path: Path, mode: Mode, columns: tuple[str, ...],
            lat: str | None, lon: str | None, citycode: str | None, postcode: str | None, type_: str | None,
            result_columns: tuple[str, ...], split_housenumber: bool, min_score: float, bbox: Box | None,
            delimiter: str | None, quote: str, encoding: str | None, with_bom: bool, workers: int,
            row_group_rows: int, checkpoint_every: float, restart: bool, quiet: bool) -> None:
    """Geocode IN into OUT as addok-csv does, on every core: CSV, or Parquet (.parquet) with
    typed result columns ("-": stdin, stdout; CSV only).

    OUT holds the input columns, then the result columns, the last one result_status (ok,
    not-found, skipped, error); a bad row gets empty results and is counted. OUT is written
    beside its name and renamed at the end; a run killed or crashed is resumed by the same
    command from its last saved chunk.
    """
    from ..csv import CsvOptions
    from ..csv.job import geocode_file
    from ..values import available_cpus

    index_dir = in_service(index_dir)  # a root's version now: every worker reads that one
    geocoder = open_geocoder(index_dir)
    # What this command's process holds now (the geocoder, the modules) goes to the permanent
    # generation: no collection walks it during the run (PERF: one full collection, ~8 ms, on
    # a 9,400-row table in one process: 24.6k -> 25.3k rows/s, medians of 6 runs).
    gc.freeze()
    workers = workers or available_cpus()  # the cgroup's CPUs, not the host's
    started = time.perf_counter()
    bar: tqdm[Any] | None = None
    counted_from = (0, 0.0)  # rows done and the time when the bar started

    def progress(rows: int, total: int | None, read: int | None) -> None:
        nonlocal bar, counted_from
        if quiet:
            return
        if bar is None:
            from tqdm import tqdm

            size = None if read is None or str(input_path) == "-" else input_path.stat().st_size
            bar = tqdm(total=total or size, unit="rows" if size is None else "B", unit_scale=True,
                       desc="geocode", initial=rows if size is None else read or 0, smoothing=0.1)
            counted_from = (rows, time.perf_counter())
        bar.update((rows if read is None else read) - bar.n)
        if read is not None:
            rate = (rows - counted_from[0]) / max(time.perf_counter() - counted_from[1], 1e-9)
            bar.set_postfix_str(f"{rows:,} rows, {rate:,.0f} rows/s", refresh=False)

    try:
        options = CsvOptions(columns=columns, lat=lat, lon=lon, citycode=citycode, postcode=postcode,
                             type=type_, result_columns=result_columns, min_score=min_score, bbox=bbox,
                             delimiter=delimiter, quote=quote, encoding=encoding, with_bom=with_bom,
                             split_housenumber=split_housenumber)
        report = geocode_file(index_dir, input_path, output_path, options, mode, workers, progress, restart,
                              geocoder, row_group_rows, checkpoint_every)
    except BaliseError as e:
        raise click.ClickException(e.description) from e
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; the same command resumes from the last saved chunk") \
            from None
    finally:
        if bar is not None:
            bar.close()
    stats, elapsed = report.stats, time.perf_counter() - started
    done = stats.rows - report.resumed_rows
    if report.resumed_rows:
        click.echo(f"resumed after {report.resumed_rows:,} rows done by an earlier run "
                   f"({report.saved_seconds:.1f} s of work saved)", err=True)
    click.echo(
        f"geocoded {done:,} rows in {elapsed:.1f} s ({done / max(elapsed, 1e-9):,.0f} rows/s) "
        f"on {workers} worker(s), {report.format}: {stats.found:,} found, {stats.not_found:,} not found, "
        f"{stats.skipped:,} skipped, {stats.errors:,} errors", err=True)
    for reason, count in stats.reasons.most_common():
        click.echo(f"  {count:,} {reason}", err=True)
    for line, reason in stats.examples:
        click.echo(f"  {'line' if report.format == 'csv' else 'row'} {line}: {reason}", err=True)


@main.command()
@index_option
@click.argument("ids", nargs=-1, required=True)
def lookup(index_dir: Path, ids: tuple[str, ...]) -> None:
    """Print the features with these ids (streets, places, house numbers) as geocodejson."""
    from ..search.request import LookupRequest

    geocoder = open_geocoder(index_dir)
    try:
        result = geocoder.answer(LookupRequest(ids)).collection
    except BaliseError as e:
        raise click.ClickException(e.description) from e
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
