"""The HTTP service: Addok's API over falcon (WSGI), served by granian (``balise serve``, http/server.py)."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
