"""The Spark engine gives DuckDB's results: every built-in SQL stage, the experiment assignment, and each function
the Spark dialect lets through. (The demo's published tables and metrics: tests/test_spark_demo.py.)

Runs PySpark in local mode in this process (one JVM for the module). Needs a Java 17+ runtime; without one the
module is skipped with that reason, except in CI, where it fails.
"""

from __future__ import annotations

import math
from decimal import Decimal
import os
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlglot

from sqlrec.config import load_config
from sqlglot.errors import ErrorLevel
from sqlrec.dialects import VERIFIED_SPARK_FUNCTIONS, SqlrecSpark, check_portable
from sqlrec.sql_lint import to_dialect
from sqlrec.errors import TemplateError
from sqlrec.input_checks import prepare_inputs
from sqlrec.inputs import resolve
from sqlrec.pipeline import open_engine, run_stage, stage_sql, start_spark
from sqlrec.plan import build_plan
from sqlrec.project import load_project
from sqlrec.resources import builtin_dir

from conftest import generated_world, project_on

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    if os.environ.get("CI"):
        raise RuntimeError("CI has no Java runtime: .ci/run installs one for the Spark tests")
    pytest.skip("no Java runtime: the Spark engine needs Java 17+", allow_module_level=True)

TOLERANCE = 1e-9
EVERY_MODEL = ["popularity", "cooccurrence", "content", "ease", "svd", "repurchase", "segment_popularity",
               "session", "cross_sell"]
OPTIONAL_OUTPUTS = {"stages.item_factors.enabled": True, "stages.user_factors.enabled": True,
                    "stages.item_weights.enabled": True}
EVERY_SOURCE = {"vars.blend": {"cooccurrence": 0.6, "content": 0.2, "ease": 0.4, "svd": 0.3, "repurchase": 0.5,
                               "session": 0.2, "segment_popularity": 0.1},
                "vars.cross_sell_segments": ["new"], "vars.repurchase_categories": ["coffee", "skincare"]}

#: Outputs a test leaves out when it is about where Spark reads and writes (file URLs, executor processes), not
#: about the lists: item_catalog, popular_items and similar_items stay, the last through Python stages whose
#: results the driver hands back to Spark as Parquet. The lists' stages are compared on Spark by
#: test_every_built_in_sql_stage_gives_the_same_rows_on_spark and tests/test_spark_demo.py.
OUTPUTS_LEFT_OUT = ("recommendations", "explanations", "popular_by_group", "user_profiles")
FEWER_OUTPUTS = "".join(f"[stages.{name}]\nenabled = false\n" for name in OUTPUTS_LEFT_OUT)
KEPT_OUTPUTS = ["item_catalog", "popular_items", "similar_items"]

# -- comparing tables --------------------------------------------------------------------------------------------

def _is_float(value) -> bool:
    return isinstance(value, float)


def _same_value(a, b) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):  # a literal's DECIMAL on one engine, DOUBLE on the other
        a, b = float(a), float(b)
    if _is_float(a) and _is_float(b):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOLERANCE * max(1.0, abs(a))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return a == b


def _sort_key(row: dict) -> tuple:
    # floats rounded, so that rows whose scores differ in the last bits still pair up
    return tuple((0, "") if v is None else (1, round(v, 6) if _is_float(v) else str(v)) for v in row.values())


def assert_same_rows(duck: pa.Table, spark: pa.Table, where: str) -> None:
    assert duck.column_names == spark.column_names, f"{where}: columns {duck.column_names} vs {spark.column_names}"
    assert duck.num_rows == spark.num_rows, f"{where}: {duck.num_rows} rows on DuckDB, {spark.num_rows} on Spark"
    if _equal_when_sorted(duck, spark):
        return
    left = sorted(duck.to_pylist(), key=_sort_key)
    right = sorted(spark.to_pylist(), key=_sort_key)
    for a, b in zip(left, right):
        for column in duck.column_names:
            assert _same_value(a[column], b[column]), f"{where}.{column}: DuckDB {a} vs Spark {b}"


def _equal_when_sorted(duck: pa.Table, spark: pa.Table) -> bool:
    """The same rows, compared as in assert_same_rows but column at a time in Arrow: both tables sorted by every
    column, floats within TOLERANCE. False where that cannot tell (nested or decimal columns, different types, or
    floats whose last bits reorder the rows): assert_same_rows then pairs the rows one by one (seconds per 10,000)."""
    kinds = duck.schema.types
    if kinds != spark.schema.types or any(pa.types.is_nested(t) or pa.types.is_decimal(t) for t in kinds):
        return False
    order = [(name, "ascending") for name in duck.column_names]
    duck = duck.take(pc.sort_indices(duck, sort_keys=order))
    spark = spark.take(pc.sort_indices(spark, sort_keys=order))
    for name, kind in zip(duck.column_names, duck.schema.types):
        a, b = duck.column(name), spark.column(name)
        if not pa.types.is_floating(kind):
            if not a.equals(b):
                return False
            continue
        if not pc.is_null(a).equals(pc.is_null(b)):
            return False
        x, y = (numpy.asarray(c.to_numpy(zero_copy_only=False), dtype=float) for c in (a, b))
        nan_x, nan_y = numpy.isnan(x), numpy.isnan(y)  # nulls are NaN here, and null on both sides (checked above)
        close = numpy.abs(x - y) <= TOLERANCE * numpy.maximum(1.0, numpy.abs(x))
        if not numpy.array_equal(nan_x, nan_y) or not numpy.all(close | nan_x):
            return False
    return True


def _published(folder: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((folder / "current").glob("*/data.parquet"))}


def _parquet_types(path: Path) -> list[tuple[str, str]]:
    """Column names and types as DuckDB reads them: what the output contract and BI tools see."""
    return [(c, t) for c, t, *_ in duckdb.connect().execute("DESCRIBE SELECT * FROM read_parquet($p)",
                                                            {"p": str(path)}).fetchall()]


def assert_same_outputs(duck_root: Path, spark_root: Path) -> list[str]:
    duck, spark = _published(duck_root), _published(spark_root)
    assert duck and sorted(duck) == sorted(spark)
    for table, path in duck.items():
        assert _parquet_types(path) == _parquet_types(spark[table]), table
        assert_same_rows(pq.read_table(path), pq.read_table(spark[table]), table)
    return sorted(duck)


# -- every built-in SQL stage ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generated_world(tmp_path_factory, users=400, items=120, events=8_000, seed=11)


def _stage_tables(config, mode: str, spark, targets=None) -> dict[str, tuple[pa.Table, pa.Table]]:
    """The checked inputs (src_<name>) and every stage of the plan, each engine reading and checking the input files
    itself: name -> both results."""
    plan = build_plan(load_project(config), mode=mode, targets=targets)
    inputs = resolve(config)
    duck = open_engine(config, inputs, False)
    on_spark = start_spark(config, spark)
    spark_sql = stage_sql(plan, "spark")
    both = {}
    try:
        assert prepare_inputs(duck, inputs, config) == prepare_inputs(on_spark, inputs, config)
        for resolved in inputs.values():
            both[resolved.relation] = (duck.arrow(resolved.relation), on_spark.arrow(resolved.relation))
        for planned in plan.stages:
            run_stage(duck, planned, config)
            run_stage(on_spark, planned, config, spark_sql.get(planned.stage.name))
            name = planned.stage.name
            both[name] = (duck.arrow(name), on_spark.arrow(name))
    finally:
        duck.close()
        on_spark.close()
    return both


def spark_version() -> str:
    import pyspark
    return pyspark.__version__


def test_every_built_in_sql_stage_gives_the_same_rows_on_spark(world, spark, tmp_path):
    extra = ('[evaluate]\nmodels = ' + str(EVERY_MODEL).replace("'", '"') + '\n'
             '[experiments.ab]\ncontrol = "A"\nsalt = "s"\nholdout = 0.1\n'
             '[experiments.ab.variants.A]\nvars = {}\n[experiments.ab.variants.B]\nvars = {}\n')
    folder = project_on(world, tmp_path / "p", extra=extra)
    base = load_config(folder / "sqlrec.toml", overrides={**OPTIONAL_OUTPUTS, **EVERY_SOURCE})
    compared: dict[str, int] = {}
    # evaluate mode runs the models' stages over the training split with the same SQL as a run (compared above),
    # so two models are enough to compare the evaluation's own stages
    evaluation = load_config(folder / "sqlrec.toml", overrides={**OPTIONAL_OUTPUTS, **EVERY_SOURCE,
                                                                "evaluate.models": ["popularity", "cooccurrence"]})
    # the stages no run publishes, and the SQL paths of stages a run computes in Python by default, in one pass
    # (each pass prepares the inputs and their first stages again on both engines)
    all_sql = load_config(folder / "sqlrec.toml", overrides={"vars.content_similarity": "sql",
                                                             "vars.cooccurrence_counting": "sql",
                                                             "vars.neighbour_scoring": "sql"})
    rest = replace(all_sql, experiment=all_sql.experiments["ab"])
    for config, mode, targets in ((base, "run", None), (evaluation, "evaluate", None),
                                  (rest, "run", ("eval_holdout", "int_item_cooccurrence", "experiment_assignments",
                                                 "int_item_content_similarity", "int_item_pair_counts",
                                                 "rec_session"))):
        for name, (on_duckdb, on_spark) in _stage_tables(config, mode, spark, targets).items():
            assert_same_rows(on_duckdb, on_spark, f"{mode}: {name}")
            compared[name] = max(compared.get(name, 0), on_duckdb.num_rows)
    built_in = {p.stem for p in builtin_dir("sql").rglob("*.sql")}
    assert built_in - set(compared) == set(), "built-in SQL stages not compared on Spark"
    empty = sorted(n for n in built_in if compared[n] == 0)
    assert not empty, f"stages compared on no rows: {empty}"


# -- the functions the Spark dialect lets through -------------------------------------------------------------

ROWS = """SELECT * FROM (VALUES
    (1, 2.5, 3, 'Red Mug', TIMESTAMPTZ '2026-03-01 10:00:00.250+00', [0.5, 2.0, -1.0], true),
    (2, -0.75, 10, 'blue  bowl', TIMESTAMPTZ '2026-03-02 23:59:59+00', [1.5, 0.25], false),
    (3, 1e-3, 7, 'Tea pot', TIMESTAMPTZ '2025-12-31 00:00:00+00', [3.0], true),
    (4, NULL, NULL, NULL, NULL, NULL, NULL)) AS t(id, x, n, s, ts, l, b)"""
#: Each verified function (VERIFIED_SPARK_FUNCTIONS) -> DuckDB expressions using it: per row of ROWS, or (when
#: they aggregate) over all of them.
PER_ROW = {
    "Abs": ["abs(x)"], "And": ["b AND x > 0"], "ArrayMin": ["list_min(l)"], "ArraySize": ["array_length(l)"],
    "ArraySlice": ["array_slice(l, 1, 1)", "array_slice(l, 2, array_length(l))", "array_slice(l, 1, 5)"],
    "Case": ["CASE WHEN x > 1 THEN 'big' WHEN x > 0 THEN 'small' ELSE 'other' END"],
    "Cast": ["CAST(n AS DOUBLE)", "CAST(floor(x * 10) AS BIGINT)", "CAST(n AS VARCHAR)", "CAST(ts AS DATE)"],
    "Ceil": ["ceil(x)"], "Coalesce": ["coalesce(x, 0.0)"], "ConcatWs": ["concat_ws(':', CAST(n AS VARCHAR), s)"],
    "Exp": ["exp(x)"], "Floor": ["floor(x)"], "Greatest": ["greatest(x, 0.1)"], "If": ["if(b, 'yes', 'no')"],
    "Least": ["least(x, 1.0)"], "Length": ["length(s)"], "Ln": ["ln(abs(x) + 1)"], "Log": ["log(n)", "log2(n)"],
    "Lower": ["lower(s)"], "MD5": ["md5(s)", "CAST(('0x' || substr(md5(s), 1, 8)) AS BIGINT)"],
    "Nullif": ["nullif(n, 3)"], "Or": ["b OR x < 0"], "Pow": ["pow(0.5, n)"],
    "RegexpSplit": ["string_split_regex(lower(s), '[^a-z]+')"], "Round": ["round(x, 2)", "round(x)"],
    "RowNumber": ["row_number() OVER (ORDER BY x DESC NULLS LAST, id)"], "Sqrt": ["sqrt(abs(x))"],
    "Substring": ["substr(s, 2, 3)"], "TimeToUnix": ["epoch(ts)"], "ToDays": ["ts - to_days(n)"],
    "Upper": ["upper(s)"], "list_dot_product": ["list_dot_product(l, l)"], "round_even": ["round_even(x * 2, 0)"],
    "to_hours": ["ts + to_hours(n)"], "to_minutes": ["ts - to_minutes(n)"], "to_seconds": ["ts + to_seconds(n)"],
    "Div": ["1.0 / n", "n / 4"], "IntDiv": ["n // 4"],
    "DateDiff": ["date_diff('day', TIMESTAMPTZ '2026-03-01 23:30:00+00', ts)", "date_diff('day', ts, ts + to_hours(n))"],
}
AGGREGATE = {
    "AnyValue": ["any_value(s) FILTER (WHERE id = 2)"], "ArgMax": ["max_by(s, x)", "max_by(s, x, 2)"],
    "Avg": ["avg(x)"], "Count": ["count(x)", "count(*)", "count(DISTINCT b)"], "LogicalAnd": ["bool_and(b)"],
    "LogicalOr": ["bool_or(x > 2)"], "Max": ["max(x)", "max(x, 2)"], "Min": ["min(s)"], "Sum": ["sum(n)"],
}
TABLE_FORMS = {  # functions of FROM or of the query's shape
    "Exists": "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.n > t.n) ORDER BY id",
    "Unnest": "SELECT t.id, e.v FROM t, unnest(t.l) AS e(v) ORDER BY t.id, e.v",
    "Explode": "SELECT id, unnest(l) AS v FROM t ORDER BY id, v",
}


def test_every_verified_function_has_a_check_and_nothing_else_is_let_through():
    checked = set(PER_ROW) | set(AGGREGATE) | set(TABLE_FORMS)
    assert VERIFIED_SPARK_FUNCTIONS <= checked, VERIFIED_SPARK_FUNCTIONS - checked
    tree = sqlglot.parse_one("SELECT list_sum(l), hash(s) FROM t", read="duckdb")
    with pytest.raises(TemplateError, match=r"list_sum\(\), which has no verified spark translation"):
        check_portable(tree, "stage x (x.sql)")
    with pytest.raises(TemplateError, match=r"date_diff\('hour', \.\.\.\) has no verified Spark translation"):
        to_dialect(sqlglot.parse_one("SELECT date_diff('hour', a, b) FROM t", read="duckdb"), "spark", "x")


def _queries() -> list[tuple[str, str]]:
    queries = [(name, f"SELECT id, {e} AS v FROM t ORDER BY id") for name, exprs in PER_ROW.items() for e in exprs]
    queries += [(name, f"SELECT {e} AS v FROM t") for name, exprs in AGGREGATE.items() for e in exprs]
    return queries + list(TABLE_FORMS.items())


def test_each_verified_function_gives_duckdb_s_result_on_spark(spark, tmp_path):
    data = tmp_path / "t.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY ({ROWS}) TO '{data}' (FORMAT parquet)")
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{data}')")
    spark.read.parquet(str(data)).createOrReplaceTempView("t")
    for name, query in _queries():
        tree = sqlglot.parse_one(query, read="duckdb")
        check_portable(tree, name)
        expected = con.sql(query).to_arrow_table()
        got = spark.sql(tree.sql(SqlrecSpark, unsupported_level=ErrorLevel.RAISE)).toArrow()
        assert_same_rows(expected.rename_columns(got.column_names), got, f"{name}: {query}")


def test_pruned_factor_scoring_gives_numpy_s_lists_on_spark(spark):
    """The SQL factor scoring (head, norm blocks, lead bound, users scored against the whole tail), run on Spark."""
    from test_scoring import _factor_problem, _factor_tables, _lists_of, _numpy_lists, _render_factor_recommendations
    from sqlrec.sql_lint import to_dialect
    u, v, x = _factor_problem(8)
    schemas = {"uf": "user_ix INT, factors ARRAY<DOUBLE>", "itf": "item_ix INT, factors ARRAY<DOUBLE>",
               "seen": "user_ix INT, item_ix INT", "users_": "user_ix INT, user_id BIGINT",
               "items_": "item_ix INT, item_id BIGINT"}
    for name, table in _factor_tables(u, v, x).items():
        spark.createDataFrame([tuple(r.values()) for r in table.to_pylist()], schemas[name]) \
            .createOrReplaceTempView(name)
    sql = to_dialect(sqlglot.parse_one(_render_factor_recommendations(5, 40, 3), read="duckdb"), "spark", "svd")
    rows = [tuple(r) for r in spark.sql(sql).collect()]
    expected = {user: items for user, items in _numpy_lists(u, v, x, 5).items() if items}
    assert _lists_of(rows) == expected


# -- experiment assignment ---------------------------------------------------------------------------------------

def test_spark_assigns_3000_users_as_python_duckdb_and_the_reference_do(spark):
    from test_experiments import _reference_arm, _run_assignment_sql, _sql_arms, _spec
    from sqlrec.experiments.assignment import assign
    from sqlrec.plan import render_one
    from sqlrec.project import load_project
    from sqlrec.sql_lint import parse_stage, to_dialect
    spec = _spec([("A", 1), ("B", 2), ("C", 1)])
    users = list(range(1, 3001))
    sql = _run_assignment_sql(render_one, load_project, spec, users, dialect="spark")
    tree = parse_stage(sql, "experiment_assignments", "x.sql", {"int_experiment_users", "stg_events"})
    spark.createDataFrame([(u,) for u in users], "user_id BIGINT").createOrReplaceTempView("int_experiment_users")
    spark.sql("SELECT user_id FROM int_experiment_users").createOrReplaceTempView("stg_events")
    rows = spark.sql(f"SELECT user_id, arm, bucket, shown FROM ({to_dialect(tree, 'spark', 'assignment')}) AS a") \
        .collect()
    in_spark = {r.user_id: (r.arm, r.bucket, r.shown) for r in rows}
    in_duckdb = _sql_arms(spec, users)
    assert len(in_spark) == len(users)
    for user in users:
        python = assign(user, spec)
        assert in_spark[user] == in_duckdb[user], user
        assert in_spark[user][0] == python.arm == _reference_arm(user, spec), user
        assert in_spark[user][1] == python.bucket
    assert {arm for arm, _, _ in in_spark.values()} == {"holdout", "A", "B", "C"}


def test_the_md5_bucket_matches_rfc_1321_and_python_on_spark(spark):
    from sqlrec.experiments.assignment import md5_unit
    published = {"": "d41d8cd98f00b204e9800998ecf8427e", "abc": "900150983cd24fb0d6963f7d28e17f72"}
    bucket = sqlglot.parse_one("SELECT md5($t) AS d, CAST(('0x' || substr(md5($t), 1, 8)) AS BIGINT) "
                               "/ CAST(4294967296 AS DOUBLE) AS u", read="duckdb")  # macros/random.sql md5_unit
    for text, digest in published.items():
        row = spark.sql(to_dialect(bucket, "spark", "md5"), args={"t": text}).collect()[0]
        assert row.d == digest and row.u == md5_unit(text) == int(digest[:8], 16) / 2 ** 32
