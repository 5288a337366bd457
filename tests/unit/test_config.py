"""Settings (config.py, values.py): declared once, read once, checked at start."""

from __future__ import annotations

import ipaddress
from dataclasses import fields

import pytest

from balise.config import SETTINGS, SettingError, Settings
from balise.values import (
    boolean,
    compression_levels,
    integer,
    networks,
    parse_redis_url,
    path_prefix,
    rate_rules,
)


def test_every_field_is_declared_once_with_its_variable_default_and_help():
    assert [s.field for s in SETTINGS] == [f.name for f in fields(Settings)]
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert all(s.help and isinstance(s.default, str) and callable(s.convert) for s in SETTINGS)


def test_defaults_are_typed_values():
    s = Settings.from_env({})
    assert s.index == "var/index" and s.csv_max_bytes == 50_000_000 and s.keepalive == 30
    assert [r.path for r in s.rate_limits] == ["*", "/search/csv", "/reverse/csv"]
    assert dict(s.compress_levels) == {"br": 4, "gzip": 6, "zstd": 3}
    assert not s.trusted_proxies and s.trusted_hops == 1 and s.public_paths == ()
    assert ipaddress.ip_address("127.0.0.1") in s.health_networks.networks[0]
    assert s.redis is None and s.log_format == "json" and s.log_requests is True


def test_settings_are_matched_by_name_not_position():
    s = Settings.from_env({"BALISE_CACHE_TTL_FUZZY": "7", "BALISE_BATCH_MAX": "3"})
    assert (s.cache_ttl_fuzzy, s.cache_ttl_exact, s.batch_max) == (7, 86400, 3)


def test_every_bad_variable_is_named_in_one_error():
    with pytest.raises(SettingError) as raised:
        Settings.from_env({"KEEPALIVE": "75", "BALISE_RATE_LIMITS": "/search=often", "THREADS": "x",
                           "BALISE_LOG_REQUESTS": "perhaps", "BALISE_REDIS_URL": "memcached://h"})
    message = str(raised.value)
    for name in ("KEEPALIVE", "BALISE_RATE_LIMITS", "THREADS", "BALISE_LOG_REQUESTS", "BALISE_REDIS_URL"):
        assert name in message


def test_nothing_reads_the_environment_at_import(monkeypatch):
    import importlib

    import balise.cli

    monkeypatch.setenv("BALISE_RATE_LIMITS", "nonsense")
    importlib.reload(balise.cli)  # a bad setting does not break an import
    with pytest.raises(SettingError):
        Settings.from_env()


def test_converters():
    assert boolean(" Yes ") is True and boolean("off") is False
    with pytest.raises(ValueError):
        boolean("ye")
    assert integer(1, 60)("60") == 60
    with pytest.raises(ValueError):
        integer(1, 60)("61")
    with pytest.raises(ValueError):
        integer(0, zero_or_from=60)("30")  # WORKER_LIFETIME: 0, or 60 and more
    assert compression_levels("br=11")["br"] == 11
    with pytest.raises(ValueError):
        compression_levels("br=12")
    assert rate_rules("") == () and rate_rules("*=5/minute")[0].covers("/anything")
    assert networks("10.0.0.0/8, ::1")[1] == ipaddress.ip_network("::1")
    target = parse_redis_url("redis+sentinel://:pw@s1:26379,s2/primary/2")
    assert (target.kind, target.service_name, target.db, target.hosts[1]) == ("sentinel", "primary", 2,
                                                                             ("s2", 6379))
    assert "pw" not in repr(target) and "pw" not in str(target.describe())


def test_the_geoplateforme_prefix():
    assert Settings.from_env({}).geocodage_prefix == "/geocodage" and Settings.from_env({}).poi_index == ""
    assert path_prefix("/api/gpf/") == "/api/gpf" and path_prefix(" ") == ""
    for bad in ("geocodage", "/search", "/search/v2", "/health", "/static/x", "/a//b", "/a/../b", "/a b",
                "/é"):
        with pytest.raises(ValueError):
            path_prefix(bad)
