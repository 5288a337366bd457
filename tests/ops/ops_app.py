"""The app the multiprocess metrics test serves: balise's own (``create_app``) with the ops
layer installed as the app factory will install it.

Run as ``python -m balise.http.server tests.ops.ops_app:app``.
"""

from __future__ import annotations


def app():
    from balise import Geocoder, ops
    from balise.config import Settings
    from balise.http import create_app

    settings = Settings.from_env()
    geocoder = Geocoder.open(settings.index)
    application = create_app(geocoder, settings, with_ops=False)
    ops.install(application, geocoder, settings)
    return application
