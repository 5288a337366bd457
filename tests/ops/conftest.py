"""Real Redis for the ops tests: servers, a Sentinel set and a Cluster, each in a temporary
directory on free ports, stopped after use. Needs the Debian packages ``redis-server``,
``redis-sentinel`` and ``redis-tools`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed (apt-get install redis-server redis-sentinel redis-tools)")


def free_port(cluster: bool = False) -> int:
    """A free TCP port; for a Cluster node one under 55536 whose bus port (+10000) is free too."""
    if not cluster:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(100):
        port = random.randint(20000, 45000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def wait_for(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Polls ``check()`` until it returns a true value (returned), or fails the test."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - polled until it works
            last_error = error
        time.sleep(interval)
    pytest.fail(f"{what} not reached within {timeout} s (last error: {last_error!r})")


def samples(text: str) -> dict[tuple, float]:
    """The samples of a Prometheus text exposition: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(found: dict, name: str, **labels) -> float:
    """The sum of the samples named ``name`` that carry ``labels``."""
    return sum(v for (n, lab), v in found.items()
               if n == name and all(dict(lab).get(k) == val for k, val in labels.items()))


@dataclass
class RedisProcess:
    """One ``redis-server`` (or sentinel) we started; it can be killed and started again."""

    directory: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        require("redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - kept open by the child
        cmd = ["redis-server", *self.args, "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.directory), "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited: {(self.directory / 'redis.log').read_text()[-2000:]}")
            try:
                if self.ping():
                    return self
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def client(self, **options) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, **options)

    def ping(self) -> bool:
        with self.client() as c:
            return bool(c.ping())

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP) process cannot exit
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def redis_factory(tmp_path) -> Iterator:
    """``make(*args)`` starts a new Redis on a free port, stopped at the end of the test."""
    started: list[RedisProcess] = []

    def make(*args: str, port: int | None = None) -> RedisProcess:
        server = RedisProcess(tmp_path / f"redis-{len(started)}", port or free_port(), list(args))
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory) -> Iterator[RedisProcess]:
    """One Redis for the tests that do not break it (each test flushes it first: see ``redis_url``)."""
    server = RedisProcess(tmp_path_factory.mktemp("redis-shared"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(shared_redis) -> str:
    """The URL of the shared Redis, emptied for this test."""
    with shared_redis.client() as c:
        c.flushall()
    return shared_redis.url


@dataclass
class SentinelSet:
    primary: RedisProcess
    replica: RedisProcess
    sentinels: list[RedisProcess]
    service: str = "balise"

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def primary_port(self) -> int:
        with redis.Redis(port=self.sentinels[0].port, socket_timeout=1) as c:
            return int(c.sentinel_get_master_addr_by_name(self.service)[1])


def _sentinel_ready(sentinel: RedisProcess) -> bool:
    with sentinel.client() as c:
        master = c.sentinel_master("balise")
        return master["num-other-sentinels"] == 2 and len(c.sentinel_slaves("balise")) == 1


@pytest.fixture
def sentinel_set(tmp_path) -> Iterator[SentinelSet]:
    """A primary, a replica and three sentinels (quorum 2) that fail over within seconds."""
    require("redis-sentinel")  # redis-server --sentinel is what runs, but Debian ships it there
    started: list[RedisProcess] = []
    try:
        primary = RedisProcess(tmp_path / "primary", free_port()).start()
        started.append(primary)
        replica = RedisProcess(tmp_path / "replica", free_port(),
                               ["--replicaof", "127.0.0.1", str(primary.port)]).start()
        started.append(replica)
        wait_for(lambda: replica.client().info("replication").get("master_link_status") == "up",
                 what="replica in sync")
        sentinels = []
        for i in range(3):
            directory = tmp_path / f"sentinel-{i}"
            directory.mkdir()
            config = directory / "sentinel.conf"
            config.write_text(
                f"sentinel monitor balise 127.0.0.1 {primary.port} 2\n"
                "sentinel down-after-milliseconds balise 600\n"
                "sentinel failover-timeout balise 4000\n"
                "sentinel parallel-syncs balise 1\n")
            sentinel = RedisProcess(directory, free_port(), [str(config), "--sentinel"])
            started.append(sentinel.start())
            sentinels.append(sentinel)
        group = SentinelSet(primary, replica, sentinels)
        # every sentinel knows the replica and the other sentinels before a test kills anything
        wait_for(lambda: all(_sentinel_ready(s) for s in sentinels), timeout=15,
                 what="sentinels discovering each other")
        yield group
    finally:
        for server in reversed(started):
            server.stop()


@dataclass
class Cluster:
    nodes: list[RedisProcess]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def keys_per_node(self, pattern: str = "*") -> list[int]:
        return [len(n.client().keys(pattern)) for n in self.nodes]


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A Redis Cluster of three primaries (``redis-cli --cluster create``)."""
    require("redis-cli")
    base = tmp_path_factory.mktemp("cluster")
    nodes: list[RedisProcess] = []
    try:
        for i in range(3):
            port = free_port(cluster=True)
            nodes.append(RedisProcess(base / f"node-{i}", port, [
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000"]).start())
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_for(lambda: all(n.client().cluster("info")["cluster_state"] == "ok" for n in nodes),
                 timeout=30, what="cluster state ok")
        yield Cluster(nodes)
    finally:
        for node in nodes:
            node.stop()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class _ThreadedServer(WSGIServer):
    daemon_threads = True


@pytest.fixture
def serve() -> Iterator:
    """``serve(wsgi_app)`` runs the app on a real WSGI server (wsgiref, a thread) and
    returns ``(host, port)``; the server stops at the end of the test."""
    servers = []

    def start(app) -> tuple[str, int]:
        server = make_server("127.0.0.1", 0, app, server_class=_ThreadedServer, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return "127.0.0.1", server.server_port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_multiprocess_metrics(monkeypatch):
    """In-process tests use each Metrics object's own registry (the server test sets the dir)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
