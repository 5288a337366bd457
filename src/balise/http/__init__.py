"""The HTTP service: Addok's API over falcon (WSGI), served by gunicorn (``balise serve``)."""

from .app import create_app, from_env

__all__ = ["create_app", "from_env"]
