"""The web page at ``/`` and its static files under ``/static/``.

The page (page.html, static/app.js, static/app.css) searches as you type (``/search/``,
debounced), lists the results and marks them on a Leaflet map, answers a click on the map
with ``/reverse/``, filters by type and postcode, and can restrict the search to the visible
map (``bbox``). When the Géoplateforme API (its prefix in ``data-geocodage``) serves a POI
index, the page also searches points of interest, by category, or both kinds merged, and
finds the nearest place on a click (``{prefix}/search``, ``{prefix}/reverse``). Leaflet is
vendored in static/leaflet/ (see its README.md): nothing is fetched from a CDN. The tiles come
from ``BALISE_TILES_URL`` (OpenStreetMap's by default); without them (empty, or unreachable) the
map is blank but markers, clicks and the list still work.

Static files are read once, at start, from the package into memory, and served by name only:
a path that is not one of those names is a 404, whatever its dots and slashes, so nothing else
on disk can be reached. Each answer has its content type, a weak ETag (the same for any
``Content-Encoding``), ``Cache-Control: public, max-age=86400`` and ``nosniff``; the page
itself is ``no-cache`` and sends a Content-Security-Policy that allows this origin, and images
from the tile server.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from string import Template
from urllib.parse import urlsplit

import falcon

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
}
TEXT = "text/plain; charset=utf-8"  # LICENSE and other files without a known extension
STATIC_MAX_AGE = 86400
NOSNIFF = ("X-Content-Type-Options", "nosniff")


@dataclass(frozen=True)
class StaticFile:
    data: bytes
    content_type: str
    etag: str  # opaque tag, without quotes


def load_static(root: Traversable | None = None) -> dict[str, StaticFile]:
    """Every file under http/static, by its path relative to it (``leaflet/leaflet.js``)."""
    root = root or files(__package__).joinpath("static")
    out: dict[str, StaticFile] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
            elif child.is_file():
                data = child.read_bytes()
                suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
                etag = hashlib.sha256(data).hexdigest()[:20]
                out[name] = StaticFile(data, CONTENT_TYPES.get(suffix, TEXT), etag)

    walk(root, "")
    return out


class Static:
    """``GET /static/{path}``: one of the files loaded at start, or 404."""

    def __init__(self, static: dict[str, StaticFile]) -> None:
        self.static = static

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        found = self.static.get(path)
        if found is None:
            raise falcon.HTTPNotFound()
        resp.set_header("ETag", f'W/"{found.etag}"')
        resp.cache_control = ["public", f"max-age={STATIC_MAX_AGE}"]
        resp.set_header(*NOSNIFF)
        if any(tag == found.etag or tag == "*" for tag in req.if_none_match or ()):
            resp.status = falcon.HTTP_304
            return
        resp.data = found.data
        resp.content_type = found.content_type

    on_head = on_get


class Page:
    """``GET /``: the search page, with the tile settings and the version filled in."""

    def __init__(self, version: str, tiles_url: str, tiles_attribution: str, geocodage: str = "") -> None:
        template = Template(files(__package__).joinpath("page.html").read_text(encoding="utf-8"))
        self.body = template.substitute(
            version=html.escape(version), tiles_url=html.escape(tiles_url),
            tiles_attribution=html.escape(tiles_attribution), geocodage=html.escape(geocodage)).encode()
        images = " ".join(dict.fromkeys(["'self'", "data:", tile_source(tiles_url)]))
        self.policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                       f"img-src {images}; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                       "frame-ancestors 'none'")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body
        resp.content_type = CONTENT_TYPES[".html"]
        resp.cache_control = ["no-cache"]
        resp.set_header("Content-Security-Policy", self.policy)
        resp.set_header(*NOSNIFF)
        resp.set_header("Referrer-Policy", "same-origin")

    on_head = on_get


def tile_source(url: str) -> str:
    """The CSP source of a Leaflet tile URL: its origin, ``{s}`` subdomains as ``*``."""
    if not url:
        return "'self'"
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'"  # a relative URL: tiles served here
    host = parts.netloc.replace("{s}", "*")
    if not host or any(not (c.isalnum() or c in ".-:*[]") for c in host):
        return f"{parts.scheme}:"  # a template in the host: every host of that scheme
    return f"{parts.scheme}://{host}"
