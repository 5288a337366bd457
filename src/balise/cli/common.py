"""The ``balise`` command's group and what its commands share: the settings, read once per
run, the ``--index`` option, one-line errors (the commands: ``index.py``, ``query.py``,
``service.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from ..config import SettingError, Settings
from ..errors import BaliseError


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


def refusal(error: Exception) -> click.ClickException:
    """An error as click's one line ``Error: ...`` (a message never spans lines)."""
    return click.ClickException(" ".join(str(error).split()) or type(error).__name__)


def echo_skipped(examples: Iterable[Sequence[Any]]) -> None:
    """The first lines an import skipped, and why (on stderr)."""
    for path, lineno, reason, line in examples:
        click.echo(f"  skipped {path}:{lineno}: {reason}: {line[:80]!r}", err=True)


A_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def open_geocoder(index_dir: Path):
    from ..geocoder import Geocoder
    from ..index import IndexFormatError

    try:
        return Geocoder.open(index_dir)
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e


def _filters(type_, postcode, citycode) -> dict:
    return {k: v for k, v in (("type", type_), ("postcode", postcode), ("citycode", citycode)) if v}


def _bbox(ctx, param, value: str | None):
    """``--bbox minlon,minlat,maxlon,maxlat`` as numbers (the geocoder checks the box)."""
    from ..search.area import parse_bbox

    if value is None:
        return None
    try:
        return parse_bbox(value)
    except BaliseError as e:
        raise click.BadParameter(e.description) from e


BBOX_HELP = "Only results inside this box: minlon,minlat,maxlon,maxlat."
