"""Answerable queries on the dev data: real addresses of the indexed files, written the
ways people write them, each with the id it must find.

    python bench/answerable.py OUT.csv [--n 6000] [--seed 3]

Kinds (one in eight each): full ("12 Rue X 75001 Paris"), no_postcode, lower_noaccent,
typo (one edit in the longest word of the street), street_only (the street's id expected),
city_first ("Paris 75001 12 Rue X"), messy (a company or building before, CEDEX, a floor or a
BP after, capitals, commas) and number_last ("Rue X 12 75001 Paris"). The same columns as
make_france.py's --queries, so bench/scale.py reads both.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from addok_env import shared_data  # noqa: E402

KEYS = "azertyuiopqsdfghjklmwxcvbn"
KINDS = ("full", "no_postcode", "lower_noaccent", "typo", "street_only", "city_first", "messy", "number_last")
PREFIXES = ("SARL Dupont", "Résidence Les Pins bât B", "Chez M. Martin", "Ets Leroy", "Appt 12")
SUFFIXES = ("CEDEX", "CEDEX 2", "BP 12", "3e étage", "2ème étage")


def fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn").lower()


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("swap", "sub", "del", "ins"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "sub":
        return word[:i] + rng.choice(KEYS) + word[i + 1 :]
    if op == "del":
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice(KEYS) + word[i:]


def first(value):
    return value[0] if isinstance(value, list) else value


def addresses(rng: random.Random, rate: float):
    """(hn id, street id, number, street, postcode, city, lon, lat) sampled from the data."""
    import orjson

    for path in sorted((shared_data() / "addok-ndjson").glob("*.ndjson.gz")):
        with gzip.open(path) as f:
            for line in f:
                if rng.random() >= rate:
                    continue
                doc = orjson.loads(line)
                numbers = doc.get("housenumbers") or {}
                name = str(first(doc.get("name")) or "").strip()
                if doc.get("type") != "street" or not numbers or not name:
                    continue
                key = rng.choice(sorted(numbers))
                hn = numbers[key]
                yield (hn["id"], doc["id"], key, first(doc["name"]), first(doc["postcode"]),
                       first(doc.get("city") or ""), hn["lon"], hn["lat"])


def query(kind: str, number: str, street: str, postcode: str, city: str, rng: random.Random) -> str:
    if kind == "full":
        return f"{number} {street} {postcode} {city}"
    if kind == "no_postcode":
        return f"{number} {street} {city}"
    if kind == "lower_noaccent":
        return fold(f"{number} {street} {postcode} {city}")
    if kind == "typo":
        words = street.split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        words[longest] = typo(words[longest], rng)
        return f"{number} {' '.join(words)} {postcode} {city}"
    if kind == "street_only":
        return f"{street} {postcode} {city}"
    if kind == "city_first":
        return f"{city} {postcode} {number} {street}"
    if kind == "number_last":
        return f"{street} {number} {postcode} {city}"
    text = f"{rng.choice(PREFIXES)}, {number}, {street}, {postcode} {city} {rng.choice(SUFFIXES)}"
    return text.upper() if rng.random() < 0.5 else text


def make(n: int, seed: int) -> list[list]:
    rng = random.Random(seed)
    picked = list(addresses(rng, rate=n * 2.5 / 65_000))
    rng.shuffle(picked)
    rows = []
    for i, (hn_id, street_id, number, street, postcode, city, lon, lat) in enumerate(picked[:n]):
        kind = KINDS[i % len(KINDS)]
        expected = street_id if kind == "street_only" else hn_id
        rows.append([kind, query(kind, number, street, postcode, city, rng), expected, lon, lat])
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["kind", "query", "expected_id", "expected_lon", "expected_lat"])
        w.writerows(make(args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
