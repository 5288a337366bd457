"""Metrics: the series of one process, and the sum over the server's workers (multiprocess mode)."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import falcon.testing
import pytest

from balise import Geocoder
from balise.config import Settings
from balise.http import create_app
from balise.http.resources import CACHED, JSON
from balise.ops import install
from tests.ops.conftest import env_without, free_port, samples, total, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_one_process(sample_index):
    geocoder = Geocoder.open(sample_index)
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "/search=3/minute", "BALISE_LOG_REQUESTS": "false"})
    app = create_app(geocoder, settings, with_ops=False)
    install(app, geocoder, settings, CACHED, JSON)
    client = falcon.testing.TestClient(app)
    for _ in range(4):
        client.simulate_get("/search", params={"q": "rue de rivoli"})
    client.simulate_get("/nowhere")
    found = samples(client.simulate_get("/metrics").text)
    assert total(found, "balise_http_requests_total", endpoint="/search", status="200") == 3
    # refused after routing, before any work: counted on its route
    assert total(found, "balise_http_requests_total", endpoint="/search", status="429") == 1
    assert total(found, "balise_http_requests_total", endpoint="other", status="404") == 1
    assert total(found, "balise_http_request_duration_seconds_count", endpoint="/search") == 4
    assert total(found, "balise_cache_lookups_total", tier="l1", result="hit") == 2
    assert total(found, "balise_cache_lookups_total", tier="l1", result="miss") == 1
    assert total(found, "balise_rate_limited_total", scope="/search") == 1
    assert total(found, "balise_redis_breaker_state") == 0
    assert total(found, "balise_index_info", version=geocoder.version) == 1
    assert total(found, "balise_index_documents") == 675
    assert total(found, "balise_index_built_timestamp_seconds") > 1.7e9


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


@pytest.fixture
def server(sample_index, tmp_path):
    """balise's server (http/server.py) over the ops test's app, 2 workers."""
    port = free_port()
    env = env_without("PROMETHEUS_MULTIPROC_DIR", "BALISE_METRICS_DIR_OWNER")
    env.update(BALISE_INDEX=str(sample_index), BIND=f"127.0.0.1:{port}", WORKERS="2",
               WORKER_TMP_DIR=str(tmp_path), BALISE_RATE_LIMITS="", BALISE_LOG_REQUESTS="false",
               BALISE_HEALTH_HOST_DETAILS="true",
               PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        command = [sys.executable, "-m", "balise.http.server", "tests.ops.ops_app:app"]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and get(port, "/health/ready")[0] == 200, timeout=60,
                 what=f"server ready ({log})")
        yield port, proc, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.returncode not in (0, -signal.SIGTERM):
            print(log.read_text())


def test_workers_are_summed(server):
    import orjson

    port, proc, tmp_path = server
    pids = set()
    for n in range(40):
        assert get(port, f"/search?q={n}+rue+de+rivoli")[0] == 200
        pids.add(orjson.loads(get(port, "/health/detailed")[1])["pid"])
    assert len(pids) == 2  # both workers answered
    metrics_dirs = list(tmp_path.glob("balise-metrics-*"))
    assert len(metrics_dirs) == 1 and any(metrics_dirs[0].glob("counter_*.db"))
    for _ in range(4):  # whichever worker answers, it answers for both
        found = samples(get(port, "/metrics")[1].decode())
        assert total(found, "balise_http_requests_total", endpoint="/search", status="200") == 40
        assert total(found, "balise_http_requests_total", endpoint="/health/detailed") == 40
        assert total(found, "balise_cache_lookups_total", tier="l1") == 40
        assert total(found, "balise_index_documents") == 675

    # a worker that dies: its live gauge goes, its counters stay
    victim = pids.pop()
    gauges = metrics_dirs[0] / f"gauge_livemax_{victim}.db"
    assert gauges.exists()
    os.kill(victim, signal.SIGKILL)
    # the server starts another; a scrape forgets the dead one's live gauges
    wait_for(lambda: get(port, "/metrics")[0] == 200 and not gauges.exists(), timeout=20,
             what="a scrape removed the dead worker's gauges")
    wait_for(lambda: get(port, "/health/ready")[0] == 200, what="a new worker")
    found = samples(get(port, "/metrics")[1].decode())
    assert total(found, "balise_http_requests_total", endpoint="/search", status="200") == 40
