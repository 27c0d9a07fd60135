"""Real data through configuration alone: the shipped example configs for UCI Online Retail and MovieLens 100K.

The data is read in place from ../shared/datasets (or the folders named by SQLREC_ONLINE_RETAIL / SQLREC_ML100K);
reference counts come from the datasets' own documentation or from plain DuckDB queries on the raw files.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import duckdb
import pytest

import sqlrec
from sqlrec.errors import DataError

from conftest import CHECKOUT, ML100K, ONLINE_RETAIL

RETAIL_FILE = ONLINE_RETAIL / "online_retail.parquet"
needs_retail = pytest.mark.skipif(not RETAIL_FILE.is_file(),
                                  reason=f"UCI Online Retail not found at {RETAIL_FILE} (set SQLREC_ONLINE_RETAIL)")
needs_ml100k = pytest.mark.skipif(not (ML100K / "u.data").is_file(),
                                  reason=f"MovieLens 100K not found at {ML100K} (set SQLREC_ML100K); its license "
                                         "forbids shipping a copy")


def _example(tmp_path, name: str, files: dict[str, str]):
    """Copy an example config into tmp (its outputs land there) with its inputs pointed at the shared data."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(CHECKOUT / "examples" / name / "sqlrec.toml", folder / "sqlrec.toml")
    return folder, {f"inputs.{k}.path": v for k, v in files.items()}


@needs_retail
def test_raw_online_retail_fails_on_missing_customers_with_the_published_count(tmp_path):
    (tmp_path / "sqlrec.toml").write_text(f"""
[inputs.events]
path = "{RETAIL_FILE}"
[inputs.events.columns]
user_id = "CustomerID"
item_id = "StockCode"
ts = "InvoiceDate"
""")
    with pytest.raises(DataError) as info:
        sqlrec.check(tmp_path)
    # The dataset's README: 135,080 rows with no CustomerID.
    assert "column `user_id` (your `CustomerID`) is NULL in 135,080 rows" in info.value.message
    assert "inputs.events.nulls" in info.value.hint


@needs_retail
def test_online_retail_example_runs_end_to_end(tmp_path):
    folder, overrides = _example(tmp_path, "online-retail", {"events": str(RETAIL_FILE), "items": str(RETAIL_FILE)})
    result = sqlrec.run(folder, progress=False, overrides=overrides)
    checks = result.manifest["input_checks"]["events"]

    clean = """Quantity > 0 AND UnitPrice > 0 AND NOT starts_with(InvoiceNo, 'C')
               AND regexp_matches(StockCode, '^[0-9]{5}')"""
    raw = duckdb.sql(f"""
        SELECT count(*) FILTER (WHERE NOT ({clean})),
               count(*) FILTER (WHERE ({clean}) AND CustomerID IS NULL),
               count(*) FILTER (WHERE ({clean}) AND CustomerID IS NOT NULL),
               (SELECT count(*) FROM (SELECT DISTINCT * FROM read_parquet($p) WHERE ({clean}) AND CustomerID IS NOT NULL))
        FROM read_parquet($p)""", params={"p": str(RETAIL_FILE)}).fetchall()[0]
    filtered, no_customer, kept_before_dedup, distinct_rows = raw
    assert checks["rows_read"] == 541_909
    assert checks["removed"] == {"filter": filtered, "null user_id": no_customer,
                                 "duplicates": kept_before_dedup - distinct_rows}
    assert checks["rows"] == distinct_rows

    recs = result.relation("recommendations")
    users = recs.aggregate("count(DISTINCT user_id)").fetchall()[0][0]
    customers = duckdb.sql(f"SELECT count(DISTINCT CustomerID) FROM read_parquet($p) WHERE ({clean})",
                           params={"p": str(RETAIL_FILE)}).fetchall()[0][0]
    assert users == customers
    assert recs.aggregate("max(rank)").fetchall()[0][0] == 10
    # the README states these figures; they are the ones computed here from the raw file
    products = result.manifest["input_checks"]["items"]["rows"]
    readme = " ".join((CHECKOUT / "docs" / "your-data.md").read_text().split())
    assert f"description and price, {products:,} products). The run keeps {distinct_rows:,} purchase events of " \
           f"{customers:,} customers" in readme


@needs_retail
def test_online_retail_times_are_uk_local_converted_to_utc(tmp_path):
    folder, overrides = _example(tmp_path, "online-retail", {"events": str(RETAIL_FILE), "items": str(RETAIL_FILE)})
    (folder / "sql" / "publish").mkdir(parents=True)
    (folder / "sql" / "publish" / "times.sql").write_text(
        "-- columns: session_id, utc\n"
        "SELECT DISTINCT session_id, strftime(timezone('UTC', ts), '%Y-%m-%d %H:%M') AS utc FROM {{ source('events') }}\n"
        "WHERE session_id IN ('536365', '556201')\n")
    result = sqlrec.run(folder, progress=False, overrides=overrides)
    local = duckdb.sql("SELECT DISTINCT InvoiceNo, InvoiceDate FROM read_parquet($p) "
                       "WHERE InvoiceNo IN ('536365', '556201')", params={"p": str(RETAIL_FILE)}).fetchall()
    london = ZoneInfo("Europe/London")  # Python's own tz database, independent of DuckDB's ICU
    expected = {invoice: when.replace(tzinfo=london).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
                for invoice, when in local}
    got = {r["session_id"]: r["utc"] for r in result.table("times").to_pylist()}
    assert got == expected
    when = dict(local)
    assert when["556201"].month == 6 and (when["556201"] - datetime.strptime(got["556201"], "%Y-%m-%d %H:%M")).seconds == 3600
    assert when["536365"].month == 12 and when["536365"].strftime("%Y-%m-%d %H:%M") == got["536365"]  # GMT = UTC


@needs_ml100k
def test_movielens_example_reads_all_three_files(tmp_path):
    files = {"events": str(ML100K / "u.data"), "items": str(ML100K / "u.item"), "users": str(ML100K / "u.user")}
    folder, overrides = _example(tmp_path, "movielens-100k", files)
    (folder / "sql" / "publish").mkdir(parents=True)
    (folder / "sql" / "publish" / "facts.sql").write_text("""-- columns: events, users, items, min_ts, max_ts, min_w, max_w, title_543, launched_1
SELECT (SELECT count(*) FROM {{ source('events') }}) AS events,
       (SELECT count(*) FROM {{ source('users') }}) AS users,
       (SELECT count(*) FROM {{ source('items') }}) AS items,
       (SELECT min(epoch(ts)) FROM {{ source('events') }}) AS min_ts,
       (SELECT max(epoch(ts)) FROM {{ source('events') }}) AS max_ts,
       (SELECT min(weight) FROM {{ source('events') }}) AS min_w,
       (SELECT max(weight) FROM {{ source('events') }}) AS max_w,
       (SELECT title FROM {{ source('items') }} WHERE item_id = 543) AS title_543,
       (SELECT strftime(timezone('UTC', launched_at), '%Y-%m-%d') FROM {{ source('items') }} WHERE item_id = 1) AS launched_1
""")
    result = sqlrec.run(folder, progress=False, overrides=overrides)
    facts = result.table("facts").to_pylist()[0]
    # The dataset README: 100,000 ratings, 943 users, 1,682 items, ratings 1..5, timestamps 874,724,710..893,286,638,
    # item 543 is a Latin-1 title ("Misérables"), Toy Story released 01-Jan-1995.
    assert (facts["events"], facts["users"], facts["items"]) == (100_000, 943, 1_682)
    assert (facts["min_ts"], facts["max_ts"]) == (874_724_710, 893_286_638)
    assert (facts["min_w"], facts["max_w"]) == (1, 5)
    assert "Misérables" in facts["title_543"]
    assert facts["launched_1"] == "1995-01-01"
    assert result.manifest["input_checks"]["events"]["removed"] == {}


RAW_RETAIL = """
[inputs.events]
path = "{path}"
nulls = "drop"
duplicates = "first"
{extra}
[inputs.events.columns]
user_id = "CustomerID"
item_id = "StockCode"
ts = "InvoiceDate"
quantity = "Quantity"
price = "UnitPrice"
"""


@needs_retail
def test_returns_free_lines_and_fee_codes_are_reported_with_counts_and_the_filter_that_drops_them(tmp_path):
    (tmp_path / "sqlrec.toml").write_text(RAW_RETAIL.format(path=RETAIL_FILE, extra=""))
    notes = sqlrec.check(tmp_path)["events"].notes
    # Independent counts on the raw file, over the rows the checks keep (a customer, first of exact duplicates on
    # the default key: nothing of these conditions depends on which duplicate is kept).
    kept = "SELECT * FROM read_parquet($p) WHERE CustomerID IS NOT NULL"
    count = lambda where: duckdb.sql(f"SELECT count(*) FROM ({kept}) WHERE {where}",  # noqa: E731
                                     params={"p": str(RETAIL_FILE)}).fetchall()[0][0]
    returns, free = count("Quantity <= 0"), count("UnitPrice <= 0")
    fees = count("NOT regexp_matches(StockCode, '[0-9]')")
    assert returns > 8000 and free > 0 and fees > 1000
    by_start = {n.split(" rows have ")[1].split(" ")[0]: n for n in notes if " rows have " in n}
    assert by_start["quantity"].startswith(f"{returns:,} rows have quantity 0 or below")
    assert "add `Quantity > 0` to `inputs.events.filter`" in by_start["quantity"]
    assert by_start["price"].startswith(f"{free:,} rows have price 0 or below")
    assert by_start["item"].startswith(f"{fees:,} rows have item codes without a digit")
    assert "POST" in by_start["item"] and "regexp_matches(StockCode, '[0-9]')" in by_start["item"]
    readme = " ".join((CHECKOUT / "docs" / "your-data.md").read_text().split())
    assert f"notes {returns:,} rows with quantity 0 or below, {free:,} with price 0 or below and {fees:,} with codes" \
        in readme

    (tmp_path / "sqlrec.toml").write_text(RAW_RETAIL.format(path=RETAIL_FILE, extra='suspicious = "error"'))
    with pytest.raises(DataError) as info:
        sqlrec.check(tmp_path)
    assert "0 or below" in info.value.message and "row " in info.value.message
    assert 'inputs.events.suspicious` = "note"' in info.value.hint

    (tmp_path / "sqlrec.toml").write_text(RAW_RETAIL.format(path=RETAIL_FILE, extra='suspicious = "ignore"'))
    assert not [n for n in sqlrec.check(tmp_path)["events"].notes if " rows have " in n]


@needs_ml100k
def test_movielens_genre_flags_become_categories_and_content_neighbours_share_a_genre(tmp_path):
    files = {"events": str(ML100K / "u.data"), "items": str(ML100K / "u.item"), "users": str(ML100K / "u.user")}
    folder, overrides = _example(tmp_path, "movielens-100k", files)
    result = sqlrec.run(folder, progress=False, overrides=overrides)
    genres = ["unknown", "action", "adventure", "animation", "childrens", "comedy", "crime", "documentary", "drama",
              "fantasy", "film_noir", "horror", "musical", "mystery", "romance", "sci_fi", "thriller", "war",
              "western"]
    # u.item read by Python's csv module, independently of sqlrec's reader: item -> its set genres
    import csv
    with open(ML100K / "u.item", encoding="latin-1", newline="") as handle:
        item_genres = {int(row[0]): {g for g, flag in zip(genres, row[5:]) if flag == "1"}
                       for row in csv.reader(handle, delimiter="|")}
    catalog = {r["item_id"]: r for r in result.table("item_catalog").to_pylist()}
    for item, row in catalog.items():
        assert row["category"] in item_genres[item], (item, row["category"])
    star_wars = 50
    neighbours = [r["other_item_id"] for r in result.table("similar_items").to_pylist()
                  if r["item_id"] == star_wars and r["source"] == "content"]
    assert len(neighbours) == 10
    assert all(item_genres[n] & item_genres[star_wars] for n in neighbours)
    assert {172, 181} <= set(neighbours)  # The Empire Strikes Back, Return of the Jedi
    metrics = sqlrec.evaluate(folder, progress=False, overrides=overrides).table("metrics").to_pylist()
    assert all(0 < r["category_diversity"] < 1 for r in metrics)
