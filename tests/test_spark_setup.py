"""Choosing the Spark engine, and what it refuses before any JVM starts: a function with no verified Spark
translation, an object-store URL as an input, a Spark setting that is not a single value, a missing PySpark."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from sqlrec.cli import cli
from sqlrec.config import EngineSpec, load_config
from sqlrec.errors import ConfigError

UNPORTABLE = """
-- grain: one row per user
-- columns:
--   user_id: the user
--   total: the sum of a list
-- inputs: stg_events
SELECT user_id, list_sum([1, 2]) AS total FROM {{ ref('stg_events') }} GROUP BY user_id
"""


def test_a_function_without_a_verified_spark_meaning_fails_to_render_and_to_run(project):
    project.write("sql/publish/totals.sql", UNPORTABLE)
    runner = CliRunner()
    rendered = runner.invoke(cli, ["render", "totals", "-p", str(project.root), "--dialect", "spark"])
    assert rendered.exit_code == 2
    assert "list_sum(), which has no verified spark translation" in rendered.output
    assert "totals.sql" in rendered.output and "Running on Spark" in rendered.output
    on_duckdb = runner.invoke(cli, ["render", "totals", "-p", str(project.root)])
    assert on_duckdb.exit_code == 0 and "list_sum" in on_duckdb.output.lower()
    checked = runner.invoke(cli, ["validate", "-p", str(project.root), "--set", "engine.name=spark"])
    assert checked.exit_code == 2 and "list_sum()" in checked.output
    assert runner.invoke(cli, ["validate", "-p", str(project.root)]).exit_code == 0  # fine on DuckDB
    # the run stops before reading data or starting Spark: nothing is written
    ran = runner.invoke(cli, ["run", "-p", str(project.root), "--engine", "spark", "--no-progress"])
    assert ran.exit_code == 2 and "list_sum()" in ran.output
    assert not project.out.exists()


def test_the_engine_is_chosen_in_the_config_or_on_the_command_line(project):
    project.write("sqlrec.toml", project.config.read_text().replace(
        "[engine]", '[engine]\nname = "spark"\nspark_master = "spark://head:7077"\n'
                    'spark_conf = { "spark.executor.memory" = "8g", "spark.sql.adaptive.enabled" = true }'))
    engine = load_config(project.config).engine
    assert (engine.name, engine.spark_master) == ("spark", "spark://head:7077")
    assert dict(engine.spark_conf) == {"spark.executor.memory": "8g", "spark.sql.adaptive.enabled": "true"}
    assert load_config(project.config, overrides={"engine.name": "duckdb"}).engine.name == "duckdb"


def test_a_spark_setting_must_be_one_value(project):
    project.write("sqlrec.toml", project.config.read_text().replace(
        "[engine]", '[engine]\nspark_conf = { "spark.jars" = ["a.jar"] }'))
    with pytest.raises(ConfigError, match=r"engine.spark_conf.spark.jars` must be a string, number or boolean"):
        load_config(project.config)


def test_an_unknown_engine_is_refused(project):
    with pytest.raises(ConfigError, match="engine.name"):
        load_config(project.config, overrides={"engine.name": "flink"})


def test_an_object_store_url_on_duckdb_names_the_key_and_says_to_run_on_spark_or_mount_it(project):
    result = CliRunner().invoke(cli, ["run", "-p", str(project.root), "--set",
                                      "inputs.events.path=s3a://shop/events/*.parquet"])
    assert result.exit_code == 2
    assert "`inputs.events.path` = 's3a://shop/events/*.parquet' is an object-store or HDFS URL" in result.output
    assert "--engine spark" in result.output and "mount the bucket" in result.output


def test_without_pyspark_a_spark_run_says_what_to_install(monkeypatch):
    from sqlrec.engines.spark import start_session
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"pip install 'sqlrec\[spark\]'"):
        start_session(EngineSpec(name="spark"))
