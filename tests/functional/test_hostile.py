"""Hostile clients and forged identities (issue 19), each case against a real ``balise serve``
(granian, 2 workers) on the sample index, with real sockets: bodies that never come,
connections by the thousand, slow uploads, a flood of distinct clients, wide CSV rows,
look-alike queries, forged ``X-Forwarded-For``, private routes, work-counted limits, and the
small ones (encodings, log lines, raw UTF-8 in a query string).

Where a client must look like many, the server trusts this host as its proxy
(``BALISE_TRUSTED_PROXIES=127.0.0.1``) and each "client" names itself in
``X-Forwarded-For``, as a gateway would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.test_http_front import ADDRESSES, multipart, post_csv, worker_pids
from tests.functional.test_http_front import wait_until as wait_for
from tests.servers import Client, balise_serve

BODY_TIMEOUT = 2  # seconds (10 in production): a silent body is cut after this


def search_times(client: Client, seconds: float, pause: float = 0.1) -> tuple[list[int], list[float]]:
    """Searches one after the other for ``seconds``: their statuses and durations."""
    statuses, times = [], []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            statuses.append(client.get("/search/", {"q": f"{n % 30 + 1} rue de rivoli", "limit": 1},
                                       timeout=5).status)
        except OSError as error:
            statuses.append(repr(error))  # type: ignore[arg-type]
        times.append(time.monotonic() - started)
        n += 1
        time.sleep(pause)
    return statuses, times


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_status(sock: socket.socket) -> int | None:
    """The status of the answer on ``sock``, None if it closed without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    return int(data.split(b" ", 2)[1])


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to the current RSS


@pytest.fixture(scope="module")
def front(sample_index, tmp_path_factory) -> Iterator[Client]:
    """Trusts this host as its proxy (clients name themselves); short body deadline; no
    rate limits (these tests send many requests); host details for operators (pids)."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("hostile"), BALISE_RATE_LIMITS="",
                      BALISE_LOG_REQUESTS="false", BALISE_TRUSTED_PROXIES="127.0.0.1",
                      BALISE_BODY_TIMEOUT=str(BODY_TIMEOUT), BALISE_HEALTH_HOST_DETAILS="true",
                      SEND_TIMEOUT="3") as client:
        yield client


# --- 1. bodies that never come -------------------------------------------------------------------


BATCH = json.dumps({"requests": [{"id": "a", "operation": "geocode", "params": {"q": "rue de rivoli"}}]})


def post_batch(client: Client, forwarded: str) -> int:
    conn = http.client.HTTPConnection(client.host, client.port, timeout=10)
    try:
        conn.request("POST", "/batch", body=BATCH, headers={"Content-Type": "application/json",
                                                            "X-Forwarded-For": forwarded})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


@pytest.mark.parametrize("clients", [1, 16], ids=["one client", "16 clients"])
def test_silent_batch_bodies_hold_no_thread_a_search_needs(front, clients):
    """16 connections start a POST /batch and send nothing more: searches and /health/live
    are answered within a second all along. A silent body holds a thread of those kept for
    bodies (THREADS a worker, BALISE_CLIENT_UPLOADS a client) until its client leaves; the
    others are refused at once (429 past the client's share, 503 past the worker's); once
    they leave, a batch is answered again. bb69054: 240 of 240 searches failed."""
    socks = []
    for n in range(16):
        sock = socket.create_connection((front.host, front.port), timeout=30)
        sock.sendall(head("POST", "/batch", {"Content-Type": "application/json", "Content-Length": "500",
                                             "X-Forwarded-For": f"198.51.100.{n % clients + 1}"}))
        socks.append(sock)
    try:
        statuses, times = search_times(front, 4.0)
        live = [front.get("/health/live", timeout=5) for _ in range(5)]
        for sock in socks:
            sock.settimeout(0.2)
        answers = [read_status(sock) for sock in socks]  # None: still waiting for its body
    finally:
        for sock in socks:
            sock.close()
    assert statuses == [200] * len(statuses) and max(times) < 1.0, sorted(times)[-3:]
    assert all(r.status == 200 and r.json() == {"status": "alive"} for r in live)  # no pid either
    refused = 429 if clients == 1 else 503  # the client's share taken, or the worker's
    assert answers.count(None) <= (4 if clients == 1 else 8) and set(answers) <= {None, refused}, answers
    wait_for(lambda: post_batch(front, "203.0.113.77") == 200, "a batch answered once they left")


def test_a_dripping_body_is_cut_at_the_minimum_rate(front):
    """A batch body dripped a byte every half second: a 408 once it is under the minimum rate
    past the body timeout, and its slot comes back."""
    with socket.create_connection((front.host, front.port), timeout=30) as sock:
        sock.sendall(head("POST", "/batch", {"Content-Type": "application/json", "Content-Length": "500",
                                             "X-Forwarded-For": "198.51.100.200"}))
        started = time.monotonic()
        status = None
        for _ in range(40):
            time.sleep(0.5)
            try:
                sock.sendall(b" ")
            except OSError:
                break
            sock.settimeout(0.01)
            status = read_status(sock) if select_readable(sock) else None
            if status is not None:
                break
    assert status == 408 and BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 3
    assert post_batch(front, "198.51.100.200") == 200


def select_readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_a_slow_body_at_the_minimum_rate_is_read(front):
    """A batch of 200 KB sent in pieces at 66 KB/s, over the minimum rate (50 KB/s), taking
    longer than the body timeout in all: read and answered."""
    body = json.dumps({"requests": [{"id": str(n), "operation": "geocode", "params": {"q": "rue de rivoli"}}
                                    for n in range(60)]}).encode() + b" " * 200_000
    with socket.create_connection((front.host, front.port), timeout=30) as sock:
        sock.sendall(head("POST", "/batch", {"Content-Type": "application/json",
                                             "Content-Length": str(len(body))}))
        started = time.monotonic()
        for i in range(0, len(body), 10_000):
            sock.sendall(body[i:i + 10_000])
            time.sleep(0.15)
        assert time.monotonic() - started > BODY_TIMEOUT
        assert read_status(sock) == 200


# --- 2. connections by the thousand --------------------------------------------------------------


@pytest.mark.parametrize(("count", "kind"), [(1100, "idle kept-alive"), (5000, "silent")])
def test_thousands_of_connections_lock_nobody_out(front, count, kind):
    """1,100 kept-alive connections left idle, or 5,000 sockets that send nothing: a new
    client is answered within a second. bb69054 (granian's default of 1,024 connections in
    all): 240 of 240 failed."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 500:
        pytest.skip(f"this process may open {soft} files, {count + 500} needed")
    socks = []
    try:
        for n in range(count):
            sock = socket.create_connection((front.host, front.port), timeout=10)
            if kind == "idle kept-alive" and n % 10 == 0:  # some have had an answer: kept alive
                sock.sendall(head("GET", "/health/live", {}))
                assert read_status(sock) == 200
            socks.append(sock)
        statuses, times = search_times(front, 3.0, pause=0.05)
    finally:
        for sock in socks:
            sock.close()
    assert statuses == [200] * len(statuses) and max(times) < 1.0, sorted(times)[-3:]


# --- 3. slow uploads -----------------------------------------------------------------------------


def test_slow_csv_uploads_take_no_other_clients_slot(front):
    """8 uploads dripping a byte every 5 s: the first byte after the body timeout cuts each
    (408), the client's share past its slots is refused at once (429), and meanwhile every
    other client's upload is geocoded. bb69054: 59 of 59 were 503s."""
    body, content_type = multipart({}, ADDRESSES)
    upload = head("POST", "/search/csv/", {"Content-Type": content_type, "Content-Length": str(len(body)),
                                          "X-Forwarded-For": "198.51.100.66"})
    stop = threading.Event()
    answers: list[int | None] = []

    def drip() -> None:
        with socket.create_connection((front.host, front.port), timeout=30) as sock:
            sock.sendall(upload)
            for byte in body[:10]:
                if stop.wait(5) or select_readable(sock):
                    break
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
            answers.append(read_status(sock))

    drippers = [threading.Thread(target=drip, daemon=True) for _ in range(8)]
    for dripper in drippers:
        dripper.start()
    time.sleep(0.5)
    others = []
    deadline = time.monotonic() + 7
    n = 0
    while time.monotonic() < deadline:
        others.append(post_upload(front, ADDRESSES, f"203.0.113.{n % 200 + 1}"))
        n += 1
    stop.set()
    for dripper in drippers:
        dripper.join(timeout=30)
    assert others and others == [200] * len(others), others
    assert set(answers) <= {408, 429} and answers.count(408) >= 2, answers


def post_upload(client: Client, csv: bytes, forwarded: str, timeout: float = 30) -> int:
    body, content_type = multipart({}, csv)
    conn = http.client.HTTPConnection(client.host, client.port, timeout=timeout)
    try:
        conn.request("POST", "/search/csv/", body=body,
                     headers={"Content-Type": content_type, "X-Forwarded-For": forwarded})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def test_an_answer_never_read_gives_its_slot_back(front):
    """Clients that upload a file and never read its 10 MB answer: their connections are
    dropped after SEND_TIMEOUT (3 s here) and their slots come back."""
    csv = b"q,note\n" + (b"8 rue de rivoli," + b"x" * 1000 + b"\n") * 10_000  # rows of 1 KB
    body, content_type = multipart({}, csv)
    socks = []
    for n in range(8):  # every slot of both workers (THREADS = 4 each)
        sock = socket.create_connection((front.host, front.port), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        socks.append(sock)
        with contextlib.suppress(OSError):  # refused at once when its worker's slots are taken
            sock.sendall(head("POST", "/search/csv/", {"Content-Type": content_type,
                                                      "Content-Length": str(len(body)),
                                                      "X-Forwarded-For": f"198.51.100.{100 + n}"}) + body)
    try:
        time.sleep(2)
        wait_for(lambda: post_upload(front, ADDRESSES, "203.0.113.250") == 200, "an upload geocoded",
                 timeout=40)
    finally:
        for sock in socks:
            sock.close()


# --- 4. memory -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(sample_index, tmp_path_factory) -> Iterator[Client]:
    """Rate limits in the worker's memory (no Redis; one worker, so that they count exactly),
    clients named by this host (its proxy), a private range trusted too, as bb69054's
    Kubernetes settings did."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("limited"), workers=1,
                      BALISE_RATE_LIMITS="*=5/minute", BALISE_LOG_REQUESTS="false",
                      BALISE_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8",
                      BALISE_HEALTH_HOST_DETAILS="true") as client:
        yield client


def flood(client: Client, clients: int, path: str, threads: int = 4, per_write: int = 200) -> int:
    """One request from each of ``clients`` distinct addresses (pipelined on kept-alive
    connections); returns how many answers came back."""
    done = [0] * threads

    def run(t: int) -> None:
        with socket.create_connection((client.host, client.port), timeout=60) as sock:
            for start in range(t * clients // threads, (t + 1) * clients // threads, per_write):
                stop = min(start + per_write, (t + 1) * clients // threads)
                sock.sendall(b"".join(
                    b"GET %s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.%d.%d.%d\r\n\r\n"
                    % (path.encode(), n >> 16 & 255, n >> 8 & 255, n & 255) for n in range(start, stop)))
                want, data = stop - start, b""
                while data.count(b"HTTP/1.1 ") < want:
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        return
                    data += chunk
                done[t] += want

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done)


def test_400000_distinct_clients_keep_worker_memory_bounded(limited):
    """400,000 clients, one request each, counted in memory: a worker keeps at most its
    50,000 most recent counters. bb69054: ~1 KB kept a client, never freed (175 -> 464 MiB)."""
    pids = worker_pids(limited)
    before = {pid: rss_mib(pid) for pid in pids}
    started = time.monotonic()
    assert flood(limited, 400_000, "/search/") == 400_000  # a 400 (no q), counted first
    grown = {pid: rss_mib(pid) - before[pid] for pid in pids}
    assert all(growth < 40 for growth in grown.values()), grown
    statuses, times = search_times(limited, 0.5)
    assert set(statuses) <= {200, 429} and max(times) < 1.0
    print(f"\n400,000 clients in {time.monotonic() - started:.0f} s: workers grew "
          f"{', '.join(f'{g:.1f}' for g in grown.values())} MiB")


@pytest.fixture(scope="module")
def roomy(sample_index, tmp_path_factory) -> Iterator[Client]:
    """THREADS=6: six body slots a worker, so that six uploads fit in one worker, whichever
    worker each connection lands on."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("roomy"), BALISE_RATE_LIMITS="",
                      BALISE_LOG_REQUESTS="false", BALISE_TRUSTED_PROXIES="127.0.0.1", THREADS="6",
                      BALISE_HEALTH_HOST_DETAILS="true") as client:
        yield client


def test_six_wide_uploads_at_once_keep_worker_memory_bounded(roomy):
    """Six 44 MB files of two very wide rows, at once: each worker's peak memory grows by
    less than 60 MiB; the rows are errors, the files are answered. bb69054: 60 -> 390 MiB a
    worker for one file, near 1 GB for six."""
    front = roomy
    wide = b"q\n" + (b"ab," * 7_300_000 + b"\n") * 2
    body, content_type = multipart({}, wide)
    pids = worker_pids(front)
    for pid in pids:
        reset_peak(pid)
    before = {pid: rss_mib(pid) for pid in pids}
    results: list[tuple[int, bytes]] = []

    def upload(n: int) -> None:
        conn = http.client.HTTPConnection(front.host, front.port, timeout=120)
        try:
            conn.request("POST", "/search/csv/", body=body,
                         headers={"Content-Type": content_type, "X-Forwarded-For": f"192.0.2.{n}"})
            answer = conn.getresponse()
            results.append((answer.status, answer.read()))
        finally:
            conn.close()

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peaks = {pid: rss_mib(pid, "VmHWM") - before[pid] for pid in pids}
    assert [s for s, _ in results] == [200] * 6, [(s, b[:200]) for s, b in results]
    assert all(b.decode().count(",error") == 2 for _, b in results)
    assert all(peak < 60 for peak in peaks.values()), peaks
    print(f"\nsix 44 MB wide uploads: peaks +{', +'.join(f'{p:.0f}' for p in peaks.values())} MiB")


# --- 5. look-alike queries -----------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second"), [("8 rue µ", "8 rue μ"), ("rue paris", "rue\x85paris"),
                                               ("rue ſaint", "rue saint")])
def test_a_cached_answer_is_never_another_querys(front, sample_index, first, second):
    """The second query, asked after the first (cached), gets its own answer: the engine's."""
    from balise import Geocoder

    geocoder = Geocoder.open(sample_index)
    for q in (first, second):
        expected = geocoder.search(q, limit=5, autocomplete=True)
        for _ in range(2):  # the second time from the cache
            answer = front.get("/search/", {"q": q}).json()
            assert answer["query"] == q
            assert [f["properties"]["id"] for f in answer["features"]] == \
                [f["properties"]["id"] for f in expected["features"]], q


# --- 6. forged client addresses ------------------------------------------------------------------


def test_a_client_cannot_choose_its_address(limited):
    """Behind a trusted proxy the client is the address the proxy saw: what a client writes
    on the left of X-Forwarded-For neither escapes its limit nor opens /health/detailed."""
    def search(forwarded: str) -> int:
        return limited.get("/search/", {"q": "rivoli"}, headers={"X-Forwarded-For": forwarded}).status

    lb = "10.0.3.7"  # a private hop in front of the proxy (a load balancer that drops client IPs)
    assert [search(f"{n}.2.3.4, {lb}") for n in range(1, 7)] == [200] * 5 + [429]
    assert search(f"127.0.0.1, {lb}") == 429
    for forwarded in ("127.0.0.1", f"127.0.0.1, {lb}", "::1"):
        answer = limited.get("/health/detailed", headers={"X-Forwarded-For": forwarded})
        assert answer.status == 403, forwarded
    assert limited.get("/health/detailed").status == 200  # from this host itself, directly


# --- 7. nothing public by accident ---------------------------------------------------------------

PUBLIC = "/search/*,/reverse/*,/openapi.json,/health"


@pytest.fixture(scope="module")
def exposed(sample_index, tmp_path_factory) -> Iterator[Client]:
    """The LoadBalancer variant's settings: exactly the public API for everyone else."""
    with balise_serve(sample_index, tmp_path_factory.mktemp("exposed"), BALISE_RATE_LIMITS="",
                      BALISE_LOG_REQUESTS="false", BALISE_TRUSTED_PROXIES="127.0.0.1",
                      BALISE_PUBLIC_PATHS=PUBLIC) as client:
        yield client


def test_only_the_public_api_is_public(exposed, sample_index):
    public = {"X-Forwarded-For": "198.51.100.9"}
    for path, params in [("/search/", {"q": "rivoli"}), ("/reverse/", {"lat": 48.85, "lon": 2.35}),
                         ("/openapi.json", {}), ("/health", {}), ("//search", {"q": "rivoli"})]:
        assert exposed.get(path, params, headers=public).status == 200, path
    for path in ["/metrics", "/health/detailed", "//metrics", "/metrics/", "/%6detrics"]:
        assert exposed.get(path, headers=public).status == 403, path
    for path in ["/status", "/batch", "/lookup/", "/", "/static/app.js", "/health/live", "/health/ready"]:
        answer = exposed.get(path, {"id": "x"}, headers=public)
        assert answer.status == 404 and answer.json()["title"] == "404 Not Found", path
    assert exposed.get("/status").status == 200 and exposed.get("/metrics").status == 200  # an operator


def test_no_pid_nor_host_files_for_the_public(front, sample_index):
    public_client = {"X-Forwarded-For": "198.51.100.9"}
    assert front.get("/health/live", headers=public_client).json() == {"status": "alive"}
    public = front.get("/status", headers=public_client).json()
    assert public["index"]["sources"] and all(set(s) == {"format", "producer", "bytes", "sha256"}
                                              for s in public["index"]["sources"])
    mine = front.get("/status").json()  # an operator: this host, directly
    assert {"path", "modified"} <= set(mine["index"]["sources"][0])
    assert front.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status == 403


# --- 9. limits that count work -------------------------------------------------------------------


def test_limits_count_work_and_unrouted_paths(limited):
    def ask(method: str, path: str, client: str, **kwargs) -> int:
        conn = http.client.HTTPConnection(limited.host, limited.port, timeout=30)
        try:
            conn.request(method, path, headers={"X-Forwarded-For": client, **kwargs.pop("headers", {})},
                         **kwargs)
            answer = conn.getresponse()
            answer.read()
            return answer.status
        finally:
            conn.close()

    batch = json.dumps({"requests": [{"id": str(n), "operation": "geocode", "params": {"q": "rivoli"}}
                                     for n in range(3)]})
    as_json = {"Content-Type": "application/json"}
    assert ask("POST", "/batch", "192.0.2.50", body=batch, headers=as_json) == 200
    assert [ask("GET", "/search/?q=rivoli", "192.0.2.50") for _ in range(3)] == [200, 200, 429]  # 3 + 2 = 5
    body, content_type = multipart({}, b"q\n" + b"rue de rivoli\n" * 4)
    assert ask("POST", "/search/csv/", "192.0.2.51", body=body, headers={"Content-Type": content_type}) == 200
    assert [ask("GET", "/search/?q=rivoli", "192.0.2.51") for _ in range(2)] == [200, 429]  # 4 + 1 = 5
    big = json.dumps({"requests": [{"id": str(n), "operation": "geocode", "params": {"q": "x"}}
                                   for n in range(50)]})
    assert ask("POST", "/batch", "192.0.2.52", body=big, headers=as_json) == 200
    assert ask("GET", "/search/?q=rivoli", "192.0.2.52") == 429  # counted as a whole limit, at most
    assert [ask("GET", f"/nowhere/{n}", "192.0.2.53") for n in range(6)] == [404] * 5 + [429]


def test_the_default_limits_let_a_backend_client_work(sample_index, tmp_path):
    """1,050 searches in 12 s from one client under the default limits: every one answered.
    bb69054's defaults (*=100/minute,1000/hour): 429 from the 101st."""
    with balise_serve(sample_index, tmp_path, BALISE_LOG_REQUESTS="false") as client:
        statuses = []
        started = time.monotonic()
        for n in range(1050):
            statuses.append(client.get("/search/", {"q": f"{n % 40 + 1} rue de rivoli"}).status)
            time.sleep(1 / 90)  # at most 90 a second
        assert time.monotonic() - started < 60
    assert statuses == [200] * 1050, [i for i, s in enumerate(statuses) if s != 200][:3]


# --- 10. small ones ------------------------------------------------------------------------------


def test_raw_utf8_in_a_query_string_is_read_as_utf8(front):
    with socket.create_connection((front.host, front.port), timeout=10) as sock:
        sock.sendall("GET /search/?q=rue%20de%20rivoli%20µ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert json.loads(data.partition(b"\r\n\r\n")[2])["query"] == "rue de rivoli µ"


@pytest.mark.parametrize("encoding", ["utf-32", "utf-8-sig"])
def test_utf32_files_and_utf8_sig_are_read(front, encoding):
    csv = "q\n8 rue de l'Arsenal\n".encode(encoding)
    status, _, answer = post_csv(front, csv, {"encoding": encoding})
    assert status == 200, answer
    assert answer.decode("utf-32" if encoding == "utf-32" else "utf-8").splitlines()[1].startswith(
        "8 rue de l'Arsenal,48.85")
    status, _, answer = post_csv(front, csv)  # detected by its byte order mark
    assert status == 200 and "48.85" in answer.decode("utf-32" if encoding == "utf-32" else "utf-8-sig")


def test_a_file_takes_its_encoding_from_its_first_non_ascii_line(front):
    """A cp1252 file whose first accent comes after the 64 KB the detection reads: its rows
    are read as cp1252, not refused as broken UTF-8 (bb69054: an error row)."""
    csv = ("q\n" + "8 rue de rivoli\n" * 5000 + "12 rue de l'église\n").encode("cp1252")
    status, _, answer = post_csv(front, csv)
    last = answer.decode().splitlines()[-1]
    assert status == 200 and last.startswith("12 rue de l'église,48.8") and last.endswith(",ok"), last


def test_a_header_over_64_kib_is_a_400(front):
    status, _, answer = post_csv(front, b"q" * 70_000 + b"\n8 rue de rivoli\n")
    assert status == 400 and "header line is over 65,536 bytes" in json.loads(answer)["description"]


def test_a_path_cannot_forge_a_text_log_line(sample_index, tmp_path):
    with balise_serve(sample_index, tmp_path, BALISE_RATE_LIMITS="", BALISE_LOG_FORMAT="text") as client:
        client.get("/x%0A2026-01-01T00:00:00.000+00:00%20info%20method=GET%20status=200")
        client.get('/y"%20status=200')
    lines = [line for line in (tmp_path / "server.log").read_text().splitlines()
             if "path=" in line and "/health" not in line]
    assert len(lines) == 2, lines
    assert 'path="/x\\x0a2026-01-01T00:00:00.000+00:00 info method=GET status=200"' in lines[0]
    fields = dict(pair.split("=", 1) for pair in shlex.split(lines[1])[2:])  # shell quoting reads it back
    assert fields["path"] == '/y" status=200' and fields["status"] == "404"


def test_spooled_uploads_go_where_they_are_told(sample_index, tmp_path):
    """BALISE_SPOOL_DIR: a file over 1 MB waits there (a volume sized for it), not in /tmp;
    seen among the workers' open files (an unnamed temporary file has no directory entry)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    seen: set[str] = set()
    with balise_serve(sample_index, tmp_path, BALISE_RATE_LIMITS="", BALISE_SPOOL_DIR=str(spool),
                      BALISE_HEALTH_HOST_DETAILS="true") as client:
        pids = worker_pids(client)
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for pid in pids:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        with contextlib.suppress(OSError):  # closed meanwhile
                            seen.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            csv = b"q,note\n" + (b"8 rue de rivoli," + b"x" * 1000 + b"\n") * 1100  # 1.1 MB, few rows
            assert post_csv(client, csv)[0] == 200
        finally:
            stop.set()
            watcher.join()
    assert any(path.startswith(str(spool)) for path in seen), sorted(seen)[:20]
