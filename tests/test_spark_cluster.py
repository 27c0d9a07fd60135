"""A cluster master URL: `sqlrec run --engine spark --spark-master local-cluster[...]` publishes DuckDB's outputs.

Its own module, so that the test runner's workers can take it beside tests/test_spark.py (each runs for minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys

import sqlrec

from conftest import project_on
# test_spark's world fixture (the same generated world) and its comparison; test_spark skips without Java
from test_spark import FEWER_OUTPUTS, KEPT_OUTPUTS, assert_same_outputs, spark_version, world  # noqa: F401


def test_a_cluster_master_url_runs_on_separate_executor_processes(world, tmp_path):
    """local-cluster[1,1,1024] starts an executor JVM beside the driver, as a standalone cluster does: it reads the
    handed-over inputs and writes the stage and output Parquet itself, in another process than the driver's. (One
    executor: the test runner's other worker shares the machine's two cores.)"""
    folder = project_on(world, tmp_path / "p", extra=FEWER_OUTPUTS)
    sqlrec.run(folder, progress=False, overrides={"output.path": str(tmp_path / "duck")})
    master = "local-cluster[1,1,1024]"
    done = subprocess.run([sys.executable, "-m", "sqlrec", "run", "-p", str(folder), "--engine", "spark",
                           "--spark-master", master, "--no-progress", "-q"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((folder / "out" / "current" / "run_manifest.json").read_text())
    assert manifest["engine"] == {"name": "spark", "spark": spark_version(), "master": master}
    stages = {stage["stage"]: stage for stage in manifest["stages"]}
    assert {"int_item_pair_counts_sparse", "int_content_similarity_candidates"} <= set(stages)  # Python stages
    assert assert_same_outputs(tmp_path / "duck", folder / "out") == KEPT_OUTPUTS
