"""The import in bounded memory: sorted runs spilled to disk and merged give the index that
one in-memory sort gives, whatever the budget and the number of workers."""

from __future__ import annotations

import gzip
import os

import numpy as np
import orjson

from balise.importer.build import build_index
from balise.index import IndexReader, IndexWriter
from balise.index.format import ARRAYS, BLOBS
from balise.index.runs import Spill, sorted_chunks
from balise.text import make_pipeline
from tests.conftest import SAMPLE

RECORD = np.dtype([("key", "<u8"), ("seq", "<u4")])


def spill(tmp_path, keys) -> Spill:
    out = Spill(tmp_path / "spill", RECORD)
    records = np.empty(len(keys), dtype=RECORD)
    records["key"], records["seq"] = keys, np.arange(len(keys))
    for piece in np.array_split(records, 7):  # appended in several pieces, as an import does
        out.append(piece)
    return out


def key(records):
    return records["key"]


def test_merged_runs_come_out_sorted_and_stable(tmp_path):
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2_000, 100_000)  # many equal keys
    chunks = list(sorted_chunks(spill(tmp_path, keys), key, budget=245_760))  # runs of 4,096
    assert len(chunks) > 1  # the budget forced several runs and a merge
    merged = np.concatenate(chunks)
    order = np.argsort(keys, kind="stable")
    assert merged["key"].tolist() == keys[order].tolist()
    assert merged["seq"].tolist() == order.tolist()  # equal keys keep their order of arrival
    # Equal keys never straddle two chunks: a chunk can be deduplicated on its own.
    last = [c["key"][-1] for c in chunks[:-1]]
    first = [c["key"][0] for c in chunks[1:]]
    assert all(a < b for a, b in zip(last, first, strict=True))
    assert not list((tmp_path).glob("spill.run*"))  # runs are removed


def test_one_key_longer_than_a_block(tmp_path):
    keys = np.r_[np.zeros(9_000, dtype=np.int64), np.arange(1, 3_000)]
    merged = np.concatenate(list(sorted_chunks(spill(tmp_path, keys[::-1].copy()), key, budget=30_000)))
    assert merged["key"].tolist() == sorted(keys.tolist())


def files(directory) -> dict[str, bytes]:
    names = [a.name for a in ARRAYS] + [b.name for b in BLOBS]
    return {name: (directory / name).read_bytes() for name in names}


def test_a_tiny_memory_budget_gives_the_same_index(tmp_path):
    with gzip.open(SAMPLE) as f:
        docs = [orjson.loads(line) for line in f]
    docs += docs[:20]  # repeated ids, merged across runs
    built = {}
    for name, memory in (("large", 1 << 30), ("tiny", 64 << 10)):
        writer = IndexWriter(tmp_path / name, make_pipeline(), memory=memory)
        for doc in docs:
            writer.add(doc)
        writer.finish()
        built[name] = files(tmp_path / name)
    assert built["tiny"] == built["large"]
    assert IndexReader(tmp_path / "tiny").manifest["counts"]["documents"] == len(docs) - 20


def test_workers_give_the_same_index(tmp_path):
    one, _ = build_index([SAMPLE], tmp_path / "one", workers=1)
    two, _ = build_index([SAMPLE], tmp_path / "two", workers=2)
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert one["counts"] == two["counts"]
    assert two["import_report"]["workers"] == 2


def test_an_index_is_readable_by_others(tmp_path):
    build_index([SAMPLE], tmp_path / "index", workers=1)
    mode = (tmp_path / "index").stat().st_mode & 0o777
    assert mode & 0o055 == 0o055 & ~os.umask(os.umask(0))  # not 0700: the server may run as another user


def test_adding_a_document_leaves_the_caller_s_dict_as_it_was(tmp_path):
    with gzip.open(SAMPLE) as f:
        docs = [orjson.loads(line) for line in f][:50]
    before = orjson.dumps(docs)
    writer = IndexWriter(tmp_path / "index", make_pipeline())
    for doc in docs:
        writer.add(doc)
    writer.finish(sources=[{"path": "test"}])
    assert orjson.dumps(docs) == before


def test_ids_as_fixed_width_rows_give_what_numpy_strings_give(tmp_path):
    from balise.index.arrays import write_strings
    from balise.index.writer import fixed_width, write_stripped

    for ids in ([b"75056_1", b"a", b"", b"xy\x00", b"\x00z", b"01001_00000"], [], [b""], [b"a\x00\x00"]):
        rows = fixed_width(b"".join(ids), np.array([len(i) for i in ids], dtype=np.uint32))
        width = max([1, *map(len, ids)])
        assert rows.view(f"S{rows.shape[1]}").ravel().tobytes() == np.array(ids, dtype=f"S{width}").tobytes()
        order = np.arange(len(ids))[::-1]
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        write_strings(tmp_path / "a", "docs.id", [bytes(i) for i in np.array(ids, dtype=f"S{width}")[order]])
        write_stripped(tmp_path / "b", "docs.id", rows[order])
        for name in ("docs.id.bin", "docs.id.off"):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        for sub in ("a", "b"):
            for f in (tmp_path / sub).iterdir():
                f.unlink()
            (tmp_path / sub).rmdir()
