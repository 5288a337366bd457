"""Gunicorn configuration of balise (``balise serve``, or ``gunicorn -c THIS_FILE``).

gunicorn reads no environment variable by itself: every value below comes from one,
through ``balise.config.Settings`` (name, default and help of each in ``config.py``).
"""

import gc
import os

from gunicorn.config import KNOWN_SETTINGS

from balise import ops
from balise.config import Settings

settings = Settings.from_env()
# Metrics of every worker, summed by /metrics: PROMETHEUS_MULTIPROC_DIR (if unset: a new
# directory in WORKER_TMP_DIR), emptied of an earlier run's files before the app loads.
ops.prepare_metrics_dir(settings.worker_tmp_dir)

# The app: the index of BALISE_INDEX, opened and warmed up by ``from_env``.
wsgi_app = "balise.http.app:from_env()"
bind = settings.bind  # BIND, "127.0.0.1:7878"; "0.0.0.0:7878" in a container

# Geocoding is CPU-bound: one worker per CPU actually allotted (WORKERS, else the cgroup
# CPU quota, not the host's cpu_count()), sync or gthread; an async worker (gevent) would
# only interleave requests that each need the CPU. gthread keeps idle keep-alive
# connections (from a gateway or a client session) without holding a worker. Measured here
# (2 workers, wrk, bench/): gthread serves more cached answers (trivial endpoint 4,422 vs
# 3,312 req/s for sync, which reconnects for each request); sync balances uncached
# searches better across workers, since a kept-alive connection stays with the worker that
# accepted it (8 connections: 759 vs 669 req/s, p99 21 vs 32 ms; bench/http_load.py).
workers = settings.workers
worker_class = settings.worker_class
threads = settings.threads
keepalive = settings.keepalive

# The index is read-only and memory-mapped: opened in the master before the fork, its
# pages (and what warm-up built) are shared by every worker instead of copied per worker.
preload_app = settings.preload_app

# A worker that says nothing for `timeout` seconds is killed; on a restart each one has
# `graceful_timeout` seconds to finish its requests.
timeout = settings.timeout
graceful_timeout = settings.graceful_timeout

# Workers are replaced after max_requests (+ jitter, so not all at once), which bounds any
# slow growth of their memory. NOTE: far above the plan's 1000: a worker serves 1000 cached
# answers in under a second, and each replacement throws its warm caches away (measured:
# at 50,000 a worker was replaced every 25 s of a cached load and its throughput halved).
# Every cache is bounded, so a worker's memory does not need the restart to stay flat.
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter

# Heartbeat files in RAM: a disk-backed /tmp can stall a write and get a worker killed, and
# the root filesystem may be read-only.
worker_tmp_dir = settings.worker_tmp_dir if os.path.isdir(settings.worker_tmp_dir) else None

# Gunicorn 25+ opens a control socket in its working directory; not on a read-only root.
if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
    control_socket_disable = True

loglevel = settings.log_level
accesslog = settings.access_log or None
errorlog = "-"


def pre_fork(server, worker):
    """Move everything the master built into the permanent generation: the collector of a
    worker never touches those objects, so their pages stay shared (no copy-on-write)."""
    gc.freeze()


def post_fork(server, worker):
    """Per-worker resources (Redis pools, SQLite connections) are opened here, after the
    fork, never in the master: one connection shared by processes breaks. The index maps
    are read-only and safe to share."""
    ops.post_fork(server, worker)


def child_exit(server, worker):
    """A worker is gone: its live gauges go with it, its counters stay."""
    ops.child_exit(server, worker)
