"""The demo project on Spark (local mode) against DuckDB: `sqlrec run` and `sqlrec evaluate`, each in a fresh
process (so Spark's JVM start is counted, as a user of the CLI pays it), alternating engines, medians of --repeat.

    python bench/spark_demo.py [--repeat 3] [--folder /tmp/sqlrec-spark-bench]

Prints a Markdown table: wall time of the command, the sum of stage times from the run manifest (the work
itself), and the Spark / DuckDB ratios. Needs `pip install 'sqlrec[spark]'` and Java 17+.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _run(folder: Path, command: str, engine: str) -> tuple[float, float]:
    args = [sys.executable, "-m", "sqlrec", command, "-p", str(folder), "--engine", engine, "--no-progress"]
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    output = folder / "output" / ("evaluation" if command == "evaluate" else "") / "current" / "run_manifest.json"
    manifest = json.loads(output.read_text())
    return wall, sum(s["seconds"] for s in manifest["stages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/sqlrec-spark-bench"))
    args = parser.parse_args()
    from sqlrec.scaffold import ensure_demo
    ensure_demo(args.folder)
    print(f"machine: {os.cpu_count()} cores; demo: {args.folder}; medians of {args.repeat}", file=sys.stderr)
    rows = []
    for command in ("run", "evaluate"):
        times: dict[str, list[tuple[float, float]]] = {"duckdb": [], "spark": []}
        for _ in range(args.repeat):
            for engine in ("duckdb", "spark"):
                times[engine].append(_run(args.folder, command, engine))
        wall = {e: statistics.median(t[0] for t in v) for e, v in times.items()}
        stages = {e: statistics.median(t[1] for t in v) for e, v in times.items()}
        rows.append((command, wall, stages))
    print("| command | DuckDB wall | Spark local wall | ratio | DuckDB stages | Spark stages | ratio |")
    print("|---|---|---|---|---|---|---|")
    for command, wall, stages in rows:
        print(f"| sqlrec {command} | {wall['duckdb']:.1f} s | {wall['spark']:.1f} s | "
              f"{wall['spark'] / wall['duckdb']:.1f}x | {stages['duckdb']:.1f} s | {stages['spark']:.1f} s | "
              f"{stages['spark'] / stages['duckdb']:.1f}x |")


if __name__ == "__main__":
    main()
