"""A real ``balise serve`` (granian) in a subprocess and a small HTTP client for it, shared by
the functional tests and the ops tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

# Not inherited from the test run: each server gets its own address, workers and metrics.
OWN_VARIABLES = ("BIND", "WORKERS", "PROMETHEUS_MULTIPROC_DIR", "BALISE_METRICS_DIR_OWNER")


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Client:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, params=None, headers: dict | None = None,
                timeout: float = 30) -> Response:
        """One request on a new connection; ``params`` a dict or a list of pairs (repeats)."""
        query = urlencode(params or {}, doseq=True)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, f"{path}?{query}" if query else path, headers=headers or {})
            answer = conn.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            conn.close()

    def get(self, path: str, params=None, headers: dict | None = None, timeout: float = 30) -> Response:
        return self.request("GET", path, params, headers, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def balise_serve(index: Path, directory: Path, workers: int = 2, **env: str) -> Iterator[Client]:
    """``balise serve`` exactly as a user runs it (this environment plus ``env``), answering
    when the block starts; stopped with all its workers when it ends, whatever happened.
    Its output goes to ``directory/server.log``."""
    port = free_port()
    log = directory / "server.log"
    environ = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
    environ.update(env)
    cmd = [sys.executable, "-m", "balise.cli", "serve", "--index", str(index),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as out:
        # a session of its own: its process group holds the master and every worker (see stop)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=environ,
                                start_new_session=True)
    client = Client("127.0.0.1", port)
    try:
        wait_until_healthy(client, proc, log)
        yield client
    finally:
        stop(proc, group=True)


def wait_until_healthy(client: Client, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"balise serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if client.get("/health", timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"balise serve did not answer within {timeout} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen, group: bool = False) -> None:
    """A graceful stop (SIGTERM) of the server's master we started (it stops its workers),
    then a kill if it hangs. ``group``: it leads a process group of its own
    (``start_new_session``), killed too, so that no worker outlives its master."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)
    if group:
        with contextlib.suppress(ProcessLookupError):  # none left: the usual case
            os.killpg(proc.pid, signal.SIGKILL)
