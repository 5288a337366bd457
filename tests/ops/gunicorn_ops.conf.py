"""Gunicorn configuration of the ops test: the hooks as gunicorn.conf.py is to have them."""

from balise import ops
from balise.config import Settings

settings = Settings.from_env()
ops.prepare_metrics_dir(settings.worker_tmp_dir)  # before prometheus_client is imported

bind = settings.bind
workers = settings.workers
worker_class = settings.worker_class
threads = settings.threads
keepalive = settings.keepalive
preload_app = True
worker_tmp_dir = settings.worker_tmp_dir
errorlog = "-"
loglevel = "warning"


def post_fork(server, worker):
    ops.post_fork(server, worker)


def child_exit(server, worker):
    ops.child_exit(server, worker)
