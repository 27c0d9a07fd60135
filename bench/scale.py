"""The co-occurrence recommender (or the whole default pipeline) end to end at 20M events on this machine, with
pruning on and DuckDB's memory limited so that its large joins and aggregations spill to disk instead of failing.

    python bench/scale.py [--events 20000000 --users 1000000 --items 50000] [--memory-limit 3GB] [--data DIR]
                          [--neighbours 50] [--max-history 100] [--scoring sparse] [--pipeline cooccurrence|full]

--pipeline full runs every default output (recommendations blended from co-occurrence, content, SVD and
repurchase, similar items, explanations, popular lists, profiles) over the world's events, items and users.

Generates the synthetic world into --data (kept, and reused when it is already there), runs `sqlrec run` in a
child process, and prints each stage's rows and seconds, the whole run's seconds, the child's peak RSS and the
most the spill folder held while it ran (polled every 0.1 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cooccurrence import bench_config, peak_rss_mb, write_project

from sqlrec.datagen import WorldSize, generate


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:  # a spill file removed while we looked
            pass
    return total


def write_full_project(folder: Path, world: Path, knobs: str) -> Path:
    """Every default output, the blend taking co-occurrence, content, SVD and repurchase lists."""
    (folder / "sqlrec.toml").write_text(bench_config(
        {name: world / f"{name}.parquet" for name in ("events", "items", "users")},
        knobs + '\nblend = { cooccurrence = 0.6, content = 0.2, svd = 0.3, repurchase = 0.5 }\n'
                'repurchase_categories = ["coffee", "skincare"]'))
    return folder


def child(project: str) -> None:
    import sqlrec
    started = time.perf_counter()
    result = sqlrec.run(project, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - started, "stages": result.manifest["stages"],
                      "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--neighbours", type=int, default=50)
    parser.add_argument("--max-history", type=int, default=100)
    parser.add_argument("--scoring", choices=["sparse", "sql"], default="sparse")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sqlrec-scale-data")
    parser.add_argument("--pipeline", choices=["cooccurrence", "full"], default="cooccurrence")
    args = parser.parse_args()
    events = args.data / "events.parquet"
    if not events.is_file():
        started = time.perf_counter()
        generate(args.data, WorldSize(users=args.users, items=args.items, events=args.events, seed=1))
        print(f"generated {args.events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        knobs = (f"cooccurrence_neighbours = {args.neighbours}\ncooccurrence_max_history = {args.max_history}\n"
                 f'neighbour_scoring = "{args.scoring}"')
        project = write_project(Path(tmp), events, knobs) if args.pipeline == "cooccurrence" else \
            write_full_project(Path(tmp), args.data, knobs)
        config = project / "sqlrec.toml"
        config.write_text(config.read_text().replace(
            "[engine]\n", f'[engine]\nmemory_limit = "{args.memory_limit}"\ntemp_directory = "spill"\n'))
        spill, most = project / "spill", [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                if spill.exists():
                    most[0] = max(most[0], folder_bytes(spill))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            run = subprocess.run([sys.executable, __file__, "--child", str(project)], capture_output=True, text=True)
        finally:
            done.set()
            watcher.join()
        if run.returncode != 0:
            print(run.stderr[-3000:])
            raise SystemExit(f"the run failed (exit {run.returncode})")
        report = json.loads(run.stdout.strip().splitlines()[-1])
    for stage in report["stages"]:
        print(f"  {stage['stage']:<30} {stage['rows']:>14,} rows {stage['seconds']:>9.1f} s")
    print(json.dumps({"pipeline": args.pipeline, "events": args.events, "users": args.users, "items": args.items,
                      "memory_limit": args.memory_limit, "neighbours": args.neighbours,
                      "max_history": args.max_history, "scoring": args.scoring,
                      "run_s": round(report["seconds"], 1), "peak_rss_mb": report["peak_rss_mb"],
                      "spilled_mb_at_most": round(most[0] / 2**20)}, indent=2))


if __name__ == "__main__":
    main()
