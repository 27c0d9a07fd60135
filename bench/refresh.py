"""Incremental refresh against a full rebuild, measured in the same run on the same generated data (medians).

The events of a generated world (default 1M events: 50k users, 5k items, a year) are written as one Parquet file per
month, and the last --new-days days as one more file: the file a daily or weekly job receives. A project is run
once on the older files (setup, not timed); then, --repeat times, alternating:

  incremental  a copy of that project gets the new file and runs `sqlrec run`: co-occurrence counts and affinities
               are updated from the new file alone (sqlrec/refresh.py)
  full         the same files in a project without a previous run: everything is computed from all events

It prints the seconds of the two refreshed stages (int_user_affinity, int_item_pair_counts), of every stage summed,
and of the whole run, with full / incremental ratios, and checks that both give the same recommendations (items and
ranks identical, scores within 1e-9) and the same co-occurrence counts.

    python bench/refresh.py [--events 1000000] [--new-days 7] [--repeat 3] [--out bench/results/refresh.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

import sqlrec
from sqlrec.datagen import WorldSize, generate

REFRESHED = ("int_user_affinity", "int_item_pair_counts")


def refreshed_seconds(stages: dict[str, float]) -> dict[str, float]:
    """The seconds of the refreshed stages; a full run counts the pairs in int_item_pair_counts_sparse (SciPy) by
    default, which belong to int_item_pair_counts's work."""
    return {name: stages[name] + (stages.get("int_item_pair_counts_sparse", 0.0)
                                  if name == "int_item_pair_counts" else 0.0) for name in REFRESHED}


def split_events(world: Path, folder: Path, new_days: int) -> Path:
    """Monthly files of the older events into folder/, and returns the file of the last `new_days` days (kept
    aside until the timed runs)."""
    con = duckdb.connect()
    events = str(world / "events.parquet")
    newest = con.execute("SELECT max(ts) FROM read_parquet($p)", {"p": events}).fetchall()[0][0]
    cut = newest - timedelta(days=new_days)
    folder.mkdir(parents=True)
    months = [m for (m,) in con.execute("SELECT DISTINCT strftime(ts, '%Y-%m') AS m FROM read_parquet($p) "
                                        "WHERE ts <= $cut ORDER BY m", {"p": events, "cut": cut}).fetchall()]
    for month in months:
        con.execute("COPY (SELECT * FROM read_parquet($p) WHERE ts <= $cut AND strftime(ts, '%Y-%m') = $m) "
                    f"TO '{folder / f'{month}.parquet'}' (FORMAT parquet)", {"p": events, "cut": cut, "m": month})
    new = folder.parent / "new.parquet"
    con.execute(f"COPY (SELECT * FROM read_parquet($p) WHERE ts > $cut) TO '{new}' (FORMAT parquet)",
                {"p": events, "cut": cut})
    return new


def write_project(root: Path, world: Path) -> None:
    (root / "sqlrec.toml").write_text(
        '[inputs.events]\npath = "events/*.parquet"\n'
        f'[inputs.items]\npath = "{world / "items.parquet"}"\n[inputs.users]\npath = "{world / "users.parquet"}"\n'
        '[output]\npath = "out"\nkeep_runs = 2\n[engine]\nprogress = false\n'
        '[vars]\ncooccurrence_max_history = 0\n')  # whole histories: what incremental refresh needs


def timed_run(root: Path) -> tuple[float, dict, sqlrec.RunResult]:
    started = time.perf_counter()
    result = sqlrec.run(root, progress=False)
    seconds = time.perf_counter() - started
    stages = {s["stage"]: s["seconds"] for s in result.manifest["stages"]}
    return seconds, stages, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=None, help="default: events / 20")
    parser.add_argument("--items", type=int, default=None, help="default: events / 200")
    parser.add_argument("--new-days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqlrec-refresh-") as scratch:
        base = Path(scratch)
        world = base / "world"
        size = WorldSize(users=args.users or args.events // 20, items=args.items or args.events // 200,
                         events=args.events, seed=1)
        generate(world, size)
        setup = base / "setup"
        new_file = split_events(world, setup / "events", args.new_days)
        write_project(setup, world)
        sqlrec.run(setup, progress=False)  # the previous run the incremental one starts from
        rows_new = pq.read_metadata(new_file).num_rows
        measured = {"incremental": [], "full": []}
        slowest = {}
        last = {}
        for repeat in range(args.repeat):
            for mode in ("incremental", "full") if repeat % 2 == 0 else ("full", "incremental"):
                root = base / f"{mode}-{repeat}"
                if mode == "incremental":
                    shutil.copytree(setup, root, symlinks=True)
                else:
                    shutil.copytree(setup / "events", root / "events")
                    write_project(root, world)
                shutil.copy(new_file, root / "events" / "new.parquet")
                seconds, stages, result = timed_run(root)
                assert result.manifest["refresh"]["incremental"] == (mode == "incremental"), result.manifest["refresh"]
                refreshed = refreshed_seconds(stages)
                measured[mode].append({"run": seconds, "stages": sum(stages.values()), **refreshed})
                slowest[mode] = sorted(stages.items(), key=lambda kv: -kv[1])[:5]
                last[mode] = result
                print(f"  {mode:<11} run {seconds:6.2f} s  stages {sum(stages.values()):6.2f} s  "
                      + "  ".join(f"{n} {refreshed[n]:.2f} s" for n in REFRESHED), flush=True)
        same = _compare(last["incremental"], last["full"])
    medians = {mode: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for mode, runs in measured.items()}
    summary = {"events": args.events, "users": size.users, "items": size.items, "new_days": args.new_days,
               "new_events": rows_new, "repeat": args.repeat, "medians_seconds": medians,
               "full_over_incremental": {k: medians["full"][k] / medians["incremental"][k] for k in medians["full"]},
               "same_results": same, "slowest_stages": slowest}
    print(f"\n{args.events:,} events; the new file holds the last {args.new_days} days ({rows_new:,} events)")
    print(f"{'':<22}{'incremental':>12}{'full':>10}{'full / incr.':>14}")
    for key in (*REFRESHED, "stages", "run"):
        print(f"{key:<22}{medians['incremental'][key]:>11.2f}s{medians['full'][key]:>9.2f}s"
              f"{summary['full_over_incremental'][key]:>13.2f}x")
    print(f"same results: {same}")
    print("slowest stages of the last full run: " + ", ".join(f"{n} {t:.1f} s" for n, t in slowest["full"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


def _compare(incremental: sqlrec.RunResult, full: sqlrec.RunResult) -> dict:
    a, b = incremental.table("recommendations"), full.table("recommendations")
    keys = ["user_id", "item_id", "rank", "source"]
    scores_a = np.array(a.column("score").to_pylist(), dtype=float)
    scores_b = np.array(b.column("score").to_pylist(), dtype=float)
    counts = [pq.read_table(r.run_dir / "_state" / "pair_counts.parquet")
              .sort_by([("item_id", "ascending"), ("other_item_id", "ascending")]) for r in (incremental, full)]
    return {"lists_identical": a.select(keys).equals(b.select(keys)),
            "max_score_difference": float(np.nanmax(np.abs(scores_a - scores_b))) if len(scores_a) else 0.0,
            "pair_counts_identical": counts[0].equals(counts[1])}


if __name__ == "__main__":
    main()
