"""A national-sized table geocoded offline: 2,000,000 rows as Parquet (typed columns) and as CSV,
in bounded memory, the two outputs compared row for row.

    python bench/table_scale.py --index .bench/balise-index [--rows 2000000] [--workers 2]

The table (``.bench/table-scale/addresses-N.parquet`` and ``.csv``, made once, seed 11): real
addresses of the dev data (``shared/data/addok-ndjson``: Paris BAN, 23 BANO départements),
drawn with replacement, in the columns a national file has them and written the ways people
write them: ``id`` (int64), ``numero`` (int32, null for a street), ``rep`` (``bis``, ``b``...),
``voie`` (as written, in capitals, folded, with a typo, or with its type abbreviated),
``code_postal`` (text, missing one row in eight), ``commune`` (as written, in capitals or
folded), and ``expected_id`` (the house number's id, or the street's). Then ``balise geocode
--workers W`` on each file, the resident memory of all its processes sampled every second
(peak RSS, and its anonymous part: what is not the index's memory-mapped pages), and the two
outputs read back and compared row for row (numbers as numbers: Parquet's 0.0 is CSV's "0").
Printed too: the share of rows whose first result is the expected id.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from addok_env import shared_data  # noqa: E402
from answerable import fold, typo  # noqa: E402
from csv_memory import Sampler  # noqa: E402

OUT = HERE.parent / ".bench" / "table-scale"
SCHEMA = (("id", "int64"), ("numero", "int32"), ("rep", "string"), ("voie", "string"),
          ("code_postal", "string"), ("commune", "string"), ("expected_id", "string"))
ABBREVIATIONS = {"Avenue": "Av.", "Boulevard": "Bd", "Chemin": "Chem.", "Place": "Pl.", "Route": "Rte",
                 "Impasse": "Imp.", "Allée": "All.", "Rue": "R."}
BATCH = 100_000


def streets() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """(street id, name, postcode, city, [(house number, its id)]) of every street of the dev data."""
    import orjson

    found = []
    for path in sorted((shared_data() / "addok-ndjson").glob("*.ndjson.gz")):
        with gzip.open(path) as f:
            for line in f:
                doc = orjson.loads(line)
                numbers = doc.get("housenumbers") or {}
                name = doc.get("name")
                name = name[0] if isinstance(name, list) else name
                if doc.get("type") != "street" or not numbers or not name:
                    continue
                postcode = doc.get("postcode")
                city = doc.get("city") or ""
                found.append((doc["id"], name, postcode[0] if isinstance(postcode, list) else postcode,
                              city[0] if isinstance(city, list) else city,
                              [(key, value["id"]) for key, value in numbers.items()]))
    return found


def written(street: str, rng: random.Random) -> str:
    way = rng.randrange(5)
    if way == 1:
        return street.upper()
    if way == 2:
        return fold(street)
    if way == 3:
        words = street.split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        words[longest] = typo(words[longest], rng)
        return " ".join(words)
    if way == 4 and street.split()[0] in ABBREVIATIONS:
        first, _, rest = street.partition(" ")
        return f"{ABBREVIATIONS[first]} {rest}"
    return street


def make(rows: int, seed: int = 11) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet, text = OUT / f"addresses-{rows}.parquet", OUT / f"addresses-{rows}.csv"
    if parquet.exists() and text.exists():
        return parquet, text
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pool = streets()
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in SCHEMA])
    number = re.compile(r"(\d+)\s*(.*)")
    with pq.ParquetWriter(parquet.with_name(parquet.name + ".part"), schema, compression="zstd") as writer, \
            text.with_name(text.name + ".part").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([name for name, _ in SCHEMA])
        for start in range(0, rows, BATCH):
            batch: list[list] = []
            for i in range(start, min(rows, start + BATCH)):
                street_id, name, postcode, city, numbers = rng.choice(pool)
                key, hn_id = rng.choice(numbers)
                match = number.fullmatch(key.strip())
                if rng.random() < 0.1 or not match:
                    numero, rep, expected = None, None, street_id
                else:
                    numero, rep, expected = int(match.group(1)), match.group(2).lower() or None, hn_id
                town = city if rng.random() < 0.6 else city.upper() if rng.random() < 0.5 else fold(city)
                batch.append([i, numero, rep, written(name, rng), None if rng.random() < 0.125 else postcode,
                              town, expected])
            columns = list(zip(*batch, strict=True))
            writer.write_table(pa.table({name: list(column) for (name, _), column in zip(SCHEMA, columns,
                                                                                          strict=True)},
                                        schema=schema), row_group_size=BATCH)
            out.writerows([["" if v is None else v for v in row] for row in batch])
    parquet.with_name(parquet.name + ".part").replace(parquet)
    text.with_name(text.name + ".part").replace(text)
    return parquet, text


def geocode(index: str, source: Path, workers: int) -> tuple[Path, list[str]]:
    target = OUT / f"out-{source.stem}{source.suffix}"
    script = Path(sys.executable).with_name("balise")
    command = [str(script), "geocode", "--index", index, "--columns", "numero", "--columns", "rep",
               "--columns", "voie", "--columns", "code_postal", "--columns", "commune", "--postcode",
               "code_postal", "--workers", str(workers), "--quiet", "--restart", str(source), str(target)]
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid, lambda: 0)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    sampler.stop.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"balise geocode failed:\n{stderr}")
    rows = next(line for line in stderr.splitlines() if line.startswith("geocoded"))
    peak = max(sum(r for r, _ in s.values()) for _, _, s in sampler.samples)
    anon = max(sum(a for _, a in s.values()) for _, _, s in sampler.samples)
    count = int(re.search(r"geocoded ([\d,]+) rows", rows).group(1).replace(",", ""))  # type: ignore[union-attr]
    return target, [f"{source.suffix[1:]}: {rows}",
                    f"  {seconds:.0f} s with start-up, {count / cpu_seconds:,.0f} rows per CPU-second (all "
                    f"its processes: {cpu_seconds:.0f} CPU-s); peak RSS of all its processes "
                    f"{peak / 2**20:,.0f} MB, of which anonymous (not the index's pages) "
                    f"{anon / 2**20:,.0f} MB"]


def compare(csv_out: Path, parquet_out: Path) -> list[str]:
    """The two outputs row for row; and how many first results are the expected id."""
    import pyarrow.parquet as pq

    rows = differ = right = 0
    with csv_out.open(encoding="utf-8", newline="") as f:
        texts = csv.DictReader(f)
        for batch in pq.ParquetFile(parquet_out).iter_batches(batch_size=50_000):
            for typed in batch.to_pylist():
                text = next(texts)
                rows += 1
                right += typed["result_id"] == typed["expected_id"]
                for name, value in text.items():
                    got = typed[name]
                    same = (float(value) == got) if value and isinstance(got, float) else (
                        value == ("" if got is None else str(got)))
                    if not same:
                        differ += 1
                        break
        leftover = sum(1 for _ in texts)
    return [f"compared {rows:,} rows: {differ:,} differ, {leftover:,} more in the CSV; "
            f"first result = expected id: {100 * right / max(rows, 1):.2f} %"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(HERE.parent / ".bench" / "balise-index"))
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    parquet, text = make(args.rows)
    print(f"table: {parquet} ({parquet.stat().st_size / 1e6:,.0f} MB), {text} "
          f"({text.stat().st_size / 1e6:,.0f} MB), made in {time.perf_counter() - started:.0f} s", flush=True)
    index_mb = sum(p.stat().st_size for p in Path(args.index).iterdir()) / 2**20
    print(f"index {args.index}: {index_mb:,.0f} MB", flush=True)
    csv_out, lines = geocode(args.index, text, args.workers)
    print("\n".join(lines), flush=True)
    parquet_out, lines = geocode(args.index, parquet, args.workers)
    print("\n".join(lines), flush=True)
    print("\n".join(compare(csv_out, parquet_out)))


if __name__ == "__main__":
    main()
