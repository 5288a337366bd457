"""Index bundles (bundle.py): create, then fetch from a real local HTTP server that cuts a
transfer (the download resumes), stalls (the timeout fires), or serves a corrupted file
(refused, the index in service untouched)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from balise.archive import decompressed_reader
from balise.bundle import BundleError, ChecksumError, create, fetch
from balise.cli import main
from balise.index import IndexReader
from balise.index.pointer import CURRENT, install, resolve


class BundleServer(ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes) with Range support, and misbehaves on demand."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.stall: dict[str, float] = {}  # path -> seconds of silence after `cut` bytes (once)
        self.requests: list[tuple[str, str | None]] = []
        self.status: dict[str, int] = {}  # path -> error status answered every time

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def publish(self, bundle: Path, name: str | None = None, body: bytes | None = None) -> str:
        name = name or bundle.name
        self.files[f"/{name}"] = bundle.read_bytes() if body is None else body
        self.files[f"/{name}.sha256"] = Path(f"{bundle}.sha256").read_bytes()
        return f"{self.url}/{name}"


class Handler(BaseHTTPRequestHandler):
    server: BundleServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, self.headers.get("Range")))
        data = self.server.files.get(self.path)
        if data is None or self.path in self.server.status:
            self.send_error(self.server.status.get(self.path, 404))
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if stall := self.server.stall.pop(self.path, None):
            self.wfile.write(body[: self.server.cut.pop(self.path, 0)])
            self.wfile.flush()
            time.sleep(stall)  # then silence: the client's timeout must fire
            return
        if (cut := self.server.cut.pop(self.path, None)) is not None:
            body = body[:cut]  # then the connection closes: a transfer cut short
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = BundleServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def bundles(sample_index, alps_index, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    create(sample_index, out / "sample.tar.gz")
    create(alps_index, out / "alps.tar.zst")
    return {"sample": out / "sample.tar.gz", "alps": out / "alps.tar.zst"}


def no_sleep(seconds: float) -> None:
    pass


def visible(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_create_writes_the_archive_its_checksum_and_a_descriptor(bundles, alps_index):
    bundle = bundles["alps"]
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert Path(f"{bundle}.sha256").read_text() == f"{digest}  alps.tar.zst\n"  # `sha256sum -c` reads it
    descriptor = orjson.loads(Path(f"{bundle}.json").read_bytes())
    manifest = IndexReader(alps_index).manifest
    assert descriptor["sha256"] == digest and descriptor["bytes"] == bundle.stat().st_size
    assert descriptor["compression"] == "zstd"
    assert descriptor["index"]["version"] == manifest["version"]
    assert descriptor["index"]["counts"] == manifest["counts"]
    assert not list(bundle.parent.glob(".*"))  # no partial file left


@pytest.mark.parametrize("name", ["sample", "alps"])
def test_the_archive_holds_one_versioned_directory_manifest_first(bundles, name):
    bundle = bundles[name]
    with open(bundle, "rb") as raw, decompressed_reader(raw) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        names = [m.name for m in tar]
    version = orjson.loads(Path(f"{bundle}.json").read_bytes())["index"]["version"]
    assert {n.split("/")[0] for n in names} == {version}
    assert names[0] == f"{version}/manifest.json"  # its sizes bound what unpacking writes


def test_fetch_installs_a_bundle_as_the_current_version(server, bundles, tmp_path, tar_filter):
    root = tmp_path / "root"
    directory = fetch(server.publish(bundles["alps"]), root, sleep=no_sleep)
    assert resolve(root) == directory
    assert os.readlink(root / CURRENT) == directory.name == IndexReader(directory).version
    assert not list((root / ".download").iterdir())  # the archive is removed once unpacked


def test_a_transfer_cut_in_the_middle_is_resumed_with_a_range_request(server, bundles, tmp_path):
    bundle = bundles["alps"]
    url = server.publish(bundle)
    half = bundle.stat().st_size // 2
    server.cut["/alps.tar.zst"] = half
    directory = fetch(url, tmp_path / "root", sleep=no_sleep)
    archive_requests = [r for r in server.requests if r[0] == "/alps.tar.zst"]
    assert archive_requests == [("/alps.tar.zst", None), ("/alps.tar.zst", f"bytes={half}-")]
    assert IndexReader(directory).version == IndexReader(resolve(tmp_path / "root")).version


def test_a_stalled_transfer_times_out_and_resumes(server, bundles, tmp_path):
    url = server.publish(bundles["alps"])
    server.cut["/alps.tar.zst"] = 1000
    server.stall["/alps.tar.zst"] = 1.5
    started = time.monotonic()
    fetch(url, tmp_path / "root", timeout=0.5, sleep=no_sleep)
    assert time.monotonic() - started < 5
    assert [r[1] for r in server.requests if r[0] == "/alps.tar.zst"] == [None, "bytes=1000-"]


def test_a_corrupted_bundle_is_refused_and_the_index_in_service_is_untouched(
        server, bundles, sample_index, tmp_path):
    root = tmp_path / "root"
    in_service = install(root, sample_index)
    before = visible(root)
    good = bundles["alps"].read_bytes()
    corrupted = good[:5000] + bytes([good[5000] ^ 0xFF]) + good[5001:]
    url = server.publish(bundles["alps"], body=corrupted)
    with pytest.raises(ChecksumError, match="refused"):
        fetch(url, root, sleep=no_sleep)
    assert resolve(root) == in_service
    assert visible(root) == before  # no new version, nothing removed
    assert not list((root / ".download").iterdir())  # the bad download is not kept


def test_a_corrupted_partial_download_is_fetched_again_from_the_start(server, bundles, tmp_path):
    root = tmp_path / "root"
    url = server.publish(bundles["alps"])
    digest = Path(f"{bundles['alps']}.sha256").read_text().split()[0]
    (root / ".download").mkdir(parents=True)
    (root / ".download" / f"{digest}.part").write_bytes(b"garbage from an earlier attempt")
    fetch(url, root, sleep=no_sleep)
    assert [r[1] for r in server.requests if r[0] == "/alps.tar.zst"] == ["bytes=31-", None]


def test_a_pinned_checksum_that_differs_is_refused(server, bundles, tmp_path):
    with pytest.raises(ChecksumError):
        fetch(server.publish(bundles["alps"]), tmp_path / "root", sha256="0" * 64, sleep=no_sleep)
    assert not (tmp_path / "root" / CURRENT).exists()


def test_a_bundle_already_installed_is_not_downloaded_again(server, bundles, tmp_path):
    url = server.publish(bundles["alps"])
    first = fetch(url, tmp_path / "root", sleep=no_sleep)
    server.requests.clear()
    assert fetch(url, tmp_path / "root", sleep=no_sleep) == first
    assert server.requests == [("/alps.tar.zst.sha256", None)]


def test_retries_back_off_exponentially_then_give_up_with_a_clear_error(server, tmp_path):
    with pytest.raises(BundleError, match="HTTP 404"):  # not worth a retry
        fetch(f"{server.url}/missing.tar.zst", tmp_path / "root", sleep=no_sleep)
    server.files["/down.tar.zst"] = b"x" * 100
    server.status["/down.tar.zst"] = 503
    delays: list[float] = []
    with pytest.raises(BundleError, match="gave up after 3 retries"):
        fetch(f"{server.url}/down.tar.zst", tmp_path / "root", sha256="a" * 64, retries=3,
              sleep=delays.append)
    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        assert 2**attempt * 0.5 <= delay <= 2**attempt  # 1, 2, 4 s, with jitter
    assert not (tmp_path / "root" / CURRENT).exists()


@pytest.fixture(params=["data filter", "no data filter"])
def tar_filter(request, monkeypatch):
    """Python before 3.11.4 (Debian 12's 3.11.2) has no tarfile "data" filter: both must be safe."""
    if request.param == "no data filter":
        monkeypatch.setattr("balise.archive._DATA_FILTER", False)


@pytest.mark.parametrize("member", ["../evil/manifest.json", "/etc/passwd", "v/sub/dir/file"])
def test_an_archive_with_unexpected_paths_is_refused(server, tmp_path, member, tar_filter):
    archive = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload"
    payload.write_bytes(b"{}")
    with tarfile.open(archive, "w:gz") as tar, open(payload, "rb") as f:
        info = tarfile.TarInfo(member)  # as given: tar.add() would strip a leading "/"
        info.size = 2
        tar.addfile(info, f)
    Path(f"{archive}.sha256").write_text(hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(BundleError, match="unexpected archive member"):
        fetch(server.publish(archive), tmp_path / "root", sleep=no_sleep)
    assert not list((tmp_path / "root").glob(".staging*"))


def test_an_archive_without_a_valid_index_is_refused(server, tmp_path):
    archive = tmp_path / "broken.tar.gz"
    payload = tmp_path / "manifest.json"
    payload.write_bytes(b'{"format": "balise-index", "format_version": 1, "version": "x", "bytes": 0}')
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="x/manifest.json")
    Path(f"{archive}.sha256").write_text(hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(BundleError, match="valid index"):
        fetch(server.publish(archive), tmp_path / "root", sleep=no_sleep)
    assert not (tmp_path / "root" / "x").exists()


def index_with_version(source: Path, version: object, directory: Path) -> Path:
    """A copy of the index ``source`` whose manifest says ``version``."""
    directory.mkdir(parents=True)
    for path in source.iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    (directory / "manifest.json").write_bytes(orjson.dumps({**manifest, "version": version}))
    return directory


ABSOLUTE = "<an absolute path under tmp_path>"
UNSAFE_VERSIONS = ["../x", "../../tmp/x", ABSOLUTE, "current", ".hidden", "a/b", "", "..", ".", None,
                   "x" * 200, "v\nnewline"]


@pytest.mark.parametrize("version", UNSAFE_VERSIONS, ids=repr)
def test_a_bundle_whose_version_is_not_a_plain_name_is_refused_and_nothing_moves(
        server, sample_index, alps_index, tmp_path, version):
    """The version names ROOT/<version>: "../x" or an absolute path would install outside
    ROOT, "current" would make ROOT/current a link to itself."""
    root = tmp_path / "here" / "root"
    in_service = install(root, alps_index)
    version = str(tmp_path / "absolute") if version == ABSOLUTE else version
    hostile = index_with_version(sample_index, version, tmp_path / "made" / "good-name")
    archive = tmp_path / "made" / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(hostile.iterdir(), key=lambda p: p.name != "manifest.json"):
            tar.add(path, arcname=f"good-name/{path.name}")
    Path(f"{archive}.sha256").write_text(hashlib.sha256(archive.read_bytes()).hexdigest())
    outside = sorted(p for p in tmp_path.rglob("*") if root not in p.parents)
    in_root = visible(root)
    with pytest.raises(BundleError, match="is not a plain name"):
        fetch(server.publish(archive), root, sleep=no_sleep)
    assert resolve(root) == in_service and os.readlink(root / CURRENT) == in_service.name
    assert visible(root) == in_root and not list(root.glob(".staging*"))  # nothing installed, nothing left
    assert sorted(p for p in tmp_path.rglob("*") if root not in p.parents) == outside  # nothing moved out
    with pytest.raises(BundleError, match="is not a plain name"):  # nor packed
        create(hostile, tmp_path / "out.tar.gz")
    result = CliRunner().invoke(main, ["bundle", "publish", str(hostile), "--into", str(root)])
    assert result.exit_code == 1 and "is not a plain name" in result.output  # no traceback
    assert os.readlink(root / CURRENT) == in_service.name


def test_cli_create_fetch_and_publish(server, sample_index, alps_index, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out" / "sample.tar.gz"
    out.parent.mkdir()
    result = runner.invoke(main, ["bundle", "create", str(sample_index), str(out)])
    assert result.exit_code == 0, result.output
    assert "sha256" in result.output and out.exists()
    root = tmp_path / "root"
    result = runner.invoke(main, ["bundle", "fetch", server.publish(out), "--into", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"current -> {IndexReader(sample_index).version}")
    result = runner.invoke(main, ["bundle", "publish", str(alps_index), "--into", str(root)])
    assert result.exit_code == 0, result.output
    assert os.readlink(root / CURRENT) == IndexReader(alps_index).version
    result = runner.invoke(main, ["bundle", "create", str(sample_index), str(tmp_path / "x.zip")])
    assert result.exit_code != 0 and ".tar.zst or .tar.gz" in result.output


# --- refusals (issue 19): nothing left behind, nothing expanded past the manifest, one line ---


def published_archive(server, tmp_path: Path, name: str, members: list[tuple[str, bytes]],
                      cut: int | None = None) -> str:
    """An archive of ``members`` (name, data) in order, maybe cut to ``cut`` bytes, served with
    its own checksum (so that only unpacking can refuse it)."""
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if cut is not None:
        archive.write_bytes(archive.read_bytes()[:cut])
    Path(f"{archive}.sha256").write_text(hashlib.sha256(archive.read_bytes()).hexdigest())
    return server.publish(archive)


def fetch_cli(url: str, root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["bundle", "fetch", url, "--into", str(root), "--retries", "0"])
    return result.exit_code, result.output


def test_an_archive_larger_than_its_manifest_says_is_refused_before_it_is_written(server, tmp_path):
    """100 MB of zeros (100 KB compressed) after a manifest saying 1,000 bytes: refused by the
    member's header, before any of it is written; the download is deleted."""
    manifest = orjson.dumps({"format": "balise-index", "format_version": 3, "version": "v1", "bytes": 1000})
    url = published_archive(server, tmp_path, "bomb.tar.gz",
                            [("v1/manifest.json", manifest), ("v1/terms.bin", bytes(100_000_000))])
    root = tmp_path / "root"
    started = time.monotonic()
    code, output = fetch_cli(url, root)
    assert code == 1 and output.startswith("Error: the archive holds more than its manifest's 1,000 bytes")
    assert output.count("\n") == 1 and "Traceback" not in output
    assert time.monotonic() - started < 5  # refused at the header, not after writing 100 MB
    assert not list(root.glob(".staging*")) and not list((root / ".download").iterdir())


@pytest.mark.parametrize(("members", "cut", "message"), [
    ([("v1/manifest.json", b"[1, 2]")], None, "not an object with its files' bytes"),
    ([("v1/manifest.json", b"{no json")], None, "manifest is not JSON"),
    ([("v1/terms.bin", b"x"), ("v1/manifest.json", b"{}")], None, "does not start with the index's"),
    ([("v1/manifest.json", orjson.dumps({"bytes": 200_000})), ("v1/terms.bin", os.urandom(200_000))],
     60_000, "the archive cannot be read"),
], ids=["manifest an array", "manifest not JSON", "manifest last", "truncated gzip"])
def test_a_refused_bundle_is_one_error_line_and_leaves_nothing(server, tmp_path, members, cut, message):
    root = tmp_path / "root"
    code, output = fetch_cli(published_archive(server, tmp_path, "bad.tar.gz", members, cut), root)
    assert code == 1 and output.startswith("Error: ") and message in output, output
    assert output.count("\n") == 1 and "Traceback" not in output and "Aborted" not in output
    assert not list(root.glob(".staging*")) and not list((root / ".download").iterdir())


def test_a_version_naming_a_directory_that_is_not_an_index_is_refused(server, bundles, tmp_path):
    root = tmp_path / "root"
    version = orjson.loads(Path(f"{bundles['sample']}.json").read_bytes())["index"]["version"]
    (root / version).mkdir(parents=True)
    (root / version / "notes.txt").write_text("someone's files")
    code, output = fetch_cli(server.publish(bundles["sample"]), root)
    assert code == 1 and output.startswith(f"Error: {root / version} exists and is not an index"), output
    assert output.count("\n") == 1
    assert (root / version / "notes.txt").read_text() == "someone's files"  # untouched
    assert not (root / CURRENT).exists() and not list((root / ".download").iterdir())
