"""The benchmark block of docs/performance.md runs as written: the line that installs the peers into their own venv,
then the two `bench/` lines with that venv's interpreter, on the `smoke` scale instead of 1M and twice instead of
five times.

The documented lines take an hour at 1M; here each runs end to end on bench/run.py's `smoke` world (30,000 events),
with its results written to a temporary folder instead of bench/results. The peers (Recommenders' SAR, implicit,
scikit-learn) are installed from the registry as the line says (about 80 s with pip's cache warm), so every peer is
really measured: none may fail. Where a peer is missing from the interpreter that runs the suite, its row says so
with its error rather than stop the benchmark, which the last test checks.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CHECKOUT

PAGE = CHECKOUT / "docs" / "performance.md"
PEERS = ("sar", "implicit_cosine", "implicit_als", "sklearn_content")


def documented_code() -> str:
    """The page's first sh block."""
    return re.search(r"^```sh\n(.*?)^```", PAGE.read_text(), re.S | re.M).group(1)


def documented_bench_lines() -> list[list[str]]:
    """Each `<interpreter> bench/<script>.py ...` line of the block."""
    lines = [shlex.split(line, comments=True) for line in documented_code().splitlines()]
    return [words for words in lines if len(words) > 1 and words[1].startswith("bench/")]


@pytest.fixture(scope="module")
def peer_venv(tmp_path_factory) -> Path:
    """The block's install line as written, with its venv in a temporary folder instead of /tmp/peer."""
    line = next(line for line in documented_code().splitlines() if "pip install" in line)
    assert re.search(r"recommenders==\S+ implicit scikit-learn$", line) and line.count("/tmp/peer") == 2, line
    venv = tmp_path_factory.mktemp("bench") / "peer"
    line = line.replace("/tmp/peer", shlex.quote(str(venv)))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python`: the suite's own
    done = subprocess.run(["bash", "-c", line], cwd=CHECKOUT, capture_output=True, text=True, timeout=1200,
                          env=env)
    assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-3000:])
    return venv


def test_the_documented_install_and_benchmark_lines_run_and_measure_every_peer(peer_venv, tmp_path):
    lines = documented_bench_lines()
    assert [argv[1] for argv in lines] == ["bench/run.py", "bench/knobs.py"], lines
    results = {}
    for argv in lines:
        assert argv[0] == "/tmp/peer/bin/python" and argv[argv.index("--scale") + 1] == "1M", argv
        argv = [{"1M": "smoke", "5": "2", "/tmp/peer/bin/python": f"{peer_venv}/bin/python"}.get(word, word)
                for word in argv]  # the venv, the scale, and --repeat's count
        done = subprocess.run([*argv, "--data", str(tmp_path / "data"), "--out", str(tmp_path)],
                              cwd=CHECKOUT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-3000:])
        results[argv[1]] = done.stdout
    run = json.loads((tmp_path / "run-smoke.json").read_text())
    assert run["repeat"] == 2 and set(run["runs"]) >= {"sqlrec", "eval_sqlrec", *PEERS}
    for kind, measured in run["runs"].items():  # every measurement ran, the peers' included
        assert len(measured) == 2 and all("failed" not in r and r["seconds"] > 0 for r in measured), (kind, measured)
    whole = next(row for row in run["work"] if row["work"].startswith("whole pipeline"))
    assert whole["sqlrec_s"] == statistics.median(r["seconds"] for r in run["runs"]["sqlrec"])
    assert whole["peers_s"] == {"sar": statistics.median(r["seconds"] for r in run["runs"]["sar"])}
    assert (tmp_path / "run-smoke.md").read_text() in results["bench/run.py"]
    # the accuracy beside the timings: sqlrec's models and each peer's NDCG on the same split
    ours = run["accuracy"]["sqlrec"]["ndcg"]
    assert set(ours) >= {"cooccurrence", "svd", "content", "final"} and all(0 < v <= 1 for v in ours.values())
    for kind in PEERS:
        ndcg = run["accuracy"][kind].get("ndcg", {})
        assert ndcg and all(0 < v <= 1 for v in ndcg.values()), run["accuracy"][kind]
    cooccurrence = next(row for row in run["work"] if row["work"].startswith("co-occurrence recommender"))
    assert cooccurrence["ndcg_at_10"]["sqlrec"] == {"cooccurrence": ours["cooccurrence"]}
    assert set(cooccurrence["ndcg_at_10"]["peers"]) == {"implicit_cosine", "sar"}, cooccurrence
    knobs = json.loads((tmp_path / "knobs-smoke.json").read_text())
    assert {(k["knob"], k["value"]) for k in knobs} >= {("cooccurrence_neighbours", 0), ("svd_rank", 64)}
    assert all(0 < k["ndcg"][k["model"]] <= 1 for k in knobs), knobs


def test_a_peer_that_is_not_installed_is_reported_with_its_error(tmp_path):
    # Recommenders missing whatever this environment holds: a package of that name that fails to import first
    shadow = tmp_path / "shadow" / "recommenders"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'recommenders'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shadow.parent),
                                                                      os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "bench/run.py", "--scale", "smoke", "--repeat", "1", "--only", "sar",
                           "--data", str(tmp_path / "data"), "--out", str(tmp_path)],
                          cwd=CHECKOUT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((tmp_path / "run-smoke.json").read_text())
    assert "No module named 'recommenders'" in run["runs"]["sar"][0]["failed"], run["runs"]["sar"]
    assert "No module named 'recommenders'" in run["accuracy"]["sar"]["failed"], run["accuracy"]
    assert "failed" in done.stdout and "recommenders" in done.stdout
