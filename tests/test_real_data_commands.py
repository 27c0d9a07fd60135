"""Every command on real data, as a user runs it: the shipped example projects for UCI Online Retail (no users input)
and MovieLens 100K, each with an experiment and a tuning grid added, driven through the `sqlrec` command line in
separate processes. Invariants are checked on what was published, with DuckDB queries written here:

- every published table (run, evaluation, tuning, experiment) holds the unique key its header declares;
- the experiment's hash assignment passes its sample-ratio check;
- no backtest list recommends an item before it was available (launched_at, else its first event);
- every published metric is finite;
- every reason is a sentence, and one that names an item names an item of the user's history, by its title.

The data is read in place from ../shared/datasets (or SQLREC_ONLINE_RETAIL / SQLREC_ML100K); never copied.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sqlrec.config import load_config
from sqlrec.experiments import tables as experiment_tables
from sqlrec.project import load_project
from sqlrec.tuning import RESULTS as TUNING_RESULTS

from conftest import CHECKOUT, ML100K, ONLINE_RETAIL

RETAIL_FILE = ONLINE_RETAIL / "online_retail.parquet"

EXTRA = """
[evaluate]
test_days = 30
k = [10]

[tune]
k = 10
[tune.grid.popularity]
popularity_score = ["score", "decayed_score"]

[experiments.ab]
control = "A"
salt = "real-data"
holdout = 0.05
[experiments.ab.variants.A]
vars = { blend = { popularity = 1.0 }, cascade = ["popularity"] }
[experiments.ab.variants.B]
vars = { blend = { cooccurrence = 1.0 } }
"""

DATASETS = {
    "online-retail": ({"events": RETAIL_FILE, "items": RETAIL_FILE}, RETAIL_FILE.is_file(),
                      f"UCI Online Retail not found at {RETAIL_FILE} (set SQLREC_ONLINE_RETAIL)"),
    "movielens-100k": ({"events": ML100K / "u.data", "items": ML100K / "u.item", "users": ML100K / "u.user"},
                       (ML100K / "u.data").is_file(),
                       f"MovieLens 100K not found at {ML100K} (set SQLREC_ML100K); its license forbids a copy"),
}


def sqlrec_cli(folder: Path, *args: str) -> str:
    """One `sqlrec` command in its own process, as a user or a scheduler runs it."""
    done = subprocess.run([sys.executable, "-m", "sqlrec", *args, "-p", str(folder)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"sqlrec {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module", params=list(DATASETS))
def project(request, tmp_path_factory):
    """The example project with its inputs pointed at the shared data, after every command has run once."""
    files, present, reason = DATASETS[request.param]
    if not present:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(request.param)
    text = (CHECKOUT / "examples" / request.param / "sqlrec.toml").read_text()
    for line in [line for line in text.splitlines() if line.startswith("path = ")]:
        text = text.replace(line, "path = PLACEHOLDER", 1)
    for name, path in files.items():  # each input's path line, in the order the example declares them
        text = text.replace("path = PLACEHOLDER", f'path = "{path}"', 1)
    text = text.replace('path = PLACEHOLDER', 'path = "output"', 1)  # [output] path
    assert "PLACEHOLDER" not in text
    (folder / "sqlrec.toml").write_text(text + EXTRA)
    outputs = {}
    outputs["validate"] = sqlrec_cli(folder, "validate")
    outputs["check"] = sqlrec_cli(folder, "check")
    outputs["run"] = sqlrec_cli(folder, "run", "--no-progress")
    outputs["evaluate"] = sqlrec_cli(folder, "evaluate", "--no-progress")
    outputs["tune"] = sqlrec_cli(folder, "tune", "--no-progress")
    outputs["experiment"] = sqlrec_cli(folder, "experiment", "--no-progress", "--no-simulate")
    outputs["report"] = sqlrec_cli(folder, "report")
    return request.param, folder, files, outputs


def _current(folder: Path, *sub: str) -> Path:
    return (folder / "output").joinpath(*sub, "current").resolve()


def _read(run_dir: Path, table: str) -> duckdb.DuckDBPyRelation:
    return duckdb.read_parquet(str(run_dir / table / "data.parquet"))


def test_every_published_table_holds_its_declared_key(project):
    _, folder, _, _ = project
    config = load_config(folder / "sqlrec.toml")
    stages = load_project(config).stages
    declared = [(_current(folder), [s for s in stages.values() if s.layer == "publish"]),
                (_current(folder, "evaluation"), [s for s in stages.values() if s.layer == "eval_publish"]),
                (_current(folder, "tuning"), [TUNING_RESULTS]),
                (_current(folder, "experiments", "ab"), list(experiment_tables.ALL))]
    checked = 0
    for run_dir, published in declared:
        manifest = json.loads((run_dir / "run_manifest.json").read_text())
        for stage in published:
            if stage.name not in manifest["published"] or not stage.header.unique:
                continue
            keys = ", ".join(f'"{c}"' for c in stage.header.unique)
            rows, distinct = _read(run_dir, stage.name).aggregate(
                f"count(*), count(DISTINCT ({keys}))").fetchall()[0]
            assert rows > 0 and rows == distinct, (run_dir, stage.name, stage.header.unique)
            checked += 1
    assert checked >= 15


def test_the_hash_assignment_passes_its_sample_ratio_check(project):
    _, folder, files, outputs = project
    run_dir = _current(folder, "experiments", "ab")
    srm = _read(run_dir, "experiment_srm").fetchall()
    assert srm and not any(row[-1] for row in srm)  # mismatch
    users = duckdb.sql("SELECT count(DISTINCT user_id) FROM read_parquet($p)",
                       params={"p": str(run_dir / "experiment_assignments" / "data.parquet")}).fetchall()[0][0]
    assigned = _read(run_dir, "experiment_assignments").aggregate("count(*)").fetchall()[0][0]
    assert assigned == users
    assert "MISMATCH" not in outputs["experiment"]
    report = Path(outputs["report"].split("Report: ", 1)[1].splitlines()[0])
    assert report.is_file() and "experiment" in report.read_text().lower()


def test_no_backtest_list_recommends_an_item_before_it_was_available(project):
    name, folder, files, _ = project
    run_dir = _current(folder, "evaluation")
    cutoff = _read(run_dir, "split_summary").filter("split = 'test'").project("cutoff").fetchall()[0][0]
    # availability from the raw files, as the README defines it: the earlier of launched_at and the first event
    if name == "movielens-100k":
        first = duckdb.sql("SELECT column1 AS item_id, min(to_timestamp(column3)) AS available FROM "
                           "read_csv($p, delim='\t', header=false) GROUP BY 1", params={"p": str(files["events"])})
        launch = duckdb.sql("SELECT column00 AS item_id, strptime(column02, '%d-%b-%Y') AS launched FROM "
                            "read_csv($p, delim='|', header=false, encoding='latin-1', all_varchar=true) "
                            "WHERE column02 IS NOT NULL", params={"p": str(files["items"])})
        available = duckdb.sql("SELECT f.item_id, least(timezone('UTC', l.launched), f.available) AS available "
                               "FROM first AS f LEFT JOIN launch AS l ON CAST(l.item_id AS BIGINT) = f.item_id")
    else:
        available = duckdb.sql("SELECT StockCode AS item_id, min(timezone('Europe/London', InvoiceDate)) AS available "
                               "FROM read_parquet($p) GROUP BY 1", params={"p": str(files["events"])})
    lists = _read(run_dir, "evaluation_lists")
    assert lists.aggregate("count(DISTINCT model)").fetchall()[0][0] >= 3  # final, the blend's sources, popularity
    late = duckdb.sql("SELECT l.model, l.item_id, a.available FROM lists AS l JOIN available AS a "
                      "ON CAST(a.item_id AS VARCHAR) = CAST(l.item_id AS VARCHAR) WHERE a.available >= $c",
                      params={"c": cutoff}).fetchall()
    assert late == []
    unknown = duckdb.sql("SELECT count(*) FROM lists AS l ANTI JOIN available AS a "
                         "ON CAST(a.item_id AS VARCHAR) = CAST(l.item_id AS VARCHAR)").fetchall()[0][0]
    assert unknown == 0


def test_every_published_metric_is_finite(project):
    _, folder, _, outputs = project
    for run_dir, table in ((_current(folder, "evaluation"), "metrics"),
                           (_current(folder, "evaluation"), "metrics_by_user"),
                           (_current(folder, "experiments", "ab"), "experiment_results"),
                           (_current(folder, "tuning"), "tuning_results")):
        relation = _read(run_dir, table)
        numeric = [c for c, t in zip(relation.columns, relation.types) if str(t) in ("DOUBLE", "FLOAT")]
        for row in relation.project(", ".join(f'"{c}"' for c in numeric)).fetchall():
            assert all(v is None or math.isfinite(v) for v in row), (table, row)
    assert "nan" not in outputs["evaluate"].lower()
    assert "warm" in outputs["evaluate"] and "cold" in outputs["evaluate"]


def test_every_reason_is_a_sentence_naming_items_of_the_users_history(project):
    name, folder, files, _ = project
    con = duckdb.connect(str(folder / "output" / "sqlrec.duckdb"), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM recommendations WHERE reason IS NULL OR length(reason) < 8"
                       ).fetchall()[0][0] == 0
        named = con.sql("""
            SELECT r.user_id, r.reason, e.contributor, c.title
            FROM recommendations AS r
            JOIN explanations AS e ON e.user_id = r.user_id AND e.item_id = r.item_id AND e.position = 1
            LEFT JOIN item_catalog AS c ON CAST(c.item_id AS VARCHAR) = e.contributor
            WHERE e.kind = 'item' AND r.source IN ('cooccurrence', 'content', 'ease', 'session')""").fetchall()
    finally:
        con.close()
    assert len(named) > 100
    for user, reason, contributor, title in named:
        assert title is not None and title in reason, (user, reason, contributor)
    # each named item is in that user's history, read from the raw events
    history = duckdb.sql(
        "SELECT DISTINCT CAST(CustomerID AS BIGINT) AS user_id, StockCode AS item FROM read_parquet($p)"
        if name == "online-retail" else
        "SELECT DISTINCT column0 AS user_id, CAST(column1 AS VARCHAR) AS item FROM read_csv($p, delim='\t', header=false)",
        params={"p": str(files["events"])}).fetchall()
    seen = set(history)
    assert all((user, contributor) in seen for user, _, contributor, _ in named)


def test_lookups_answer_with_titles(project):
    _, folder, _, _ = project
    con = duckdb.connect(str(folder / "output" / "sqlrec.duckdb"), read_only=True)
    try:
        user, item, title = con.sql("SELECT r.user_id, r.item_id, c.title FROM recommendations AS r "
                                    "JOIN item_catalog AS c USING (item_id) WHERE r.rank = 1 "
                                    "ORDER BY r.user_id LIMIT 1").fetchall()[0]
        anchor, neighbour_title = con.sql(
            "SELECT s.item_id, c.title FROM similar_items AS s JOIN item_catalog AS c ON c.item_id = s.other_item_id "
            "WHERE s.rank = 1 ORDER BY s.item_id, s.source LIMIT 1").fetchall()[0]
    finally:
        con.close()
    assert title in sqlrec_cli(folder, "recommend", "--user", str(user), "-k", "3")
    assert neighbour_title in sqlrec_cli(folder, "similar", "--item", str(anchor), "-k", "1")
    assert title in sqlrec_cli(folder, "explain", "--user", str(user), "--item", str(item))
