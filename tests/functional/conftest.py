"""Shared fixtures of the functional tests: a real ``balise serve`` (granian, 2 workers) on
the dev index (tests/servers.py), and its HTTP client."""

from __future__ import annotations

import pytest

from tests.servers import Client, balise_serve


@pytest.fixture(scope="session")
def server(france_index, tmp_path_factory) -> Client:
    """``balise serve`` in a subprocess, exactly as a user runs it, until the session ends."""
    # The tests send many requests from one address: no rate limits.
    with balise_serve(france_index, tmp_path_factory.mktemp("server"), BALISE_RATE_LIMITS="") as client:
        yield client
