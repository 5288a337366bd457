"""CSV batch geocoding (balise.csv) on the real dev data, with real bytes in and out."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from balise.csv import RESULT_COLUMNS, CsvOptions, geocode_rows, output_filename, spool_upload
from balise.csv.dialect import sniff_delimiter
from balise.errors import FileTooLarge, InvalidCsv, InvalidParameter

RIVOLI = "12 rue de rivoli paris"


def run(geocoder, data: bytes | str | list, mode: str = "search", chunk_rows: int = 500, **options):
    """Geocode ``data``; returns (rows of the output, the output object, the raw output)."""
    source = data if isinstance(data, list) else io.BytesIO(data.encode() if isinstance(data, str) else data)
    output = geocode_rows(geocoder, source, CsvOptions(**options), mode, chunk_rows=chunk_rows)
    raw = b"".join(output)
    text = raw.decode("utf-8-sig" if output.encoding == "utf-8" else output.encoding)
    quote = options.get("quote", '"')
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=output.delimiter, quotechar=quote))
    return rows, output, raw


def records(rows):
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


# -- columns and output shape ----------------------------------------------------------------


def test_columns_form_the_query_and_results_follow_the_input(geocoder):
    rows, output, raw = run(geocoder, "id,street,city\n1,12 rue de rivoli,paris\n2,place des vosges,paris\n",
                            columns=("street", "city"))
    assert rows[0] == ["id", "street", "city", *RESULT_COLUMNS["search"]]
    first, second = records(rows)
    assert first["id"] == "1" and first["street"] == "12 rue de rivoli"
    assert first["result_label"] == "12 Rue de Rivoli 75004 Paris"
    assert first["result_type"] == "housenumber" and first["result_housenumber"] == "12"
    assert float(first["result_score"]) > 0.9 and len(first["result_score"]) <= 4  # rounded: 0.97
    assert (float(first["latitude"]), float(first["longitude"])) == pytest.approx((48.8556, 2.3600), abs=1e-3)
    assert first["result_citycode"] == "75104" and first["result_postcode"] == "75004"
    assert first["result_context"] == "75, Paris, Île-de-France"
    assert second["result_label"].startswith("Place des Vosges")
    assert output.stats.rows == 2 and output.stats.found == 2 and output.stats.errors == 0
    assert raw.endswith(b"\r\n") and b"\r\n1," in raw  # RFC 4180 line ends


def test_all_columns_by_default(geocoder):
    rows, _, _ = run(geocoder, "num,voie,ville\n12,rue de rivoli,paris\n")
    assert records(rows)[0]["result_label"] == "12 Rue de Rivoli 75004 Paris"


def test_unknown_column_is_a_400(geocoder):
    with pytest.raises(InvalidParameter) as e:
        run(geocoder, "a,b\nx,y\n", columns=("nope",))
    assert e.value.status == 400 and "nope" in e.value.description


def test_column_names_match_despite_spaces_and_case(geocoder):
    rows, _, _ = run(geocoder, " Adresse ;Ville\n12 rue de rivoli;paris\n", columns=("adresse", "ville"))
    assert records(rows)[0]["result_label"] == "12 Rue de Rivoli 75004 Paris"


def test_result_columns_pick_and_order(geocoder):
    rows, _, _ = run(geocoder, f"q\n{RIVOLI}\n", result_columns=("result_label", "latitude"))
    assert rows[0] == ["q", "result_label", "latitude"]
    assert rows[1][1] == "12 Rue de Rivoli 75004 Paris"
    with pytest.raises(InvalidParameter):
        CsvOptions(result_columns=("result_nonsense",))


def test_score_next_is_the_second_score_and_min_score_hides_weak_answers(geocoder):
    expected = geocoder.search("rue de rivoli paris", limit=3)["features"]
    rows, _, _ = run(geocoder, "q\nrue de rivoli paris\nparis\n")
    strong, weak = records(rows)
    assert strong["result_score_next"] == str(round(expected[1]["properties"]["score"], 2))
    assert weak["result_label"] == ""  # "paris" scores under 0.5 on this data
    rows, output, _ = run(geocoder, "q\nparis\n", min_score=0.1)
    assert records(rows)[0]["result_label"] and output.stats.found == 1


def test_result_street_and_name(geocoder):
    data = "q\n12 rue de rivoli paris\nrue de rivoli 75004 paris\nparis 4e arrondissement\n"
    rows, _, _ = run(geocoder, data)
    number, street, municipality = records(rows)
    assert number["result_type"] == "housenumber"
    assert number["result_street"] == "Rue de Rivoli" and number["result_name"] == "Rue de Rivoli"
    assert street["result_type"] == "street" and street["result_street"] == "Rue de Rivoli"
    assert municipality["result_type"] == "municipality" and municipality["result_street"] == ""


def test_result_column_already_in_the_file_is_written_over(geocoder):
    rows, _, _ = run(geocoder, f"q;latitude\n{RIVOLI};old\nzzzzqqq;kept\n", columns=("q",))
    assert rows[0].count("latitude") == 1
    found, missing = records(rows)
    assert found["latitude"].startswith("48.85") and missing["latitude"] == "kept"


def test_chunks_keep_order_and_content(geocoder):
    data = "q\n" + "".join(f"{n} rue de rivoli paris\n" for n in range(1, 40))
    small = run(geocoder, data, chunk_rows=7)[2]
    assert small == run(geocoder, data, chunk_rows=500)[2]
    numbers = [r["result_housenumber"] for r in records(run(geocoder, data, chunk_rows=7)[0])]
    assert numbers == [str(n) for n in range(1, 40)]


def test_text_lines_are_accepted(geocoder):
    rows, output, _ = run(geocoder, ["q\n", f"{RIVOLI}\n"])
    assert records(rows)[0]["result_housenumber"] == "12" and output.encoding == "utf-8"


# -- delimiters and quoting ------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "|", "\t"])
def test_delimiter_is_sniffed_and_kept(geocoder, delimiter):
    data = f"id{delimiter}q\n1{delimiter}{RIVOLI}\n2{delimiter}place des vosges, paris\n"
    rows, output, raw = run(geocoder, data, columns=("q",))
    assert output.delimiter == delimiter
    assert raw.split(b"\r\n")[0] == delimiter.join(["id", "q", *RESULT_COLUMNS["search"]]).encode()
    assert records(rows)[0]["result_housenumber"] == "12"


def test_one_column_file_needs_no_delimiter(geocoder):
    rows, output, _ = run(geocoder, "adresse\n12 rue de rivoli, paris\nplace des vosges; paris\n")
    assert output.delimiter == "|"  # the first candidate absent from the file
    assert [r["adresse"] for r in records(rows)] == ["12 rue de rivoli, paris", "place des vosges; paris"]
    assert records(rows)[0]["result_housenumber"] == "12"


def test_undetectable_delimiter_is_a_400(geocoder):
    data = "a;b,c\n1,2,3;4;5\nx;y;z;w,v\n1\n"
    with pytest.raises(InvalidCsv) as e:
        run(geocoder, data)
    assert e.value.status == 400 and "delimiter" in e.value.description
    rows, _, _ = run(geocoder, data, delimiter=";")  # said explicitly, it goes through
    assert rows[0][:2] == ["a", "b,c"]


def test_sniffer_prefers_the_consistent_candidate():
    lines = ["nom;adresse\n", "mairie;8 place de la mairie, aiglun\n", "poste;1 rue, 2 bis\n"]
    assert sniff_delimiter(lines) == ";"


def test_quoted_fields_and_quote_all_are_kept(geocoder):
    data = '"id","q"\n"1","12 rue de rivoli, paris"\n"2","le ""grand"" paris"\n'
    rows, output, raw = run(geocoder, data, columns=("q",))
    assert output.delimiter == ","
    assert raw.startswith(b'"id","q","latitude","longitude"')
    assert records(rows)[0]["q"] == "12 rue de rivoli, paris"
    assert records(rows)[1]["q"] == 'le "grand" paris'
    minimal = run(geocoder, 'id,q\n1,"12 rue de rivoli, paris"\n')[2]
    assert minimal.split(b"\r\n")[1].startswith(b'1,"12 rue de rivoli, paris",48.85')


def test_custom_quote_character(geocoder):
    rows, _, raw = run(geocoder, "id;q\n1;'12 rue; de rivoli paris'\n", quote="'", delimiter=";")
    assert records(rows)[0]["q"] == "12 rue; de rivoli paris"
    assert b"'12 rue; de rivoli paris'" in raw


def test_multiline_quoted_field(geocoder):
    rows, output, _ = run(geocoder, 'id,q\n1,"12 rue de rivoli\nparis"\n2,place des vosges paris\n')
    assert [r["id"] for r in records(rows)] == ["1", "2"]
    assert records(rows)[0]["result_housenumber"] == "12" and output.stats.errors == 0


# -- encodings and BOM -----------------------------------------------------------------------


def test_latin1_is_detected_and_answered_in_kind(geocoder):
    data = "nom;q\nÉglise;12 rue de rivoli paris\n".encode("latin-1")
    rows, output, raw = run(geocoder, data, columns=("q",))
    assert output.encoding == "cp1252" and output.content_type == "text/csv; charset=cp1252"
    assert records(rows)[0]["nom"] == "Église"
    assert "Île-de-France".encode("cp1252") in raw


def test_declared_latin1(geocoder):
    rows, output, raw = run(geocoder, "q\nrue de l'église paris\n".encode("latin-1"), encoding="latin-1")
    assert output.encoding == "iso8859-1"
    assert records(rows)[0]["q"] == "rue de l'église paris"
    raw.decode("latin-1")


def test_utf8_bom_is_read_and_not_written_back(geocoder):
    data = codecs.BOM_UTF8 + f"q,n\n{RIVOLI},1\n".encode()
    rows, output, raw = run(geocoder, data, columns=("q",))
    assert output.encoding == "utf-8" and raw.startswith(b"q,n,latitude")
    assert records(rows)[0]["result_housenumber"] == "12"


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_with_bom_writes_exactly_one(geocoder, bom):
    raw = run(geocoder, bom + f"q\n{RIVOLI}\n".encode(), with_bom=True)[2]
    assert raw.startswith(codecs.BOM_UTF8 + b"q,latitude") and raw.count(codecs.BOM_UTF8) == 1


def test_utf16_with_bom(geocoder):
    rows, output, raw = run(geocoder, f"q\tn\n{RIVOLI}\t1\n".encode("utf-16"))
    assert output.encoding == "utf-16" and output.delimiter == "\t"
    assert records(rows)[0]["result_label"] == "12 Rue de Rivoli 75004 Paris"


def test_broken_bytes_spoil_one_row_only(geocoder):
    data = "q;n\n12 rue de rivoli paris;é\n".encode() + b"rue \xff\xfe;x\n" + b"place des vosges paris;2\n"
    rows, output, _ = run(geocoder, data, columns=("q",))
    assert output.encoding == "utf-8"
    good, bad, after = records(rows)
    assert good["result_housenumber"] == "12" and after["result_label"].startswith("Place des Vosges")
    assert bad["result_label"] == "" and bad["n"] == "x"
    assert output.stats.errors == 1 and output.stats.reasons == {"undecodable": 1}
    assert output.stats.examples[0][0] == 3


# -- bad rows and bad files ------------------------------------------------------------------


def test_bad_rows_are_counted_and_the_rest_geocoded(geocoder):
    data = (f"id,q\n1,{RIVOLI}\n2\n3,{RIVOLI},extra\n4,{'rue de rivoli ' * 20}\n"
            f"5,place des vosges paris\n\n6,{RIVOLI}\n")
    rows, output, _ = run(geocoder, data, columns=("q",))
    out = records(rows)
    assert [r["id"] for r in out] == ["1", "2", "3", "4", "5", "6"]  # the blank line is no row
    assert [bool(r["result_label"]) for r in out] == [True, False, False, False, True, True]
    assert [r["result_status"] for r in out] == ["ok", "error", "error", "skipped", "ok", "ok"]
    assert rows[2][:2] == ["2", ""] and len(rows[2]) == len(rows[0])  # a short row is padded
    assert rows[3][:3] == ["3", RIVOLI, ""] and len(rows[3]) == len(rows[0])  # a long one is cut
    stats = output.stats
    assert (stats.rows, stats.found, stats.errors, stats.skipped, stats.not_found) == (6, 3, 2, 1, 0)
    assert stats.reasons == {"wrong column count": 2, "query too long": 1}
    assert [line for line, _ in stats.examples] == [3, 4, 5]


@pytest.mark.parametrize("delimiter", [None, ";"])
def test_extra_cells_never_land_in_the_result_columns(geocoder, delimiter):
    """Issue 12, point 6: a row with more cells than the header is an error with empty results;
    its cells stay in the input columns only, sniffed delimiter or explicit."""
    data = (f"id;q\n1;{RIVOLI}\n2;{RIVOLI};48.1;2.2;Fake label;0.99\n3;place des vosges paris\n"
            f"4;{RIVOLI};\n")
    rows, output, _ = run(geocoder, data, delimiter=delimiter, columns=("q",))
    assert {len(row) for row in rows} == {len(rows[0])} == {2 + len(RESULT_COLUMNS["search"])}
    first, extra, third, empty_extra = records(rows)
    assert [first["result_status"], third["result_status"]] == ["ok", "ok"]
    for row in (extra, empty_extra):
        assert row["result_status"] == "error"
        assert [row[c] for c in RESULT_COLUMNS["search"] if c != "result_status"] == [""] * (
            len(RESULT_COLUMNS["search"]) - 1)
        assert (row["id"], row["q"]) in (("2", RIVOLI), ("4", RIVOLI))
    assert not {"48.1", "2.2", "Fake label", "0.99"} & set(rows[2])
    assert output.stats.errors == 2 and output.stats.reasons == {"wrong column count": 2}


def test_result_status_of_every_kind(geocoder):
    data = f"q,cp\n{RIVOLI},\nxyzzy qwertz,\n,75001\n   ,\n{'x' * 201},\n{RIVOLI},99999\n"
    rows, output, _ = run(geocoder, data, columns=("q",), postcode="cp")
    assert [r["result_status"] for r in records(rows)] == [
        "ok", "not-found", "skipped", "skipped", "skipped", "not-found"]
    stats = output.stats
    assert (stats.found, stats.not_found, stats.skipped, stats.errors) == (1, 2, 3, 0)
    only = run(geocoder, data, columns=("q",), result_columns=("result_label", "result_status"))[0]
    assert only[0] == ["q", "cp", "result_label", "result_status"]
    assert [r[3] for r in only[1:]] == ["ok", "not-found", "skipped", "skipped", "skipped", "ok"]
    without = run(geocoder, data, columns=("q",), result_columns=("result_label",))[0]
    assert without[0] == ["q", "cp", "result_label"] and {len(r) for r in without} == {3}


def test_errors_are_logged_with_their_reason(geocoder, caplog):
    data = "q,lat,lon\nrue de rivoli,abc,2\nrue de rivoli,,\n"
    with caplog.at_level("WARNING", logger="balise.csv.run"):
        rows, _, _ = run(geocoder, data, columns=("q",), lat="lat", lon="lon")
    assert [r["result_status"] for r in records(rows)] == ["error", "ok"]
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == "CSV line 2: result_status=error: invalid coordinates: 'abc', '2'"


def test_a_bbox_for_the_whole_file(geocoder):
    data = "q\nrue de la paix\n12 rue de la paix\nrue de rivoli\n"
    rows, _, _ = run(geocoder, data, bbox="6.1,44.0,6.4,44.2")
    out = records(rows)
    assert [r["result_label"] for r in out] == [
        "Rue de la Paix 04000 Digne-les-Bains", "12 Rue de la Paix 04000 Digne-les-Bains", ""]
    assert [r["result_status"] for r in out] == ["ok", "ok", "not-found"]
    rows, _, _ = run(geocoder, "id,lat,lon\n1,48.8566,2.3522\n", mode="reverse", bbox=(6.1, 44.0, 6.4, 44.2))
    (point,) = records(rows)
    assert 6.1 <= float(point["result_longitude"]) <= 6.4 and 44.0 <= float(point["result_latitude"]) <= 44.2
    for bad in ("1,2,3", (6.4, 44, 6.1, 44.2), "a,b,c,d"):
        with pytest.raises(InvalidParameter) as raised:
            CsvOptions(bbox=bad)
        assert raised.value.name == "bbox"


@pytest.mark.parametrize("data", [b"", b"\n\n", codecs.BOM_UTF8, b"  \r\n"])
def test_empty_file_is_a_400(geocoder, data):
    with pytest.raises(InvalidCsv) as e:
        run(geocoder, data)
    assert e.value.status == 400 and "empty" in e.value.description


def test_header_only_file(geocoder):
    rows, output, _ = run(geocoder, "q\n")
    assert rows == [["q", *RESULT_COLUMNS["search"]]] and output.stats.rows == 0


# -- per-row filters and center --------------------------------------------------------------


def test_per_row_postcode_and_citycode_filters(geocoder):
    data = ("q,cp,insee\nplace de la mairie,04510,\nplace de la mairie,23000,\n"
            "place de la mairie,,04001\nplace de la mairie,,\n")
    rows, _, _ = run(geocoder, data, columns=("q",), postcode="cp", citycode="insee")
    aiglun, anzeme, by_citycode, unfiltered = records(rows)
    assert aiglun["result_label"] == "Place de la Mairie 04510 Aiglun"
    assert anzeme["result_label"] == "Place de la Mairie 23000 Anzême"
    assert by_citycode["result_citycode"] == "04001"
    assert unfiltered["result_label"] and unfiltered["result_postcode"] not in ("04510", "23000")


def test_per_row_type_filter(geocoder):
    data = f"q,kind\n{RIVOLI},street\n{RIVOLI},housenumber\n"
    rows, _, _ = run(geocoder, data, columns=("q",), type="kind")
    street, number = records(rows)
    assert street["result_type"] == "street" and number["result_type"] == "housenumber"


def test_filter_column_must_exist(geocoder):
    with pytest.raises(InvalidParameter) as e:
        run(geocoder, "q\nx\n", postcode="cp")
    assert e.value.name == "postcode"


def test_lat_lon_columns_center_the_search_and_stay_out_of_the_query(geocoder):
    data = "q,lat,lon\nrue de la mairie,44.05,6.14\nrue de la mairie,,\nrue de la mairie,north,6\n"
    rows, output, _ = run(geocoder, data, lat="lat", lon="lon")
    near, anywhere, bad = records(rows)
    assert abs(float(near["latitude"]) - 44.05) + abs(float(near["longitude"]) - 6.14) < 1
    assert abs(float(anywhere["latitude"]) - 44.05) + abs(float(anywhere["longitude"]) - 6.14) > 1
    assert bad["result_label"] == "" and output.stats.reasons == {"invalid coordinates": 1}
    with pytest.raises(InvalidParameter):
        run(geocoder, data, lat="lat")


# -- reverse ---------------------------------------------------------------------------------


def needs_reverse(geocoder):
    if not hasattr(geocoder, "reverse"):
        pytest.skip("Geocoder.reverse is not there yet")


def test_reverse_rows(geocoder):
    needs_reverse(geocoder)
    data = "id;latitude;lon\n1;48.855602;2.35995\n2;;\n3;48.8556;2.3599\n"
    rows, output, _ = run(geocoder, data, mode="reverse")
    assert rows[0] == ["id", "latitude", "lon", *RESULT_COLUMNS["reverse"]]
    exact, missing, near = records(rows)
    assert exact["result_label"] == "12 Rue de Rivoli 75004 Paris"
    assert exact["result_distance"] == "0" and exact["result_street"] == "Rue de Rivoli"
    assert float(exact["result_latitude"]) == pytest.approx(48.855602)
    assert missing["result_label"] == "" and int(near["result_distance"]) < 50
    assert [r["result_status"] for r in records(rows)] == ["ok", "skipped", "ok"]
    assert output.stats.skipped == 1 and output.stats.reasons == {"no point": 1}


def test_reverse_named_columns_and_type_filter(geocoder):
    needs_reverse(geocoder)
    data = "y,x,t\n48.855602,2.35995,street\n"
    rows, _, _ = run(geocoder, data, mode="reverse", lat="y", lon="x", type="t")
    assert records(rows)[0]["result_type"] == "street"


def test_reverse_without_coordinates_is_a_400(geocoder):
    with pytest.raises(InvalidParameter) as e:
        run(geocoder, "a,b\n1,2\n", mode="reverse")
    assert e.value.status == 400


# -- request fields and uploads --------------------------------------------------------------


def test_options_from_a_multipart_form():
    options = CsvOptions.from_form({
        "columns": ["voie", "ville"], "delimiter": ";", "with_bom": "true", "postcode": "cp",
        "citycode": "", "result_columns": ["result_label"], "min_score": "0.3", "data": "ignored",
    })
    assert options.columns == ("voie", "ville") and options.delimiter == ";" and options.with_bom
    assert options.postcode == "cp" and options.citycode is None
    assert options.filter_columns == {"postcode": "cp"}
    assert options.result_columns == ("result_label",) and options.min_score == 0.3
    assert CsvOptions.from_form({"delimiter": "\\t", "columns": "q"}).delimiter == "\t"
    assert CsvOptions.from_form({"delimiter": "\t"}).delimiter == "\t"
    assert CsvOptions.from_form({"columns": "q"}).columns == ("q",)
    for bad in ({"with_bom": "maybe"}, {"min_score": "high"}, {"delimiter": ";;"}, {"encoding": "nope"}):
        with pytest.raises(InvalidParameter):
            CsvOptions.from_form(bad)


def test_spool_upload_enforces_the_size_limit():
    body = b"q\n" + b"12 rue de rivoli paris\n" * 100_000
    spooled = spool_upload(io.BytesIO(body), max_bytes=len(body))
    assert spooled.read() == body
    with pytest.raises(FileTooLarge) as e:
        spool_upload(io.BytesIO(body), max_bytes=len(body) - 1)
    assert e.value.status == 413
    assert spool_upload(io.BytesIO(body), max_bytes=0).read() == body  # 0: no limit


def test_output_filename():
    assert output_filename("adresses.csv") == "adresses.geocoded.csv"
    assert output_filename(None) == "data.geocoded.csv"
