"""``POST /search/csv/`` and ``/reverse/csv/`` on the real server, as addok-csv is used."""

from __future__ import annotations

import csv
import http.client
import io
import uuid

import pytest


def post_form(server, path: str, fields: list[tuple[str, str]], data: bytes | None,
              filename: str = "adresses.csv") -> tuple[int, dict, bytes]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        body.write(value.encode() + b"\r\n")
    if data is not None:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="data"; '
                   f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode())
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        conn.request("POST", path, body=body.getvalue(),
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def rows(body: bytes, delimiter: str = ",") -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def test_search_csv(server):
    data = ("id;adresse;cp\n1;34 avenue de l'opéra;75002\n2;8 place de la mairie;04510\n"
            "3;" + "x" * 300 + ";75001\n").encode()
    fields = [("columns", "adresse"), ("postcode", "cp")]
    status, headers, body = post_form(server, "/search/csv/", fields, data)
    assert status == 200, body
    assert headers["content-type"].startswith("text/csv")
    assert "adresses.geocoded.csv" in headers["content-disposition"]
    out = rows(body, ";")
    assert [r["id"] for r in out] == ["1", "2", "3"]
    assert out[0]["result_label"] == "34 Avenue de l'Opéra 75002 Paris"
    assert out[0]["result_street"] == "Avenue de l'Opéra"
    assert out[1]["result_citycode"] == "04001"  # the per-row postcode filter is applied
    assert out[2]["result_label"] == ""  # an over-long row gets empty results, the rest goes on


def test_reverse_csv(server):
    data = b"name,lat,lon\nhotel de ville,48.856614,2.352222\n"
    status, _, body = post_form(server, "/reverse/csv/", [], data)
    assert status == 200, body
    (row,) = rows(body)
    assert row["result_type"] == "housenumber"
    assert float(row["result_distance"]) < 100


@pytest.mark.parametrize(
    ("data", "fields", "status"),
    [
        (b"", [], 400),  # empty file
        (b"a,b\n1,2\n", [("columns", "nope")], 400),  # unknown column
        (None, [], 400),  # no file
    ],
)
def test_bad_uploads_are_4xx_json(server, data, fields, status):
    code, headers, body = post_form(server, "/search/csv/", fields, data)
    assert code == status
    assert headers["content-type"].startswith("application/json")
    assert b"title" in body


def test_not_multipart_is_400(server):
    response = server.request("POST", "/search/csv/", headers={"Content-Type": "text/plain"})
    assert response.status == 400


def test_a_parquet_upload_is_answered_in_parquet(server):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": pa.array([1, 2, 3], pa.int32()),
                      "adresse": ["34 avenue de l'opéra", "8 place de la mairie", None],
                      "cp": ["75002", "04510", "75001"]})
    upload = io.BytesIO()
    pq.write_table(table, upload)
    fields = [("columns", "adresse"), ("postcode", "cp"), ("split_housenumber", "1")]
    status, headers, body = post_form(server, "/search/csv/", fields, upload.getvalue(), "adresses.parquet")
    assert status == 200, body
    assert headers["content-type"] == "application/vnd.apache.parquet"
    assert "adresses.geocoded.parquet" in headers["content-disposition"]
    out = pq.read_table(io.BytesIO(body))
    assert out.schema.field("id").type == pa.int32() and out.schema.field("result_score").type == pa.float64()
    first, second, third = out.to_pylist()
    assert first["result_label"] == "34 Avenue de l'Opéra 75002 Paris" and first["result_number"] == 34
    assert second["result_citycode"] == "04001"  # the per-row postcode filter is applied
    assert third["result_status"] == "skipped" and third["result_score"] is None


def test_a_broken_parquet_upload_is_a_400(server):
    upload = b"PAR1" + b"\0" * 100 + b"PAR1"
    status, headers, body = post_form(server, "/search/csv/", [], upload, "broken.parquet")
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert b"Parquet" in body
