"""Shared fixtures of the functional tests: a real ``balise serve`` (gunicorn, 2 workers) on
the dev index, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest


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

    def request(self, method: str, path: str, params=None, headers: dict | None = None) -> Response:
        """One request on a new connection; ``params`` a dict or a list of pairs (repeats)."""
        query = urlencode(params or {}, doseq=True)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, f"{path}?{query}" if query else path, headers=headers or {})
            answer = conn.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            conn.close()

    def get(self, path: str, params=None, headers: dict | None = None) -> Response:
        return self.request("GET", path, params, headers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(france_index, tmp_path_factory) -> Client:
    """``balise serve`` in a subprocess, exactly as a user runs it, until the session ends."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if k not in ("BIND", "WORKERS")}
    env["BALISE_RATE_LIMITS"] = ""  # The tests send many requests from one address.
    cmd = [sys.executable, "-m", "balise.cli", "serve", "--index", str(france_index),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    client = Client("127.0.0.1", port)
    try:
        wait_until_healthy(client, proc, log)
        yield client
    finally:
        stop(proc)


def wait_until_healthy(client: Client, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"balise serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if client.get("/health").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc)
    pytest.fail(f"balise serve did not answer within {timeout} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    """A graceful stop (SIGTERM) of the gunicorn master we started, then a kill if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
