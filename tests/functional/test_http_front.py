"""The HTTP front as a hostile but legitimate client meets it: a real ``balise serve`` (2
workers) on the sample index, raw sockets where a client misbehaves.

- Slow clients (request lines, headers and bodies sent a byte at a time, answers not read)
  hold no worker thread a normal request needs.
- A rate limit holds however the path is spelled; clients behind a trusted proxy each have
  their own.
- CSV uploads: chunked bodies are read (or refused with 413 past the limit), non-text
  encodings are a 400, never a 500.
- The server's own limits are far enough that the app answers, in JSON: a long query gets
  the app's 413, big or many headers are no error; what the server still refuses (over 100
  headers, a request line that is not HTTP) gets an empty answer, never HTML.
- ``/health/detailed`` answers only to loopback (by default), and without host details.
- The server runs on a read-only root, writing only to a tmpfs (TMPDIR) and /dev/shm, as
  the image does (``docker run --read-only --tmpfs /tmp``); workers replaced for memory
  (WORKER_MAX_RSS) under load lose no request, once the rare one a stopped worker had
  accepted but not read is retried, as clients do (tests/functional/test_index_swap.py).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.servers import Client, balise_serve, free_port, stop, wait_until_healthy

KEEPALIVE = 3  # seconds for a request's headers to arrive (and an idle connection to stay)
CSV_MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def front(sample_index, tmp_path_factory) -> Client:
    """No rate limits (the tests send many requests), short header timeout, small uploads."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("front"), BALISE_RATE_LIMITS="",
                      BALISE_LOG_REQUESTS="false", KEEPALIVE=str(KEEPALIVE),
                      BALISE_CSV_MAX_BYTES=str(CSV_MAX_BYTES)) as client:
        yield client


@pytest.fixture(scope="module")
def limited(sample_index, tmp_path_factory) -> Client:
    """A rate limit on /search, behind a trusted proxy on this host (nginx's case). One worker:
    without Redis, each worker counts on its own (ops/ratelimit.py)."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("limited"), workers=1,
                      BALISE_RATE_LIMITS="/search=5/minute",
                      BALISE_TRUSTED_PROXIES="127.0.0.1", BALISE_LOG_REQUESTS="false") as client:
        yield client


def raw(client: Client, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as they are, return all that comes back before the server closes."""
    with socket.create_connection((client.host, client.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def multipart(fields: dict[str, str], csv: bytes, boundary: str = "balise-test") -> tuple[bytes, str]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="a.csv"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + csv + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_csv(client: Client, csv: bytes, fields: dict | None = None, path: str = "/search/csv/"):
    body, content_type = multipart(fields or {}, csv)
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


ADDRESSES = b"q\n" + b"".join(b"%d rue de rivoli paris\n" % n for n in range(1, 40))


# --- slow clients ------------------------------------------------------------------------------


class Dripper(threading.Thread):
    """One connection that sends ``head``, then one byte of ``drip`` every ``pace`` seconds,
    until ``stop``; when the server closes it, it notes after how long and opens another."""

    def __init__(self, client: Client, head: bytes, drip: bytes, stop: threading.Event,
                 pace: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.client, self.head, self.drip, self.stop, self.pace = client, head, drip, stop, pace
        self.closed_after: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with socket.create_connection((self.client.host, self.client.port), timeout=30) as s:
                    s.sendall(self.head)
                    for byte in self.drip:
                        if self.stop.wait(self.pace):
                            return
                        s.sendall(bytes([byte]))
                    self.stop.wait()  # all sent: never read the answer
                    return
            except OSError:  # closed by the server: the header timeout
                self.closed_after.append(time.monotonic() - started)
                self.stop.wait(0.1)


def test_slow_clients_cannot_hold_the_service(front):
    """20 connections drip their request line, headers or CSV body, or do not read a large
    answer; meanwhile normal searches are answered in well under a second, every time."""
    stop = threading.Event()
    body, content_type = multipart({}, ADDRESSES * 120)  # 4,680 rows: ~1 MB of answer, never read
    upload = (f"POST /search/csv/ HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\n\r\n").encode()
    line = b"GET /search/?q=rue HTTP/1.1\r\n"
    drippers = (
        [Dripper(front, b"", line + b"Host: x\r\n\r\n", stop) for _ in range(5)]
        + [Dripper(front, line, b"X-Slow: " + b"a" * 100, stop) for _ in range(5)]
        + [Dripper(front, upload, body[:2000], stop) for _ in range(5)]  # slow uploads
        + [Dripper(front, upload + body, b"", stop) for _ in range(5)]  # answers never read
    )
    for dripper in drippers:
        dripper.start()
    time.sleep(1.0)
    times, statuses = [], []
    deadline = time.monotonic() + 2.5 * KEEPALIVE
    n = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        answer = front.get("/search/", {"q": f"{n % 30 + 1} rue de rivoli", "limit": 1}, timeout=5)
        times.append(time.monotonic() - started)
        statuses.append(answer.status)
        n += 1
        time.sleep(0.1)
    # an upload now: its slot may be taken (a clear 503, or 429: the same client holds its
    # share) or not; never a wait
    started = time.monotonic()
    upload_status = post_csv(front, ADDRESSES)[0]
    upload_seconds = time.monotonic() - started
    stop.set()
    for dripper in drippers:
        dripper.join(timeout=10)

    assert statuses == [200] * len(statuses) and len(statuses) > 20
    assert max(times) < 1.0, sorted(times)[-5:]
    assert upload_status in (200, 429, 503) and upload_seconds < 5
    # the header timeout: connections that had not sent their headers were closed after it
    header_closes = [t for d in drippers[:10] for t in d.closed_after]
    assert header_closes and all(KEEPALIVE - 0.5 < t < KEEPALIVE + 2 for t in header_closes), header_closes
    # the slots of the uploads are given back when their clients leave (8 new connections:
    # both workers get some)
    wait_until(lambda: post_csv(front, ADDRESSES)[0] == 200, "an upload accepted again")
    assert [post_csv(front, ADDRESSES)[0] for _ in range(8)] == [200] * 8
    print(f"\n{len(statuses)} searches beside 20 slow clients: all 200, slowest {max(times) * 1000:.0f} ms; "
          f"upload meanwhile: {upload_status} in {upload_seconds:.2f} s")


def worker_pids(client: Client, asks: int = 20) -> set[int]:
    """The workers that answer (new connections spread over them): their pids, which
    /health/detailed shows an operator (this host) with BALISE_HEALTH_HOST_DETAILS."""
    return {client.get("/health/detailed").json()["pid"] for _ in range(asks)}


def wait_until(check, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


# --- rate limits -------------------------------------------------------------------------------


def test_rate_limits_hold_however_the_path_is_spelled(limited):
    spellings = ["/search", "/search/", "//search", "//search/", "///search", "/search%2F", "/%73earch"]
    statuses = [limited.get(spellings[n % len(spellings)], {"q": "rue de rivoli"}).status for n in range(14)]
    assert statuses == [200] * 5 + [429] * 9
    refused = limited.get("//search/", {"q": "rivoli"})
    assert refused.status == 429 and refused.json()["title"] == "Too many requests"
    assert refused.headers["x-ratelimit-limit"] == "5" and int(refused.headers["retry-after"]) >= 1
    # behind a trusted proxy (BALISE_TRUSTED_PROXIES=127.0.0.1), each client has its own limit
    other = {"X-Forwarded-For": "198.51.100.7"}
    statuses = [limited.get("//search", {"q": "rivoli"}, headers=other).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]


# --- CSV uploads -------------------------------------------------------------------------------


def chunked_upload(client: Client, body: bytes, content_type: str, chunk: int = 1000) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request("POST", "/search/csv/", body=(body[i:i + chunk] for i in range(0, len(body), chunk)),
                     headers={"Content-Type": content_type}, encode_chunked=True)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_a_chunked_upload_is_read_within_the_limit(front):
    body, content_type = multipart({"columns": "q"}, ADDRESSES)
    status, answer = chunked_upload(front, body, content_type)
    assert status == 200, answer
    rows = answer.decode().splitlines()
    assert len(rows) == 40 and rows[1].startswith("1 rue de rivoli paris,48.8")
    big, content_type = multipart({}, ADDRESSES * (CSV_MAX_BYTES // len(ADDRESSES) + 1))
    status, answer = chunked_upload(front, big, content_type)
    assert status == 413 and json.loads(answer)["title"] == "File too large"


def test_a_chunked_upload_to_a_server_that_cannot_end_it_gets_411(sample_index):
    """Not with balise's server (it says where a chunked body ends: wsgi.input_terminated);
    with a WSGI server that does not, the app answers 411 rather than read past the body."""
    import falcon.testing

    from balise import Geocoder
    from balise.config import Settings
    from balise.http import create_app

    settings = Settings.from_env({"BALISE_RATE_LIMITS": ""})
    app = create_app(Geocoder.open(sample_index), settings, with_ops=False)
    body, content_type = multipart({}, ADDRESSES)
    environ = falcon.testing.create_environ("/search/csv/", method="POST", body=body, headers={
        "Content-Type": content_type, "Transfer-Encoding": "chunked"})
    del environ["CONTENT_LENGTH"]  # as a chunked request has none
    started = {}
    answer = b"".join(app(environ, lambda status, headers: started.update(status=status)))
    assert started["status"].startswith("411") and json.loads(answer)["title"] == "Length required"


@pytest.mark.parametrize("encoding", ["base64", "rot13", "zlib", "hex", "bz2", "uu", "quopri", "idna",
                                      "punycode", "undefined", "utf-7", "cp037", "unicode_escape", "nope"])
def test_only_text_encodings_are_read(front, encoding):
    status, headers, answer = post_csv(front, ADDRESSES, {"encoding": encoding})
    assert status == 400 and headers["content-type"] == "application/json", answer
    assert json.loads(answer)["description"].startswith('The "encoding" parameter is invalid.')


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_need_their_byte_order_mark(front, encoding):
    status, _, answer = post_csv(front, ADDRESSES, {"encoding": encoding})  # UTF-8 bytes: not readable
    assert status == 400 and "cannot be read as" in json.loads(answer)["description"]
    status, _, answer = post_csv(front, ADDRESSES.decode().encode(encoding), {"encoding": encoding})
    assert status == 200 and answer.decode(encoding).splitlines()[1].startswith("1 rue de rivoli paris,")


# --- the server's own limits -------------------------------------------------------------------


def test_long_queries_big_headers_get_the_apps_json(front):
    answer = front.get("/search/", {"q": "rue " * 1200})  # a URL of ~6 KB: the app's 413
    assert answer.status == 413 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"title": "Query too long, 4800 chars, limit is 200"}
    answer = front.get("/search/", {"q": "rue de rivoli", "type": ["street"] * 2000})  # a URL of 24 KB
    assert answer.status == 200
    big = {"X-Big": "a" * 20_000, **{f"X-{n}": "a" for n in range(90)}}  # 20 KB, 90 headers
    assert front.get("/search/", {"q": "rivoli"}, headers=big).status == 200


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /search/?q=rivoli HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 120 + b"\r\n", 431),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /a b c HTTP/1.1\r\n\r\n", 400),
    (b"GET /search/?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
], ids=["120 headers", "not HTTP", "spaces in the path", "a 70 KB URL"])
def test_what_the_server_refuses_itself_is_never_html(front, request_bytes, status):
    """NOTE: these answers are the server's (hyper's, inside granian), which has no hook for
    their body: an empty one (docs/deploy.md). Everything short of them reaches the app."""
    answer = raw(front, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert body == b"" and b"text/html" not in head.lower()


# --- /health/detailed --------------------------------------------------------------------------


def test_health_detailed_is_private_and_shows_no_host_details(limited, sample_index):
    outsider = limited.get("/health/detailed", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outsider.status == 403 and outsider.headers["content-type"] == "application/json"
    assert "203.0.113.9" not in outsider.body.decode()
    local = limited.get("/health/detailed")  # from this host, as kubectl port-forward or exec would
    assert local.status == 200 and local.json()["status"] in ("healthy", "degraded")
    text = local.body.decode()
    assert str(Path(sample_index).parent) not in text and "pid" not in local.json()
    checks = local.json()["checks"]
    assert set(checks["memory"]) == {"healthy"} and set(checks["disk"]) == {"healthy"}
    assert "target" not in checks["redis"]


# --- production conditions ---------------------------------------------------------------------


def test_the_server_runs_on_a_read_only_root(sample_index, tmp_path):
    """In a mount namespace of its own, / is remounted read-only and a tmpfs is the only
    writable directory (TMPDIR, PROMETHEUS_MULTIPROC_DIR), /dev/shm aside: the server starts,
    answers searches, CSV uploads of every size, metrics, health."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True).returncode:
        pytest.skip("no mount namespace here (unshare needs CAP_SYS_ADMIN)")
    writable = tmp_path / "tmp"
    writable.mkdir()
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(writable), "PROMETHEUS_MULTIPROC_DIR": str(writable / "prometheus"),
           "WORKER_TMP_DIR": "/dev/shm", "PYTHONDONTWRITEBYTECODE": "1", "BALISE_RATE_LIMITS": "",
           "BALISE_CACHE_SQLITE": ""}
    serve = (f"mount --bind / / && mount -o remount,bind,ro / && mount -t tmpfs tmpfs {writable} && "
             f"exec {sys.executable} -m balise.cli serve --index {sample_index} --host 127.0.0.1 "
             f"--port {port} --workers 2")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", serve],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    client = Client("127.0.0.1", port)
    try:
        wait_until_healthy(client, proc, log)
        assert client.get("/search/", {"q": "8 rue de rivoli"}).status == 200
        assert client.get("/reverse/", {"lat": 48.8566, "lon": 2.3522}).status == 200
        assert post_csv(client, ADDRESSES)[0] == 200
        assert post_csv(client, ADDRESSES * 60)[0] == 200  # ~1.5 MB: spooled to TMPDIR
        assert b"balise_http_requests_total" in client.get("/metrics").body
        assert client.get("/health/detailed").status == 200
        assert not (tmp_path / "probe").exists()
    finally:
        stop(proc, group=True)
    text = log.read_text()
    assert "Read-only file system" not in text and "Traceback" not in text, text[-3000:]


def test_workers_replaced_for_their_memory_under_load(sample_index, tmp_path):
    """WORKER_MAX_RSS of 1 MiB: every worker is over it at each check (1 s) and is replaced,
    one after the other, while 3 clients search on new connections."""
    with balise_serve(sample_index, tmp_path, BALISE_RATE_LIMITS="", BALISE_LOG_REQUESTS="false",
                      WORKER_MAX_RSS="1", WORKER_CHECK_INTERVAL="1",
                      BALISE_HEALTH_HOST_DETAILS="true") as client:
        pids_before = worker_pids(client)
        results: list[object] = []
        retried: list[Exception] = []
        stop_at = time.monotonic() + 12

        def search() -> int:
            return client.get("/search/", {"q": "rue de rivoli", "limit": 1}, timeout=10).status

        def load() -> None:
            while time.monotonic() < stop_at:
                try:
                    try:
                        results.append(search())
                    except (http.client.RemoteDisconnected, ConnectionError) as error:
                        retried.append(error)  # closed before an answer: a client retries (RFC 9110 9.2.2)
                        results.append(search())
                except Exception as error:  # noqa: BLE001 - what the test counts
                    results.append(error)

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pids_after = worker_pids(client)
    failed = [r for r in results if r != 200]
    assert pids_after.isdisjoint(pids_before), (pids_before, pids_after)  # all replaced
    assert len(results) > 1000 and not failed, failed[:3]
    print(f"\nworkers replaced under load: {len(results)} requests, 0 failed; {len(retried)} closed "
          "before an answer and retried")

