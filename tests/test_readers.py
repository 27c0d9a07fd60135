"""Parquet readers of `current/` while runs publish and prune with keep_runs = 1: a reader that resolved `current`
can finish its read, even one that waits before reading, because a replaced run is pruned only after the grace
period. Real processes: one reader as fast as it can, one that dawdles between resolving and reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from sqlrec.project import Column, Stage, StageHeader
from sqlrec.publish import publish_tables

READS = 5000
PUBLISHES = 30
GRACE = 1.0

TABLES = [Stage(name=name, kind="python", path=Path(__file__), origin="builtin", layer="publish",
                header=StageHeader(unique=("row",), columns=(Column("row"), Column("marker"))))
          for name in ("lists", "similar")]

#: One read: both tables and the run's marker file, checked to name the same publish. argv: output folder, reads to
#: make at least, stop file, seconds to wait between resolving and reading (every 10th read), and how it reads:
#: "resolved" resolves `current` once and reads that run folder (what sqlrec.open_outputs() does); "current" hands
#: DuckDB paths through `current/` (DuckDB looks the path up more than once per query); "snapshot" opens
#: sqlrec.duckdb read-only. bench/readers.py measures all three.
READER = r"""
import json, os, sys, time
from pathlib import Path
import duckdb
out, reads, stop, dawdle, how = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
con = duckdb.connect()
done, errors, mixed, seen = 0, [], 0, set()
QUERY = "SELECT min(marker), max(marker), count(*) FROM {}"
while done < reads or not stop.exists():
    try:
        if how == "snapshot":
            with duckdb.connect(str(out / "sqlrec.duckdb"), read_only=True) as snapshot:
                if dawdle and done % 10 == 0:
                    time.sleep(dawdle)
                marker = int(snapshot.execute("SELECT vars->>'marker' FROM run_manifest").fetchone()[0])
                results = [snapshot.execute(QUERY.format(f'"{t}"')).fetchone() for t in ("lists", "similar")]
        else:
            run_dir = Path(os.path.realpath(out / "current")) if how == "resolved" else out / "current"
            if dawdle and done % 10 == 0:
                time.sleep(dawdle)  # a publish (and its pruning) may come meanwhile
            marker = int((run_dir / "marker.txt").read_text())
            results = [con.execute(QUERY.format("read_parquet($p)"), {"p": str(run_dir / t / "data.parquet")})
                       .fetchone() for t in ("lists", "similar")]
        markers = {m for low, high, rows in results for m in (low, high)}
        rows = {rows for low, high, rows in results}
        mixed += markers != {marker} or rows != {1000 + marker % 7 * 500}
        seen.add(marker)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    done += 1
print(json.dumps({"reads": done, "errors": len(errors), "first_errors": errors[:3], "mixed": mixed,
                  "runs_seen": len(seen)}))
"""


def _publish(root: Path, marker: int) -> None:
    rows = 1000 + marker % 7 * 500  # files of different sizes, so a read mixing two runs cannot pass unnoticed
    table = pa.table({"row": pa.array(range(rows)), "marker": pa.array([marker] * rows)})
    publish_tables(root, 1, [(stage, table) for stage in TABLES],
                   {"project": "readers", "started_at": "2026-01-01T00:00:00+00:00", "config_hash": "",
                    "versions": {}, "vars": {"marker": marker}},
                   files={"marker.txt": str(marker)}, grace_seconds=GRACE)


def test_readers_of_current_finish_every_read_while_runs_publish_and_prune(tmp_path):
    root, stop = tmp_path / "out", tmp_path / "stop"
    _publish(root, 0)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(root), str(reads), str(stop), str(dawdle),
                                 "resolved"], stdout=subprocess.PIPE, text=True)
               for reads, dawdle in ((READS, 0.0), (100, 0.5))]
    publishes, most_runs_kept = 0, 0
    try:
        while publishes < PUBLISHES or any(r.poll() is None for r in readers):
            publishes += 1
            _publish(root, publishes)
            most_runs_kept = max(most_runs_kept, len(list((root / "runs").iterdir())))
            if publishes >= PUBLISHES:
                stop.touch()
            if publishes > 2000:
                break
    finally:
        stop.touch()
        reports = [json.loads(r.communicate(timeout=300)[0]) for r in readers]
    runs_left = len(list((root / "runs").iterdir()))
    print(f"\nreaders: {reports}; {publishes} publishes, at most {most_runs_kept} runs kept, {runs_left} at the end")
    assert sum(r["reads"] for r in reports) >= READS and publishes >= PUBLISHES
    assert [(r["errors"], r["mixed"]) for r in reports] == [(0, 0), (0, 0)], reports
    assert all(r["runs_seen"] >= 2 for r in reports)
    # pruning did happen meanwhile: far fewer runs than publishes were ever on disk
    assert most_runs_kept < publishes / 2
