"""The ``balise`` command: one click group, one function per verb."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import click
import orjson

from .config import Settings
from .errors import BaliseError

SETTINGS = Settings.from_env()


def index_option(f):
    return click.option(
        "--index", "index_dir", type=click.Path(path_type=Path), default=SETTINGS.index,
        show_default=True, help="Index directory (BALISE_INDEX).",
    )(f)


@click.group()
@click.version_option(package_name="balise")
def main() -> None:
    """balise: a fast, Addok-compatible address geocoder for France."""


@main.command("import")
@index_option
@click.option("--communes", "communes_dir", type=click.Path(exists=True, path_type=Path),
              help="Directory of commune reference files (COG, centres) for CSV sources.")
@click.option("--rules", default=SETTINGS.rules, show_default=True, help="Text rules.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_(index_dir: Path, communes_dir: Path | None, rules: str, quiet: bool, files) -> None:
    """Build an index from Addok NDJSON, BAN CSV or BANO CSV files (plain or .gz)."""
    from tqdm import tqdm

    from .importer.build import build_index

    total = sum(Path(f).stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, disable=quiet, desc="import") as bar:

        def progress(done: int) -> None:
            if done - bar.n > 1 << 20 or done >= total:
                bar.update(done - bar.n)

        manifest, report = build_index(list(files), index_dir, communes_dir, rules, progress)
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
@click.option("--debug", is_flag=True, help="Add tokens, candidates and score parts.")
@click.option("--input", "input_", type=click.File("r", encoding="utf-8"),
              help="A file of queries: one per line, or a CSV with --column.")
@click.option("--column", help="CSV column holding the query (with --input).")
@click.option("--output", type=click.File("wb"), default="-", help="JSON lines output (with --input).")
def search(index_dir, query, limit, autocomplete, lat, lon, type_, postcode, citycode, debug,
           input_, column, output) -> None:
    """Search QUERY, or every query of --input, and print geocodejson."""
    geocoder = open_geocoder(index_dir)
    filters = _filters(type_, postcode, citycode)
    options = dict(limit=limit, autocomplete=autocomplete, lat=lat, lon=lon, filters=filters)
    if input_ is None:
        if not query:
            raise click.UsageError("give a QUERY or --input FILE")
        try:
            result = geocoder.search(query, debug=debug, **options)
        except BaliseError as e:
            raise click.ClickException(e.description) from e
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    rows = csv.DictReader(input_) if column else ({"q": line.rstrip("\n")} for line in input_)
    started, count = time.perf_counter(), 0
    for row in rows:
        q = row.get(column or "q") or ""
        try:
            result = geocoder.search(q, debug=debug, **options)
        except BaliseError as e:
            result = {"query": q, "error": e.as_dict()}
        output.write(orjson.dumps(result) + b"\n")
        count += 1
    elapsed = time.perf_counter() - started
    click.echo(f"{count} queries in {elapsed:.2f} s ({count / max(elapsed, 1e-9):.0f}/s)", err=True)


if __name__ == "__main__":
    sys.exit(main())
