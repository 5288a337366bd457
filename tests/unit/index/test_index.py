"""Index round trip: what the writer stores, the reader gives back, memory-mapped."""

from __future__ import annotations

import gzip
import mmap
import os
import threading

import numpy as np
import orjson
import pytest

from balise.index import IndexFormatError, IndexReader, IndexWriter
from balise.index.format import FORMAT_VERSION, MANIFEST
from balise.text import make_pipeline
from tests.conftest import SAMPLE

STREET = {
    "id": "75101_x", "type": "street", "name": "Rue de la Paix", "postcode": "75001",
    "citycode": ["75101", "75056"], "city": ["Paris", "Paris 1er Arrondissement"],
    "lon": 2.33, "lat": 48.87, "importance": 0.6, "context": "75, Paris, Île-de-France",
    "housenumbers": {
        "1": {"id": "75101_x_00001", "lon": 2.331, "lat": 48.871},
        "30 BIS": {"id": "75101_x_00030_bis", "lon": 2.332, "lat": 48.872},
        "30B": {"id": "75101_x_00030_b", "lon": 2.333, "lat": 48.873},
    },
}
TOWN = {"id": "75101", "type": "municipality", "name": "Paris 1er Arrondissement",
        "postcode": "75001", "citycode": "75101", "lon": 2.34, "lat": 48.86, "importance": 0.4}


def write(tmp_path, docs, name="index"):
    writer = IndexWriter(tmp_path / name, make_pipeline())
    for doc in docs:
        writer.add(orjson.loads(orjson.dumps(doc)))
    return writer.finish(sources=[{"path": "test"}])


def test_round_trip(tmp_path):
    manifest = write(tmp_path, [STREET, TOWN])
    index = IndexReader(tmp_path / "index")
    assert index.manifest == manifest
    counts = manifest["counts"]
    assert (counts["documents"], counts["housenumbers"], counts["terms"]) == (2, 3, len(index.terms))
    assert counts["points"] == 2 + 3  # every document and house number is a point
    # Numbers follow descending ids, so ties break as in Redis.
    assert [index.document(n)["id"] for n in range(2)] == ["75101_x", "75101"]
    assert "housenumbers" not in index.document(0)
    tid = index.term_id("paix")
    docs, scores = index.postings(tid)
    assert docs.tolist() == [0]
    assert scores[0] == pytest.approx((4 + 0.06) / 4)  # name boost + importance, over 4 words
    assert index.term_id("nowhere") == -1
    # Filters are postings too, including type=housenumber for streets with numbers.
    assert index.postings(index.filter_id("citycode", "75056"))[0].tolist() == [0]
    assert index.postings(index.filter_id("type", "housenumber"))[0].tolist() == [0]
    assert sorted(index.postings(index.filter_id("postcode", "75001"))[0].tolist()) == [0, 1]


def test_housenumbers_keep_bis_and_b_apart(tmp_path):
    write(tmp_path, [STREET])
    index = IndexReader(tmp_path / "index")
    docs = np.array([0], dtype=np.uint32)
    bis = index.housenumber(int(index.find_housenumbers(docs, "30bis")[0]))
    b = index.housenumber(int(index.find_housenumbers(docs, "30b")[0]))
    assert (bis["id"], bis["raw"]) == ("75101_x_00030_bis", "30 BIS")
    assert (b["id"], b["raw"]) == ("75101_x_00030_b", "30B")
    assert index.find_housenumbers(docs, "31").tolist() == [-1]


def test_prefix_range_and_geo(tmp_path):
    write(tmp_path, [STREET, TOWN])
    index = IndexReader(tmp_path / "index")
    terms = [index.terms[t] for t in index.prefix_range("arond")]
    assert terms == ["arondisemen"]
    assert index.docs_near(2.331, 48.871).tolist() == [0]
    assert index.docs_near(5.0, 45.0).tolist() == []


def test_duplicate_ids_are_merged(tmp_path):
    other = dict(STREET, name="Rue de la Paix bis", housenumbers={"2": {"id": "2", "lon": 2.3, "lat": 48.8}})
    manifest = write(tmp_path, [STREET, other])
    index = IndexReader(tmp_path / "index")
    assert manifest["counts"]["documents"] == 1
    assert manifest["counts"]["housenumbers"] == 4
    assert index.postings(index.term_id("paix"))[0].tolist() == [0]  # once, not twice
    assert index.postings(index.term_id("bi"))[0].tolist() == [0]


def test_a_directory_without_manifest_is_not_an_index(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(IndexFormatError, match="no manifest"):
        IndexReader(tmp_path / "half")


def test_unknown_format_version_is_refused(tmp_path):
    write(tmp_path, [TOWN])
    path = tmp_path / "index" / MANIFEST
    manifest = orjson.loads(path.read_bytes())
    manifest["format_version"] = FORMAT_VERSION + 1
    path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(IndexFormatError, match="rebuild"):
        IndexReader(tmp_path / "index")


def test_rebuilding_replaces_the_index_only_at_the_end(tmp_path):
    write(tmp_path, [TOWN])
    served = IndexReader(tmp_path / "index")
    writer = IndexWriter(tmp_path / "index", make_pipeline())
    writer.add(orjson.loads(orjson.dumps(STREET)))
    # While the new index is being built, the served one is intact.
    assert IndexReader(tmp_path / "index").doc_count == 1
    writer.finish()
    assert IndexReader(tmp_path / "index").document(0)["id"] == "75101_x"
    # A reader opened before the swap still reads its own (now unlinked) files.
    assert served.document(0)["id"] == "75101"
    leftovers = [p for p in os.listdir(tmp_path) if p != "index"]
    assert leftovers == []


def test_aborted_build_leaves_nothing(tmp_path):
    writer = IndexWriter(tmp_path / "index", make_pipeline())
    writer.add(orjson.loads(orjson.dumps(TOWN)))
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_sample_round_trip(tmp_path):
    with gzip.open(SAMPLE) as f:
        docs = [orjson.loads(line) for line in f]
    manifest = write(tmp_path, docs)
    index = IndexReader(tmp_path / "index")
    assert manifest["counts"]["documents"] == len(docs)
    assert manifest["counts"]["housenumbers"] == sum(len(d.get("housenumbers") or {}) for d in docs)
    ids = {index.document(n)["id"] for n in range(index.doc_count)}
    assert ids == {d["id"] for d in docs}


def test_documents_are_found_by_id(tmp_path):
    write(tmp_path, [STREET, TOWN])
    index = IndexReader(tmp_path / "index")
    assert [index.find_document(i) for i in ("75101_x", "75101", "75101_y", "")] == [0, 1, -1, -1]
    assert index.doc_id(0) == "75101_x"
    assert list(index.housenumber_range(0)) == [0, 1, 2] and list(index.housenumber_range(1)) == []
    assert [index.housenumber_key(hn) for hn in range(3)] == ["1", "30b", "30bis"]  # sorted by key
    assert index.housenumber_doc(2) == 0


def test_extent_covers_every_house_number(tmp_path):
    write(tmp_path, [STREET, TOWN])
    index = IndexReader(tmp_path / "index")
    west, south, east, north = index.doc_extent[0].tolist()
    assert west <= 2.33 and south <= 48.87 and east >= 2.333 and north >= 48.873
    assert index.doc_extent[1].tolist() == pytest.approx([2.34, 48.86, 2.34, 48.86])


def test_lexicon_gives_the_tokens_of_known_words(tmp_path):
    write(tmp_path, [STREET, TOWN])
    index = IndexReader(tmp_path / "index")
    pipeline = make_pipeline()
    for word in ("rue", "paix", "arrondissement", "paris"):
        assert [index.terms[t] for t in index.lexicon(word)] == pipeline.expand(word)
    assert index.lexicon("nowhere") is None


def test_a_damaged_file_is_refused(tmp_path):
    write(tmp_path, [STREET, TOWN])
    with open(tmp_path / "index" / "post.docs", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IndexFormatError, match="post.docs"):
        IndexReader(tmp_path / "index")
    (tmp_path / "index" / "post.docs").unlink()
    with pytest.raises(IndexFormatError, match="post.docs"):
        IndexReader(tmp_path / "index")


def test_house_number_coordinates_keep_seven_decimals(tmp_path):
    street = dict(STREET, housenumbers={"1": {"id": "a", "lon": 2.12345678, "lat": -48.1234567}})
    write(tmp_path, [street])
    index = IndexReader(tmp_path / "index")
    assert index.hn_lonlat(0) == (2.1234568, -48.1234567)
    props = index.housenumber(0)
    assert (props["id"], props["raw"]) == ("a", "1")



def resident_bytes(reader: IndexReader) -> tuple[int, int]:
    """Bytes of this reader's maps, and how many of them are resident in this process's page
    tables (/proc/self/smaps: the Rss of the mappings that hold its arrays and blobs)."""
    views = [a for a in reader.arrays.values() if a.size]
    views += [np.frombuffer(b, dtype=np.uint8) for b in reader.blobs.values() if len(b)]
    starts = {v.ctypes.data for v in views}
    resident, start = 0, None
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping: "start-end perms ..."
                start = int(fields[0].split("-")[0], 16)
            elif fields[0] == "Rss:" and start in starts:
                resident += int(fields[1]) * 1024
    return sum(v.nbytes for v in views), resident


def test_preload_maps_every_page_of_the_index_into_the_process(france_index):
    reader = IndexReader(france_index)
    size, before = resident_bytes(reader)
    assert before < size / 10  # opening reads little
    assert reader.preload() == size
    assert resident_bytes(reader)[1] >= size - 32 * mmap.PAGESIZE  # each map's last page may be partial


def test_a_geocoder_preloads_its_index_in_the_background(france_index):
    from balise import Geocoder

    geocoder = Geocoder.open(france_index)
    for thread in [t for t in threading.enumerate() if t.name == "balise-preload"]:
        thread.join(30)
    size, resident = resident_bytes(geocoder.index)
    assert resident >= size - 32 * mmap.PAGESIZE
    assert resident_bytes(Geocoder.open(france_index, preload=False).index)[1] < size / 10


def many_documents(count: int) -> list[dict]:
    """Documents enough for the import to share their repeated values, of several shapes."""
    docs = []
    for i in range(count):
        doc = {"id": f"{10000 + i}_{i:04x}", "type": "street", "name": f"Rue numéro {i}",
               "postcode": f"{75000 + i % 20:05d}", "citycode": [f"{75100 + i % 20}", "75056"],
               "city": ["Paris", f"Paris {i % 20 + 1}e Arrondissement"], "lon": 2.3, "lat": 48.8,
               "importance": round(i / count, 5), "context": "75, Paris, Île-de-France"}
        if i % 7 == 0:  # the id elsewhere than first: kept where it was
            doc = {"type": doc.pop("type"), **doc}
        if i % 11 == 0:
            doc["id"] = [doc["id"], "other"]  # not a string: kept as it was
        elif i % 13 == 0:  # not plain JSON text: not written into the stored text
            doc["id"] = f'{doc["id"]}_é"\\'
        if i % 17 == 0:  # "id" in a value, not a key
            doc["name"] = 'La "id" du nom'
        if i == 1:  # few members
            doc = {"id": doc["id"], "type": "street", "name": "Rue", "lon": 2.3, "lat": 48.8}
        docs.append(doc)
    return docs


def test_documents_come_back_as_imported_through_their_parts(tmp_path):
    docs = many_documents(6_000)
    write(tmp_path, docs)
    index = IndexReader(tmp_path / "index")
    starts = index.arrays["docs.parts.off"]
    parts = {bytes(index.blobs["docs.parts"][a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)}
    assert b'"context"' in parts and b'"75, Paris, \xc3\x8ele-de-France"' in parts  # a value shared
    assert b'"Rue num\xc3\xa9ro 12"' not in parts  # a value of its own: in its record
    assert (tmp_path / "index" / "docs.bin").stat().st_size < 50 * len(docs)  # JSON: ~330 bytes each
    for doc in docs:
        doc_id = doc["id"] if isinstance(doc["id"], str) else doc["id"][0]
        got = index.document(index.find_document(doc_id))
        assert got == doc  # the same keys in the same order (lon and lat last, as ever)
        assert list(got) == [k for k in doc if k not in ("lon", "lat")] + ["lon", "lat"]


@pytest.mark.parametrize("name", ["docs.bin", "hn.bin", "labels.bin", "docs.id.bin", "terms.bin"])
def test_a_short_blob_is_refused(tmp_path, name):
    write(tmp_path, [STREET, TOWN])
    path = tmp_path / "index" / name
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IndexFormatError, match=name):
        IndexReader(tmp_path / "index")


@pytest.mark.parametrize("name", ["docs.bin", "docs.parts", "docs.parts.off"])
def test_damaged_documents_are_said_never_read_beyond(tmp_path, name):
    """Records and parts with other bytes (their lengths kept): the index is refused when
    it opens (an offsets array that no longer ends with its blob), or every document reads
    as one or is said damaged, an IndexFormatError; none is read past its bytes."""
    import random

    write(tmp_path, many_documents(2_000))
    path = tmp_path / "index" / name
    good = path.read_bytes()
    rng = random.Random(7)
    for flips in (1, 8, len(good)):
        data = bytearray(good)
        for at in rng.sample(range(len(data)), min(flips, len(data))):
            data[at] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        try:
            index = IndexReader(tmp_path / "index")  # opening reads no document (it stays cheap)
        except IndexFormatError as e:
            assert name == "docs.parts.off" and "docs.parts" in str(e)
            continue
        damaged = 0
        for n in range(index.doc_count):
            try:
                assert isinstance(index.document(n), dict)
            except IndexFormatError as e:
                assert f"docs.bin: document {n} is damaged" in str(e)
                damaged += 1
        assert damaged or flips < len(good)


def test_offsets_of_either_width_read_the_same(tmp_path):
    """docs.off and hn.off are uint32, or uint64 for an index whose blobs pass 4 GiB
    (format.py): the compiled readers take both, and read the same documents and numbers."""
    from balise.index._housenumbers import HouseNumbers
    from balise.index._parts import Parts
    from balise.index._stored import StoredDocuments

    write(tmp_path, [STREET, TOWN, *many_documents(6_000)])
    index = IndexReader(tmp_path / "index")
    assert index.doc_offsets.dtype == np.uint32 and index.hn_offsets.dtype == np.uint32
    parts = Parts(index.blobs["docs.parts"], index.arrays["docs.parts.off"])
    wide = StoredDocuments(index.docs_blob, index.doc_offsets.astype(np.uint64), index.doc_lonlat.reshape(-1),
                           index.doc_ids, parts, IndexFormatError, "wide")
    numbers = HouseNumbers(index.doc_hn, index.hn_offsets.astype(np.uint64), index.hn_blob)
    for n in range(len(index.doc_ids)):
        assert wide.document(n) == index.document(n)
    for hn in range(int(index.doc_hn[-1])):
        assert numbers.raw_of(hn) == index.housenumber_raw(hn)
    for n in (-1, len(index.doc_ids), 2**40):  # refused, not read beyond the offsets
        with pytest.raises(IndexError):
            wide.document(n)
    for n in (0, 1, 0):  # not cached: each read is the reader's own dict, changed at will
        first = index.document(n)
        first["name"] = "changed"
        assert index.document(n) is not first and index.document(n) == wide.document(n)
    with pytest.raises(IndexError):
        index.document(-1)
    beyond = index.doc_offsets.astype(np.uint64)
    beyond[1] = len(index.docs_blob) + 1  # offsets past the blob are said, never read (C reads it)
    backwards = index.doc_offsets.astype(np.uint64)
    backwards[1] = backwards[2] + 1
    for offsets in (beyond, backwards):
        damaged = StoredDocuments(index.docs_blob, offsets, index.doc_lonlat.reshape(-1), index.doc_ids,
                                  parts, IndexFormatError, "damaged")
        with pytest.raises(IndexFormatError, match="document 1 is damaged"):
            damaged.document(1)


def test_one_edit_terms_are_addoks_in_its_order(france_index):
    """The terms one edit away from a word, as addok-fr's fuzzy collector lists them
    (transpositions, AZERTY neighbours, insertions letter by letter, deletions over 3
    letters), each once at its first place: real terms, their neighbours, typos."""
    import random

    from balise.index._lookup import KEYBOARD_NEIGHBOURS, one_edit_terms

    reader = IndexReader(france_index)
    terms = reader.terms

    def addok_order(word: str) -> list[int]:
        n = len(word)
        candidates = [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(n - 1)]
        candidates += [word[:i] + key + word[i + 1:] for i in range(n)
                       for key in KEYBOARD_NEIGHBOURS.get(word[i], "") if key != word[i]]
        candidates += [word[:i] + letter + word[i:] for letter in "abcdefghijklmnopqrstuvwxyz"
                       for i in range(n + 1)]
        if n > 3:
            candidates += [word[:i] + word[i + 1:] for i in range(n)]
        return list(dict.fromkeys(t for t in (terms.find(c) for c in candidates) if t >= 0))

    rng = random.Random(4)
    words = [terms[i] for i in rng.sample(range(len(terms)), 400)]
    words += [w[:i] + rng.choice("aeiourstn") + w[i + 1:] for w in words for i in [rng.randrange(len(w))]]
    words += ["", "a", "ru", "ruee", "rivolli", "champselysee", "9"]
    for word in words:
        assert list(one_edit_terms(terms, word)) == addok_order(word), word
    assert list(one_edit_terms(terms, "rivolé")) == []


def test_place_terms_are_flagged(tmp_path):
    """term.flags marks the tokens of the documents' places (format.place_texts: city,
    postcode, context..., a municipality's name), not those of street names."""
    from balise.index.format import PLACE_TERM, place_texts

    pipeline = make_pipeline()
    write(tmp_path, [STREET, TOWN, {**TOWN, "id": "04001", "name": "Aiglun", "city": None,
                                    "postcode": "04510", "citycode": "04001", "context": None}])
    index = IndexReader(tmp_path / "index")
    assert place_texts(STREET) == ["Paris", "Paris 1er Arrondissement", "75001", "75101", "75056",
                                   "75, Paris, Île-de-France"]
    flagged = {index.terms[t] for t in range(len(index.terms)) if index.term_flags[t] & PLACE_TERM}
    for text in ("Paris 1er Arrondissement", "75001", "75101", "75056", "Île-de-France", "Aiglun", "04510"):
        assert set(pipeline.index_tokens(text)) <= flagged, text
    assert not set(pipeline.index_tokens("Rue la Paix")) & flagged  # ("de": Île-de-France)
