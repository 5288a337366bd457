"""The app the multiprocess metrics test serves: balise's own (``create_app``) with the ops
layer installed as the app factory will install it.

Run as ``python -m balise.http.server tests.ops.ops_app:app``.
"""

from __future__ import annotations


def app(settings):
    from balise import Geocoder, ops
    from balise.http import create_app
    from balise.http.resources import CACHED, JSON

    geocoder = Geocoder.open(settings.index)
    application = create_app(geocoder, settings, with_ops=False)
    ops.install(application, geocoder, settings, CACHED, JSON)
    return application
