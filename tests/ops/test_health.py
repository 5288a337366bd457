"""Health endpoints: live, ready, detailed; healthy, degraded (Redis down) and unhealthy (index)."""

from __future__ import annotations

import falcon.testing
import pytest

from balise import Geocoder
from balise.config import Settings
from balise.http import create_app
from balise.http.resources import CACHED, JSON
from balise.ops import install
from balise.ops.health import ResponseTimes
from tests.ops.conftest import free_port


@pytest.fixture(scope="module")
def geocoder(sample_index):
    return Geocoder.open(sample_index)


def client_for(geocoder, tmp_path=None, **env):
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false", **env})
    app = create_app(geocoder, settings, with_ops=False)
    ops = install(app, geocoder, settings, CACHED, JSON)
    return falcon.testing.TestClient(app), ops


def test_healthy_with_redis_and_l3(geocoder, redis_url, tmp_path):
    client, ops = client_for(geocoder, BALISE_REDIS_URL=redis_url, BALISE_HEALTH_HOST_DETAILS="true",
                             BALISE_CACHE_SQLITE=str(tmp_path / "l3.db"))
    for _ in range(3):
        client.simulate_get("/search", params={"q": "rue de rivoli"})
    assert client.simulate_get("/health/live").json["status"] == "alive"
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 200 and ready.json == {"status": "ready", "index": geocoder.version}
    detailed = client.simulate_get("/health/detailed")
    body = detailed.json
    assert detailed.status_code == 200 and body["status"] == "healthy", body
    checks = body["checks"]
    assert checks["index"]["healthy"] and checks["index"]["documents"] == 675
    assert checks["redis"]["status"] == "up" and checks["redis"]["breaker"]["state"] == "closed"
    assert checks["redis"]["target"] == {"kind": "standalone", "hosts": [redis_url[8:-2]]}
    assert checks["cache"]["tiers"]["l1"]["hits"] == 2 and set(checks["cache"]["tiers"]) == {"l1", "l2", "l3"}
    assert checks["memory"]["rss_mb"] > 10 and checks["disk"]["healthy"]
    assert str(tmp_path) in checks["disk"]["paths"]
    assert checks["response_time"]["count"] == 3 and checks["response_time"]["p95_ms"] > 0
    assert client.simulate_get("/health").json["status"] == "HEALTHY"  # Addok's, untouched
    ops.close()


def test_detailed_is_private_and_without_host_details_by_default(geocoder, redis_url, tmp_path):
    l3 = str(tmp_path / "l3.db")
    client, ops = client_for(geocoder, BALISE_REDIS_URL=redis_url, BALISE_CACHE_SQLITE=l3)
    outsider = client.simulate_get("/health/detailed", remote_addr="203.0.113.9")
    assert outsider.status_code == 403 and outsider.json["title"] == "Forbidden"
    body = client.simulate_get("/health/detailed").json  # falcon's test client: from 127.0.0.1
    assert body["status"] == "healthy" and "pid" not in body
    checks = body["checks"]
    assert checks["memory"] == {"healthy": True} and checks["disk"] == {"healthy": True}
    assert "target" not in checks["redis"] and checks["redis"]["status"] == "up"
    assert str(tmp_path) not in client.simulate_get("/health/detailed").text
    ops.close()
    # another network; through a trusted proxy, never, whatever the address it names
    client, ops = client_for(geocoder, BALISE_HEALTH_NETWORKS="10.1.0.0/16",
                             BALISE_TRUSTED_PROXIES="127.0.0.1")
    assert client.simulate_get("/health/detailed").status_code == 403
    assert client.simulate_get("/health/detailed", remote_addr="10.1.2.3").status_code == 200
    inside = {"X-Forwarded-For": "10.1.2.3"}
    assert client.simulate_get("/health/detailed", headers=inside).status_code == 403
    nobody, _ = client_for(geocoder, BALISE_HEALTH_NETWORKS="")
    assert nobody.simulate_get("/health/detailed").status_code == 403
    with pytest.raises(ValueError, match="BALISE_HEALTH_NETWORKS"):
        client_for(geocoder, BALISE_HEALTH_NETWORKS="10.0.0.0/33")


def test_redis_down_is_degraded_not_unhealthy(geocoder):
    client, _ = client_for(geocoder, BALISE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                           BALISE_REDIS_TIMEOUT="0.1")
    for n in range(6):  # answers keep coming; the breaker opens
        assert client.simulate_get("/search", params={"q": f"{n} rue de rivoli"}).status_code == 200
    detailed = client.simulate_get("/health/detailed")
    assert detailed.status_code == 200 and detailed.json["status"] == "degraded"
    redis = detailed.json["checks"]["redis"]
    assert redis["status"] == "down" and not redis["healthy"] and redis["breaker"]["state"] == "open"
    assert client.simulate_get("/health/ready").status_code == 200


def test_without_redis_is_healthy(geocoder):
    client, _ = client_for(geocoder)
    body = client.simulate_get("/health/detailed").json
    assert body["status"] == "healthy" and body["checks"]["redis"] == {"healthy": True, "status": "disabled"}


def test_a_broken_index_is_unhealthy(geocoder):
    class Broken:
        """The index fails on every query (a fault that cannot be caused safely: a truncated
        memory-mapped file would kill the test process with SIGBUS)."""

        def __getattr__(self, name):
            return getattr(geocoder, name)

        def search(self, *args, **kwargs):
            raise OSError("Input/output error")

    client, _ = client_for(Broken())
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503 and "Input/output error" in ready.json["error"]
    detailed = client.simulate_get("/health/detailed")
    assert detailed.status_code == 503 and detailed.json["status"] == "unhealthy"
    assert client.simulate_get("/health/live").status_code == 200


def test_response_times_window():
    times = ResponseTimes(size=100, window=10)
    for n in range(1, 101):
        times.add(n / 1000, now=1000.0)
    summary = times.summary(now=1005.0)
    assert summary["count"] == 100 and summary["p50_ms"] == 50 and summary["p95_ms"] == 95
    times.add(0.5, now=1020.0)
    assert times.summary(now=1021.0)["count"] == 1  # the older ones left the window
    assert ResponseTimes().summary()["p50_ms"] is None
