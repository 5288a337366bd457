"""The Géoplateforme API as a service, on real servers: its capabilities and OpenAPI documents
say what this server serves; a server without a POI index; the prefix setting; the cache;
``/status`` and ``/health`` report each index; a POI index bundled, published and swapped under
a running server like the address index."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from openapi_spec_validator import validate

from tests.conftest import REPO, SAMPLE_POI
from tests.functional.test_geocodage_search import refused, search
from tests.servers import balise_serve


def test_capabilities(gpf_server):
    body = gpf_server.get("/geocodage/getCapabilities").json()
    assert list(body) == ["info", "api", "operations", "indexes"]  # what the service's acceptance checks
    assert [o["id"] for o in body["operations"]] == ["search", "reverse"]
    search_params = {p["name"]: p for p in body["operations"][0]["parameters"]}
    reverse_params = {p["name"] for p in body["operations"][1]["parameters"]}
    assert {"q", "index", "limit", "lat", "lon", "type", "postcode", "citycode", "city", "category",
            "returntruegeometry", "autocomplete"} == set(search_params)
    assert "searchgeom" in reverse_params and "q" not in reverse_params
    assert search_params["index"]["schema"]["enum"] == ["address", "poi"]  # what is served: no parcel
    assert search_params["limit"]["default"] == 10 and search_params["lat"]["schema"]["type"] == "number"
    indexes = {i["id"]: i for i in body["indexes"]}
    assert set(indexes) == {"address", "poi"}
    categories = indexes["poi"]["fields"][0]
    assert categories["name"] == "category"
    assert categories["values"] == {"administratif": ["arrondissement municipal", "commune", "mairie"],
                                    "zone d'activité ou d'intérêt": ["bureau de poste"]}


def test_completion_capabilities(gpf_server):
    body = gpf_server.get("/geocodage/completion/getCapabilities").json()
    assert list(body) == ["info", "api", "operations", "indexes"]
    assert [p["name"] for p in body["operations"][0]["parameters"]] == [
        "text", "terr", "poiType", "lonlat", "type", "maximumResponses", "bbox"]
    assert [i["id"] for i in body["indexes"]] == ["StreetAddress", "PositionOfInterest"]
    assert body["indexes"][1]["fields"][0]["values"]["administratif"]


def test_openapi_documents_are_valid_and_say_what_is_read(gpf_server):
    for path, operation in (("/geocodage/openapi", "/search"), ("/geocodage/completion/openapi", "/")):
        document = gpf_server.get(path).json()
        validate(document)
        names = {p["name"] for p in document["paths"][operation]["get"]["parameters"]}
        assert {"q", "index", "category"} <= names or {"text", "terr", "poiType"} <= names


def test_a_server_without_a_poi_index(server):
    """The plain dev server: ``index=poi`` is the service's 400 for an index not loaded;
    completion serves addresses; the capabilities list only what is served."""
    assert refused(server, q="mairie aiglun", index="poi") == ["index: 'poi' is not served here"]
    assert refused(server, "/geocodage/completion", text="aubenas", type="PositionOfInterest") == [
        "type: 'PositionOfInterest' is not served here"]
    results = server.get("/geocodage/completion", {"text": "aubenas"}).json()["results"]
    assert results and {r["country"] for r in results} == {"StreetAddress"}
    body = server.get("/geocodage/getCapabilities").json()
    assert [i["id"] for i in body["indexes"]] == ["address"]
    params = {p["name"]: p for p in body["operations"][0]["parameters"]}
    assert "category" not in params and params["index"]["schema"]["enum"] == ["address"]
    status = server.get("/status").json()
    assert "indexes" not in status and "indexes" not in server.get("/health").json()


def test_status_and_health_report_each_index(gpf_server, france_index, poi_index):
    from balise.index import IndexReader

    versions = {"address": IndexReader(france_index).version, "poi": IndexReader(poi_index).version}
    status = gpf_server.get("/status").json()
    assert status["index"]["version"] == versions["address"]  # as before: the address index
    assert {name: i["version"] for name, i in status["indexes"].items()} == versions
    assert status["indexes"]["poi"]["counts"]["documents"] > 39_000
    health = gpf_server.get("/health").json()
    assert {name: i["version"] for name, i in health["indexes"].items()} == versions
    ready = gpf_server.get("/health/ready").json()
    assert ready["status"] == "ready" and ready["indexes"] == versions
    detailed = gpf_server.get("/health/detailed").json()
    assert detailed["status"] == "healthy" and detailed["checks"]["index_poi"]["version"] == versions["poi"]


def test_the_prefix_is_a_setting(sample_index, tmp_path):
    with balise_serve(sample_index, tmp_path, workers=1, BALISE_GEOCODAGE_PREFIX="/api/gpf/") as client:
        assert client.get("/api/gpf/search", {"q": "rue de rivoli"}).json()["features"]
        assert client.get("/geocodage/search", {"q": "rue de rivoli"}).status == 404
        assert client.get("/api/gpf/openapi").json()["servers"] == [{"url": "/api/gpf"}]
        assert 'data-geocodage="/api/gpf"' in client.get("/").body.decode()
    with balise_serve(sample_index, tmp_path, workers=1, BALISE_GEOCODAGE_PREFIX="") as client:
        assert client.get("/geocodage/search", {"q": "rue de rivoli"}).status == 404
        assert client.get("/search/", {"q": "rue de rivoli"}).status == 200
    for bad in ("/search", "geocodage", "/a/../b", "/a b"):
        env = {"BALISE_GEOCODAGE_PREFIX": bad, "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-m", "balise.cli", "serve", "--index", str(sample_index)],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "BALISE_GEOCODAGE_PREFIX" in done.stderr, (bad, done.stderr)


def test_answers_are_cached(sample_index, tmp_path):
    """The cache keeps the API's answers (a hit is the same bytes); its keys hold the versions of
    every index served (test_a_poi_index_is_bundled_published_and_swapped)."""
    with balise_serve(sample_index, tmp_path, workers=1, BALISE_RATE_LIMITS="") as client:
        params = {"q": "rue de rivoli", "index": "address"}
        first = client.get("/geocodage/search", params)
        again = client.get("/geocodage/search", params)
        assert first.body == again.body
        metrics = client.get("/metrics").body.decode()
        hits = [line for line in metrics.splitlines() if line.startswith("balise_cache_lookups_total")
                and 'result="hit"' in line and not line.endswith(" 0.0")]
        assert hits, metrics


def balise(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "balise.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_a_poi_index_is_bundled_published_and_swapped(sample_index, tmp_path, communes_dir):
    """``BALISE_POI_INDEX`` as an index root: the first version from the sample's POIs, then a
    bigger one (another département too) shipped as a bundle, fetched and published; the
    running server answers from it without a restart, and says so. One worker, its cache on:
    the answer it cached before the swap (none) is not given after it (the keys hold every
    index's version)."""
    root, first, second = tmp_path / "poi-root", tmp_path / "v1", tmp_path / "v2"
    balise("import", "--quiet", "--index", str(first), str(SAMPLE_POI))
    balise("bundle", "publish", str(first), "--into", str(root))
    wider = tmp_path / "wider.ndjson.gz"
    balise("make-poi", str(wider), "--communes", str(communes_dir), "--departement", "75",
           "--departement", "07")
    balise("import", "--quiet", "--index", str(second), str(wider))
    bundle = tmp_path / "poi.tar.gz"
    balise("bundle", "create", str(second), str(bundle))
    env = {"BALISE_POI_INDEX": str(root), "BALISE_RATE_LIMITS": ""}
    with balise_serve(sample_index, tmp_path, workers=1, **env) as c:
        aubenas = {"q": "aubenas", "index": "poi", "category": "commune"}
        assert search(c, **aubenas) == []
        before = c.get("/status").json()["indexes"]["poi"]["version"]
        balise("bundle", "fetch", bundle.as_uri(), "--into", str(root))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not search(c, **aubenas):
            time.sleep(0.5)
        assert search(c, **aubenas)[0]["properties"]["name"] == ["Aubenas"]
        after = c.get("/status").json()["indexes"]["poi"]["version"]
        assert after != before and c.get("/health").json()["indexes"]["poi"]["version"] == after
        assert search(c, q="rue de rivoli")  # the address index, untouched


@pytest.fixture
def communes_dir():
    from tests.conftest import COMMUNES

    if not COMMUNES.exists():
        pytest.skip("no ../shared/data/communes")
    return COMMUNES
