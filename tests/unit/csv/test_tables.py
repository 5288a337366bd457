"""Parquet tables, split house numbers, the CSV row writer and the job journal, on the real dev
index and real files."""

from __future__ import annotations

import csv
import io
import random

import pytest

from balise.csv import CsvOptions
from balise.csv.answers import split_housenumber
from balise.csv.jobs import CsvJob
from balise.csv.journal import Journal, job_key
from balise.errors import FileTooLarge, InvalidParameter, InvalidParquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.mark.parametrize(("housenumber", "split"), [
    ("12", (12, None)), ("12 bis", (12, "bis")), ("12bis", (12, "bis")), ("1BIS", (1, "bis")),
    ("1b", (1, "b")), ("12 B", (12, "b")), ("3-ter", (3, "ter")), ("", (None, None)), (None, (None, None)),
    ("A", (None, "a")),
])
def test_split_housenumber_as_ban_writes_it(housenumber, split):
    assert split_housenumber(housenumber) == split


def test_csv_rows_are_written_exactly_as_csv_writer_writes_them():
    cells = ["a", ",", ";", '"', "'", "\n", "\r", " ", "", "é", "\t", "|"]
    rng = random.Random(1)
    for quote_all in (False, True):
        for delimiter in ",;\t|":
            for quote in "\"'":
                job = CsvJob(None, delimiter, quote, quote_all)  # type: ignore[arg-type]
                rows = [["".join(rng.choice(cells) for _ in range(rng.randrange(4)))
                         for _ in range(rng.randrange(1, 5))] for _ in range(2000)]
                expected = io.StringIO()
                job.writer(expected).writerows(rows)
                assert job.format(rows) == expected.getvalue()


def parquet(table) -> io.BytesIO:
    data = io.BytesIO()
    pq.write_table(table, data, compression="zstd", write_statistics=False)
    data.seek(0)
    return data


def answered(geocoder, table, mode="search", max_bytes=0, **options):
    from balise.csv.parquet import ParquetAnswer
    from balise.csv.run import in_process

    answer = ParquetAnswer(in_process(geocoder, 0.5), parquet(table), CsvOptions(**options), mode, max_bytes)
    return pq.read_table(io.BytesIO(b"".join(answer))), answer.stats


def test_parquet_keeps_input_types_and_types_results(geocoder):
    table = pa.table({"n": pa.array([7, 8], pa.int16()), "num": pa.array([12, None], pa.int64()),
                      "voie": ["rue de rivoli", "zzzz qqqq"],
                      "ville": pa.array(["paris", "paris"]).dictionary_encode()})
    out, stats = answered(geocoder, table, columns=("num", "voie", "ville"), split_housenumber=True)
    assert out.schema.field("n").type == pa.int16()
    assert out.schema.field("ville").type.value_type == pa.string()
    found, missing = out.to_pylist()
    assert found["result_label"] == "12 Rue de Rivoli 75004 Paris"  # 12 (an integer) joined into the query
    assert found["result_number"] == 12 and found["result_suffix"] is None and found["result_status"] == "ok"
    assert isinstance(found["latitude"], float) and isinstance(found["result_score"], float)
    assert missing["result_status"] == "not-found" and missing["latitude"] is None
    assert (stats.rows, stats.found) == (2, 1)


def test_parquet_reverse_and_bad_rows(geocoder):
    table = pa.table({"lat": [48.856614, 91.0, None], "lon": [2.352222, 2.0, None]})
    out, stats = answered(geocoder, table, mode="reverse")
    good, bad, empty = out.to_pylist()
    assert good["result_type"] == "housenumber" and good["result_distance"] < 100
    assert bad["result_status"] == "error" and bad["result_latitude"] is None
    assert empty["result_status"] == "skipped"
    assert (stats.errors, stats.skipped) == (1, 1) and stats.examples[0][0] == 2  # its row number


def test_parquet_result_columns_replace_input_columns_of_that_name(geocoder):
    table = pa.table({"q": ["12 rue de rivoli paris"], "result_label": pa.array([1], pa.int8())})
    out, _ = answered(geocoder, table, columns=("q",), result_columns=("result_label", "result_status"))
    assert out.column_names == ["q", "result_label", "result_status"]
    assert out.schema.field("result_label").type == pa.string()


def test_parquet_refusals_come_before_any_work(geocoder):
    table = pa.table({"q": ["12 rue de rivoli paris"] * 1000, "tags": [[1, 2]] * 1000})
    with pytest.raises(InvalidParameter, match="nope"):
        answered(geocoder, table, columns=("nope",))
    with pytest.raises(InvalidParameter, match="tags"):
        answered(geocoder, table, columns=("q", "tags"))
    with pytest.raises(FileTooLarge):  # more rows than an upload of that size could hold as CSV
        answered(geocoder, table, max_bytes=1000, columns=("q",))
    bomb = pa.table({"q": ["x" * 2_000_000]})  # a few kB compressed, 2 MB of pages decompressed
    assert len(parquet(bomb).getvalue()) < 10_000
    with pytest.raises(FileTooLarge):
        answered(geocoder, bomb, max_bytes=50_000, columns=("q",))
    out, _ = answered(geocoder, bomb, max_bytes=200_000, columns=("q",))
    assert out.column("result_status").to_pylist() == ["skipped"]
    from balise.csv.parquet import ParquetSource

    with pytest.raises(InvalidParquet):
        ParquetSource(io.BytesIO(b"PAR1 not a parquet file PAR1"), CsvOptions(), "search")


def test_a_journal_is_only_taken_for_the_same_job(tmp_path):
    key = job_key(input="/data/a.csv", size=10, options={"columns": ("q",)})
    path = tmp_path / "out.csv.part.json"
    Journal(key, rows=500, out_bytes=1234, seconds=2.5, stats={"rows": 500}).save(path)
    assert Journal.load(path, key) == Journal(key, 500, 1234, 0, 2.5, {"rows": 500})
    assert Journal.load(path, job_key(input="/data/a.csv", size=11, options={"columns": ("q",)})) is None
    path.write_text("{half a journ")
    assert Journal.load(path, key) is None
    assert not list(tmp_path.glob("*.tmp"))


def test_restart_or_other_arguments_start_over(france_index, tmp_path):
    from balise.csv.job import geocode_file

    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        csv.writer(f).writerows([["q"], *[["12 rue de rivoli paris"]] * 30])
    out = tmp_path / "out.csv"
    options = CsvOptions(columns=("q",))
    report = geocode_file(france_index, source, out, options)
    whole = out.read_bytes()
    # A journal of another job (other options) beside the output: not resumed.
    key = job_key(anything="else")
    Journal(key, rows=10, out_bytes=5).save(tmp_path / "out.csv.part.json")
    (tmp_path / "out.csv.part").write_bytes(b"junk")
    report = geocode_file(france_index, source, out, options)
    assert report.resumed_rows == 0 and out.read_bytes() == whole
    assert not (tmp_path / "out.csv.part.json").exists()
