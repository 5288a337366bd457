"""The ``balise`` command: one click group, one function per verb."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from .config import SettingError, Settings
from .errors import BaliseError


def settings() -> Settings:
    """The settings, read from the environment once per run, by the first command or option
    default that needs them (never at import); a bad one stops the command, named."""
    root = click.get_current_context().find_root()
    if root.obj is None:
        try:
            root.obj = Settings.from_env()
        except SettingError as e:
            raise click.ClickException(str(e)) from e
    return root.obj


def from_settings(name: str) -> Callable[[], Any]:
    """An option's default: the setting ``name``, read when the command runs."""
    return lambda: getattr(settings(), name)


def index_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--index", "index_dir", type=click.Path(path_type=Path), default=from_settings("index"),
        show_default="BALISE_INDEX, else var/index", help="Index directory (BALISE_INDEX).",
    )(f)


@click.group()
@click.version_option(package_name="balise")
def main() -> None:
    """balise: a fast, Addok-compatible address geocoder for France."""


@main.command("import")
@index_option
@click.option("--communes", "communes_dir", type=click.Path(exists=True, path_type=Path),
              help="Directory of commune reference files (COG, centres) for CSV sources.")
@click.option("--rules", default=from_settings("rules"), show_default="BALISE_RULES, else fr",
              help="Text rules.")
@click.option("--memory", default="2GB", show_default=True,
              help="Memory budget of the import (all its processes): sorts spill to disk beyond it.")
@click.option("--workers", type=int, default=0, help="Worker processes (default: the CPUs available).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_(index_dir: Path, communes_dir: Path | None, rules: str, memory: str, workers: int, quiet: bool,
            files) -> None:
    """Build an index from Addok NDJSON, BAN CSV or BANO CSV files (plain or .gz)."""
    from tqdm import tqdm

    from .importer.build import build_index, parse_memory

    try:
        budget = parse_memory(memory)
    except ValueError as e:
        raise click.BadParameter(f"{memory!r}: a size such as 2GB or 512MB", param_hint="--memory") from e

    total = sum(Path(f).stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, disable=quiet, desc="import") as bar:

        def progress(done: int) -> None:
            if done - bar.n > 1 << 20 or done >= total:
                bar.update(done - bar.n)

        manifest, report = build_index(list(files), index_dir, communes_dir, rules, progress,
                                       memory=budget, workers=workers or None)
    r = manifest["import_report"]
    counts = manifest["counts"]
    click.echo(
        f"indexed {counts['documents']:,} documents, {counts['housenumbers']:,} house numbers, "
        f"{counts['terms']:,} terms into {index_dir} ({manifest['bytes'] / 1e6:.1f} MB) "
        f"in {r['seconds']:.1f} s, peak memory {r['peak_memory_mb']:.0f} MB; "
        f"read {r['bytes_read'] / 1e6:.1f} MB; skipped {r['bad_lines']:,} bad lines"
    )
    echo_skipped(r["examples"])


def echo_skipped(examples: Iterable[Sequence[Any]]) -> None:
    """The first lines an import skipped, and why (on stderr)."""
    for path, lineno, reason, line in examples:
        click.echo(f"  skipped {path}:{lineno}: {reason}: {line[:80]!r}", err=True)


A_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command("make-poi")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--communes", "communes_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Commune directory (as ../shared/data/communes): its communes, and the points' towns.")
@click.option("--points", "points", multiple=True, type=A_FILE,
              help="Official points CSV (as official-points-dev.csv): its town halls and post offices.")
@click.option("--from", "exports", multiple=True, type=A_FILE,
              help="A POI NDJSON export to normalize (the Géoplateforme's poi.ndjson, any Addok POI file).")
@click.option("--departement", "departements", multiple=True, metavar="CODE",
              help="Only the POIs of this département (repeat it; default: all).")
def make_poi(out: Path, communes_dir: Path | None, points: tuple[Path, ...], exports: tuple[Path, ...],
             departements: tuple[str, ...]) -> None:
    """Write OUT (.ndjson or .ndjson.gz): points of interest in Addok's NDJSON, for
    `balise import` and the Géoplateforme API's index=poi (docs/geocodage.md)."""
    from .importer.poi import make_pois

    if not (communes_dir or points or exports):
        raise click.UsageError("give --communes, --points or --from")
    written, report = make_pois(out, communes_dir, points, exports, departements)
    click.echo(f"wrote {written:,} points of interest to {out}; skipped {report.bad_lines:,}")
    echo_skipped(report.examples)


def open_geocoder(index_dir: Path):
    from .geocoder import Geocoder
    from .index import IndexFormatError

    try:
        return Geocoder.open(index_dir)
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e


def _filters(type_, postcode, citycode) -> dict:
    return {k: v for k, v in (("type", type_), ("postcode", postcode), ("citycode", citycode)) if v}


def _bbox(ctx, param, value: str | None):
    """``--bbox minlon,minlat,maxlon,maxlat`` as numbers (the geocoder checks the box)."""
    from .search.area import parse_bbox

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
@click.option("--bbox", callback=_bbox, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help=BBOX_HELP)
@click.option("--geo-boost", type=click.Choice(["score", "favor", "strict"]), default="score",
              show_default=True, help="With --lat/--lon: score near results higher, show them first "
              "(favor), or only them (strict).")
@click.option("--geo-radius", type=float, help="Km around --lat/--lon for favor and strict [default: 0.5].")
@click.option("--debug", is_flag=True, help="Add tokens, candidates and score parts.")
@click.option("--input", "input_", type=click.File("r", encoding="utf-8"),
              help="A file of queries: one per line, or a CSV with --column.")
@click.option("--column", help="CSV column holding the query (with --input).")
@click.option("--output", type=click.File("wb"), default="-", help="JSON lines output (with --input).")
def search(index_dir, query, limit, autocomplete, lat, lon, type_, postcode, citycode, bbox, geo_boost,
           geo_radius, debug, input_, column, output) -> None:
    """Search QUERY, or every query of --input, and print geocodejson."""
    from .search.request import SearchRequest

    geocoder = open_geocoder(index_dir)
    filters = _filters(type_, postcode, citycode)
    options = dict(limit=limit, autocomplete=autocomplete, lat=lat, lon=lon, filters=filters, debug=debug,
                   bbox=bbox, geo_boost=geo_boost, geo_radius=geo_radius)
    if input_ is None:
        if not query:
            raise click.UsageError("give a QUERY or --input FILE")
        try:
            result = geocoder.answer(SearchRequest(query, **options)).collection
        except BaliseError as e:
            raise click.ClickException(e.description) from e
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    rows = csv.DictReader(input_) if column else ({"q": line.rstrip("\n")} for line in input_)
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
@click.option("--bbox", callback=_bbox, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help=BBOX_HELP)
@click.option("--delimiter", help="CSV field delimiter (default: sniffed among , ; | TAB).")
@click.option("--quote", default='"', show_default=True, help="CSV quote character.")
@click.option("--encoding", help="CSV input encoding (default: detected; the output uses it too).")
@click.option("--with-bom", is_flag=True, help="Start a UTF-8 CSV output with a byte order mark.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0: one per available CPU).")
@click.option("--row-group-rows", type=click.IntRange(min=1), default=65_536, show_default=True,
              help="Rows of a Parquet output's row groups (a resumed run goes on from the last one).")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=2.0, show_default=True,
              metavar="SECONDS", help="How often a CSV run saves how far it got (Parquet: every row group).")
@click.option("--restart", is_flag=True, help="Start over, even if an interrupted run can be resumed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def geocode(index_dir, input_path, output_path, mode, columns, lat, lon, citycode, postcode, type_,
            result_columns, split_housenumber, min_score, bbox, delimiter, quote, encoding, with_bom, workers,
            row_group_rows, checkpoint_every, restart, quiet) -> None:
    """Geocode IN into OUT as addok-csv does, on every core: CSV, or Parquet (.parquet) with
    typed result columns ("-": stdin, stdout; CSV only).

    OUT holds the input columns, then the result columns, the last one result_status (ok,
    not-found, skipped, error); a bad row gets empty results and is counted. OUT is written
    beside its name and renamed at the end; a run killed or crashed is resumed by the same
    command from its last saved chunk.
    """
    from .csv import CsvOptions
    from .csv.job import geocode_file
    from .values import available_cpus

    geocoder = open_geocoder(index_dir)
    workers = workers or available_cpus()  # the cgroup's CPUs, not the host's
    started = time.perf_counter()
    bar = None

    def progress(rows: int, total: int | None, read: int | None) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            from tqdm import tqdm

            size = None if read is None or str(input_path) == "-" else input_path.stat().st_size
            bar = tqdm(total=total or size, unit="rows" if size is None else "B", unit_scale=True,
                       desc="geocode", initial=rows if size is None else read or 0, smoothing=0.1)
            bar.rows0, bar.t0 = rows, time.perf_counter()
        bar.update((rows if read is None else read) - bar.n)
        if read is not None:
            rate = (rows - bar.rows0) / max(time.perf_counter() - bar.t0, 1e-9)
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
def lookup(index_dir, ids) -> None:
    """Print the features with these ids (streets, places, house numbers) as geocodejson."""
    from .search.request import LookupRequest

    geocoder = open_geocoder(index_dir)
    try:
        result = geocoder.answer(LookupRequest(ids)).collection
    except BaliseError as e:
        raise click.ClickException(e.description) from e
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@main.command()
@index_option
@click.option("--poi-index", "poi_dir", default=from_settings("poi_index"), show_default="BALISE_POI_INDEX",
              metavar="PATH", help="Index of points of interest: the Géoplateforme API's index=poi.")
@click.option("--host", help="Address to listen on [default: from BIND, or 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: from BIND, or 7878].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes [default: WORKERS, or one per CPU].")
def serve(index_dir: Path, poi_dir: str, host: str | None, port: int | None,
          workers: int | None) -> None:
    """Serve the HTTP APIs (Addok's /search/...; the Géoplateforme's /geocodage/...) with granian.

    Runs balise/http/server.py, whose settings come from the environment (BIND, WORKERS,
    THREADS, KEEPALIVE...); the options here set those variables.
    """
    import os

    from .index import IndexFormatError, IndexReader
    from .index.pointer import resolve

    env = dict(os.environ, BALISE_POI_INDEX="")
    chosen = {"BALISE_INDEX": index_dir, **({"BALISE_POI_INDEX": Path(poi_dir)} if poi_dir else {})}
    for variable, directory in chosen.items():
        try:
            # An index directory, or a root whose `current` link is followed while serving.
            IndexReader(resolve(directory))  # fail here clearly, not in a server traceback
        except (IndexFormatError, OSError) as e:
            raise click.ClickException(str(e)) from e
        # NOTE: absolute, not resolved: resolving would pin the version `current` points to now.
        env[variable] = str(directory.absolute())
    if host or port is not None:
        bind_host, _, bind_port = settings().bind.rpartition(":")
        host = (host or bind_host).strip("[]")
        host = f"[{host}]" if ":" in host else host  # IPv6
        env["BIND"] = f"{host}:{bind_port if port is None else port}"
    if workers:
        env["WORKERS"] = str(workers)
    argv = [sys.executable, "-m", "balise.http.server"]
    os.execve(sys.executable, argv, env)  # the server takes this process: signals reach it directly


@main.group()
def bundle() -> None:
    """Index bundles: pack an index, fetch one and swap it in (docs/deploy.md)."""


@bundle.command("create")
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--level", type=int, help="Compression level [default: zstd 9, gzip 6; 19: smallest, slow].")
def bundle_create(index_dir: Path, out: Path, level: int | None) -> None:
    """Pack INDEX_DIR into OUT (.tar.zst or .tar.gz), with OUT.sha256 and OUT.json beside it."""
    from .bundle import BundleError, create
    from .index import IndexFormatError

    try:
        d = create(index_dir, out, level)
    except (BundleError, IndexFormatError) as e:
        raise click.ClickException(str(e)) from e
    counts = d["index"]["counts"] or {}
    click.echo(
        f"wrote {out} ({d['bytes'] / 1e6:.1f} MB, sha256 {d['sha256']}), {out.name}.sha256, "
        f"{out.name}.json: index {d['index']['version']}, {counts.get('documents', 0):,} documents, "
        f"{counts.get('housenumbers', 0):,} house numbers"
    )


@bundle.command("fetch")
@click.argument("url", required=False)
@click.option("--into", "root", type=click.Path(file_okay=False, path_type=Path),
              default=from_settings("index"), show_default="BALISE_INDEX, else var/index",
              help="Index root: versions and the `current` link (BALISE_INDEX).")
@click.option("--sha256", help="Expected checksum (BALISE_BUNDLE_SHA256) [default: read from URL.sha256].")
@click.option("--keep", type=click.IntRange(min=1), default=from_settings("index_keep"),
              show_default="BALISE_INDEX_KEEP, else 2", help="Versions kept, the new one included.")
@click.option("--timeout", type=float, default=from_settings("fetch_timeout"),
              show_default="BALISE_FETCH_TIMEOUT, else 30", help="Seconds for any socket operation.")
@click.option("--retries", type=click.IntRange(min=0), default=from_settings("fetch_retries"),
              show_default="BALISE_FETCH_RETRIES, else 6",
              help="Retries without progress, exponential backoff.")
def bundle_fetch(url: str | None, root: Path, sha256: str | None, keep: int, timeout: float,
                 retries: int) -> None:
    """Download the bundle at URL (BALISE_BUNDLE_URL), check it and make it ROOT/current.

    Resumes a cut download, refuses a wrong checksum, unpacks into ROOT/<version>/,
    opens it, then swaps ROOT/current: the index in service never changes otherwise.
    """
    import logging

    from .bundle import BundleError, fetch

    url = url or settings().bundle_url
    sha256 = sha256 or settings().bundle_sha256 or None
    if not url:
        raise click.UsageError("give a URL or set BALISE_BUNDLE_URL")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        directory = fetch(url, root, sha256=sha256, keep=keep, timeout=timeout, retries=retries)
    except BundleError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{root}/current -> {directory.name}")


@bundle.command("publish")
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--into", "root", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Index root to publish into.")
@click.option("--keep", type=click.IntRange(min=1), default=from_settings("index_keep"),
              show_default="BALISE_INDEX_KEEP, else 2", help="Versions kept, the new one included.")
def bundle_publish(index_dir: Path, root: Path, keep: int) -> None:
    """Make the index INDEX_DIR (built by `balise import`, or an older ROOT/<version> to
    roll back to) the current one of ROOT; INDEX_DIR itself is left as it is."""
    from .bundle import BundleError, check_version
    from .index import IndexFormatError, IndexReader
    from .index.pointer import install

    try:
        check_version(IndexReader(index_dir).manifest.get("version"))
        directory = install(root, index_dir, keep)
    except (IndexFormatError, BundleError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{root}/current -> {directory.name}")


@main.command()
@click.option("--url", help="URL to ask [default: /health/ready on the port of BIND, else /health].")
@click.option("--timeout", type=float, default=2.0, show_default=True, help="Seconds.")
def healthcheck(url: str | None, timeout: float) -> None:
    """Exit 0 if the local server answers ready: a container HEALTHCHECK (slim images have no curl).

    Asks /health/ready, or /health of a server that has no /health/ready (404).
    """
    import urllib.error
    import urllib.request

    base = f"http://127.0.0.1:{settings().bind.rpartition(':')[2]}"
    urls = [url] if url else [f"{base}/health/ready", f"{base}/health"]
    for i, candidate in enumerate(urls):
        try:
            with urllib.request.urlopen(candidate, timeout=timeout):
                return
        except urllib.error.HTTPError as e:
            if e.code == 404 and i + 1 < len(urls):
                continue
            raise click.ClickException(f"{candidate}: HTTP {e.code}") from e
        except OSError as e:
            raise click.ClickException(f"{candidate}: {e}") from e


if __name__ == "__main__":
    sys.exit(main())
