"""``build_index``: the whole import, with its workers, on good and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from balise import Geocoder
from balise.importer.build import build_index, parse_memory
from balise.index import IndexReader
from tests.conftest import SAMPLE

GOOD = '{"id": "a", "type": "street", "name": "Rue A", "lon": 2.1, "lat": 48.8}'


def write(path: Path, lines: list[str | bytes], gz: bool = False) -> Path:
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_lines_are_reported_with_their_line_and_skipped(tmp_path, workers):
    lines = [
        GOOD,
        "{not json",
        "[1, 2]",
        '{"type": "street", "name": "x", "lon": 1, "lat": 2}',
        '{"id": "b", "type": "street", "name": "x", "lon": "2.1", "lat": 48.8}',
        b'{"id": "e", "type": "street", "name": "Rue \xe9", "lon": 2.1, "lat": 48.8}',
        "",
        GOOD.replace('"a"', '"z"'),
    ]
    manifest, report = build_index([write(tmp_path / "bad.ndjson", lines)], tmp_path / "index",
                                   workers=workers)
    assert manifest["counts"]["documents"] == 2
    assert report.documents == 2 and report.bad_lines == 5
    assert [(line, reason) for _, line, reason, _ in report.examples] == [
        (2, "invalid JSON"), (3, "not a JSON object"), (4, "missing id"), (5, "lon is not a number"),
        (6, "invalid UTF-8"),
    ]
    assert manifest["import_report"]["bad_lines"] == 5


def test_a_truncated_gzip_keeps_what_was_read(tmp_path):
    whole = SAMPLE.read_bytes()
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    manifest, report = build_index([cut], tmp_path / "index", workers=2)
    assert 200 < manifest["counts"]["documents"] < 675
    reasons = [reason for _, _, reason, _ in report.examples]
    assert any(r.startswith("unreadable after this line") for r in reasons)
    assert set(reasons) <= {"invalid JSON"} | {r for r in reasons if r.startswith("unreadable")}


def test_gzip_members_one_after_the_other(tmp_path):
    two = tmp_path / "two.ndjson.gz"
    members = [gzip.compress((line + "\n").encode()) for line in (GOOD, GOOD.replace('"a"', '"b"'))]
    two.write_bytes(b"".join(members))
    manifest, report = build_index([two], tmp_path / "index", workers=1)
    assert manifest["counts"]["documents"] == 2 and report.bad_lines == 0


def test_an_empty_file_makes_an_empty_index_that_answers(tmp_path):
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    manifest, _ = build_index([empty], tmp_path / "index", workers=2)
    assert manifest["counts"]["documents"] == 0
    geocoder = Geocoder.open(tmp_path / "index")
    assert geocoder.search("rue de la paix")["features"] == []
    assert geocoder.reverse(48.85, 2.35)["features"] == []


def test_several_sources_and_repeated_ids(tmp_path):
    first = write(tmp_path / "a.ndjson", [GOOD])
    again = write(tmp_path / "b.ndjson.gz", [GOOD.replace("Rue A", "Rue A bis"), GOOD.replace('"a"', '"c"')],
                  gz=True)
    manifest, report = build_index([first, again], tmp_path / "index", workers=2)
    assert manifest["counts"]["documents"] == 2  # "a" twice is one document
    assert manifest["import_report"]["merged_duplicate_ids"] == 1
    assert [s["path"] for s in manifest["sources"]] == ["a.ndjson", "b.ndjson.gz"]
    index = IndexReader(tmp_path / "index")
    assert index.find_document("a") >= 0 and index.find_document("c") >= 0


def test_memory_sizes():
    assert parse_memory("2GB") == parse_memory("2G") == 2 << 30
    assert parse_memory("512MB") == 512 << 20 and parse_memory("1.5GiB") == 3 << 29
    assert parse_memory("1000") == 1000
    with pytest.raises(ValueError):
        parse_memory("lots")
