"""The Spark engine publishes the demo's tables and metrics as DuckDB does, from the command line and the API, and a
Python stage past the collect limit fails cleanly. Its own module, so that the test runner's workers can take it
beside tests/test_spark.py (each runs for minutes); it shares test_spark's comparison and its skip without Java.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlrec
from sqlrec.cli import cli
from sqlrec.errors import StageRunError
from sqlrec.scaffold import ensure_demo

from conftest import tree_digest
from test_spark import OPTIONAL_OUTPUTS, _published, assert_same_outputs


# -- the demo, published ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    ensure_demo(folder)
    return folder


def test_the_demo_publishes_the_same_tables_on_both_engines(demo, spark, tmp_path):
    """`sqlrec run --engine spark` on the command line (the module's session is active, so the command uses it
    rather than starting a second JVM) publishes the tables `sqlrec.run` publishes on DuckDB."""
    overrides = {**OPTIONAL_OUTPUTS, "output.path": str(tmp_path / "duck")}
    on_duckdb = sqlrec.run(demo, overrides=overrides, progress=False)
    settings = [item for key, value in OPTIONAL_OUTPUTS.items() for item in ("--set", f"{key}={str(value).lower()}")]
    result = CliRunner().invoke(cli, ["run", "-p", str(demo), "--engine", "spark", "--no-progress", *settings,
                                      "--set", f"output.path={tmp_path / 'spark'}"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "spark" / "current" / "run_manifest.json").read_text())
    assert manifest["engine"]["name"] == "spark" and manifest["engine"]["master"].startswith("local")
    assert on_duckdb.manifest["engine"]["name"] == "duckdb"
    assert manifest["refresh"] == {"incremental": False, "reason": "the Spark engine always rebuilds in full",
                                   "new_files": []}
    tables = assert_same_outputs(tmp_path / "duck", tmp_path / "spark")
    assert {"recommendations", "similar_items", "explanations", "item_factors", "popular_items"} <= set(tables)
    # the snapshot a BI tool opens reads the Spark run's Parquet like DuckDB's
    con = duckdb.connect(str(tmp_path / "spark" / "sqlrec.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM recommendations").fetchone()[0] == \
            on_duckdb.relation("recommendations").count("*").fetchall()[0][0] > 0
    finally:
        con.close()


def test_the_demo_evaluation_gives_the_same_metrics_on_both_engines(demo, spark, tmp_path):
    # two models here: every model's evaluation stages are compared row by row on the generated world
    # (test_every_built_in_sql_stage_gives_the_same_rows_on_spark); this test adds the published evaluation outputs
    models = ["cooccurrence", "popularity"]
    overrides = {"evaluate.models": models, "output.path": str(tmp_path / "duck")}
    sqlrec.evaluate(demo, overrides=overrides, progress=False)
    # the docs' `sqlrec evaluate --engine spark`, on the command line (it uses the module's session)
    result = CliRunner().invoke(cli, ["evaluate", "-p", str(demo), "--engine", "spark", "--no-progress",
                                      "--no-report", "--set", f"evaluate.models={json.dumps(models)}",
                                      "--set", f"output.path={tmp_path / 'spark'}"])
    assert result.exit_code == 0, result.output
    duck, spark_root = tmp_path / "duck" / "evaluation", tmp_path / "spark" / "evaluation"
    assert assert_same_outputs(duck, spark_root) == ["evaluation_lists", "metrics", "metrics_by_slice",
                                                     "metrics_by_user", "split_summary"]
    metrics = pq.read_table(_published(duck)["metrics"])
    assert sorted(set(metrics.column("model").to_pylist())) == models
    assert max(metrics.column("ndcg").to_pylist()) > 0


def test_a_python_stage_past_the_collect_limit_fails_and_keeps_the_last_outputs(demo, spark, tmp_path):
    overrides = {"output.path": str(tmp_path / "out")}
    sqlrec.run(demo, overrides=overrides, progress=False)
    before = tree_digest(tmp_path / "out")
    with pytest.raises(StageRunError, match=r"more than the 100 a Python stage may copy to the Spark driver") as err:
        sqlrec.run(demo, overrides={**overrides, "engine.spark_collect_rows": 100}, progress=False, spark=spark)
    assert "spark_collect_rows" in err.value.hint
    assert tree_digest(tmp_path / "out") == before
    assert not list((tmp_path / "out" / ".staging").iterdir())
    assert not list((demo / ".sqlrec" / "tmp").glob("spark-*"))  # the Spark scratch folder is removed too
