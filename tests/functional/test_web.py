"""The web page at ``/`` and its static files, on the real server; then the page in a real
browser (Debian's headless Chromium through selenium and chromedriver), which types a query,
sees the results and their markers, filters, clicks the map, and keeps a screenshot in
var/artifacts/."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.servers import balise_serve

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


# --- over HTTP ----------------------------------------------------------------------------------


def test_the_page(server):
    page = server.get("/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "img-src 'self' data: https://tile.openstreetmap.org" in policy
    html = page.body.decode()
    assert 'data-tiles-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in html
    for asset in ("leaflet/leaflet.js", "leaflet/leaflet.css", "app.js", "app.css"):
        assert f"/static/{asset}" in html
    assert "unpkg" not in html and "cdn" not in html.lower()  # nothing from elsewhere


@pytest.mark.parametrize(("path", "content_type"), [
    ("/static/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
    ("/static/leaflet/leaflet.css", "text/css; charset=utf-8"),
    ("/static/leaflet/images/marker-icon.png", "image/png"),
    ("/static/leaflet/LICENSE", "text/plain; charset=utf-8"),
    ("/static/app.js", "text/javascript; charset=utf-8"),
])
def test_static_files(server, path, content_type):
    from importlib.resources import files

    answer = server.get(path)
    assert answer.status == 200
    assert answer.headers["content-type"] == content_type
    assert answer.headers["cache-control"] == "public, max-age=86400"
    assert answer.headers["x-content-type-options"] == "nosniff"
    shipped = files("balise.http").joinpath("static", *path.split("/")[2:]).read_bytes()
    assert answer.body == shipped
    etag = answer.headers["etag"]
    assert etag.startswith('W/"')
    again = server.get(path, headers={"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    assert server.get(path, headers={"If-None-Match": 'W/"other"'}).status == 200
    head = server.request("HEAD", path)
    assert head.status == 200 and head.body == b""


def raw_get(server, target: bytes) -> tuple[int, bytes]:
    """A request line sent as it is (no client normalizes the path)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("target", [
    b"/static/../openapi.json", b"/static/../../../../etc/passwd", b"/static/%2e%2e/%2e%2e/etc/passwd",
    b"/static/leaflet/../../http/app.py", b"/static//etc/passwd", b"/static/%2Fetc%2Fpasswd",
    b"/static/app.js%00.png", b"/static/", b"/static/./app.js", b"/static/APP.JS",
    b"/static/..%5c..%5capp.py", b"/static/leaflet", b"/static/page.html", b"/static/../page.html",
    b"/static/" + b"a/" * 500,
])
def test_nothing_else_is_served(server, target):
    status, body = raw_get(server, target)
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"import" not in body


def test_the_tiles_url_is_a_setting(sample_index, tmp_path):
    hostile = 'https://{s}.tiles.example.org/{z}/{x}/{y}.png?k="><script>alert(1)</script>'
    with balise_serve(sample_index, tmp_path, workers=1, BALISE_TILES_URL=hostile,
                      BALISE_TILES_ATTRIBUTION="Tiles: Example") as client:
        page = client.get("/")
        html = page.body.decode()
        assert "<script>alert" not in html
        assert 'data-tiles-url="https://{s}.tiles.example.org/{z}/{x}/{y}.png?k=&quot;&gt;&lt;' in html
        assert 'data-tiles-attribution="Tiles: Example"' in html
        assert "img-src 'self' data: https://*.tiles.example.org;" in page.headers["content-security-policy"]
    with balise_serve(sample_index, tmp_path, workers=1, BALISE_TILES_URL="") as client:
        assert 'data-tiles-url=""' in client.get("/").body.decode()


# --- in a browser -------------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium from Debian, driven through chromedriver, with a fresh profile."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("no chromium and chromedriver (apt-get install chromium chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,800",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def results(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#results button')].map(b => ({label: "
        "b.querySelector('.label').textContent, meta: b.querySelector('.meta').textContent, "
        "lon: +b.dataset.lon, lat: +b.dataset.lat}))")


def markers(driver) -> int:
    return driver.execute_script("return document.querySelectorAll('#map .leaflet-marker-icon').length")


def test_search_as_you_type_in_a_browser(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(server.url + "/")
    wait_for(browser, lambda d: d.execute_script("return !!(window.balise && window.balise.map)"))
    assert not browser.find_element(By.ID, "kind").is_displayed()  # no POI index: addresses only
    box = browser.find_element(By.ID, "q")
    box.send_keys("rue de rivoli paris")  # one key at a time: every one an input event
    wait_for(browser, lambda d: len(results(d)) > 0 and markers(d) == len(results(d)))
    found = results(browser)
    assert "Rue de Rivoli" in found[0]["label"] and 1 < len(found) <= 10
    searches = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/search/')).length")
    assert 1 <= searches <= 4, searches  # debounced: not one request per key
    icon_loaded = ("const i = document.querySelector('#map .leaflet-marker-icon'); "
                   "return i.complete && i.naturalWidth > 0")
    assert browser.execute_script(icon_loaded)  # Leaflet's images, from /static/
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "web-search.png"))

    # Filters: type, then postcode.
    Select(browser.find_element(By.ID, "type")).select_by_value("street")
    wait_for(browser, lambda d: results(d) and all(r["meta"].startswith("street") for r in results(d)))
    browser.find_element(By.ID, "postcode").send_keys("75004")
    wait_for(browser, lambda d: results(d) and all("75004" in r["label"] for r in results(d)))
    assert markers(browser) == len(results(browser))

    # A click on the map (no marker left under it): the nearest address.
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    browser.find_element(By.ID, "postcode").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    Select(browser.find_element(By.ID, "type")).select_by_value("")
    wait_for(browser, lambda d: not results(d) and markers(d) == 0)
    browser.execute_script("balise.map.setView([48.8566, 2.3522], 17, {animate: false})")
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "map")).click().perform()
    wait_for(browser, lambda d: " m)" in d.find_element(By.ID, "reverse-label").text)
    assert "75004 Paris" in browser.find_element(By.ID, "reverse-label").text

    # The visible map as the box.
    box.send_keys("rue")
    browser.find_element(By.ID, "in-view").click()
    bounds = browser.execute_script("const b = balise.map.getBounds(); "
                                    "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]")
    wait_for(browser, lambda d: results(d) and all(
        bounds[0] <= r["lon"] <= bounds[2] and bounds[1] <= r["lat"] <= bounds[3] for r in results(d)))
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').some(e => e.name.includes('bbox='))")
    browser.save_screenshot(str(ARTIFACTS / "web-in-view.png"))

    # No script error, no blocked resource (only the tiles, unreachable here, may fail).
    problems = [e["message"] for e in browser.get_log("browser")
                if e["level"] == "SEVERE" and "tile.openstreetmap.org" not in e["message"]]
    assert problems == []


def test_points_of_interest_in_a_browser(gpf_server, browser):
    """With a POI index served, the page searches points of interest (the Géoplateforme API
    under /geocodage), by category, or both kinds merged, and a click finds the nearest place."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(gpf_server.url + "/")
    wait_for(browser, lambda d: d.find_element(By.ID, "kind").is_displayed())
    kind = Select(browser.find_element(By.ID, "kind"))
    kind.select_by_value("poi")
    assert browser.find_element(By.ID, "category").is_displayed()
    assert not browser.find_element(By.ID, "type").is_displayed()
    box = browser.find_element(By.ID, "q")
    box.send_keys("mairie aiglun")
    wait_for(browser, lambda d: results(d) and results(d)[0]["label"] == "Mairie, 04510 Aiglun")
    assert results(browser)[0]["meta"].startswith("administratif, mairie · score ")
    assert markers(browser) == len(results(browser))
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').some(e => e.name.includes('/geocodage/search?') "
        "&& e.name.includes('index=poi'))")

    # A category: only its places.
    erase(box)
    box.send_keys("aubenas")
    Select(browser.find_element(By.ID, "category")).select_by_value("bureau de poste")
    wait_for(browser, lambda d: results(d) and all("bureau de poste" in r["meta"] for r in results(d)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-poi.png"))

    # Both kinds, merged by score.
    Select(browser.find_element(By.ID, "category")).select_by_value("")
    kind.select_by_value("address,poi")
    wait_for(browser, lambda d: len({r["meta"].split(" · ")[0] for r in results(d)}) > 1
             and any(r["meta"].startswith("street") for r in results(d))
             and any("commune" in r["meta"] for r in results(d)))

    # A click on the map: the nearest place of interest.
    kind.select_by_value("poi")
    erase(box)
    wait_for(browser, lambda d: not results(d))
    browser.execute_script("balise.map.setView([44.0507011414, 6.14496994019], 18, {animate: false})")
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "map")).click().perform()
    wait_for(browser, lambda d: " m)" in d.find_element(By.ID, "reverse-label").text)
    assert browser.find_element(By.ID, "reverse-title").text == "Nearest place of interest"
    label = browser.find_element(By.ID, "reverse-label").text
    assert label.startswith("Mairie, 04510 Aiglun (administratif, mairie, ")
    problems = [e["message"] for e in browser.get_log("browser")
                if e["level"] == "SEVERE" and "tile.openstreetmap.org" not in e["message"]]
    assert problems == []


def erase(box) -> None:
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
