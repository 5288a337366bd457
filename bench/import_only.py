"""The import alone, measured as scale.py measures it: wall, peak memory, CPU, index files.

    python bench/import_only.py DATA INDEX [--memory 2GB] [extra balise import options]

Runs ``balise import --quiet --memory MEMORY --index INDEX DATA`` in a subprocess and prints
its wall seconds, the peak resident memory of its process tree (sampled every 0.1 s), the
CPU time (user + sys) of the whole tree, the phases the manifest records, and the index's
files, largest first (MiB). Faster to iterate on than ``scale.py``, which also searches.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from scale import MB, run_measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("index")
    parser.add_argument("--memory", default="2GB")
    args, extra = parser.parse_known_args(argv)
    seconds, peak, _ = run_measured([sys.executable, "-m", "balise.cli", "import", "--quiet", "--memory",
                                     args.memory, "--index", args.index, args.data, *extra])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    manifest = json.loads((Path(args.index) / "manifest.json").read_text())
    print(f"wall {seconds:.1f} s, peak {peak / MB:,.0f} MB, CPU {usage.ru_utime + usage.ru_stime:.1f} s "
          f"(user {usage.ru_utime:.1f}), index {manifest['bytes'] / MB:,.1f} MiB")
    print("phases (s):", manifest["import_report"]["phases_seconds"])
    for size, name in sorted(((p.stat().st_size, p.name) for p in Path(args.index).iterdir()), reverse=True):
        print(f"{name:18s} {size / MB:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
