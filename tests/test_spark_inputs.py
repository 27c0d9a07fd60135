"""On Spark the inputs are read and checked by Spark itself, from the user's files or URLs: the same clean tables,
reports and error messages as DuckDB gives, on real data (Online Retail's filters, zones and duplicates; MovieLens'
headerless, tab- and pipe-separated Latin-1 CSV), on every case of the bad-input corpus, and through file:// URLs.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlrec
from conftest import ML100K, Project, generated_world, project_on, tree_digest
from sqlrec.config import load_config
from sqlrec.errors import DataError, SqlrecError
from sqlrec.input_checks import prepare_inputs
from sqlrec.inputs import resolve
from sqlrec.pipeline import open_engine, start_spark
from test_bad_inputs import CASES as BAD_INPUTS, _events, _write
from test_real_data import RETAIL_FILE, _example, needs_ml100k, needs_retail
from test_spark import FEWER_OUTPUTS, KEPT_OUTPUTS, assert_same_outputs, assert_same_rows  # and its skip without Java


def checked_on_both(folder, spark, overrides=None) -> dict[str, tuple[pa.Table, pa.Table]]:
    """Each input of the project checked by DuckDB and by Spark: the reports must be equal; name -> both tables."""
    config = load_config(folder / "sqlrec.toml", overrides=overrides)
    inputs = resolve(config)
    duck, on_spark = open_engine(config, inputs, False), start_spark(config, spark)
    try:
        reports = prepare_inputs(duck, inputs, config), prepare_inputs(on_spark, inputs, config)
        assert {n: r.as_dict() for n, r in reports[0].items()} == {n: r.as_dict() for n, r in reports[1].items()}
        return {r.relation: (duck.arrow(r.relation), on_spark.arrow(r.relation)) for r in inputs.values()}
    finally:
        duck.close()
        on_spark.close()


def assert_same_inputs(tables: dict[str, tuple[pa.Table, pa.Table]]) -> None:
    for name, (duck, on_spark) in tables.items():
        assert duck.schema.equals(on_spark.schema), f"{name}: {duck.schema} vs {on_spark.schema}"
        assert_same_rows(duck, on_spark, name)


# -- real data ---------------------------------------------------------------------------------------------------

@needs_retail
def test_online_retail_is_cleaned_alike_filter_nulls_duplicates_and_london_time(spark, tmp_path):
    folder, overrides = _example(tmp_path, "online-retail", {"events": str(RETAIL_FILE), "items": str(RETAIL_FILE)})
    tables = checked_on_both(folder, spark, overrides)
    assert_same_inputs(tables)
    assert tables["src_events"][0].num_rows > 390_000  # the cleaned purchases, not an empty agreement


@needs_ml100k
def test_movielens_headerless_tab_and_pipe_separated_latin_1_csv_is_read_alike(spark, tmp_path):
    files = {"events": str(ML100K / "u.data"), "items": str(ML100K / "u.item"), "users": str(ML100K / "u.user")}
    folder, overrides = _example(tmp_path, "movielens-100k", files)
    tables = checked_on_both(folder, spark, overrides)
    assert_same_inputs(tables)
    titles = tables["src_items"][1].column("title").to_pylist()
    assert any("é" in t for t in titles)  # Latin-1 decoded, e.g. "Misérables, Les (1995)"
    assert tables["src_events"][1].num_rows == 100_000


# -- CSV and folders read the way DuckDB reads them ------------------------------------------------------------------

def _csv_project(root, text: str, options: str) -> Project:
    project = Project(root)
    (root / "data" / "events.csv").write_text(text)
    project.write("sqlrec.toml", project.root.joinpath("sqlrec.toml").read_text().replace(
        'path = "data/events.parquet"', 'path = "data/events.csv"\n' + options))
    return project


def test_a_csv_with_naive_times_duplicates_and_a_filter_is_checked_alike(spark, tmp_path):
    lines = ["user_id,item_id,ts,qty,price"]
    for i in range(300):
        day, hour = 1 + i % 28, i % 24
        lines.append(f"{i % 17},{100 + i % 23},2026-03-{day:02d} {hour:02d}:{i % 60:02d}:00,{i % 4},{i * 0.25}")
    lines += lines[1:40]  # exact duplicates: the first of each is kept
    lines.append("5,105,2026-03-29 01:30:00+02,1,2.5")  # an offset of its own (without seconds: +02)
    project = _csv_project(tmp_path / "p", "\n".join(lines) + "\n",
                           'naive_timezone = "Europe/Paris"\nduplicates = "first"\nfilter = "qty > 0"\n'
                           'columns = { quantity = "qty" }\nunique_key = ["user_id", "item_id", "ts"]')
    tables = checked_on_both(project.root, spark)
    assert_same_inputs(tables)
    duck = tables["src_events"][0]
    assert 200 < duck.num_rows < 300 and duck.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_a_hive_partitioned_folder_gives_its_key_as_a_column_alike(spark, tmp_path):
    project = Project(tmp_path / "p")
    rows = pq.read_table(project.root / "data" / "events.parquet")
    for day in ("2026-01-01", "2026-01-02"):
        folder = project.root / "data" / "by_day" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(rows, folder / "part-0.parquet")
    project.write("sqlrec.toml", project.root.joinpath("sqlrec.toml").read_text().replace(
        'path = "data/events.parquet"', 'path = "data/by_day"\nformat = "parquet"\nhive_partitioning = true\n'
                                        'unique_key = ["user_id", "item_id", "ts", "day"]'))
    tables = checked_on_both(project.root, spark)
    assert_same_inputs(tables)
    on_spark = tables["src_events"][1]
    assert on_spark.num_rows == 2 * rows.num_rows and len(set(on_spark.column("day").to_pylist())) == 2


def test_csv_files_with_different_columns_are_read_by_name_alike(spark, tmp_path):
    project = _csv_project(tmp_path / "p", "user_id,item_id,ts\n1,10,2026-01-01 00:00:00\n2,11,2026-01-02 00:00:00\n",
                           "union_by_name = true")
    (project.root / "data" / "events2.csv").write_text("item_id,user_id,ts,quantity\n12,3,2026-01-03 00:00:00,2\n")
    project.write("sqlrec.toml", project.root.joinpath("sqlrec.toml").read_text().replace(
        'path = "data/events.csv"', 'path = "data/events*.csv"'))
    tables = checked_on_both(project.root, spark)
    assert_same_inputs(tables)
    assert tables["src_events"][1].num_rows == 3


# -- the bad-input corpus -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("good") / "proj"
    Project(root)
    _write(root, _events())
    sqlrec.run(root, progress=False)
    return root


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.name for c in BAD_INPUTS])
def test_each_bad_input_is_refused_on_spark_as_on_duckdb(published, spark, tmp_path, case):
    """The corpus of tests/test_bad_inputs.py, run on Spark: the same exit code, the same named file, column,
    example and config key, and the last outputs untouched."""
    root = tmp_path / "proj"
    shutil.copytree(published, root, symlinks=True)
    before = tree_digest(root / "out")
    case.change(root)
    with pytest.raises(SqlrecError) as caught:
        sqlrec.run(root, progress=False, spark=spark)
    message = str(caught.value)
    assert caught.value.exit_code == case.exit_code, message
    assert caught.value.hint, message
    for fragment in case.says:
        assert fragment.lower() in message.lower(), (fragment, message)
    assert tree_digest(root / "out") == before


def test_a_bad_row_in_a_csv_is_shown_with_its_line_in_the_file(spark, tmp_path):
    rows = "".join(f"{i},{10 + i % 3},2026-01-01 00:00:{i % 60:02d}\n" for i in range(50))
    project = _csv_project(tmp_path / "p", "user_id,item_id,ts\n" + rows + "7,11,soon\n", "")
    with pytest.raises(DataError) as caught:
        sqlrec.run(project.root, progress=False, spark=spark)
    assert "row 51 of " + str(project.root / "data" / "events.csv") in caught.value.message
    assert "'soon'" in caught.value.message


def test_row_numbers_count_across_the_splits_spark_reads_a_large_csv_in(spark, tmp_path):
    """Spark reads a CSV in splits of spark.sql.files.maxPartitionBytes (4 KB here: some 40 splits); the row named in
    a message is still the row's line in the file, and `duplicates = "first"` keeps the first in file order."""
    lines = [f"{i},{10 + i % 7},2026-01-{1 + i % 28:02d} 00:00:{i % 60:02d},{i}" for i in range(3000)]
    lines[2500] = "9,12,2026-01-05 00:00:00,first"  # then the same key again, later in the file
    lines[2900] = "9,12,2026-01-05 00:00:00,second"
    project = _csv_project(tmp_path / "p", "user_id,item_id,ts,note\n" + "\n".join(lines) + "\n",
                           'duplicates = "first"\nunique_key = ["user_id", "item_id", "ts"]')
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        assert spark.read.csv(str(project.root / "data" / "events.csv")).rdd.getNumPartitions() > 10
        tables = checked_on_both(project.root, spark)
        assert_same_inputs(tables)
        kept = [r["note"] for r in tables["src_events"][1].to_pylist() if r["user_id"] == 9 and r["item_id"] == 12
                and str(r["ts"]).startswith("2026-01-05 00:00:00")]
        assert kept == ["first"]
        (project.root / "data" / "events.csv").write_text(
            "user_id,item_id,ts,note\n" + "\n".join(lines[:2700] + ["9,12,later,x"] + lines[2700:]) + "\n")
        with pytest.raises(DataError) as caught:
            sqlrec.run(project.root, progress=False, spark=spark)
        assert f"row 2,701 of {project.root / 'data' / 'events.csv'}" in caught.value.message
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)


# -- URLs ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return generated_world(tmp_path_factory, users=300, items=80, events=5_000, seed=5)


def test_inputs_given_as_file_urls_are_read_by_spark_and_fingerprinted(world, spark, tmp_path):
    """A URL goes to Spark's file systems (file:// here; s3a://, gs://, abfss:// and hdfs:// the same way, given
    their connectors): the outputs are DuckDB's from the local paths, and the manifest lists the files Spark found."""
    folder = project_on(world, tmp_path / "p", extra=FEWER_OUTPUTS)
    sqlrec.run(folder, progress=False, overrides={"output.path": str(tmp_path / "duck")})
    urls = {f"inputs.{name}.path": (world / f"{name}.parquet").as_uri() for name in ("events", "items")}
    urls["inputs.users.path"] = world.as_uri() + "/user*.parquet"  # a glob, expanded by Spark
    result = sqlrec.run(folder, progress=False, spark=spark, overrides=urls)
    assert assert_same_outputs(tmp_path / "duck", folder / "out") == KEPT_OUTPUTS
    inputs = result.manifest["inputs"]
    users = inputs["users"]["files"]
    assert [f["path"] for f in users] == [(world / "users.parquet").as_uri()]
    assert users[0]["bytes"] == (world / "users.parquet").stat().st_size


def test_a_url_that_matches_nothing_is_a_data_error_naming_the_key(spark, tmp_path):
    project = Project(tmp_path / "p")
    with pytest.raises(DataError) as caught:
        sqlrec.run(project.root, progress=False, spark=spark,
                   overrides={"inputs.events.path": (tmp_path / "nowhere").as_uri() + "/*.parquet"})
    assert "inputs.events.path" in str(caught.value) and "nowhere" in caught.value.message


# -- the conversions the checks make, one by one -------------------------------------------------------------------

TEXT_TIMES = ["1990-01-01", "2011-06-01 10:00", "2011-06-01 10:00+01", "2011-06-01 10:00+0130",
              "2011-06-01 10:00:00.25+0100", "2011-06-01T10:00:00Z", "2011-06-01 10:00:00.5-05:00", "12/1/2010 8:26",
              "garbage", None]
CONVERSIONS = """SELECT x,
    CAST(CASE WHEN regexp_matches(x, '([+-]\\d\\d(:?\\d\\d)?|Z)$') THEN TRY_CAST(x AS TIMESTAMPTZ)
              ELSE timezone('Europe/London', TRY_CAST(x AS TIMESTAMP)) END AS VARCHAR) AS text_or_london,
    CAST(timezone('America/New_York', try_strptime(x, '%m/%d/%Y %H:%M')) AS VARCHAR) AS formatted_in_new_york,
    CAST(to_timestamp(CAST(length(x) AS DOUBLE) * 1e9 / 1000 + 0.123) AS VARCHAR) AS epoch_ms,
    TRY_CAST(x AS DOUBLE) AS number
FROM t"""


def test_the_checks_conversions_give_duckdb_s_instants_on_spark(spark):
    """Text with and without offsets (+hh, +hhmm, +hh:mm, Z, no seconds), strftime formats, zones and epochs: the
    instants Spark computes equal DuckDB's, as UTC text."""
    import duckdb
    from sqlrec.engines.spark import to_spark
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE t AS SELECT unnest($x::VARCHAR[]) AS x", {"x": TEXT_TIMES})
    on_duckdb = {r[0]: r[1:] for r in con.execute(CONVERSIONS).fetchall()}
    spark.createDataFrame([(x,) for x in TEXT_TIMES], "x string").createOrReplaceTempView("t")
    on_spark = {r[0]: tuple(r[1:]) for r in spark.sql(to_spark(CONVERSIONS)).collect()}

    def utc(text):  # DuckDB writes 2011-06-01 09:00:00.25+00, Spark 2011-06-01 09:00:00.25
        return None if text is None else text.removesuffix("+00")
    assert {x: tuple(utc(v) if isinstance(v, str) else v for v in row) for x, row in on_duckdb.items()} == on_spark
    assert on_duckdb["2011-06-01 10:00+01"][0] == "2011-06-01 09:00:00+00"  # an offset of its own
    assert on_duckdb["2011-06-01 10:00"][0] == "2011-06-01 09:00:00+00"  # London summer time
    assert on_duckdb["12/1/2010 8:26"][1] == "2010-12-01 13:26:00+00"  # New York winter time


def test_check_and_validate_of_a_spark_project_read_its_urls_with_spark(world, spark, tmp_path):
    folder = project_on(world, tmp_path / "p", engine='name = "spark"\n')
    urls = {"inputs.events.path": (world / "events.parquet").as_uri()}
    reports = sqlrec.check(folder, overrides=urls)
    assert reports["events"].rows == pq.read_metadata(world / "events.parquet").num_rows
    assert "event_type" in sqlrec.validate(folder, overrides=urls).input_columns["events"]
    with pytest.raises(SqlrecError, match="only the Spark engine reads, and this command runs on DuckDB"):
        sqlrec.tune(folder, overrides={**urls, "tune.grid": {"ease": {"ease_lambda": [100, 300]}}})
