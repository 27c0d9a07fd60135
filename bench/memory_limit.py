"""What `[engine] memory_limit` bounds: peak RSS of a whole `sqlrec run` at several limits, on a 1M-event project.

The project is bench/scale.py's full one (every default output; the blend takes co-occurrence, content, SVD and
repurchase lists) on a generated world of 1M events, 50k users, 5k items. Each limit runs in a fresh process; the
peak is that process's VmHWM. After every stage the child notes its peak so far, so the stage that raised it is
named. The peer, measured in the same run: the same project with no limit (DuckDB's default, 80% of RAM).

    python bench/memory_limit.py [--limits 150MB 1GB 4GB] [--out bench/results/memory_limit.json]
    (also rewrites the table in docs/readers.md)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_figures import save_figures  # noqa: E402
from run import KNOBS, world_for  # noqa: E402
from scale import write_full_project  # noqa: E402

CHECKOUT = Path(__file__).resolve().parent.parent
DOC = CHECKOUT / "docs" / "readers.md"


def limit_mb(limit: str) -> float | None:
    number, unit = limit[:-2], limit[-2:].upper()
    return float(number) * {"MB": 1, "GB": 1024}[unit] if number.replace(".", "").isdigit() and unit in ("MB", "GB") \
        else None


def render(rows: list[dict]) -> str:
    """The docs/readers.md table of these measurements (tests/test_docs.py checks the page against the results)."""
    lines = ["| `memory_limit` | peak RSS | peak / limit | seconds | outcome |", "|---|---:|---:|---:|---|"]
    for r in rows:
        if r["limit"] == "baseline":
            continue
        bound = limit_mb(r["limit"])
        ratio = f"{r['peak_rss_mb'] / bound:.2f}" if bound else ""
        stage = r["error"].split("stage ", 1)[1].split(" ", 1)[0] if r["error"] and "stage " in r["error"] else ""
        outcome = "published" if not r["error"] else \
            f"exit 4, DuckDB out of memory in {stage}" if "Out of Memory" in r["error"] else f"failed: {r['error']}"
        lines.append(f"| {r['limit']} | {r['peak_rss_mb']:,} MB | {ratio} | {r['seconds']} | {outcome} |")
    baseline = next(r["peak_rss_mb"] for r in rows if r["limit"] == "baseline")
    lines.append(f"| (imports only, no data) | {baseline:,} MB | | | |")
    return "\n".join(lines)

CHILD = r"""
import json, sys, time
import sqlrec
def peak():
    with open("/proc/self/status") as status:
        return next(round(int(l.split()[1]) / 1024) for l in status if l.startswith("VmHWM:"))
rises, last = [], peak()
def note(message):
    global last
    now = peak()
    if now > last + 20 and ":" in message:
        rises.append((message.split(":")[0], now))
    last = max(last, now)
started = time.perf_counter()
try:
    sqlrec.run(sys.argv[1], progress=False, report=note)
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {str(exc)[:200]}"
print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak(), "rises": rises,
                  "error": error}))
"""


BASELINE = r"""
import sqlrec, sqlrec.pipeline, duckdb, numpy, scipy.sparse, pyarrow.parquet
with open("/proc/self/status") as status:
    print(next(round(int(l.split()[1]) / 1024) for l in status if l.startswith("VmHWM:")))
"""


def baseline_mb() -> int:
    """The process before any data: Python, sqlrec, DuckDB, NumPy, SciPy and Arrow imported."""
    return int(subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True).stdout)


def measure(world: Path, limit: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = write_full_project(Path(tmp), world, KNOBS)
        if limit:
            config = project / "sqlrec.toml"
            config.write_text(config.read_text().replace("[engine]\n", f'[engine]\nmemory_limit = "{limit}"\n'))
        done = subprocess.run([sys.executable, "-c", CHILD, str(project)], capture_output=True, text=True)
        if done.returncode != 0:
            return {"limit": limit, "error": done.stderr.strip().splitlines()[-1]}
        row = {"limit": limit or "none (80% of RAM)", **json.loads(done.stdout.strip().splitlines()[-1])}
        if row["error"]:  # paths relative to the checkout, so the saved results name no machine's folders
            row["error"] = row["error"].replace(f"{CHECKOUT}/", "")
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", nargs="+", default=["150MB", "1GB", "4GB"])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sqlrec-bench-data")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_limit.json")
    args = parser.parse_args()
    world = world_for("1M", args.data)
    rows = [measure(world, limit) for limit in [*args.limits, None]]
    rows.append({"limit": "baseline", "peak_rss_mb": baseline_mb()})
    print(f"{'memory_limit':<18} {'peak RSS':>9} {'over the limit':>15} {'seconds':>8}  largest rises (stage: MB)")
    for row in rows:
        if row["limit"] == "baseline":
            print(f"{'(imports only)':<18} {row['peak_rss_mb']:>6} MB: Python, sqlrec, DuckDB, NumPy, SciPy, Arrow")
            continue
        if row.get("error") and "peak_rss_mb" not in row:
            print(f"{row['limit']:<18} failed: {row['error']}")
            continue
        bound = limit_mb(row["limit"])
        over = f"{row['peak_rss_mb'] / bound:.2f}x" if bound else ""
        rises = ", ".join(f"{s}: {mb}" for s, mb in sorted(row["rises"], key=lambda r: -r[1])[:3])
        status = f"  FAILED: {row['error']}" if row["error"] else ""
        print(f"{row['limit']:<18} {row['peak_rss_mb']:>6} MB {over:>15} {row['seconds']:>8}  {rises}{status}")
    save_figures(rows, args.out, DOC, "memory-limit", render(rows))


if __name__ == "__main__":
    main()
