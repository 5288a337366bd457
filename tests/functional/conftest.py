"""Shared fixtures of the functional tests: a real ``balise serve`` (granian, 2 workers) on
the dev index (tests/servers.py), and its HTTP client; another with the POI index as well."""

from __future__ import annotations

import pytest

from tests.servers import Client, balise_serve


@pytest.fixture(scope="session")
def server(france_index, tmp_path_factory) -> Client:
    """``balise serve`` in a subprocess, exactly as a user runs it, until the session ends."""
    # The tests send many requests from one address: no rate limits.
    with balise_serve(france_index, tmp_path_factory.mktemp("server"), BALISE_RATE_LIMITS="") as client:
        yield client


@pytest.fixture(scope="session")
def gpf_server(france_index, poi_index, tmp_path_factory) -> Client:
    """``balise serve`` of the dev index and the POI index (the Géoplateforme API's two indexes)."""
    with balise_serve(france_index, tmp_path_factory.mktemp("gpf-server"), BALISE_RATE_LIMITS="",
                      BALISE_POI_INDEX=str(poi_index)) as client:
        yield client
