"""The ``balise`` command's group and what its commands share: the settings, read once per
run, the ``--index`` option, one-line errors (the commands: ``index.py``, ``query.py``,
``service.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..config import SettingError, Settings

if TYPE_CHECKING:
    from ..geocoder import Geocoder
    from ..search.geojson import Credits

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """The settings, read from the environment once per run, by the first command or option
    default that needs them (never at import); a bad one stops the command, named."""
    root = click.get_current_context().find_root()
    if root.obj is None:
        try:
            root.obj = Settings.from_env()
        except SettingError as e:
            raise click.ClickException(str(e)) from e
    found: Settings = root.obj
    return found


def from_settings(name: str) -> Callable[[], Any]:
    """An option's default: the setting ``name``, read when the command runs."""
    return lambda: getattr(settings(), name)


def index_option(f: F) -> F:
    return click.option(
        "--index", "index_dir", type=click.Path(path_type=Path), default=from_settings("index"),
        show_default="BALISE_INDEX, else var/index",
        help="Index directory, or an index root whose `current` link is followed (BALISE_INDEX).",
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


def credits() -> Credits:
    """The attribution and licence the settings choose (empty: the index's own)."""
    from ..search.geojson import Credits

    return Credits(settings().attribution, settings().licence)


def in_service(index_dir: Path) -> Path:
    """The index directory a command reads: ``index_dir`` itself, or the version an index
    root's ``current`` link points to now (as ``serve`` follows it), kept for the whole run."""
    from ..index import IndexFormatError
    from ..index.pointer import resolve

    try:
        return resolve(index_dir)
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e


def open_geocoder(index_dir: Path) -> Geocoder:
    """The geocoder of the index (or root) ``index_dir``, with the attribution and licence
    of the settings if set (else its sources')."""
    from ..geocoder import Geocoder
    from ..index import IndexFormatError

    try:
        return Geocoder.open(in_service(index_dir), credits=credits())
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e
