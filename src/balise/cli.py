"""The ``balise`` command: one click group, one function per verb."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
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
    for path, lineno, reason, line in r["examples"]:
        click.echo(f"  skipped {path}:{lineno}: {reason}: {line[:80]!r}", err=True)


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
@click.argument("input_path", metavar="IN.csv", type=click.Path(
    exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.argument("output_path", metavar="OUT.csv", type=click.Path(
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
@click.option("--min-score", type=float, default=0.5, show_default=True,
              help="A first result scoring at most this is not written (search).")
@click.option("--bbox", callback=_bbox, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help=BBOX_HELP)
@click.option("--delimiter", help="Field delimiter (default: sniffed among , ; | TAB).")
@click.option("--quote", default='"', show_default=True, help="Quote character.")
@click.option("--encoding", help="Input encoding (default: detected; the output uses it too).")
@click.option("--with-bom", is_flag=True, help="Start a UTF-8 output with a byte order mark.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0: one per available CPU).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def geocode(index_dir, input_path, output_path, mode, columns, lat, lon, citycode, postcode, type_,
            result_columns, min_score, bbox, delimiter, quote, encoding, with_bom, workers, quiet) -> None:
    """Geocode IN.csv into OUT.csv as addok-csv does, on every core ("-": stdin, stdout).

    OUT.csv holds the input columns, then the result columns, the last one result_status (ok,
    not-found, skipped, error); a bad row gets empty results and is counted. The file is
    written beside OUT.csv and renamed at the end.
    """
    from contextlib import ExitStack

    from tqdm import tqdm

    from .csv import CsvOptions, geocode_rows, geocode_rows_parallel
    from .values import available_cpus

    geocoder = open_geocoder(index_dir)
    workers = workers or available_cpus()  # the cgroup's CPUs, not the host's
    started = time.perf_counter()
    partial = None if str(output_path) == "-" else output_path.with_name(output_path.name + ".part")
    completed = False
    try:
        options = CsvOptions(columns=columns, lat=lat, lon=lon, citycode=citycode, postcode=postcode,
                             type=type_, result_columns=result_columns, min_score=min_score, bbox=bbox,
                             delimiter=delimiter, quote=quote, encoding=encoding, with_bom=with_bom)
        with ExitStack() as stack:
            source = sys.stdin.buffer if str(input_path) == "-" else stack.enter_context(
                open(input_path, "rb"))
            sink = sys.stdout.buffer if partial is None else stack.enter_context(open(partial, "wb"))
            if workers == 1:
                output = geocode_rows(geocoder, source, options, mode)
            else:
                output = geocode_rows_parallel(index_dir, source, options, mode, workers)
            total = None if str(input_path) == "-" else input_path.stat().st_size
            bar = stack.enter_context(tqdm(total=total, unit="B", unit_scale=True, disable=quiet,
                                           desc="geocode"))
            for chunk in output:
                sink.write(chunk)
                bar.update(output.stats.bytes_read - bar.n)
        completed = True
    except BaliseError as e:
        raise click.ClickException(e.description) from e
    finally:
        if partial is not None and partial.exists():
            partial.replace(output_path) if completed else partial.unlink()
    stats, elapsed = output.stats, time.perf_counter() - started
    click.echo(
        f"geocoded {stats.rows:,} rows in {elapsed:.1f} s ({stats.rows / max(elapsed, 1e-9):,.0f} rows/s) "
        f"on {workers} worker(s): {stats.found:,} found, {stats.not_found:,} not found, "
        f"{stats.skipped:,} skipped, {stats.errors:,} errors", err=True)
    for reason, count in stats.reasons.most_common():
        click.echo(f"  {count:,} {reason}", err=True)
    for line, reason in stats.examples:
        click.echo(f"  line {line}: {reason}", err=True)

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
@click.option("--host", help="Address to listen on [default: from BIND, or 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: from BIND, or 7878].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes [default: WORKERS, or one per CPU].")
def serve(index_dir: Path, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API (/search/, /reverse/, /health, /openapi.json) with granian.

    Runs balise/http/server.py, whose settings come from the environment (BIND, WORKERS,
    THREADS, KEEPALIVE...); the options here set those variables.
    """
    import os

    from .index import IndexFormatError, IndexReader
    from .index.pointer import resolve

    try:
        # An index directory, or a root whose `current` link is followed while serving.
        IndexReader(resolve(index_dir))  # fail here clearly, not in a server traceback
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e
    # NOTE: absolute, not resolved: resolving would pin the version `current` points to now.
    env = dict(os.environ, BALISE_INDEX=str(index_dir.absolute()))
    if host or port is not None:
        bind_host, _, bind_port = settings().bind.rpartition(":")
        host = (host or bind_host).strip("[]")
        host = f"[{host}]" if ":" in host else host  # IPv6
        env["BIND"] = f"{host}:{bind_port if port is None else port}"
    if workers:
        env["WORKERS"] = str(workers)
    argv = [sys.executable, "-m", "balise.http.server"]
    os.execve(sys.executable, argv, env)  # the server takes this process: signals reach it directly


def refusal(error: Exception) -> click.ClickException:
    """An error as click's one line ``Error: ...`` (a message never spans lines)."""
    return click.ClickException(" ".join(str(error).split()) or type(error).__name__)


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
    except (BundleError, IndexFormatError, OSError) as e:
        raise refusal(e) from e
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
    except (BundleError, OSError) as e:
        raise refusal(e) from e
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
    except (IndexFormatError, BundleError, OSError) as e:
        raise refusal(e) from e
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
