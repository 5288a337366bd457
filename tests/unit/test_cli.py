"""The ``balise`` command on real files: import (with bad lines), search, batch search."""

from __future__ import annotations

import gzip

import orjson
from click.testing import CliRunner

from balise.cli import main
from tests.conftest import SAMPLE


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
    result = CliRunner().invoke(main, ["search", "--index", str(sample_index), "--limit", "0", "paris"])
    assert result.exit_code != 0
    assert "limit" in result.output


def test_missing_index_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["search", "--index", str(tmp_path / "nothing"), "paris"])
    assert result.exit_code != 0
    assert "not a balise index" in result.output


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
