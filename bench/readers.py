"""Readers of the published outputs while runs publish and prune (keep_runs = 1, grace_seconds = 1), three ways:

  resolved   resolve `current` once per read, read that run folder's Parquet (sqlrec.open_outputs().path(...))
  current    hand DuckDB the paths through `current/` (read_parquet('out/current/lists/data.parquet'))
  snapshot   open sqlrec.duckdb read-only and query its views

Each way: one reader process reading as fast as it can, one that waits 0.5 s between resolving and reading every
tenth read, and a publisher that keeps publishing (two small tables, a marker file, the snapshot) until the fast
reader has made --reads reads. A read counts as mixed if its tables, marker or row counts name two publishes.
The reader and publisher are the ones tests/test_readers.py runs (that test asserts the "resolved" row).

    python bench/readers.py [--reads 5000] [--out bench/results/readers.json]   # also rewrites docs/readers.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_figures import save_figures  # noqa: E402
from test_readers import READER, _publish  # noqa: E402  (the test's reader and publisher, so both measure one thing)

DOC = Path(__file__).resolve().parent.parent / "docs" / "readers.md"
LABELS = {"resolved": "resolved run folder", "current": "paths through `current/`", "snapshot": "snapshot, read-only"}


def render(rows: list[dict]) -> str:
    """The docs/readers.md table of these measurements (tests/test_docs.py checks the page against the results)."""
    lines = ["| reader | publishes | reads | errors | reads mixing two runs |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {LABELS[r['how']]} | {r['publishes']:,} | {r['reads']:,} | {r['errors']:,} | {r['mixed']:,} |"
              for r in rows]
    return "\n".join(lines)


def measure(how: str, reads: int, folder: Path) -> dict:
    root, stop = folder / how / "out", folder / how / "stop"
    _publish(root, 0)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(root), str(n), str(stop), str(dawdle), how],
                                stdout=subprocess.PIPE, text=True) for n, dawdle in ((reads, 0.0), (100, 0.5))]
    publishes = 0
    while any(r.poll() is None for r in readers) and publishes < 5000:
        publishes += 1
        _publish(root, publishes)
        if publishes >= 30:
            stop.touch()
    stop.touch()
    reports = [json.loads(r.communicate()[0]) for r in readers]
    return {"how": how, "publishes": publishes, "reads": sum(r["reads"] for r in reports),
            "errors": sum(r["errors"] for r in reports), "mixed": sum(r["mixed"] for r in reports),
            "first_errors": [e[:160] for r in reports for e in r["first_errors"]][:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "readers.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(how, args.reads, Path(folder)) for how in ("resolved", "current", "snapshot")]
    print(f"{'reader':<10} {'publishes':>9} {'reads':>7} {'errors':>7} {'mixed':>6}")
    for row in rows:
        print(f"{row['how']:<10} {row['publishes']:>9} {row['reads']:>7} {row['errors']:>7} {row['mixed']:>6}")
        for error in row["first_errors"]:
            print(f"    {error.splitlines()[0]}")
    save_figures(rows, args.out, DOC, "readers", render(rows))


if __name__ == "__main__":
    main()
