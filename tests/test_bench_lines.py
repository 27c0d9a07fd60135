"""The benchmark lines of docs/performance.md run as written, on the `smoke` scale instead of 1M, twice instead of
five times.

The documented lines take an hour at 1M; here each runs end to end on bench/run.py's `smoke` world (30,000 events),
with its results written to a temporary folder instead of bench/results. The peers (Recommenders' SAR, implicit,
scikit-learn) are extras of the benchmark: where they are not installed, each peer's row must say so with its error
rather than stop the suite, which is what this test checks in that case.
"""

from __future__ import annotations

import json
import statistics
import re
import shlex
import subprocess
import sys

from conftest import CHECKOUT

PAGE = CHECKOUT / "docs" / "performance.md"


def documented_bench_lines() -> list[list[str]]:
    """argv (after the interpreter) of each `... bench/<script>.py ...` line of the page's first sh block."""
    code = re.search(r"^```sh\n(.*?)^```", PAGE.read_text(), re.S | re.M).group(1)
    lines = [shlex.split(line, comments=True) for line in code.splitlines()]
    return [words[1:] for words in lines if len(words) > 1 and words[1].startswith("bench/")]


def test_the_documented_benchmark_lines_run_on_the_smoke_scale(tmp_path):
    lines = documented_bench_lines()
    assert [argv[0] for argv in lines] == ["bench/run.py", "bench/knobs.py"], lines
    results = {}
    for argv in lines:
        assert argv[argv.index("--scale") + 1] == "1M"
        argv = [{"1M": "smoke", "5": "2"}.get(word, word) for word in argv]  # the scale, and --repeat's count
        done = subprocess.run([sys.executable, *argv, "--data", str(tmp_path / "data"), "--out", str(tmp_path)],
                              cwd=CHECKOUT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-3000:])
        results[argv[0]] = done.stdout
    run = json.loads((tmp_path / "run-smoke.json").read_text())
    assert run["repeat"] == 2 and len(run["runs"]["sqlrec"]) == 2
    assert all("failed" not in r for r in run["runs"]["sqlrec"] + run["runs"]["eval_sqlrec"]), run["runs"]
    for kind, measured in run["runs"].items():  # every peer either measured or failed with its reason, never dropped
        assert len(measured) == 2 and all("seconds" in r or r["failed"] for r in measured), (kind, measured)
    whole = next(row for row in run["work"] if row["work"].startswith("whole pipeline"))
    assert whole["sqlrec_s"] == statistics.median(r["seconds"] for r in run["runs"]["sqlrec"])
    assert (tmp_path / "run-smoke.md").read_text() in results["bench/run.py"]
    # the accuracy beside the timings: sqlrec's models always, each peer's NDCG or its error
    ours = run["accuracy"]["sqlrec"]["ndcg"]
    assert set(ours) >= {"cooccurrence", "svd", "content", "final"} and all(0 < v <= 1 for v in ours.values())
    for kind in ("sar", "implicit_cosine", "implicit_als", "sklearn_content"):
        assert "ndcg" in run["accuracy"][kind] or run["accuracy"][kind]["failed"], run["accuracy"][kind]
    cooccurrence = next(row for row in run["work"] if row["work"].startswith("co-occurrence recommender"))
    assert cooccurrence["ndcg_at_10"]["sqlrec"] == {"cooccurrence": ours["cooccurrence"]}
    knobs = json.loads((tmp_path / "knobs-smoke.json").read_text())
    assert {(k["knob"], k["value"]) for k in knobs} >= {("cooccurrence_neighbours", 0), ("svd_rank", 64)}
    assert all(0 < k["ndcg"][k["model"]] <= 1 for k in knobs), knobs
