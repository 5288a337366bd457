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

What granian does for slow and many clients, and what balise adds (measured: docs/deploy.md,
"Slow and hostile clients"):

- headers must arrive within ``KEEPALIVE`` seconds, and an idle kept-alive connection is
  closed after as long (hyper's header read timeout);
- each worker holds at most ``MAX_CONNECTIONS`` connections (granian's ``backpressure``, a
  permit per connection, idle ones included; 1024 in all by default, which 1,100 idle
  connections filled): balise sets 10,000 a worker, or what the open-file limit allows, whose
  soft value it raises to the hard one (an idle connection costs about 1 KB);
- a request body is the app's to read, with no timeout: requests with a body run on threads
  of their own (``THREADS`` more a worker) and must keep up a minimum rate (http/bodies.py);
- an answer a client does not read blocks the thread that sends it, with no timeout either:
  ``SEND_TIMEOUT`` sets the kernel's ``TCP_USER_TIMEOUT`` on the worker's listening socket
  (its connections inherit it), which drops a connection whose data stays unacknowledged, a
  closed window included, for that long; the answer's thread is then let go.
"""

from __future__ import annotations

import gc
import importlib
import logging
import multiprocessing
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import ops
from ..config import SettingError, Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from granian.server import MPServer, MTServer

DEFAULT_APP = "balise.http.app:serve"
CONNECTIONS = 10_000  # per worker, by default (MAX_CONNECTIONS=0)
SPARE_FILES = 512  # open files a worker keeps for other things than connections

log = logging.getLogger(__name__)

# The app and the settings, made in the master before the workers are forked (they inherit them).
_preloaded: WSGIApplication | None = None
_settings: Settings | None = None


def load(target: str, settings: Settings) -> WSGIApplication:
    """The WSGI app made by ``MODULE:FACTORY`` (a callable of the settings)."""
    module_name, _, name = target.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[[Settings], WSGIApplication] = getattr(module, name or "app")
    return factory(settings)


def worker_app() -> WSGIApplication:
    """Granian's loader, run in each worker after the fork: the master's app, with this
    worker's own connections opened before its first request, and its listening socket tuned
    once granian has made it."""
    ops.post_fork()
    if _settings is not None and _settings.send_timeout:
        port = int(_settings.bind.rpartition(":")[2])
        threading.Thread(target=tune_listener, args=(port, _settings.send_timeout), daemon=True,
                         name="balise-listener").start()
    assert _preloaded is not None  # main() loads the app before the server starts
    return _preloaded


def tune_listener(port: int, send_timeout: int, wait: float = 10.0) -> bool:
    """Set ``TCP_USER_TIMEOUT`` on this process's listening socket on ``port``, which the
    connections it accepts inherit; False if none was found within ``wait`` seconds.

    NOTE: granian makes each worker's listener itself (``SO_REUSEPORT``) and sets no timeout on
    writes; the socket is found among the process's open files, once granian has made it.
    """
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for name in os.listdir("/proc/self/fd"):
            try:
                sock = socket.socket(fileno=os.dup(int(name)))
            except OSError:
                continue
            with sock:
                try:
                    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                    if listening and sock.type == socket.SOCK_STREAM and sock.getsockname()[1] == port:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, send_timeout * 1000)
                        return True
                except OSError:
                    continue
        time.sleep(0.05)
    log.warning("no listening socket on port %d found: SEND_TIMEOUT not applied", port)
    return False


def connections_per_worker(settings: Settings) -> int:
    """``MAX_CONNECTIONS``, or 10,000, or fewer when the open-file limit is lower (its soft
    value raised to the hard one first: a worker needs a file for each connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, CONNECTIONS + SPARE_FILES)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return settings.max_connections or max(64, min(CONNECTIONS, soft - SPARE_FILES))


def build_server(settings: Settings) -> MPServer | MTServer:
    """A granian server configured from ``settings`` (not started)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    host, _, port = settings.bind.rpartition(":")
    return Server(
        "balise",  # unused: the loader is worker_app
        address=host.strip("[]") or "0.0.0.0",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=settings.workers,
        # Threads that run the app in a worker: geocoding is CPU-bound and holds the GIL, so
        # more only interleave requests; THREADS more for requests with a body, whose clients
        # may be slow to send it (http/bodies.py, BodySlots).
        blocking_threads=2 * settings.threads,
        # Connections each worker holds (granian holds a permit per connection, idle or not);
        # those beyond wait in the listen backlog.
        backpressure=connections_per_worker(settings),
        backlog=2048,
        http=HTTPModes.http1,
        websockets=False,
        # Headers must arrive within KEEPALIVE seconds; hyper applies the same timeout to an
        # idle kept-alive connection waiting for its next request.
        http1_settings=HTTP1Settings(header_read_timeout=settings.keepalive * 1000, keep_alive=True),
        log_level=LogLevels(settings.log_level),  # one of them: the setting's choices
        log_access=False,  # balise logs each request itself (ops/logging.py)
        respawn_failed_workers=True,
        workers_kill_timeout=settings.graceful_timeout or None,
        workers_lifetime=settings.worker_lifetime or None,
        workers_max_rss=settings.worker_max_rss or None,
        rss_sample_interval=settings.worker_check_interval,
    )


def main(argv: list[str] | None = None) -> None:
    global _preloaded, _settings
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = Settings.from_env()  # the only place the server reads its settings
    except SettingError as error:
        sys.exit(f"balise serve: {error}")
    _settings = settings
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
