"""balise.dask on a real dask.distributed LocalCluster of two worker processes: the answers and
columns of ``balise geocode``; each worker opens the index once; a bundle URL is downloaded once
per machine, its checksum checked."""

from __future__ import annotations

import csv
import threading
from itertools import cycle, islice

import pytest

from tests.conftest import DATA
from tests.functional.test_csv_cli import balise

distributed = pytest.importorskip("dask.distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

EVAL = DATA / "eval" / "official-points-dev.csv"
PARIS = ["12 rue de rivoli paris", "place des vosges paris", "34 rue des archives 75004",
         "rue saint-honore", "3 quai des celestins paris", "nulle part du tout xyzzy"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    if not EVAL.exists():
        pytest.skip(f"data not found: {EVAL}")
    with EVAL.open(encoding="utf-8", newline="") as f:
        rows = [(r["query"], r["postcode"]) for r in csv.DictReader(f)]
    chosen = list(islice(cycle(rows), 3000))
    return pd.DataFrame({"n": range(len(chosen)), "query": [q for q, _ in chosen],
                         "postcode": [p for _, p in chosen]})


def test_partitions_on_two_workers_answer_as_balise_geocode(client, france_index, points, tmp_path):
    from balise.dask import geocode

    frame = dd.from_pandas(points, npartitions=6)
    got = geocode(frame, index=france_index, columns=["query"], postcode="postcode",
                  split_housenumber=True).compute()
    source, out = tmp_path / "points.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.Table.from_pandas(points, preserve_index=False), source)
    run = balise("geocode", "--index", str(france_index), "--columns", "query", "--postcode", "postcode",
                 "--split-housenumber", "--workers", "1", "--quiet", str(source), str(out))
    assert run.returncode == 0, run.stderr
    offline = pq.read_table(out).to_pylist()
    assert list(got.columns) == list(offline[0])
    assert got.to_dict("records") == offline  # nulls, types and values, row for row
    assert str(got["result_score"].dtype) == "double[pyarrow]"
    assert str(got["result_number"].dtype) == "int32[pyarrow]"
    assert got.index.equals(points.index)
    opened = client.run(lambda: len(__import__("balise.dask").dask._opened))
    assert sorted(opened.values()) == [1, 1]  # two workers, each opened the index once


def test_a_bundle_url_is_fetched_once_per_machine(client, sample_index, tmp_path):
    from balise.bundle import create
    from balise.dask import IndexSource, _row_geocoder, geocode
    from tests.unit.test_bundle import BundleServer

    server = BundleServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        create(sample_index, tmp_path / "paris.tar.gz")
        url = server.publish(tmp_path / "paris.tar.gz")
        root = tmp_path / "machine"  # both workers run on this machine: one root
        source = IndexSource(bundle_url=url, root=str(root))
        # Both workers at once, as on their first partitions: one downloads, the other waits.
        opened = client.run(lambda: _row_geocoder(source, 0.5).geocoder.version)
        assert len(opened) == 2 and len(set(opened.values())) == 1
        frame = dd.from_pandas(pd.DataFrame({"q": PARIS * 20}), npartitions=4)
        got = geocode(frame, bundle_url=url, root=root, columns=["q"]).compute()
        assert (got["result_label"].iloc[0]) == "12 Rue de Rivoli 75004 Paris"
        assert list(got["result_status"].iloc[:6]) == ["ok"] * 5 + ["not-found"]
        downloads = [path for path, _ in server.requests if path == "/paris.tar.gz"]
        assert len(downloads) == 1
        assert (root / "current").is_symlink()
        wrong = server.publish(tmp_path / "paris.tar.gz", "bad.tar.gz", body=b"not the bundle")
        with pytest.raises(Exception, match="sha256"):
            geocode(frame, bundle_url=wrong, root=tmp_path / "other", columns=["q"]).compute()
    finally:
        server.shutdown()
        server.server_close()
