"""Inputs in the forms retail data arrives in: CSV with its own column names, globs, hive-partitioned folders."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlrec
from sqlrec.errors import DataError

from conftest import SMALL_EVENTS, write_events


def _expected_popularity(rows, weights={"view": 1, "cart": 3, "purchase": 5}):
    scores: dict[int, float] = {}
    for _user, item, event_type, _day in rows:
        scores[item] = scores.get(item, 0) + weights[event_type]
    return scores


def _popularity(result) -> dict[int, float]:
    return {r["item_id"]: r["score"] for r in result.table("popular_items").to_pylist()}


def test_csv_with_mapped_columns(tmp_path):
    root = tmp_path / "csvproj"
    (root / "data").mkdir(parents=True)
    with open(root / "data" / "orders.csv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["CustomerID", "StockCode", "Kind", "InvoiceDate"])
        for user, item, kind, day in SMALL_EVENTS:
            writer.writerow([user, item, kind, f"2026-01-{day + 1:02d} 10:00:{len(kind):02d}"])
    (root / "sqlrec.toml").write_text("""
[inputs.events]
path = "data/orders.csv"
delimiter = ";"
[inputs.events.columns]
user_id = "CustomerID"
item_id = "StockCode"
event_type = "Kind"
ts = "InvoiceDate"
[output]
path = "out"
""")
    result = sqlrec.run(root, progress=False)
    assert _popularity(result) == _expected_popularity(SMALL_EVENTS)
    assert result.manifest["inputs"]["events"]["format"] == "csv"


def test_glob_over_several_files(project):
    half = len(SMALL_EVENTS) // 2
    for i, part in enumerate((SMALL_EVENTS[:half], SMALL_EVENTS[half:])):
        write_events(project.root / "data" / "parts" / f"part-{i}.parquet", part)
    project.write("sqlrec.toml", project.config.read_text().replace('"data/events.parquet"', '"data/parts/*.parquet"'))
    result = sqlrec.run(project.root, progress=False)
    assert _popularity(result) == _expected_popularity(SMALL_EVENTS)
    assert len(result.manifest["inputs"]["events"]["files"]) == 2


def test_hive_partitioned_folder(project):
    by_type: dict[str, list] = {}
    for row in SMALL_EVENTS:
        by_type.setdefault(row[2], []).append(row)
    for event_type, rows in by_type.items():
        folder = project.root / "data" / "hive" / f"event_type={event_type}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                                 "ts": pa.array([f"2026-01-{r[3] + 1:02d}" for r in rows]).cast(pa.timestamp("s"))}),
                       folder / "data.parquet")
    (project.root / "data" / "hive" / "_SUCCESS").write_text("")  # marker files are not data
    project.write("sqlrec.toml", project.config.read_text().replace(
        'path = "data/events.parquet"', 'path = "data/hive"\nformat = "parquet"\nhive_partitioning = true'))
    result = sqlrec.run(project.root, progress=False)
    assert _popularity(result) == _expected_popularity(SMALL_EVENTS)


def test_text_that_is_not_a_time_names_file_column_row_and_fix(project):
    path = project.root / "data" / "events.parquet"
    pq.write_table(pa.table({"user_id": [1, 2], "item_id": [2, 3], "ts": ["2026-01-01 10:00", "not a time"]}), path)
    with pytest.raises(DataError) as info:
        sqlrec.run(project.root, progress=False)
    message, hint = str(info.value), info.value.hint
    assert str(path) in message and "column `ts`: 1 values do not convert to a timestamp" in message
    assert f"row 2 of {path}" in message and "'not a time'" in message
    assert "inputs.events.ts_format" in hint and info.value.exit_code == 3


def test_optional_columns_absent_get_defaults(project):
    pq.write_table(pa.table({"user_id": [1, 2, 2], "item_id": [5, 5, 6],
                             "ts": pa.array([1_770_000_000, 1_770_000_001, 1_770_000_002], pa.timestamp("s"))}),
                   project.root / "data" / "events.parquet")
    result = sqlrec.run(project.root, progress=False)
    assert _popularity(result) == {5: 2.0, 6: 1.0}  # no event_type: every event weighs 1


def test_mapping_to_a_missing_column_suggests_the_close_one(make_project):
    project = make_project('\n[inputs.events.columns]\nuser_id = "user"\n')
    with pytest.raises(DataError, match=r"no column `user` .*did you mean `user_id`"):
        sqlrec.validate(project.root)
