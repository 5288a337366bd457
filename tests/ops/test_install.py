"""``install``: the pieces, their order, their routes; settings checked at start-up."""

from __future__ import annotations

import gzip
import os

import falcon.testing
import orjson
import pytest

from balise import Geocoder, ops
from balise.config import SettingError, Settings
from balise.http import create_app
from balise.http.resources import CACHED, JSON
from balise.ops.cache.middleware import CacheMiddleware
from balise.ops.cache.tiers import MemoryTier, RedisTier, SqliteTier
from balise.ops.compression import CompressionMiddleware
from balise.ops.logging import AccessLogMiddleware
from balise.ops.ratelimit import RateLimitMiddleware


@pytest.fixture(scope="module")
def geocoder(sample_index):
    return Geocoder.open(sample_index)


def test_build_follows_the_settings(geocoder, tmp_path):
    plain = ops.build(geocoder, Settings.from_env({}), CACHED, JSON)
    assert [type(t) for t in plain.cache.tiers] == [MemoryTier] and not plain.redis.enabled
    assert [r.path for r in plain.limiter.rules] == ["*", "/search/csv", "/reverse/csv"]  # the defaults
    kinds = [type(m) for m in plain.middleware]
    # responses pass through these in reverse: the cache stores before compression encodes
    assert kinds.index(AccessLogMiddleware) == 0
    order = [kinds.index(k) for k in (RateLimitMiddleware, CompressionMiddleware, CacheMiddleware)]
    assert order == sorted(order)
    assert set(plain.routes) == {"/metrics", "/health/live", "/health/ready", "/health/detailed"}

    full = ops.build(geocoder, Settings.from_env({"BALISE_REDIS_URL": "redis://127.0.0.1:1/0",
                                                  "BALISE_CACHE_SQLITE": str(tmp_path / "c.db"),
                                                  "BALISE_CACHE_ENTRIES": "0", "BALISE_RATE_LIMITS": ""}))
    assert [type(t) for t in full.cache.tiers] == [RedisTier, SqliteTier] and full.limiter.rules == []
    assert not (tmp_path / "c.db").exists()  # nothing opened before first use (or post_fork)


@pytest.mark.parametrize(("name", "value"), [
    ("BALISE_RATE_LIMITS", "/search=fast"), ("BALISE_REDIS_URL", "memcached://x"),
    ("BALISE_TRUSTED_PROXIES", "no where"), ("BALISE_COMPRESS_LEVELS", "br"), ("BALISE_LOG_FORMAT", "xml"),
])
def test_bad_settings_fail_at_start_up(name, value):
    with pytest.raises(SettingError, match=name):
        Settings.from_env({name: value})


def test_install_adds_routes_and_middleware(geocoder):
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "", "BALISE_LOG_REQUESTS": "false"})
    app = create_app(geocoder, settings, with_ops=False)
    installed = ops.install(app, geocoder, settings, CACHED, JSON)
    client = falcon.testing.TestClient(app)
    answer = client.simulate_get("/search", params={"q": "rue de rivoli"},
                                 headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip"
    assert answer.headers["access-control-allow-origin"] == "*"  # the app's own middleware still runs
    assert orjson.loads(gzip.decompress(answer.content))["features"]
    for path in ("/metrics", "/health/live", "/health/ready", "/health/detailed"):
        assert client.simulate_get(path).status_code == 200
    assert installed.cache.misses == {"l1": 1}


def test_prepare_metrics_dir_empties_an_earlier_runs_files(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("BALISE_METRICS_DIR_OWNER", raising=False)
    path = ops.prepare_metrics_dir(str(tmp_path))
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == path and path.startswith(str(tmp_path))
    stale = os.path.join(path, "counter_1.db")
    open(stale, "w").close()
    assert ops.prepare_metrics_dir(str(tmp_path)) == path and os.path.exists(stale)  # same master: kept
    monkeypatch.setenv("BALISE_METRICS_DIR_OWNER", "1")  # another master starting
    ops.prepare_metrics_dir(str(tmp_path))
    assert not os.path.exists(stale)
