"""The ``balise`` command on real files: import (with bad lines), search, batch search."""

from __future__ import annotations

import gzip
import os

import orjson
import pytest
from click.testing import CliRunner

from balise import Geocoder
from balise.cli import main
from balise.index import IndexReader
from balise.search.geojson import Credits, credits_of
from tests.conftest import DATA, SAMPLE

BANO_04 = DATA / "bano" / "bano-04.csv.gz"


def test_import_reports_counts_and_bad_lines(tmp_path):
    source = tmp_path / "mixed.ndjson"
    with gzip.open(SAMPLE) as f:
        lines = [next(f) for _ in range(20)]
    source.write_bytes(b"".join(lines[:10]) + b"{not json\n" + b'{"id": "x"}\n' + b"".join(lines[10:]))
    result = CliRunner().invoke(main, ["import", "--quiet", "--index", str(tmp_path / "idx"), str(source)])
    assert result.exit_code == 0, result.output
    assert "indexed 20 documents" in result.output
    assert "skipped 2 bad lines" in result.output
    manifest = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())
    assert manifest["counts"]["documents"] == 20
    assert manifest["sources"][0]["sha256"]
    assert manifest["import_report"]["peak_memory_mb"] > 0


def test_search_prints_geocodejson(sample_index):
    result = CliRunner().invoke(
        main, ["search", "--index", str(sample_index), "--limit", "1", "34 rue de rivoli paris"]
    )
    assert result.exit_code == 0, result.output
    fc = orjson.loads(result.output)
    assert fc["features"][0]["properties"]["label"] == "34 Rue de Rivoli 75004 Paris"


def test_search_file_of_queries(sample_index, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("34 rue de rivoli paris\nplace des vosges\n" + "x" * 300 + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main, ["search", "--index", str(sample_index), "--input", str(queries), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(rows) == 3
    assert rows[1]["features"][0]["properties"]["name"] == "Place des Vosges"
    assert rows[2]["error"]["title"] == "Query too long"


def test_search_csv_column(sample_index, tmp_path):
    queries = tmp_path / "queries.csv"
    queries.write_text("id,adresse\n1,34 rue de rivoli paris\n2,rue beaubourg\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main,
        ["search", "--index", str(sample_index), "--input", str(queries), "--column", "adresse",
         "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["query"] for r in rows] == ["34 rue de rivoli paris", "rue beaubourg"]


def test_search_bad_parameters_are_a_clear_error(sample_index):
    result = CliRunner().invoke(main, ["search", "--index", str(sample_index), "--limit", "101", "paris"])
    assert result.exit_code != 0
    assert "limit" in result.output


def test_missing_index_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["search", "--index", str(tmp_path / "nothing"), "paris"])
    assert result.exit_code != 0
    assert "neither a balise index nor an index root" in result.output


def test_search_in_an_area(france_index):
    runner = CliRunner()
    boxed = runner.invoke(main, ["search", "--index", str(france_index), "--limit", "1",
                                 "--bbox", "6.1,44.0,6.4,44.2", "rue de la paix"])
    assert boxed.exit_code == 0, boxed.output
    assert orjson.loads(boxed.output)["features"][0]["properties"]["citycode"] == "04070"
    near = ["--lat", "48.8566", "--lon", "2.3522", "--geo-boost", "strict", "--geo-radius", "1"]
    strict = runner.invoke(main, ["search", "--index", str(france_index), *near, "--limit", "20", "rue"])
    assert strict.exit_code == 0, strict.output
    assert all(f["properties"]["distance"] <= 1000 for f in orjson.loads(strict.output)["features"])
    bad = runner.invoke(main, ["search", "--index", str(france_index), "--bbox", "1,2,3", "rue"])
    assert bad.exit_code == 2 and "bbox" in bad.output
    centreless = runner.invoke(main, ["search", "--index", str(france_index), "--geo-boost", "favor", "rue"])
    assert centreless.exit_code == 1 and "needs a centre" in centreless.output


def test_lookup_prints_the_features(france_index):
    ids = ["75102_6904_00034", "nope", "04001"]
    result = CliRunner().invoke(main, ["lookup", "--index", str(france_index), *ids])
    assert result.exit_code == 0, result.output
    assert [f["properties"]["id"] for f in orjson.loads(result.output)["features"]] == [ids[0], ids[2]]


def test_import_records_the_date_of_each_source(tmp_path):
    import os
    from datetime import datetime

    source = tmp_path / "sample.ndjson.gz"
    source.write_bytes(SAMPLE.read_bytes())
    os.utime(source, (1_718_000_000, 1_718_000_000))  # 2024-06-10T06:13:20Z
    result = CliRunner().invoke(main, ["import", "--quiet", "--index", str(tmp_path / "idx"), str(source)])
    assert result.exit_code == 0, result.output
    (described,) = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())["sources"]
    assert datetime.fromisoformat(described["modified"]).timestamp() == 1_718_000_000


@pytest.fixture(scope="module")
def index_root(tmp_path_factory, sample_index):
    """An index root as `balise bundle fetch` and the image's /data/index hold: versions and `current`."""
    root = tmp_path_factory.mktemp("root") / "index"
    result = CliRunner().invoke(main, ["bundle", "publish", str(sample_index), "--into", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "current").is_symlink()
    return root


def test_search_lookup_and_geocode_follow_an_index_root(index_root, sample_index, tmp_path):
    runner = CliRunner()
    on_root = runner.invoke(main, ["search", "--index", str(index_root), "--limit", "1", "34 rue de rivoli"])
    direct = runner.invoke(main, ["search", "--index", str(sample_index), "--limit", "1", "34 rue de rivoli"])
    assert on_root.exit_code == 0, on_root.output
    assert on_root.output == direct.output and orjson.loads(on_root.output)["features"]
    found = runner.invoke(main, ["lookup", "--index", str(index_root), "75104_8249_00034"])
    assert found.exit_code == 0, found.output
    (feature,) = orjson.loads(found.output)["features"]
    assert feature["properties"]["id"] == "75104_8249_00034"
    rows = tmp_path / "in.csv"
    rows.write_text("adresse\n34 rue de rivoli paris\n")
    out = tmp_path / "out.csv"
    geocoded = runner.invoke(main, ["geocode", "--index", str(index_root), "--workers", "1", "--quiet",
                                    str(rows), str(out)])
    assert geocoded.exit_code == 0, geocoded.output
    assert out.read_text().splitlines()[1].endswith(",ok")
    with_env = runner.invoke(main, ["search", "--limit", "1", "rivoli"],
                             env={"BALISE_INDEX": str(index_root)})
    assert with_env.exit_code == 0 and orjson.loads(with_env.output)["features"]


def test_import_into_an_index_root_publishes_a_version(index_root, tmp_path):
    before = os.readlink(index_root / "current")
    source = tmp_path / "small.ndjson"
    with gzip.open(SAMPLE, "rt") as f:
        source.write_text("".join(line for _, line in zip(range(20), f, strict=False)))
    result = CliRunner().invoke(main, ["import", "--quiet", "--index", str(index_root), str(source)])
    assert result.exit_code == 0, result.output
    after = os.readlink(index_root / "current")
    assert after != before and f"current -> {after}" in result.output
    assert sorted(p.name for p in index_root.iterdir()) == sorted(["current", before, after])
    assert IndexReader(index_root / after).manifest["counts"]["documents"] == 20
    back = CliRunner().invoke(main, ["bundle", "publish", str(index_root / before),
                                     "--into", str(index_root)])
    assert back.exit_code == 0, back.output  # as it was, for the other tests


@pytest.fixture(scope="module")
def bano_index(tmp_path_factory):
    """A real BANO sample: the first 300 lines of BANO's Alpes-de-Haute-Provence file."""
    if not BANO_04.exists():
        pytest.skip(f"data not found: {BANO_04}")
    base = tmp_path_factory.mktemp("bano")
    source = base / "bano-04.csv"
    with gzip.open(BANO_04, "rt", encoding="utf-8") as f:
        source.write_text("".join(line for _, line in zip(range(300), f, strict=False)), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "--quiet", "--index", str(base / "index"), str(source)])
    assert result.exit_code == 0, result.output
    return base / "index"


def test_answers_credit_the_sources_producers(bano_index, sample_index):
    (source,) = IndexReader(bano_index).manifest["sources"]
    assert (source["format"], source["producer"]) == ("bano", "BANO")
    runner = CliRunner()
    bano = orjson.loads(runner.invoke(main, ["search", "--index", str(bano_index), "aiglun"]).output)
    assert bano["features"] and (bano["attribution"], bano["licence"]) == ("BANO", "ODbL")
    ban = orjson.loads(runner.invoke(main, ["search", "--index", str(sample_index), "rivoli"]).output)
    assert (ban["attribution"], ban["licence"]) == ("BAN", "ETALAB-2.0")  # Addok NDJSON: BAN's, as before
    chosen = runner.invoke(main, ["search", "--index", str(bano_index), "aiglun"],
                           env={"BALISE_ATTRIBUTION": "BANO (OpenStreetMap France)"})
    answer = orjson.loads(chosen.output)
    assert (answer["attribution"], answer["licence"]) == ("BANO (OpenStreetMap France)", "ODbL")
    reverse = Geocoder.open(bano_index, preload=False).reverse(44.05, 6.13)
    assert (reverse["attribution"], reverse["licence"]) == ("BANO", "ODbL")


def test_mixed_sources_credit_each_producer():
    manifest = {"sources": [{"producer": "BAN"}, {"producer": "BANO"}, {"producer": "BAN"},
                            {"producer": None}]}
    assert credits_of(manifest) == Credits("BAN, BANO", "ETALAB-2.0, ODbL")
    assert credits_of({}) == Credits("BAN", "ETALAB-2.0")  # an index built before producers were recorded
    assert credits_of(manifest, Credits("", "ODbL")) == Credits("BAN, BANO", "ODbL")


@pytest.mark.parametrize("preset, expected", [(None, "1 1"), ("2", "2 2")])
def test_the_command_keeps_numpy_to_one_thread_unless_told(preset, expected):
    """OpenBLAS's threads, started with numpy, spin on a core balise never needs them on
    (they slowed two `balise geocode` workers); a value the user set is kept."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if preset:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = ("import os, balise.cli, numpy; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], min(len(os.listdir('/proc/self/task')), 2))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    threads = expected.split()[1] if (os.cpu_count() or 1) > 1 else "1"
    assert done.stdout.split() == [expected.split()[0], threads]
