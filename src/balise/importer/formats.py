"""Which format an address file is in: Addok NDJSON, BAN CSV or BANO CSV."""

from __future__ import annotations

from pathlib import Path

from .reading import first_line, split_line

BAN_HEADER = "id;id_fantoir;numero;rep;nom_voie"
BAN_LIEUX_DITS_HEADER = "id;nom_lieu_dit;"
BANO_HEADER = "id,numero,voie,"
BANO_COLUMNS = 8
# Who publishes each format's data, recorded with each source in the manifest: an index's answers
# credit their producers (search/geojson.py). Addok's NDJSON may hold anyone's: not recorded.
PRODUCERS = {"ban": "BAN", "bano": "BANO"}


def detect_format(path: str | Path) -> str:
    """'ndjson', 'ban' or 'bano', from the file name or else from its first line."""
    name = Path(path).name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        return "ndjson"
    first = first_line(path)
    if first.startswith("{"):
        return "ndjson"
    if first.startswith((BAN_HEADER, BAN_LIEUX_DITS_HEADER)):
        return "ban"
    if first.startswith(BANO_HEADER) or len(split_line(first, ",") or ()) == BANO_COLUMNS:
        return "bano"
    raise ValueError(f"{path}: unknown format (first line: {first[:80]!r})")
