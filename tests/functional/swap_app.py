"""The WSGI app ``test_index_swap`` serves until ``balise serve --index ROOT`` follows an index
root by itself: balise's own app (``create_app``) over a ``CurrentGeocoder`` of BALISE_INDEX.

Run as ``gunicorn -c src/balise/http/gunicorn.conf.py 'tests.functional.swap_app:app()'``.
"""

from __future__ import annotations


def app():
    from balise.config import Settings
    from balise.http import create_app
    from balise.index.pointer import CurrentGeocoder

    settings = Settings.from_env()
    return create_app(CurrentGeocoder(settings.index), settings)
