"""What Addok users ask for (issue 13), through the real server (granian) on the dev index:
an area (``bbox``, ``geo_boost``, ``geo_radius``), ``/lookup/``, ``POST /batch``, the CSV
``result_status``, ``/status``."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import orjson
import pytest

from tests.functional.test_http_csv import post_form, rows

HOTEL_DE_VILLE = {"lat": 48.8566, "lon": 2.3522}
DIGNE = "6.1,44.0,6.4,44.2"
DIGNE_LIST = [6.1, 44.0, 6.4, 44.2]
MALVAL = "1.876343,46.339272,1.896343,46.359272"


def features(response) -> list[dict]:
    return response.json()["features"]


def schema_check(openapi: dict, body, name: str) -> None:
    import jsonschema

    jsonschema.validate(body, {"$ref": f"#/components/schemas/{name}", "components": openapi["components"]})


@pytest.fixture(scope="module")
def openapi(server) -> dict:
    return server.get("/openapi.json").json()


# --- area ---------------------------------------------------------------------------------------


def test_search_in_a_box(server, geocoder):
    boxed = server.get("/search/", {"q": "rue de la paix", "bbox": DIGNE, "limit": 3})
    assert boxed.status == 200
    assert boxed.json() == geocoder.search("rue de la paix", limit=3, autocomplete=True,
                                           bbox=(6.1, 44.0, 6.4, 44.2))
    assert [f["properties"]["label"] for f in features(boxed)] == ["Rue de la Paix 04000 Digne-les-Bains"]
    country = [f["properties"]["id"] for f in features(server.get("/search/", {"q": "rue de l'eglise",
                                                                              "limit": 100}))]
    assert "231210001A" not in country
    (malval,) = features(server.get("/search/", {"q": "rue de l'eglise", "bbox": MALVAL}))
    assert malval["properties"]["id"] == "231210001A"


def test_the_cache_tells_boxes_apart(server):
    """The answer cache (L1, on by default) keys on bbox, geo_boost and geo_radius too."""
    plain = server.get("/search/", {"q": "rue de la paix", "limit": 1})
    boxed = server.get("/search/", {"q": "rue de la paix", "limit": 1, "bbox": DIGNE})
    other = server.get("/search/", {"q": "rue de la paix", "limit": 1, "bbox": "2.2,48.8,2.5,48.9"})
    labels = [features(r)[0]["properties"]["label"] if features(r) else None for r in (plain, boxed, other)]
    assert len(set(labels)) == 3, labels
    for _ in range(2):  # the second time from the cache
        assert server.get("/search/", {"q": "rue de la paix", "limit": 1, "bbox": DIGNE}).body == boxed.body
    near = {"q": "rue", "limit": 20, **HOTEL_DE_VILLE, "geo_boost": "strict"}
    for radius in (0.3, 3, 0.3):
        answer = server.get("/search/", {**near, "geo_radius": radius})
        assert max(f["properties"]["distance"] for f in features(answer)) <= radius * 1000
    reverse = [server.get("/reverse/", {**HOTEL_DE_VILLE, "bbox": box}).json() for box in (None, DIGNE)]
    assert reverse[0] != reverse[1]


def test_geo_boost_over_http(server):
    digne = {"q": "rue de la paix", "lat": 44.0919, "lon": 6.2355, "limit": 5, "geo_radius": 5}
    strict = features(server.get("/search/", {**digne, "geo_boost": "strict"}))
    favor = features(server.get("/search/", {**digne, "geo_boost": "favor"}))
    assert [f["properties"]["citycode"] for f in strict] == ["04070"]
    assert len(favor) == 5 and favor[0] == strict[0]
    assert features(server.get("/search/", {**digne, "geo_boost": "score"})) == features(
        server.get("/search/", digne))


def test_reverse_in_a_box(server):
    (point,) = features(server.get("/reverse/", {**HOTEL_DE_VILLE, "bbox": DIGNE}))
    lon, lat = point["geometry"]["coordinates"]
    assert 6.1 <= lon <= 6.4 and 44.0 <= lat <= 44.2 and point["properties"]["distance"] > 500_000


INVALID = "Invalid parameter"


@pytest.mark.parametrize(("path", "params", "description"), [
    ("/search/", {"q": "rue", "bbox": "1,2,3"}, 'The "bbox" parameter is invalid. must be 4 numbers: '
     "minlon,minlat,maxlon,maxlat"),
    ("/search/", {"q": "rue", "bbox": "a,b,c,d"}, 'The "bbox" parameter is invalid. must be 4 finite '
     "numbers: minlon,minlat,maxlon,maxlat"),
    ("/search/", {"q": "rue", "bbox": "2.4,48,2.3,49"}, 'The "bbox" parameter is invalid. minlon must not '
     "exceed maxlon, nor minlat maxlat"),
    ("/search/", {"q": "rue", "bbox": "0,0,200,1"}, 'The "bbox" parameter is invalid. out of range '
     "(longitudes -180..180, latitudes -90..90)"),
    ("/search/", {"q": "rue", "geo_boost": "favor"}, 'The "geo_boost" parameter is invalid. favor needs a '
     "centre: give lat and lon"),
    ("/search/", {"q": "rue", "geo_boost": "near", **HOTEL_DE_VILLE}, 'The "geo_boost" parameter is '
     "invalid. must be one of score, favor, strict"),
    ("/search/", {"q": "rue", "geo_boost": "strict", "geo_radius": "0", **HOTEL_DE_VILLE},
     'The "geo_radius" parameter is invalid. out of range (over 0, at most 100 km)'),
    ("/search/", {"q": "rue", "geo_radius": "abc"}, 'The "geo_radius" parameter is invalid. invalid value'),
    ("/reverse/", {**HOTEL_DE_VILLE, "bbox": "1,1,0,0"}, 'The "bbox" parameter is invalid. minlon must not '
     "exceed maxlon, nor minlat maxlat"),
])
def test_bad_area_parameters_are_400_json(server, path, params, description):
    answer = server.get(path, params)
    assert (answer.status, answer.json()) == (400, {"title": INVALID, "description": description})


# --- /lookup/ -----------------------------------------------------------------------------------


def test_lookup(server, geocoder, openapi):
    answer = server.get("/lookup/", [("id", "75102_6904_00034"), ("id", "nope"), ("id", "04001"),
                                     ("ids", "040190070F-11B,,75102_6904")])
    assert answer.status == 200
    assert [f["properties"]["id"] for f in features(answer)] == [
        "75102_6904_00034", "04001", "040190070F-11B", "75102_6904"]
    assert answer.json() == geocoder.lookup(["75102_6904_00034", "04001", "040190070F-11B", "75102_6904"])
    schema_check(openapi, answer.json(), "FeatureCollection")
    assert features(server.get("/lookup", {"id": "../../etc/passwd"})) == []


@pytest.mark.parametrize(("params", "status", "body"), [
    ({}, 400, {"title": "Missing parameter", "description": 'The "id" parameter is required.'}),
    ({"ids": ",,"}, 400, {"title": "Missing parameter", "description": 'The "id" parameter is required.'}),
    ([("id", "04001")] * 101, 400, {"title": INVALID, "description": 'The "id" parameter is invalid. at '
                                    "most 100 ids"}),
    ({"ids": ",".join(["04001"] * 60), "id": ["04001"] * 41}, 400,
     {"title": INVALID, "description": 'The "id" parameter is invalid. at most 100 ids'}),
])
def test_lookup_errors(server, params, status, body):
    answer = server.get("/lookup/", params)
    assert (answer.status, answer.json()) == (status, body)


# --- POST /batch --------------------------------------------------------------------------------


def post(server, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def batch(server, body) -> tuple[int, dict]:
    status, _, data = post(server, "/batch", orjson.dumps(body))
    return status, orjson.loads(data)


def test_batch_answers_each_request_in_order(server, geocoder, openapi):
    status, answer = batch(server, {"requests": [
        {"id": "opera", "operation": "geocode", "params": {"q": "34 avenue de l'opera paris"}},
        {"id": 2, "operation": "reverse", "params": {"lat": 48.8566, "lon": 2.3522}},
        {"id": "none", "operation": "geocode", "params": {"q": "xyzzy qwertz"}},
        {"id": "digne", "operation": "geocode", "params": {"q": "rue de la paix", "bbox": DIGNE_LIST}},
        {"operation": "geocode", "params": {"q": "rue de rivoli", "filters": {"citycode": "75101+75104"}}},
    ]})
    assert status == 200
    schema_check(openapi, answer, "BatchAnswer")
    opera, hotel, none, digne, rivoli = answer["results"]
    search = geocoder.search("34 avenue de l'opera paris", limit=2)["features"]
    assert opera == {"id": "opera", "status": "ok", "result": {
        **search[0]["properties"], "next_score": search[1]["properties"]["score"],
        "lon": search[0]["geometry"]["coordinates"][0], "lat": search[0]["geometry"]["coordinates"][1]}}
    assert (hotel["id"], hotel["status"], hotel["result"]["id"]) == (2, "ok", "75104_4664_00008")
    assert hotel["result"]["distance"] == 17
    assert none == {"id": "none", "status": "not-found"}
    assert (digne["result"]["citycode"], "next_score" in digne["result"]) == ("04070", False)
    assert rivoli["id"] is None and rivoli["result"]["citycode"] in ("75101", "75104")


def test_batch_common_params_and_item_overrides(server):
    common = {"filters": {"type": "street"}, "autocomplete": True}
    status, answer = batch(server, {"params": common, "requests": [
        {"id": 1, "operation": "geocode", "params": {"q": "12 rue de rivoli paris"}},
        {"id": 2, "operation": "geocode", "params": {"q": "12 rue de rivoli paris", "type": "housenumber"}},
        {"id": 3, "operation": "geocode", "params": {"q": "place des vosg"}},
    ]})
    assert status == 200
    street, number, vosges = answer["results"]
    assert (street["result"]["type"], number["result"]["type"]) == ("street", "housenumber")
    assert vosges["result"]["name"] == "Place des Vosges"  # autocomplete from the common params


def test_a_bad_item_gets_its_own_error(server):
    status, answer = batch(server, {"requests": [
        {"id": "a", "operation": "geocode", "params": {"q": "rue de rivoli"}},
        {"id": "b", "operation": "lookup", "params": {"q": "x"}},
        {"id": "c", "operation": "geocode"},
        {"id": "d", "operation": "geocode", "params": {}},
        {"id": "e", "operation": "reverse", "params": {"lat": 95, "lon": 2}},
        {"id": "f", "operation": "geocode", "params": {"q": "x" * 201}},
        {"id": "g", "operation": "geocode", "params": {"q": "rue", "colour": "red"}},
        {"id": "h", "operation": "geocode", "params": {"q": "rue", "lat": "north"}},
        {"id": "i", "operation": "geocode", "params": {"q": ["rue"]}},
        {"id": "j", "operation": "geocode", "params": {"q": "rue", "bbox": [1, 2, 3]}},
        "not an object",
        {"id": "k", "operation": "reverse", "params": {"lat": 48.85}},
        {"id": "l", "operation": "geocode", "params": {"q": "rue", "filters": {"type": {"x": 1}}}},
        {"id": {"any": ["json"]}, "operation": "geocode", "params": {"q": "place des vosges"}},
    ]})
    assert status == 200
    results = answer["results"]
    assert [r["status"] for r in results] == ["ok"] + ["error"] * 12 + ["ok"]
    errors = {r["id"]: r["error"] for r in results if r["status"] == "error" and isinstance(r["id"], str)}
    assert errors == {
        "b": 'The "operation" parameter is invalid. must be geocode or reverse',
        "c": 'The "params" parameter is invalid. is required for each item: an object',
        "d": 'The "q" parameter is required.',
        "e": 'The "lat" parameter is invalid. out of range',
        "f": "Query too long, 201 chars, limit is 200",
        "g": 'The "colour" parameter is invalid. unknown geocode parameter',
        "h": 'The "lat" parameter is invalid. must be a number',
        "i": 'The "q" parameter is invalid. must be a string',
        "j": 'The "bbox" parameter is invalid. must be 4 numbers: minlon,minlat,maxlon,maxlat',
        "k": 'The "lon" parameter is required.',
        "l": 'The "type" parameter is invalid. must be a string or an array of strings',
    }
    assert results[10] == {"id": None, "status": "error", "error": 'The "requests" parameter is invalid. '
                           "each item must be an object {id, operation, params}"}
    assert results[13]["id"] == {"any": ["json"]}


@pytest.mark.parametrize(("body", "status", "description"), [
    (b"{not json", 400, None),
    (b"", 400, None),
    (b"\xff\xfe", 400, None),
    (b"[]", 400, 'The "body" parameter is invalid. must be a JSON object with a `requests` array'),
    (b'{"requests": {"id": 1}}', 400, 'The "requests" parameter is invalid. is required: an array of '
     "{id, operation, params}"),
    (b'{"params": 3, "requests": []}', 400, 'The "params" parameter is invalid. must be an object'),
    (orjson.dumps({"requests": [{"operation": "geocode", "params": {"q": "rue"}}] * 101}),
     400, 'The "requests" parameter is invalid. at most 100 items'),
])
def test_a_bad_batch_is_a_4xx_json(server, body, status, description):
    code, headers, data = post(server, "/batch", body)
    assert code == status and headers["content-type"] == "application/json"
    error = orjson.loads(data)
    if description is None:
        assert error["title"] == "Invalid JSON"
    else:
        assert error["description"] == description


def raw_post(server, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send a request as raw bytes (a server may answer and close before reading it all)."""
    import contextlib
    import socket

    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # BrokenPipe, ConnectionReset: the server answered already
            sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b'"}' in answer:
                break
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def test_a_batch_body_over_the_limit_is_413(server):
    too_large = {"title": "Body too large",
                 "description": "The request body is over the limit of 1,000,000 bytes."}
    declared = (b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000001\r\nConnection: close\r\n\r\n")
    status, body = raw_post(server, declared, b'{"requests": []}')
    assert (status, orjson.loads(body)) == (413, too_large)
    chunked = (b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    chunk = b" " * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"
    status, answer = raw_post(server, chunked, body)
    assert (status, orjson.loads(answer)) == (413, too_large)


def test_batch_of_100_and_empty(server):
    status, answer = batch(server, {"requests": [
        {"id": i, "operation": "geocode", "params": {"q": f"{i} rue de rivoli paris"}} for i in range(100)]})
    assert status == 200 and [r["id"] for r in answer["results"]] == list(range(100))
    assert sum(r["status"] == "ok" for r in answer["results"]) >= 90
    assert batch(server, {"requests": []}) == (200, {"results": []})


def test_batch_chunked_body(server):
    """A body without Content-Length (chunked) is read within the same limit."""
    body = orjson.dumps({"requests": [{"id": 1, "operation": "geocode", "params": {"q": "rue de rivoli"}}]})
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("POST", "/batch", body=iter([body[:10], body[10:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        answer = conn.getresponse()
        assert answer.status == 200
        assert orjson.loads(answer.read())["results"][0]["status"] == "ok"
    finally:
        conn.close()


def test_batch_preflight_allows_post(server):
    answer = server.request("OPTIONS", "/batch", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert answer.status == 200
    assert answer.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert answer.headers["access-control-allow-headers"] == "content-type"


# --- CSV over HTTP ------------------------------------------------------------------------------


def test_csv_result_status_and_result_columns_over_http(server):
    data = ("id;adresse\n1;34 avenue de l'opéra paris\n2;xyzzy qwertz\n3;\n4;" + "x" * 300 + "\n"
            "5;8 rue de rivoli paris;48.1;2.2;Fake label\n").encode()
    fields = [("columns", "adresse"), ("result_columns", "result_label"), ("result_columns", "result_status")]
    status, _, body = post_form(server, "/search/csv/", fields, data)
    assert status == 200, body
    out = rows(body, ";")
    assert list(out[0]) == ["id", "adresse", "result_label", "result_status"]
    assert [(r["id"], r["result_status"]) for r in out] == [
        ("1", "ok"), ("2", "not-found"), ("3", "skipped"), ("4", "skipped"), ("5", "error")]
    assert out[0]["result_label"] == "34 Avenue de l'Opéra 75002 Paris"
    assert out[4]["result_label"] == "" and None not in out[4]  # no cell beyond the header


def test_csv_extra_cells_with_an_explicit_delimiter(server):
    """Issue 12, point 6: with delimiter=";" the extra cells went into latitude, longitude and
    result_label."""
    data = b"id;adresse\n1;8 rue de rivoli paris;48.1;2.2;Fake label\n2;8 rue de rivoli paris\n"
    status, _, body = post_form(server, "/search/csv/", [("columns", "adresse"), ("delimiter", ";")], data)
    assert status == 200, body
    extra, good = rows(body, ";")
    assert extra["result_status"] == "error" and good["result_status"] == "ok"
    assert (extra["latitude"], extra["longitude"], extra["result_label"]) == ("", "", "")
    assert None not in extra and len(extra) == len(good)


def test_csv_with_a_bbox_over_http(server):
    data = b"q\nrue de la paix\nrue de rivoli\n"
    status, _, body = post_form(server, "/search/csv/", [("bbox", DIGNE)], data)
    assert status == 200, body
    paix, rivoli = rows(body)
    assert (paix["result_citycode"], paix["result_status"]) == ("04070", "ok")
    assert (rivoli["result_label"], rivoli["result_status"]) == ("", "not-found")
    status, headers, body = post_form(server, "/search/csv/", [("bbox", "1,2")], data)
    assert status == 400 and b"bbox" in body and headers["content-type"].startswith("application/json")


# --- /status ------------------------------------------------------------------------------------


def test_status(server, geocoder, openapi):
    import balise

    first = server.get("/status")
    assert first.status == 200
    assert first.headers["cache-control"] == "no-cache"
    body = first.json()
    schema_check(openapi, body, "Status")
    assert body["software"] == {"name": "balise", "version": balise.__version__}
    manifest = geocoder.index.manifest
    assert body["index"]["version"] == geocoder.version and body["index"]["built_at"] == manifest["built_at"]
    assert body["index"]["counts"] == manifest["counts"]
    assert [s["sha256"] for s in body["index"]["sources"]] == [s["sha256"] for s in manifest["sources"]]
    assert all(s["modified"] and s["path"].endswith(".ndjson.gz") for s in body["index"]["sources"])
    time.sleep(0.3)
    later = server.get("/status").json()  # computed again, not an answer cached by the ops layer
    assert later["uptime_seconds"] > body["uptime_seconds"] and later["started_at"] == body["started_at"]


def test_the_new_settings_are_documented():
    from balise.config import SETTINGS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    names = ("BALISE_BATCH_MAX", "BALISE_BATCH_MAX_BYTES", "BALISE_TILES_URL", "BALISE_TILES_ATTRIBUTION")
    assert set(names) <= {s.name for s in SETTINGS}
    assert [name for name in names if f"`{name}`" not in readme] == []
