"""Lookups on a published run of a 1M-event project, against the bare minimum a script would do.

A generated world (default 1M events: 50k users, 5k items) is run once. Then each lookup command runs --repeat
times, each time in a fresh process for a random user or item (the wall time a person or a shell script waits):

  sqlrec recommend --user U             sqlrec recommend --user U --explain     sqlrec similar --item I
  sqlrec explain --user U --item I      sqlrec recommend --user U --format json

The peer, timed the same way: a fresh `python -c` that imports duckdb and selects the user's rows from the same
Parquet file (no config, no checks, no formatting): the floor for answering from the files. Also printed: the same
lookups from a warm notebook session (sqlrec.open(...).recommend(...)), in milliseconds.

    python bench/lookups.py [--events 1000000] [--repeat 15] [--out bench/results/lookups.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

import sqlrec
from sqlrec.datagen import WorldSize, generate

SQLREC = [sys.executable, "-m", "sqlrec"]


def wall(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqlrec-lookups-") as scratch:
        root = Path(scratch)
        generate(root / "data", WorldSize(users=args.events // 20, items=args.events // 200, events=args.events,
                                          seed=1))
        (root / "sqlrec.toml").write_text("\n".join(
            f'[inputs.{n}]\npath = "data/{n}.parquet"' for n in ("events", "items", "users"))
            + '\n[output]\npath = "out"\n[engine]\nprogress = false\n')
        started = time.perf_counter()
        sqlrec.run(root, progress=False)
        run_seconds = time.perf_counter() - started
        recs = pq.read_table(root / "out" / "current" / "recommendations" / "data.parquet",
                             columns=["user_id", "item_id"])
        similar = pq.read_table(root / "out" / "current" / "similar_items" / "data.parquet", columns=["item_id"])
        pairs = list(zip(recs.column("user_id").to_pylist(), recs.column("item_id").to_pylist()))
        items = sorted(set(similar.column("item_id").to_pylist()))
        rng = random.Random(7)
        path = root / "out" / "current" / "recommendations" / "data.parquet"
        cases = {
            "recommend": lambda u, i: SQLREC + ["recommend", "--user", str(u)],
            "recommend --explain": lambda u, i: SQLREC + ["recommend", "--user", str(u), "--explain"],
            "similar": lambda u, i: SQLREC + ["similar", "--item", str(rng.choice(items))],
            "explain": lambda u, i: SQLREC + ["explain", "--user", str(u), "--item", str(i)],
            "recommend --format json": lambda u, i: SQLREC + ["recommend", "--user", str(u), "--format", "json"],
            "peer: python -c duckdb": lambda u, i: [sys.executable, "-c", (
                "import duckdb; print(duckdb.sql(\"SELECT rank, item_id, score, source, reason FROM "
                f"read_parquet('{path}') WHERE user_id = {u} ORDER BY rank\").fetchall())")],
        }
        times = {name: [] for name in cases}
        for _ in range(args.repeat):
            user, item = rng.choice(pairs)
            for name, command in cases.items():
                times[name].append(wall(command(user, item), root))
        project = sqlrec.open(root)
        warm = []
        for _ in range(args.repeat):
            user, _item = rng.choice(pairs)
            started = time.perf_counter()
            project.recommend(user, explain=True)
            warm.append(time.perf_counter() - started)
    medians = {name: statistics.median(t) for name, t in times.items()}
    peer = medians["peer: python -c duckdb"]
    print(f"\n{args.events:,} events, {len(pairs):,} recommendation rows; the run took {run_seconds:.1f} s")
    print(f"{'lookup (fresh process)':<28}{'median':>9}{'max':>8}{'/ peer':>9}")
    for name, values in times.items():
        print(f"{name:<28}{medians[name]:>8.3f}s{max(values):>7.3f}s{medians[name] / peer:>8.2f}x")
    print(f"{'notebook: recommend(explain)':<28}{statistics.median(warm) * 1000:>7.1f}ms")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"events": args.events, "recommendation_rows": len(pairs),
                                        "repeat": args.repeat, "median_seconds": medians,
                                        "max_seconds": {n: max(t) for n, t in times.items()},
                                        "notebook_median_ms": statistics.median(warm) * 1000}, indent=2) + "\n")


if __name__ == "__main__":
    main()
