"""``balise healthcheck``, the container HEALTHCHECK: asks /health/ready, or /health of a
server without it, on the port of BIND; exit status 0 only for a 2xx answer."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from balise.cli import main


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status = self.server.routes.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes = {}
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("routes", "ok"), [
    ({"/health/ready": 200}, True),
    ({"/health": 200}, True),  # a server without the ops layer's endpoints
    ({"/health/ready": 503, "/health": 200}, False),  # not ready is not healthy
    ({}, False),
])
def test_healthcheck(server, routes, ok):
    server.routes.update(routes)
    port = server.server_address[1]
    result = CliRunner().invoke(main, ["healthcheck"], env={"BIND": f"0.0.0.0:{port}"})
    assert (result.exit_code == 0) is ok, result.output
    if not ok and routes:
        assert f"http://127.0.0.1:{port}/health" in result.output
