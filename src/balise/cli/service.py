"""Commands that run the service: ``serve``, ``healthcheck``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import from_settings, index_option, main, settings


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

    from ..index import IndexFormatError, IndexReader
    from ..index.pointer import resolve

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

