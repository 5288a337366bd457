"""Zero-downtime index update: a real ``balise serve`` (2 workers) serves ROOT/current under
load while a new version is rolled out the way production does it (``balise bundle create``,
then ``balise bundle fetch`` from an HTTP server); no request fails, and afterwards every
answer comes from the new version.

Twice: once as it is, once with a graceful reload of the server (SIGHUP: every worker
replaced by a new one forked from the master, which opened the old version) right after the
rollout: the new workers answer from the new version, and no request fails meanwhile.
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import BANO_NDJSON, REPO, SAMPLE
from tests.servers import free_port, stop

OLD_ONLY = {"q": "rue de rivoli paris", "limit": 1}  # Paris 1er-4e: the first version
NEW_ONLY = {"q": "avenue beau de rochas aiglun", "limit": 1}  # Alpes-de-Haute-Provence: the new one
LOAD_THREADS = 4
LOAD_SECONDS = 12  # in all: before the rollout, during it, and after it
RELOAD_SECONDS = 10  # more load when the workers are replaced one by one (3.5 s apart)
BALISE = [sys.executable, "-m", "balise.cli"]


def balise(*args: str) -> str:
    done = subprocess.run([*BALISE, *args], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[str, Path]:
    """Two indexes from different real data, built with ``balise import``."""
    if not BANO_NDJSON.exists():
        pytest.skip(f"data not found: {BANO_NDJSON} (../shared must sit beside the repo)")
    base = tmp_path_factory.mktemp("versions")
    alps = base / "alps.ndjson"
    with gzip.open(BANO_NDJSON, "rt", encoding="utf-8") as f:
        alps.write_text("".join(itertools.islice(f, 400)), encoding="utf-8")
    balise("import", "--quiet", "--index", str(base / "old"), str(SAMPLE))
    balise("import", "--quiet", "--index", str(base / "new"), str(alps))
    return {"old": base / "old", "new": base / "new"}


@pytest.fixture
def bundle_url(versions, tmp_path):
    """The new version as a bundle on a local HTTP server, as the production rollout has it."""
    public = tmp_path / "public"
    public.mkdir()
    balise("bundle", "create", str(versions["new"]), str(public / "ban.tar.zst"))
    handler = partial(QuietHandler, directory=str(public))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ban.tar.zst"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("reload", [False, True], ids=["balise serve", "balise serve, reloaded"])
def test_a_new_index_is_rolled_out_under_load_without_a_failed_request(reload, versions, bundle_url,
                                                                       tmp_path):
    root = tmp_path / "root"
    balise("bundle", "publish", str(versions["old"]), "--into", str(root))
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "BALISE_RATE_LIMITS": "", "BALISE_HEALTH_HOST_DETAILS": "true"}
    command = [*BALISE, "serve", "--index", str(root), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "2"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        if not wait_until_up(port, server):
            pytest.fail(f"balise serve did not start:\n{log.read_text()}")
        assert city(get(port, OLD_ONLY)) == "Paris"
        assert city(get(port, NEW_ONLY)) != "Aiglun"
        workers_before = worker_pids(port)

        results: list[tuple[float, str, object, bool]] = []  # (time, query, city or error, retried)
        stop_at = time.monotonic() + LOAD_SECONDS + (RELOAD_SECONDS if reload else 0)
        with ThreadPoolExecutor(LOAD_THREADS) as pool:
            loops = [pool.submit(load, port, stop_at, results) for _ in range(LOAD_THREADS)]
            time.sleep(LOAD_SECONDS / 4)
            rollout_started = time.monotonic()
            balise("bundle", "fetch", bundle_url, "--into", str(root))
            rollout_done = time.monotonic()
            if reload:
                server.send_signal(signal.SIGHUP)  # `balise serve` is the server's master (exec)
            for loop in loops:
                loop.result()
        workers_after = worker_pids(port)
    finally:
        stop(server)

    how = "balise serve" + (", reloaded" if reload else "")
    failures = [r for r in results if isinstance(r[2], Exception)]
    assert not failures, f"{len(failures)} of {len(results)} requests failed, e.g. {failures[:3]}"
    retried = [r for r in results if r[3]]
    assert reload or not retried  # without a reload, not even one
    assert len(results) > 100
    before = [r for r in results if r[0] < rollout_started and r[1] == NEW_ONLY["q"]]
    after = [r for r in results if r[0] > rollout_done + 2.5 and r[1] == NEW_ONLY["q"]]
    assert before and all(r[2] != "Aiglun" for r in before)
    assert len(after) > 20, "too few requests after the rollout to tell"
    assert all(r[2] == "Aiglun" for r in after), [r[2] for r in after if r[2] != "Aiglun"][:5]
    assert workers_after.isdisjoint(workers_before) if reload else workers_after == workers_before
    first_new = min(r[0] for r in results if r[2] == "Aiglun")
    print(f"{how}: {len(results)} requests, 0 failed, {len(retried)} retried; "
          f"fetch took {rollout_done - rollout_started:.2f} s; "
          f"first answer from the new version {first_new - rollout_done:+.2f} s after it")
    new_version = json.loads((versions["new"] / "manifest.json").read_text())["version"]
    assert os.readlink(root / "current") == new_version


def worker_pids(port: int, asks: int = 40) -> set[int]:
    """The pids of the workers that answer /health/detailed (new connections spread over them;
    from this host, an operator's, with host details)."""
    pids = set()
    for _ in range(asks):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/health/detailed")
            pids.add(json.loads(conn.getresponse().read())["pid"])
        finally:
            conn.close()
    return pids


def load(port: int, stop_at: float, results: list) -> None:
    """Requests one after the other until ``stop_at`` (bounded: at most 50,000 per thread).

    NOTE: a request whose new connection is closed before any answer is retried once, as
    HTTP clients do for idempotent requests (RFC 9110, 9.2.2): a worker stopped by a reload
    closes the connections it accepted but had not read yet (0 to 2 in 50,000 here).
    """
    for i in range(50_000):
        if time.monotonic() > stop_at:
            return
        params = (OLD_ONLY, NEW_ONLY)[i % 2]
        retried = False
        try:
            try:
                outcome: object = city(get(port, params))
            except (http.client.RemoteDisconnected, ConnectionResetError):
                retried = True
                outcome = city(get(port, params))
        except Exception as e:  # noqa: BLE001 (any failure is what the test counts)
            outcome = e
        results.append((time.monotonic(), params["q"], outcome, retried))


def get(port: int, params: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/search/?{urlencode(params)}")
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def city(answer: dict) -> str | None:
    features = answer["features"]
    return features[0]["properties"].get("city") if features else None


def wait_until_up(port: int, server: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            get(port, {"q": "paris", "limit": 1})
            return True
        except (OSError, RuntimeError):
            time.sleep(0.1)
    return False
