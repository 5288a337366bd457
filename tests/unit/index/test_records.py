"""House-number records (hn.bin): what a record stores comes back as it was, however its id
is written, and lookups by key find it across the sparse offsets of hn.off."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from balise.index import IndexReader, IndexWriter
from balise.index._housenumbers import HouseNumbers, record_ends
from balise.index._records import ban_suffix, housenumber_record
from balise.index.format import HN_BLOCK
from balise.text import make_pipeline

DOC_ID = "75101_x"
CASES = [  # (key, raw, properties, id as read back)
    ("1", "1", {"id": "75101_x_1"}, "75101_x_1"),  # the document's id, "_", the raw form
    ("30bis", "30 BIS", {"id": "75101_x-30 BIS"}, "75101_x-30 BIS"),  # "-" (BANO)
    ("30bis", "30 BIS", {"id": "75101_x_00030_bis"}, "75101_x_00030_bis"),  # BAN
    ("4bis", "4BIS", {"id": "75101_x-4B"}, "75101_x-4B"),  # another suffix, stored
    ("7", "7", {"id": "75101_x"}, "75101_x"),  # the document's own id
    ("7", "7", {"id": "other_7"}, "other_7"),  # another id, stored whole
    ("8", "8", {}, None),  # no id
    ("9", "9", {"id": 9}, 9),  # not a string: kept with the other properties
    ("12", "12", {"id": "75101_x_12", "x": 651234.5, "y": 6862000.0, "note": "é"}, "75101_x_12"),
    ("1234567890ab", "1234567890 AB", {"id": "75101_x_1234567890 AB"}, "75101_x_1234567890 AB"),  # long key
    ("a", "A", {"id": "75101_x_A"}, "75101_x_A"),  # no number: BAN's rule does not apply
    ("", "", {"id": "é"}, "é"),
]


@pytest.mark.parametrize(("key", "raw", "props", "expected"), CASES)
def test_a_record_round_trips(key, raw, props, expected):
    record = housenumber_record(key, raw, {**props, "lon": 2.0, "lat": 48.0}, DOC_ID)
    blob = np.frombuffer(record + b"\0", dtype=np.uint8)  # a following byte that is not read
    assert record_ends(blob, 1).tolist() == [len(record)]
    numbers = HouseNumbers(np.array([0, 1], dtype=np.uint64), np.zeros(1, dtype=np.uint32), blob)
    got_key, got = numbers.fields(0)[0], numbers.properties(0, DOC_ID)
    wanted = {k: v for k, v in props.items() if k != "id"}
    if expected is not None:
        wanted = {"id": expected, **wanted}
    assert (got_key, got) == (key, {**wanted, "raw": raw})
    assert list(got) == list({**wanted, "raw": raw})  # in the same order as before
    assert numbers.raw_of(0) == raw
    assert numbers.find_many(np.zeros(1, dtype=np.uint32), key).tolist() == [0]


def test_the_common_record_is_its_key_and_one_byte():
    assert housenumber_record("12", "12", {"id": "75101_x_12", "lon": 1, "lat": 2}, DOC_ID) == b"\x1212"
    assert ban_suffix("30bis") == "_00030_bis" and ban_suffix("123456") == "_123456" and ban_suffix("b") == ""


def street(doc_id: str, numbers: range, suffixes=("",)) -> dict:
    housenumbers = {f"{n}{s}": {"id": f"{doc_id}_{n}{s}", "lon": round(2 + n / 1e4, 6),
                                "lat": round(48 + n / 1e4, 6)} for n in numbers for s in suffixes}
    return {"id": doc_id, "type": "street", "name": f"Rue {doc_id}", "lon": 2.0, "lat": 48.0,
            "housenumbers": housenumbers}


def test_lookups_across_blocks(tmp_path):
    # Streets of 1, 7, 40 and 500 numbers: ranges that start and end anywhere in a block.
    docs = [street("d", range(1, 2)), street("c", range(1, 8)), street("b", range(1, 21), ("", "bis")),
            street("a", range(1, 501))]
    writer = IndexWriter(tmp_path / "index", make_pipeline())
    for doc in docs:
        writer.add(orjson.loads(orjson.dumps(doc)))
    manifest = writer.finish()
    index = IndexReader(tmp_path / "index")
    counts = manifest["counts"]
    assert counts["housenumbers"] == 1 + 7 + 40 + 500
    assert counts["housenumber_blocks"] == -(-counts["housenumbers"] // HN_BLOCK) == len(index.hn_offsets)
    for doc in docs:
        n = index.find_document(doc["id"])
        numbers = index.housenumber_range(n)
        for raw, props in doc["housenumbers"].items():
            key = raw.lower()
            hn = int(index.find_housenumbers(np.array([n], dtype=np.int64), key)[0])
            assert hn in numbers
            assert index.housenumber(hn, n) == {"id": props["id"], "raw": raw, "lon": props["lon"],
                                                "lat": props["lat"]}
            assert index.housenumber_raw(hn) == raw and index.housenumber_key(hn) == key
        for missing in ("0", "9999", "1ter", "zz", ""):
            assert index.find_housenumbers(np.array([n], dtype=np.int64), missing).tolist() == [-1]
    for hn in range(index.housenumber_count):  # the raw form read alone, as the whole record has it
        key, raw = index.housenumbers.fields(hn)[:2]
        assert index.housenumbers.raw_of(hn) == (key if raw is None else raw)


def test_a_damaged_record_blob_reads_nothing_outside_it():
    record = housenumber_record("1", "1 BIS", {"id": "z", "note": "x" * 300, "lon": 1, "lat": 2}, DOC_ID)
    for cut in range(len(record)):  # every truncation: the reads stop at the blob's end
        blob = np.frombuffer(record[:cut] or b"\0", dtype=np.uint8)
        numbers = HouseNumbers(np.array([0, 1], dtype=np.uint64), np.zeros(1, dtype=np.uint32), blob)
        numbers.fields(0)
        numbers.raw_of(0)
        numbers.find_many(np.zeros(1, dtype=np.uint32), "1")
