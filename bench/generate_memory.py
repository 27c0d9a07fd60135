"""Peak memory and time of `sqlrec generate` as the event count grows 10x: streaming keeps the peak flat.

Each size runs in a fresh process (peak RSS from getrusage of that child). The comparison point, measured in the
same run, is the Arrow size of the whole events table, which is what any generator that builds the table in
memory before writing it must hold at least.

    python bench/generate_memory.py                 # 2M and 20M events (about 3 minutes on 2 cores)
    python bench/generate_memory.py --events 200000 2000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from pathlib import Path
from sqlrec.datagen import WorldSize, generate
users, items, events, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
started = time.perf_counter()
generate(out, WorldSize(users=users, items=items, events=events, seed=1))
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def measure(events: int, users: int, items: int, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(users), str(items), str(events), str(out)],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb <= before:
        raise RuntimeError("peak RSS of this child did not exceed the previous one; run one size per process")
    import pyarrow.parquet as pq
    table_bytes = pq.read_metadata(out / "events.parquet").num_rows * _row_bytes(out / "events.parquet")
    return {"events": events, "users": users, "items": items, "seconds": round(wall, 1),
            "generate_seconds": round(json.loads(done.stdout)["seconds"], 1), "peak_rss_mb": round(peak_kb / 1024),
            "events_table_in_memory_mb": round(table_bytes / 2**20),
            "events_file_mb": round((out / "events.parquet").stat().st_size / 2**20)}


def _row_bytes(path: Path) -> float:
    import pyarrow.parquet as pq
    sample = pq.ParquetFile(path).read_row_group(0)
    return sample.nbytes / sample.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[2_000_000, 20_000_000])
    args = parser.parse_args()
    rows = []
    for events in sorted(args.events):  # ascending, so each child's peak is a new maximum
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(events, users=max(2_000, events // 20), items=max(300, events // 400),
                                out=Path(folder)))
        print(json.dumps(rows[-1]), flush=True)
    print("\nevents      peak RSS   events table in memory   peak / table   seconds")
    for r in rows:
        print(f"{r['events']:>10,}  {r['peak_rss_mb']:>7} MB  {r['events_table_in_memory_mb']:>15} MB"
              f"          {r['peak_rss_mb'] / r['events_table_in_memory_mb']:>5.2f}x   {r['seconds']:>7}")
    if len(rows) > 1:
        print(f"\n{rows[-1]['events'] / rows[0]['events']:.0f}x the events: peak RSS x"
              f"{rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}, time x{rows[-1]['seconds'] / rows[0]['seconds']:.1f}")


if __name__ == "__main__":
    main()
