"""Rendered SQL is parsed and linted before it runs; `render --dialect spark` transpiles it."""

from __future__ import annotations

import pytest
import sqlglot

import sqlrec
from sqlrec.errors import TemplateError


@pytest.mark.parametrize("body, message", [
    ("SELECT * FROM read_parquet('/etc/passwd')", "table function read_parquet() is not allowed"),
    ("SELECT getenv('HOME') AS h", "function getenv() is not allowed"),
    ("SELECT * FROM other_db.events", "qualified table `other_db.events` is not allowed"),
    ("SELECT * FROM events", "reads `events`, which is neither a CTE, a stage nor an input"),
    ("SELECT 1 AS a; SELECT 2 AS a", "expected one SELECT statement, found 2"),
    ("DELETE FROM {{ ref('stg_events') }}", "a stage must be a SELECT, found DELETE"),
    ("CREATE TABLE x AS SELECT 1 AS a", "a stage must be a SELECT, found CREATE"),
])
def test_lint_refuses_what_a_stage_may_not_do(project, body, message):
    project.write("sql/publish/out.sql", body + "\n")
    with pytest.raises(TemplateError) as info:
        sqlrec.validate(project.root)
    assert message in str(info.value) and "stage out" in str(info.value)


def test_ctes_stages_inputs_and_unnest_are_allowed(project):
    project.write("sql/publish/out.sql", """
        -- columns: item_id, tag
        WITH top AS (SELECT item_id FROM {{ ref('int_item_popularity') }} ORDER BY score DESC, item_id LIMIT 2)
        SELECT t.item_id, tag
        FROM top AS t, unnest(['a', 'b']) AS u(tag)
        WHERE t.item_id IN (SELECT item_id FROM {{ source('events') }})
    """)
    result = sqlrec.run(project.root, progress=False)
    assert sorted((r["item_id"], r["tag"]) for r in result.table("out").to_pylist()) == [
        (10, "a"), (10, "b"), (12, "a"), (12, "b")]


def test_render_pretty_prints_and_transpiles_to_spark(project):
    duck = sqlrec.render("rec_popularity", project.root)
    spark = sqlrec.render("rec_popularity", project.root, dialect="spark")
    assert sqlglot.parse_one(duck, read="duckdb") is not None
    tree = sqlglot.parse_one(spark, read="spark")
    assert "`stg_events`" in spark and '"stg_events"' not in spark
    assert {t.name for t in tree.find_all(sqlglot.exp.Table)} >= {"stg_events", "int_item_popularity"}


def test_render_of_every_builtin_stage_parses_in_both_dialects(project):
    for row in sqlrec.list_stages(project.root):
        if row["kind"] != "sql":
            continue
        for dialect in ("duckdb", "spark"):
            sql = sqlrec.render(row["stage"], project.root, dialect=dialect)
            assert len(sqlglot.parse(sql, read=dialect)) == 1


def test_validate_reports_input_columns(project):
    result = sqlrec.validate(project.root)
    assert result.input_columns["events"][:4] == ["user_id", "item_id", "event_type", "ts"]
    assert "recommendations" in result.plan.published


def test_render_unknown_stage_suggests(project):
    with pytest.raises(sqlrec.SqlrecError, match="no stage named `rec_popular` \\(did you mean `rec_popularity`"):
        sqlrec.render("rec_popular", project.root)
