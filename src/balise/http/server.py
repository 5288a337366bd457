"""The HTTP server of ``balise serve``: granian (HTTP/1.1 in Rust) running the WSGI app in
worker processes forked from a master that opened the index first.

    python -m balise.http.server [MODULE:FACTORY]    # default: balise.http.app:serve

Why granian rather than gunicorn (measured side by side, docs/deploy.md "The HTTP server"):

- its HTTP/1.1 layer is an event loop in Rust: a request reaches Python only once its
  request line and headers are in, so clients that send them slowly hold a socket, never a
  worker thread (one such client blocked a gunicorn sync or gthread worker until it left);
- a request costs it about a third of what it costs gunicorn (bench/README.md, "The HTTP
  server"), which is what bounds cached answers (most of the traffic, the plan's 95 % hit
  rate).

What gunicorn's hooks did is done here: the app is built once in the master (preload: the
index maps and what warm-up built are shared by the workers, frozen out of the collector's
reach by ``gc.freeze``), each worker opens its own Redis and SQLite connections when it starts
(``ops.post_fork``), and /metrics forgets the live gauges of dead workers itself (granian has
no child-exit hook). Granian reads no environment variable when embedded: every value below
comes from ``balise.config.Settings``.

NOTE: a request body is read by the app, not by granian, so a body sent slowly holds the
worker thread that reads it: the only routes that read one (the CSV uploads) take a slot of
their own, ``THREADS - 1`` per worker, so at least one thread per worker is always left for
the rest (http/resources.py, ``UploadSlots``).
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import sys
from collections.abc import Callable
from typing import Any

from .. import ops
from ..config import SettingError, Settings

DEFAULT_APP = "balise.http.app:serve"

# The app, built in the master before the workers are forked (they inherit it).
_preloaded: Any = None


def load(target: str, settings: Settings) -> Any:
    """The WSGI app made by ``MODULE:FACTORY`` (a callable of the settings)."""
    module_name, _, name = target.partition(":")
    factory: Callable[[Settings], Any] = getattr(importlib.import_module(module_name), name or "app")
    return factory(settings)


def worker_app() -> Any:
    """Granian's loader, run in each worker after the fork: the master's app, with this
    worker's own connections opened before its first request."""
    ops.post_fork()
    return _preloaded


def build_server(settings: Settings) -> Any:
    """A granian server configured from ``settings`` (not started)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    host, _, port = settings.bind.rpartition(":")
    return Server(
        "balise",  # unused: the loader is worker_app
        address=host.strip("[]") or "0.0.0.0",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=settings.workers,
        # Threads that run the app in a worker: geocoding is CPU-bound and holds the GIL, so
        # more only interleave requests; CSV uploads may hold all but one (UploadSlots).
        blocking_threads=settings.threads,
        http=HTTPModes.http1,
        websockets=False,
        # Headers must arrive within KEEPALIVE seconds; hyper applies the same timeout to an
        # idle kept-alive connection waiting for its next request.
        http1_settings=HTTP1Settings(header_read_timeout=settings.keepalive * 1000, keep_alive=True),
        log_level=settings.log_level,
        log_access=False,  # balise logs each request itself (ops/logging.py)
        respawn_failed_workers=True,
        workers_kill_timeout=settings.graceful_timeout or None,
        workers_lifetime=settings.worker_lifetime or None,
        workers_max_rss=settings.worker_max_rss or None,
        rss_sample_interval=settings.worker_check_interval,
    )


def main(argv: list[str] | None = None) -> None:
    global _preloaded
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = Settings.from_env()  # the only place the server reads its settings
    except SettingError as error:
        sys.exit(f"balise serve: {error}")
    # Before prometheus_client is imported (by the app): metrics of every worker, summed.
    ops.prepare_metrics_dir(settings.worker_tmp_dir)
    # NOTE: the workers must be forked (not spawned, Python 3.14's default elsewhere) to
    # inherit the app built below.
    multiprocessing.set_start_method("fork", force=True)
    _preloaded = load(argv[0] if argv else DEFAULT_APP, settings)
    # Everything the master built goes to the permanent generation: a worker's collector
    # never writes to those objects, so their pages stay shared (no copy-on-write).
    gc.freeze()
    build_server(settings).serve(target_loader=worker_app, wrap_loader=False)


if __name__ == "__main__":
    main()
