"""Input checks: every problem in the data is reported with file, column, example row, count and the fixing key."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlrec
from sqlrec.cli import cli
from sqlrec.config import load_config
from sqlrec.input_checks import prepare_inputs
from sqlrec.inputs import resolve
from sqlrec.pipeline import open_engine
from sqlrec.errors import ConfigError, DataError

T0 = 1_770_000_000  # 2026-02-02 02:40:00 UTC, in seconds


def _events(project, columns: dict, name: str = "events.parquet"):
    path = project.root / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(columns if isinstance(columns, pa.Table) else pa.table(columns), path)
    return path


def _base(n: int, **extra):
    return {"user_id": list(range(1, n + 1)), "item_id": [10 + i % 3 for i in range(n)],
            "ts": pa.array([T0 + 60 * i for i in range(n)], pa.timestamp("s", tz="UTC")), **extra}


def _set(project, text: str) -> None:
    project.write("sqlrec.toml", project.config.read_text().replace(
        'path = "data/events.parquet"', 'path = "data/events.parquet"\n' + text.strip()))


def _data_error(project) -> DataError:
    with pytest.raises(DataError) as info:
        sqlrec.check(project.root)
    return info.value


def _checked(project, **kw) -> dict:
    reports = sqlrec.check(project.root, **kw)
    return {name: report.as_dict() for name, report in reports.items()}


# -- files ----------------------------------------------------------------------------------------------------


def test_truncated_file_in_a_glob_is_named(project):
    good = _events(project, _base(4), "parts/a.parquet")
    bad = project.root / "data" / "parts" / "b.parquet"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    _set(project, "")
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.parquet"', '"data/parts/*.parquet"'))
    error = _data_error(project)
    assert str(bad) in error.message and "cannot read the file" in error.message
    assert "inputs.events.path" in error.hint and error.exit_code == 3


def test_csv_with_a_truncated_last_line_is_reported(project):
    path = project.root / "data" / "events.csv"
    path.write_text("user_id,item_id,ts\n1,2,2026-01-01 10:00\n2,3,2026-01-02 10:00\n3,4")
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.parquet"', '"data/events.csv"'))
    error = _data_error(project)
    assert str(path) in error.message and "delimiter was not detected" in error.message
    assert "inputs.events.delimiter" in error.hint
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.csv"', '"data/events.csv"\ndelimiter = ","'))
    error = _data_error(project)
    assert str(path) in error.message and "cannot read the file" in error.message and "truncated" in error.hint


def test_schema_drift_between_files_names_both_files_and_the_column(project):
    _events(project, _base(3), "parts/a.parquet")
    _events(project, {**_base(3, quantity=[1.0, 2.0, 3.0]), "user_id": [4, 5, 6]}, "parts/b.parquet")
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.parquet"', '"data/parts/*.parquet"'))
    error = _data_error(project)
    assert "a.parquet" in error.message and "b.parquet" in error.message
    assert "differ in column `quantity`: missing in a.parquet, DOUBLE in b.parquet" in error.message
    assert "inputs.events.union_by_name" in error.hint

    project.write("sqlrec.toml", project.config.read_text().replace(
        'path = "data/parts/*.parquet"', 'path = "data/parts/*.parquet"\nunion_by_name = true'))
    assert _checked(project)["events"]["rows"] == 6


def test_empty_input_is_an_error(project):
    _events(project, pa.table(_base(2)).slice(0, 0))
    error = _data_error(project)
    assert "has no rows" in error.message


# -- filter ---------------------------------------------------------------------------------------------------


def test_filter_keeps_matching_rows_and_is_reported(project):
    _events(project, _base(6, Quantity=[1, -1, 2, 0, 3, -5]))
    _set(project, 'filter = "Quantity > 0"')
    report = _checked(project)["events"]
    assert (report["rows_read"], report["rows"], report["removed"]) == (6, 3, {"filter": 3})


@pytest.mark.parametrize("expression, message", [
    ("Quantity > 0; DROP TABLE x", "is not a SQL expression"),
    ("Quantity IN (SELECT 1)", "must be one boolean expression, not a query"),
    ("Quantity + 1", "must be true or false for each row, but it is"),
    ("Quantiy > 0", "refers to `Quantiy`, which is not a column .* \\(did you mean `Quantity`\\?\\)"),
    ("getenv('HOME') = 'x'", "may not call getenv\\(\\)"),
    ("e.Quantity > 0", "refers to `e.Quantity`"),
])
def test_filter_must_be_one_boolean_expression_over_the_columns(project, expression, message):
    _events(project, _base(3, Quantity=[1, 2, 3]))
    _set(project, f'filter = "{expression}"')
    with pytest.raises(ConfigError, match=message):
        sqlrec.check(project.root)


# -- ids, nulls -----------------------------------------------------------------------------------------------


def test_whole_float_ids_become_integers_and_fractional_ones_are_errors(project):
    _events(project, {**_base(3), "user_id": [17850.0, 12346.0, None]})
    _set(project, 'nulls = "drop"')
    sqlrec.check(project.root)
    _events(project, {**_base(3), "user_id": [17850.0, 12346.5, 3.0]})
    error = _data_error(project)
    assert "column `user_id`: 1 values do not convert to an id" in error.message and "12346.5" in error.message


def test_null_ids_are_an_error_or_dropped_by_policy(project):
    path = _events(project, _base(5, user_id=[1, None, 3, None, 5]))
    error = _data_error(project)
    assert f"column `user_id` is NULL in 2 rows, e.g. row 2 of {path}" in error.message
    assert 'inputs.events.nulls = "drop"' in error.hint
    _set(project, 'nulls = "drop"')
    report = _checked(project)["events"]
    assert report["rows"] == 3 and report["removed"] == {"null user_id": 2}


def test_mapped_column_name_is_shown_beside_the_canonical_one(make_project):
    project = make_project('\n[inputs.events.columns]\nuser_id = "CustomerID"\n')
    _events(project, {"CustomerID": [1, None], "item_id": [1, 2],
                      "ts": pa.array([T0, T0 + 1], pa.timestamp("s", tz="UTC"))})
    error = _data_error(project)
    assert "column `user_id` (your `CustomerID`) is NULL in 1 rows" in error.message


# -- timestamps -----------------------------------------------------------------------------------------------


def _ts_output(project):
    project.write("sql/publish/t.sql", """
        -- columns: user_id, ts_utc
        SELECT user_id, timezone('UTC', ts) AS ts_utc FROM {{ source('events') }}
    """)


def _utc_strings(project) -> list[str]:
    result = sqlrec.run(project.root, progress=False)
    rows = result.relation("t").order("user_id").project("strftime(ts_utc, '%Y-%m-%d %H:%M')").fetchall()
    return [r[0] for r in rows]


def test_naive_timestamps_follow_the_declared_zone(project):
    _events(project, {"user_id": [1, 2], "item_id": [1, 2],
                      "ts": pa.array([datetime(2026, 7, 1, 12, 0), datetime(2026, 1, 1, 12, 0)], pa.timestamp("us"))})
    _ts_output(project)
    assert _utc_strings(project) == ["2026-07-01 12:00", "2026-01-01 12:00"]  # read as UTC ...
    report = sqlrec.open_outputs(project.root).manifest["input_checks"]["events"]
    assert any("read as UTC" in note and "inputs.events.naive_timezone" in note for note in report["notes"])
    _set(project, 'naive_timezone = "Europe/London"')
    assert _utc_strings(project) == ["2026-07-01 11:00", "2026-01-01 12:00"]  # ... or as London time (BST in July)


def test_text_timestamps_with_offsets_formats_and_epochs(project):
    _ts_output(project)
    _events(project, {"user_id": [1, 2], "item_id": [1, 2], "ts": ["2026-03-01 10:00:00+02:00", "2026-03-01 10:00"]})
    assert _utc_strings(project) == ["2026-03-01 08:00", "2026-03-01 10:00"]
    _events(project, {"user_id": [1, 2], "item_id": [1, 2], "ts": ["01/03/2026 10:00", "31/12/2025 23:59"]})
    _set(project, 'ts_format = "%d/%m/%Y %H:%M"')
    assert _utc_strings(project) == ["2026-03-01 10:00", "2025-12-31 23:59"]
    _events(project, {"user_id": [1, 2], "item_id": [1, 2], "ts": [T0 * 1000, T0 * 1000 + 60_000]})
    project.write("sqlrec.toml", project.config.read_text().replace('"%d/%m/%Y %H:%M"', '"epoch_ms"'))
    expected = datetime.fromtimestamp(T0, timezone.utc).strftime("%Y-%m-%d %H:%M")
    assert _utc_strings(project)[0] == expected


def test_numeric_timestamps_need_an_epoch_unit(project):
    _events(project, {"user_id": [1], "item_id": [1], "ts": [T0]})
    error = _data_error(project)
    assert "timestamps are numbers" in error.message and 'ts_format = "epoch_s"' in error.hint


def test_timestamps_outside_the_plausible_range(project):
    _events(project, {"user_id": [1, 2], "item_id": [1, 2],
                      "ts": pa.array([T0, 0], pa.timestamp("s", tz="UTC"))})
    error = _data_error(project)
    assert "1 timestamps fall outside 1990-01-01" in error.message and "1970-01-01 00:00:00+00" in error.message
    assert "inputs.events.ts_range" in error.hint
    _set(project, 'ts_range = ["1960-01-01", "2030-01-01"]')
    assert _checked(project)["events"]["rows"] == 2


# -- weights --------------------------------------------------------------------------------------------------


def test_nan_and_out_of_range_weights(project):
    _events(project, _base(3, weight=[1.0, math.nan, 2.0]))
    assert "1 weights are NaN or infinite" in _data_error(project).message
    _events(project, _base(3, weight=[1.0, -2.0, 20.0]))
    error = _data_error(project)
    assert "1 weights are below 0 (`inputs.events.weight_range`)" in error.message
    assert "inputs.events.weight_range" in error.hint
    _set(project, "weight_range = [0, 10]")
    assert "2 weights are outside [0, 10]" in _data_error(project).message
    project.write("sqlrec.toml", project.config.read_text().replace("[0, 10]", "[-5, 50]"))
    assert _checked(project)["events"]["rows"] == 3


# -- duplicates -----------------------------------------------------------------------------------------------

DUPES = {  # user 1 bought item 10 three times at the same instant (rows 0, 2, 3); one other row
    "user_id": [1, 2, 1, 1], "item_id": [10, 11, 10, 10], "event_type": ["purchase"] * 4,
    "ts": pa.array([T0, T0, T0, T0], pa.timestamp("s", tz="UTC")),
    "quantity": [1.0, 5.0, 2.0, 4.0], "weight": [3.0, 1.0, 1.0, 2.0], "note": ["a", "b", "c", "d"],
}


def _dedup(project, policy: str) -> list[tuple]:
    _events(project, DUPES)
    _set(project, f'duplicates = "{policy}"')
    project.write("sql/publish/d.sql", """
        -- columns: user_id, item_id, quantity, weight, note
        SELECT user_id, item_id, quantity, weight, note FROM {{ source('events') }}
    """)
    result = sqlrec.run(project.root, progress=False)
    return sorted(tuple(r.values()) for r in result.table("d").to_pylist())


def test_duplicates_are_an_error_by_default(project):
    _events(project, DUPES)
    error = _data_error(project)
    assert "2 duplicate rows: 1 values of (user_id, item_id, ts, event_type) appear more than once" in error.message
    assert "user_id=1, item_id=10" in error.message and "appears 3 times" in error.message
    assert "inputs.events.duplicates" in error.hint and "inputs.events.unique_key" in error.hint


@pytest.mark.parametrize("policy, expected", [
    ("first", (1, 10, 1.0, 3.0, "a")),
    ("last", (1, 10, 4.0, 2.0, "d")),
    ("sum", (1, 10, 7.0, 6.0, "a")),
    ("max", (1, 10, 4.0, 3.0, "a")),
])
def test_duplicate_policies(project, policy, expected):
    assert _dedup(project, policy) == sorted([expected, (2, 11, 5.0, 1.0, "b")])
    report = sqlrec.open_outputs(project.root).manifest["input_checks"]["events"]
    assert report["removed"] == {"duplicates": 2}


@pytest.mark.parametrize("policy", ["first", "last"])
@pytest.mark.parametrize("keys", [12, 190])  # most rows repeat a key (joined to each key's pick), or few (a window)
def test_the_first_or_last_row_of_each_key_across_files_with_null_keys(project, policy, keys):
    rows = [{"user_id": 1 + i % keys % 3, "item_id": 10 + i % keys // 3 % 2,
             "note": None if i % keys % 4 == 0 else f"n{i % keys // 6}", "quantity": float(i)} for i in range(200)]
    for name, part in (("a.parquet", rows[:120]), ("b.parquet", rows[120:])):  # read in file order: a, then b
        _events(project, {**{c: [r[c] for r in part] for c in part[0]}, "event_type": ["purchase"] * len(part),
                          "ts": pa.array([T0] * len(part), pa.timestamp("s", tz="UTC"))}, f"parts/{name}")
    _set(project, f'duplicates = "{policy}"\nunique_key = ["user_id", "item_id", "note"]')
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.parquet"', '"data/parts/*.parquet"'))
    kept = {}
    for row in rows:  # the reference: a NULL note is one key, as in GROUP BY
        key = (row["user_id"], row["item_id"], row["note"])
        if policy == "last" or key not in kept:
            kept[key] = row
    config = load_config(project.config)
    inputs = resolve(config)
    engine = open_engine(config, inputs, False)
    try:
        prepare_inputs(engine, inputs, config)
        checked = engine.arrow("src_events", ["user_id", "item_id", "note", "quantity"]).to_pylist()
    finally:
        engine.close()
    assert sorted(checked, key=lambda r: r["quantity"]) == sorted(kept.values(), key=lambda r: r["quantity"])
    assert len(kept) == 12 if keys == 12 else 100 < len(kept) < 190


def test_unique_key_of_your_own_columns(project):
    _events(project, DUPES)
    _set(project, 'unique_key = ["note"]')
    assert _checked(project)["events"]["rows"] == 4


# -- unknown items --------------------------------------------------------------------------------------------


def _with_catalog(make_project, policy: str | None):
    project = make_project('\n[inputs.items]\npath = "data/items.parquet"\n')
    pq.write_table(pa.table({"item_id": [10, 11], "category": ["a", "b"]}), project.root / "data" / "items.parquet")
    _events(project, _base(6))  # items 10, 11, 12: 12 is not in the catalog
    if policy:
        _set(project, f'unknown_items = "{policy}"')
    return project


def test_unknown_items_are_an_error_by_default(make_project):
    project = _with_catalog(make_project, None)
    error = _data_error(project)
    assert "2 events refer to items that are not in the items input" in error.message
    assert "item_id: 12" in error.message and "inputs.events.unknown_items" in error.hint


def test_unknown_items_dropped_or_kept_with_a_warning(make_project):
    project = _with_catalog(make_project, "drop")
    assert _checked(project)["events"]["removed"] == {"unknown items": 2}
    project = _with_catalog(make_project, "warn")
    report = _checked(project)["events"]
    assert report["rows"] == 6 and any("2 events refer to items not in the items input" in n for n in report["notes"])


def test_items_as_text_and_events_as_numbers_still_match(make_project):
    project = make_project('\n[inputs.items]\npath = "data/items.parquet"\n')
    pq.write_table(pa.table({"item_id": ["10", "11", "12"]}), project.root / "data" / "items.parquet")
    _events(project, _base(6))
    assert _checked(project)["events"]["rows"] == 6


# -- a failed check publishes nothing; the CLI exits 3 --------------------------------------------------------


def test_data_error_leaves_published_outputs_and_exits_3(project):
    _events(project, _base(6))
    first = sqlrec.run(project.root, progress=False)
    digest = hashlib.sha256(first.path("recommendations").read_bytes()).hexdigest()
    _events(project, _base(6, user_id=[1, None, 3, 4, 5, 6]))
    result = CliRunner().invoke(cli, ["run", "-p", str(project.root)])
    assert result.exit_code == 3 and "is NULL in 1 rows" in result.stderr
    assert sqlrec.open_outputs(project.root).run_id == first.run_id
    assert hashlib.sha256(first.path("recommendations").read_bytes()).hexdigest() == digest


def test_check_command_reports_what_it_did(project):
    _events(project, _base(5, user_id=[1, None, 3, 4, 5]))
    _set(project, 'nulls = "drop"')
    result = CliRunner().invoke(cli, ["check", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "input events: 5 rows read from 1 file(s), 4 kept" in result.output
    assert 'null user_id: removed 1 rows (inputs.events.nulls = "drop")' in result.output


# -- messages that point the right way ----------------------------------------------------------------------------


def test_a_typo_in_a_blend_source_names_the_setting_not_a_builtin_file(project):
    from sqlrec.errors import ConfigError
    with pytest.raises(ConfigError) as info:
        sqlrec.run(project.root, progress=False, vars={"blend": {"cooccurence": 1.0}})
    assert "`vars.blend` names the recommender `cooccurence`" in info.value.message
    assert "did you mean `cooccurrence`?" in info.value.message and "site-packages" not in info.value.message
    assert "given on the command line (--var blend=...)" in info.value.message


def test_a_value_given_with_set_is_reported_as_given_there(project):
    from sqlrec.errors import ConfigError
    with pytest.raises(ConfigError) as info:
        sqlrec.run(project.root, progress=False, overrides={"inputs.events.nulls": "maybe"})
    assert "with `inputs.events.nulls` given on the command line (--set inputs.events.nulls=...)" in info.value.message


def test_a_ts_format_that_does_not_match_says_so_instead_of_suggesting_it_again(project):
    (project.root / "data" / "t.csv").write_text("user_id,item_id,ts\n1,10,31.01.2026 10:00\n")
    with pytest.raises(DataError) as info:
        sqlrec.check(project.root, overrides={"inputs.events.path": "data/t.csv",
                                              "inputs.events.ts_format": "%d/%m/%Y %H:%M"})
    assert "`inputs.events.ts_format` = '%d/%m/%Y %H:%M' (given with --set) does not match" in info.value.hint


def test_a_decimal_comma_has_an_option_and_the_error_names_it(project):
    (project.root / "data" / "c.csv").write_text(
        "user_id;item_id;ts;price\n1;10;2026-01-01 10:00;10,49\n2;11;2026-01-02 10:00;3,5\n")
    overrides = {"inputs.events.path": "data/c.csv", "inputs.events.columns": {"price": "price"}}
    with pytest.raises(DataError) as info:
        sqlrec.check(project.root, overrides=overrides)
    assert "2 values do not convert to DOUBLE" in info.value.message
    assert 'decimal_separator = ","' in info.value.hint
    project.write("sql/publish/prices.sql", "-- columns: price\nSELECT price FROM {{ source('events') }}\n")
    result = sqlrec.run(project.root, progress=False, overrides={**overrides, "inputs.events.decimal_separator": ","})
    assert sorted(r["price"] for r in result.table("prices").to_pylist()) == [3.5, 10.49]
