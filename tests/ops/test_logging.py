"""One log line per request, JSON or text, with its request id."""

from __future__ import annotations

import io
import json

import falcon.testing
import pytest

from balise import Geocoder
from balise.config import Settings
from balise.http import create_app
from balise.http.resources import CACHED, JSON
from balise.ops import install
from balise.ops import logging as access_log


@pytest.fixture(scope="module")
def geocoder(sample_index):
    return Geocoder.open(sample_index)


def logged(geocoder, fmt: str, *requests) -> list[str]:
    settings = Settings.from_env({"BALISE_RATE_LIMITS": "", "BALISE_LOG_FORMAT": fmt,
                                  "BALISE_TRUSTED_PROXIES": "127.0.0.1"})
    app = create_app(geocoder, settings, with_ops=False)
    install(app, geocoder, settings, CACHED, JSON)
    stream = io.StringIO()
    access_log.configure(fmt, stream)
    client = falcon.testing.TestClient(app)
    results = [client.simulate_get(path, params=params, headers=headers)
               for path, params, headers in requests]
    return stream.getvalue().splitlines(), results


def test_json_lines(geocoder):
    lines, results = logged(geocoder, "json",
                            ("/search", {"q": "rue de rivoli"}, {"X-Request-ID": "abc-123"}),
                            ("/search", {"q": "rue de rivoli"}, {"X-Forwarded-For": "198.51.100.7"}),
                            ("/search", {}, {"X-Request-ID": "bad id with spaces"}))
    first, second, third = (json.loads(line) for line in lines)
    assert first["request_id"] == "abc-123" and results[0].headers["x-request-id"] == "abc-123"
    assert first["endpoint"] == "/search" and first["status"] == 200 and first["cache"] == "miss"
    assert first["duration_ms"] > 0 and first["client"] == "127.0.0.1" and first["level"] == "info"
    assert second["cache"] == "l1" and second["client"] == "198.51.100.7"
    assert len(second["request_id"]) == 32 and second["request_id"] == results[1].headers["x-request-id"]
    assert third["status"] == 400 and third["request_id"] != "bad id with spaces"


def test_text_lines(geocoder):
    lines, _ = logged(geocoder, "text", ("/reverse", {"lat": "48.85", "lon": "2.35"}, {}))
    assert len(lines) == 1
    assert "method=GET" in lines[0] and "endpoint=/reverse" in lines[0] and "status=200" in lines[0]
    assert "cache=miss" in lines[0] and "duration_ms=" in lines[0]


def test_bad_format_is_refused():
    with pytest.raises(ValueError, match="BALISE_LOG_FORMAT"):
        Settings.from_env({"BALISE_LOG_FORMAT": "xml"})


def test_a_handler_added_to_the_access_logger_gets_the_records(geocoder):
    """configure()'s handler alone is written to directly; with another handler (an operator's
    logging setup), every line goes through the logging chain, the same line in the stream."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    request = ("/reverse", {"lat": "48.85", "lon": "2.35"}, {"X-Request-ID": "a"})
    direct, _ = logged(geocoder, "json", request)
    logger = logging.getLogger(access_log.LOGGER)
    extra = Keep()
    logger.addHandler(extra)
    try:
        chained, _ = logged(geocoder, "json", request)
    finally:
        logger.removeHandler(extra)
    assert len(records) == 1 and records[0].msg["request_id"] == "a"
    one, other = json.loads(direct[0]), json.loads(chained[0])
    assert one.keys() == other.keys()
    assert {k: v for k, v in one.items() if k not in ("time", "duration_ms")} == \
        {k: v for k, v in other.items() if k not in ("time", "duration_ms")}


def test_a_failing_log_stream_does_not_fail_the_request(geocoder, capsys):
    """A log stream that cannot be written (a closed stderr, a full disk) costs the line,
    never the answer: logging's own error report, then the request answered."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("no space left on device")

    settings = Settings.from_env({"BALISE_RATE_LIMITS": ""})
    app = create_app(geocoder, settings, with_ops=False)
    install(app, geocoder, settings, CACHED, JSON)
    access_log.configure("json", Broken())
    try:
        client = falcon.testing.TestClient(app)
        result = client.simulate_get("/reverse", params={"lat": "48.85", "lon": "2.35"})
    finally:
        access_log.configure("json", io.StringIO())
    assert result.status_code == 200
    assert "Logging error" in capsys.readouterr().err
