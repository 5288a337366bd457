"""A real client of the Géoplateforme's geocoding API against balise, by its base URL alone:
the Géoportail's OpenLayers extensions (npm ``geopf-extensions-openlayers``), whose search-engine
control calls ``completion`` as you type and ``search`` when you pick a suggestion, in headless
Chromium.

The control takes its services' URLs as options (``autocompleteOptions.serviceOptions.serverUrl``
and ``geocodeOptions.serviceOptions.serverUrl``, passed to geoportal-access-lib), so the page
(geopf_client/index.html, entry.js) sets them to balise's ``/geocodage/completion`` and
``/geocodage/search`` and changes nothing else. The extensions are AGPL-3.0: they are fetched
from npm (versions pinned by geopf_client/package-lock.json) and bundled with esbuild into
var/geopf-client/ when the test runs, never committed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import REPO
from tests.functional.test_web import ARTIFACTS, browser, wait_for  # noqa: F401 (the browser fixture)

CLIENT = Path(__file__).with_name("geopf_client")
SOURCES = ("package.json", "package-lock.json", "entry.js")
BUILDS = REPO / "var" / "geopf-client"


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The control and OpenLayers bundled for a browser (built once per version of the sources)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("no npm (apt-get install nodejs npm; .ci/run does)")
    key = hashlib.sha256(b"".join((CLIENT / name).read_bytes() for name in SOURCES)).hexdigest()[:16]
    build = BUILDS / key
    dist = build / "dist"
    if not (dist / "bundle.js").exists():
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in SOURCES:
            shutil.copy(CLIENT / name, build / name)
        # --ignore-scripts: the design system's install script wants a project of its own.
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=build, check=True,
                       capture_output=True, timeout=900)
        esbuild = str(build / "node_modules" / ".bin" / "esbuild")
        subprocess.run([esbuild, "entry.js", "--bundle", "--format=iife", "--outfile=dist/bundle.js",
                        "--loader:.woff=file", "--loader:.woff2=file", "--loader:.ttf=file",
                        "--loader:.svg=dataurl", "--loader:.png=dataurl"],
                       cwd=build, check=True, capture_output=True, timeout=300)
    shutil.copy(CLIENT / "index.html", dist / "index.html")
    return dist


@pytest.fixture(scope="module")
def page_server(bundle):
    """The client's page, served from another origin than balise's (CORS as in production)."""
    handler = partial(QuietHandler, directory=str(bundle))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def suggestions(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('[id^=AutoCompletedLocation_]')]"
        ".map(e => e.textContent.trim())")


def requests_to(driver, path: str) -> list[str]:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.includes(arguments[0]))", path)


def type_in(driver, text: str) -> None:
    """Type as a person does, a pause before the last letter: the control asks at every key and
    shows whichever answer comes last, so the pause lets the earlier ones arrive first."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, "input[id^=GPsearchInputText]")
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    box.send_keys(text[:-1])
    time.sleep(1.5)
    box.send_keys(text[-1])


def test_the_geoportail_search_engine_control_against_balise(gpf_server, page_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    base = f"{gpf_server.url}/geocodage"
    browser.get(f"{page_server}/index.html?geocodage={quote(base, safe='')}")
    wait_for(browser, lambda d: d.execute_script("return !!window.client"))

    # Addresses as you type: /geocodage/completion.
    type_in(browser, "5 rue de la paix, par")
    wait_for(browser, lambda d: any("5 Rue de la Paix, 75002 Paris" in s for s in suggestions(d)))
    completions = requests_to(browser, "/geocodage/completion")
    assert completions and all(url.startswith(base) for url in completions)
    assert any("text=5%20rue%20de%20la%20pa" in url and "type=PositionOfInterest,StreetAddress" in url
               for url in completions), completions

    # Points of interest too: a town hall, by the kind of place and its town.
    type_in(browser, "mairie aiglun")  # the last answer's list: the town hall first
    wait_for(browser, lambda d: suggestions(d)[:1] == ["Mairie, 04510 Aiglun"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "geopf-client-completion.png"))

    # Picking one: /geocodage/search for its geometry, then the map goes there.
    first = browser.find_element(By.CSS_SELECTOR, "[id^=AutoCompletedLocation_]")
    assert "Mairie, 04510 Aiglun" in first.text
    first.click()
    wait_for(browser, lambda d: requests_to(d, "/geocodage/search"))
    wait_for(browser, lambda d: abs(d.execute_script("return client.centre()")[0] - 6.14497) < 1e-3)
    lon, lat = browser.execute_script("return client.centre()")
    assert abs(lat - 44.0507) < 1e-3
    events = browser.execute_script("return client.events.map(e => e.type)")
    assert events == ["searchengine:autocomplete:click"]
    searched = requests_to(browser, "/geocodage/search")[-1]
    assert searched.startswith(base) and "returntruegeometry=true" in searched
    browser.save_screenshot(str(ARTIFACTS / "geopf-client-picked.png"))

    # No error in the page (the map has no tiles: none are asked for).
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []
