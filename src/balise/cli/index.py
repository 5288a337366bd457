"""Commands that make indexes: ``import``, ``make-poi``, ``bundle create|fetch|publish``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import A_FILE, echo_skipped, from_settings, in_service, index_option, main, refusal, settings


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
            files: tuple[Path, ...]) -> None:
    """Build an index from Addok NDJSON, BAN CSV or BANO CSV files (plain or .gz).

    Into an index root (a directory with a `current` link, as the image's /data/index), the
    index is built beside its versions, then published as the current one (as `bundle publish`).
    """
    import shutil

    from tqdm import tqdm

    from ..importer.build import build_index, parse_memory
    from ..index.pointer import current_target, install

    try:
        budget = parse_memory(memory)
    except ValueError as e:
        raise click.BadParameter(f"{memory!r}: a size such as 2GB or 512MB", param_hint="--memory") from e

    root = index_dir if current_target(index_dir) is not None else None
    if root is not None:
        index_dir = root / f".import-{os.getpid()}"  # hidden: never taken for a version
    total = sum(Path(f).stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, disable=quiet, desc="import") as bar:

        def progress(done: int) -> None:
            if done - bar.n > 1 << 20 or done >= total:
                bar.update(done - bar.n)

        manifest, report = build_index(list(files), index_dir, communes_dir, rules, progress,
                                       memory=budget, workers=workers or None)
    if root is not None:
        try:
            index_dir = install(root, index_dir, settings().index_keep)
        finally:
            shutil.rmtree(root / f".import-{os.getpid()}", ignore_errors=True)
        click.echo(f"{root}/current -> {index_dir.name}")
    r = manifest["import_report"]
    counts = manifest["counts"]
    click.echo(
        f"indexed {counts['documents']:,} documents, {counts['housenumbers']:,} house numbers, "
        f"{counts['terms']:,} terms into {index_dir} ({manifest['bytes'] / 1e6:.1f} MB) "
        f"in {r['seconds']:.1f} s, peak memory {r['peak_memory_mb']:.0f} MB; "
        f"read {r['bytes_read'] / 1e6:.1f} MB; skipped {r['bad_lines']:,} bad lines"
    )
    echo_skipped(r["examples"])


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
    from ..importer.poi import make_pois

    if not (communes_dir or points or exports):
        raise click.UsageError("give --communes, --points or --from")
    written, report = make_pois(out, communes_dir, points, exports, departements)
    click.echo(f"wrote {written:,} points of interest to {out}; skipped {report.bad_lines:,}")
    echo_skipped(report.examples)

@main.group()
def bundle() -> None:
    """Index bundles: pack an index, fetch one and swap it in (docs/deploy.md)."""


@bundle.command("create")
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--level", type=int, help="Compression level [default: zstd 9, gzip 6; 19: smallest, slow].")
def bundle_create(index_dir: Path, out: Path, level: int | None) -> None:
    """Pack INDEX_DIR (an index, or a root: its current one) into OUT (.tar.zst or .tar.gz),
    with OUT.sha256 and OUT.json beside it."""
    from ..archive import BundleError
    from ..bundle import create
    from ..index import IndexFormatError

    try:
        d = create(in_service(index_dir), out, level)
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

    from ..archive import BundleError
    from ..bundle import fetch

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
    from ..archive import BundleError
    from ..bundle import check_version
    from ..index import IndexFormatError, IndexReader
    from ..index.pointer import install

    index_dir = in_service(index_dir)
    try:
        check_version(IndexReader(index_dir).manifest.get("version"))
        directory = install(root, index_dir, keep)
    except (IndexFormatError, BundleError, OSError) as e:
        raise refusal(e) from e
    click.echo(f"{root}/current -> {directory.name}")
