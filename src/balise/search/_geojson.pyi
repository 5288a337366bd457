# Stub of the compiled _geojson.pyx (the types mypy checks its callers against).
from typing import Any

def feature(doc: dict[str, Any], housenumber_props: dict[str, Any] | None, housenumber: str | None,
            label: str | None, score: float, distance_km: float | None, original_type: str,
            postcodes: list[str] | None = None, debug: dict[str, Any] | None = None) -> dict[str, Any]: ...
