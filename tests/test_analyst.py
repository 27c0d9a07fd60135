"""What analysts and notebooks touch: lookups over the published outputs, the notebook session, the output
contract, sorted Parquet, and the help text of every command."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlrec
from conftest import world_project
from sqlrec.cli import cli
from sqlrec.datagen import WorldSize, generate
from sqlrec.errors import ConfigError, OutputCheckError
from sqlrec.resources import builtin_dir


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A generated world, run once; tests read its published outputs (and must not change them)."""
    root = tmp_path_factory.mktemp("shop")
    generate(root / "data", WorldSize(users=300, items=80, events=6_000, seed=5))
    (root / "sqlrec.toml").write_text(world_project(root / "data") + "[evaluate]\nmodels = [\"popularity\"]\n")
    sqlrec.run(root, progress=False)
    return root


def _published(shop: Path, table: str):
    return pq.read_table(shop / "out" / "current" / table / "data.parquet")


def _invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _a_user_and_item(shop: Path) -> tuple[int, int]:
    recs = _published(shop, "recommendations").slice(0, 1).to_pylist()[0]
    return recs["user_id"], recs["item_id"]


# -- lookups ---------------------------------------------------------------------------------------------------


def test_recommend_prints_the_users_published_list_in_every_format(shop):
    user, _ = _a_user_and_item(shop)
    recs = _published(shop, "recommendations")
    expected = sorted((r for r in recs.to_pylist() if r["user_id"] == user), key=lambda r: r["rank"])[:4]
    as_json = json.loads(_invoke("recommend", "--user", str(user), "-k", "4", "--format", "json", "-p", str(shop)))
    assert [(r["rank"], r["item_id"], r["score"], r["source"], r["reason"]) for r in as_json] == \
        [(r["rank"], r["item_id"], r["score"], r["source"], r["reason"]) for r in expected]
    as_csv = list(csv.DictReader(io.StringIO(_invoke("recommend", "--user", str(user), "-k", "4", "--format", "csv",
                                                     "-p", str(shop)))))
    assert [int(r["item_id"]) for r in as_csv] == [r["item_id"] for r in expected]
    table = _invoke("recommend", "--user", str(user), "-k", "4", "-p", str(shop)).splitlines()
    assert table[0].split()[:6] == ["rank", "item_id", "title", "category", "score", "source"] and len(table) == 5
    assert str(expected[0]["item_id"]) in table[1]
    # every item is shown with its title and category from the published catalogue
    catalog = {r["item_id"]: r for r in _published(shop, "item_catalog").to_pylist()}
    for row in as_json:
        assert (row["title"], row["category"]) == (catalog[row["item_id"]]["title"],
                                                   catalog[row["item_id"]]["category"])
        assert row["title"] in table[row["rank"]]


def test_recommend_explain_names_each_items_largest_contributors(shop):
    user, _ = _a_user_and_item(shop)
    rows = json.loads(_invoke("recommend", "--user", str(user), "--explain", "--format", "json", "-p", str(shop)))
    explanations = [r for r in _published(shop, "explanations").to_pylist() if r["user_id"] == user]
    for row in rows:
        top = sorted((e for e in explanations if e["item_id"] == row["item_id"]), key=lambda e: e["position"])
        if not top:
            assert row["because"] is None
            continue
        first = row["because"].split("; ")[0]
        assert first.startswith(f"{top[0]['kind']} {top[0]['contributor']}")
        assert first.endswith(f"{round(100 * top[0]['share'])}%")
        assert len(row["because"].split("; ")) == min(3, len(top))


def test_similar_and_explain_read_the_published_tables(shop):
    similar = _published(shop, "similar_items")
    item = similar.slice(0, 1).to_pylist()[0]["item_id"]
    got = json.loads(_invoke("similar", "--item", str(item), "--source", "cooccurrence", "-k", "3", "--format",
                             "json", "-p", str(shop)))
    expected = sorted((r for r in similar.to_pylist() if r["item_id"] == item and r["source"] == "cooccurrence"),
                      key=lambda r: r["rank"])[:3]
    assert [(r["rank"], r["other_item_id"]) for r in got] == [(r["rank"], r["other_item_id"]) for r in expected]
    catalog = {r["item_id"]: r for r in _published(shop, "item_catalog").to_pylist()}
    assert [r["title"] for r in got] == [catalog[r["other_item_id"]]["title"] for r in expected]
    user, listed = _a_user_and_item(shop)
    shown = _invoke("explain", "--user", str(user), "--item", str(listed), "-p", str(shop)).splitlines()[0]
    assert catalog[listed]["title"] in shown and f"[{catalog[listed]['category']}]" in shown
    found = sqlrec.explain(str(user), str(listed), shop)  # ids as text find integer ids
    assert (found.user_id, found.item_id, found.rank) == (user, listed, 1)
    shares = [c["share"] for c in found.contributors]
    assert shares == sorted(shares, reverse=True)


@pytest.mark.parametrize("args, message", [
    (["recommend", "--user", "999999999"], "user 999999999 has no recommendations"),
    (["recommend", "--user", "abc"], "user_id 'abc' is not an id of this run"),
    (["similar", "--item", "1", "--source", "magic"], "has no source 'magic'"),
    (["explain", "--user", "1", "--item", "999999999"], "is not in user 1's list"),
])
def test_lookup_errors_name_the_id_and_exit_2(shop, args, message):
    output = _invoke(*args, "-p", str(shop), code=2)
    assert message in output and "Hint:" in output


def test_lookups_run_nothing_and_load_no_pipeline(shop):
    before = sorted(p.name for p in (shop / "out" / "runs").iterdir())
    user, _ = _a_user_and_item(shop)
    code = ("import sys; from sqlrec.cli import main; sys.argv = ['sqlrec', 'recommend', '--user', %r, '-p', %r];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ('jinja2', 'scipy', 'sqlrec.pipeline', 'pandas', 'pyarrow', 'matplotlib', 'rich')\n"
            "print(sorted(m for m in heavy if m in sys.modules))"
            % (str(user), str(shop)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert sorted(p.name for p in (shop / "out" / "runs").iterdir()) == before
    assert not (shop / "out" / ".staging").exists() or not any((shop / "out" / ".staging").iterdir())


def test_published_tables_are_sorted_for_lookups(shop):
    recs = _published(shop, "recommendations")
    keys = list(zip(recs.column("user_id").to_pylist(), recs.column("rank").to_pylist()))
    assert keys == sorted(keys)
    similar = _published(shop, "similar_items")
    keys = list(zip(*(similar.column(c).to_pylist() for c in ("item_id", "source", "rank"))))
    assert keys == sorted(keys)


# -- notebooks -------------------------------------------------------------------------------------------------


def test_a_notebook_session_reads_every_output_as_arrow_duckdb_pandas_and_polars(shop):
    import pandas  # in the test extra; optional for users (sqlrec[notebook])
    import polars
    with sqlrec.open(shop) as project:
        assert {"recommendations", "similar_items", "popular_items"} <= set(project.outputs())
        arrow = project.table("recommendations")
        assert arrow.equals(_published(shop, "recommendations"))
        assert project.relation("recommendations").aggregate("count(*)").fetchall()[0][0] == arrow.num_rows
        frame = project.df("recommendations")
        assert isinstance(frame, pandas.DataFrame) and frame["item_id"].tolist() == arrow.column("item_id").to_pylist()
        polar = project.pl("recommendations")
        assert isinstance(polar, polars.DataFrame) and polar["score"].to_list() == arrow.column("score").to_pylist()
        joined = project.sql("SELECT count(*) FROM recommendations AS r JOIN popular_items AS p USING (item_id)"
                             ).fetchall()[0][0]
        expected = len(set(_published(shop, "popular_items").column("item_id").to_pylist()))
        assert joined == sum(1 for i in arrow.column("item_id").to_pylist()
                             if i in set(_published(shop, "popular_items").column("item_id").to_pylist()))
        assert expected > 0
        user, _ = _a_user_and_item(shop)
        assert project.recommend(user, k=2).column("rank").to_pylist() == [1, 2]


def test_the_session_sees_evaluation_and_names_missing_extras(shop, tmp_path, monkeypatch):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "sqlrec.toml").write_text((shop / "sqlrec.toml").read_text().replace('path = "out"',
                                                                                  f'path = "{tmp_path / "o"}"'))
    project = sqlrec.open(folder)
    with pytest.raises(ConfigError, match="no published outputs yet"):
        project.table("recommendations")
    project.evaluate()
    metrics = project.table("metrics")
    assert metrics.column("model").to_pylist() == ["popularity"]
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ConfigError, match="needs pandas"):
        project.df("metrics")
    with pytest.raises(ConfigError, match="no published output 'nope'"):
        project.table("nope")


# -- the output contract ---------------------------------------------------------------------------------------


def test_the_first_run_records_the_contract_from_the_parquet_schemas(shop):
    contract = json.loads((shop / "sqlrec.contract.json").read_text())["tables"]
    con = duckdb.connect()
    for table in ("recommendations", "similar_items", "explanations"):
        path = shop / "out" / "current" / table / "data.parquet"
        described = con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet($p))",
                                {"p": str(path)}).fetchall()
        assert [tuple(c) for c in contract[table]] == described


def test_a_changed_column_fails_the_publish_until_the_contract_is_updated(tmp_path, shop):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "sqlrec.toml").write_text((shop / "sqlrec.toml").read_text())
    sqlrec.run(folder, progress=False)
    current = os.readlink(folder / "out" / "current")
    published = (folder / "out" / "current" / "popular_items" / "data.parquet").read_bytes()
    stage = (builtin_dir("sql") / "publish" / "popular_items.sql").read_text()
    (folder / "sql" / "publish").mkdir(parents=True)
    (folder / "sql" / "publish" / "popular_items.sql").write_text(
        stage.replace("rank, score, users, events", "rank, CAST(score AS FLOAT) AS score, users")
        .replace("--   events: number of events\n", ""))
    with pytest.raises(OutputCheckError) as info:
        sqlrec.run(folder, progress=False)
    message = str(info.value)
    assert "popular_items: column events (BIGINT) was removed" in message
    assert "column score changed type from DOUBLE to FLOAT" in message
    assert info.value.exit_code == 4
    assert os.readlink(folder / "out" / "current") == current  # the last good outputs stay
    assert (folder / "out" / "current" / "popular_items" / "data.parquet").read_bytes() == published
    output = CliRunner().invoke(cli, ["run", "-p", str(folder), "-q", "--no-progress"]).output
    assert "--update-contract" in output
    sqlrec.run(folder, progress=False, update_contract=True)
    recorded = dict(map(tuple, json.loads((folder / "sqlrec.contract.json").read_text())["tables"]["popular_items"]))
    assert recorded == {"item_id": "BIGINT", "rank": "BIGINT", "score": "FLOAT", "users": "BIGINT"}
    sqlrec.run(folder, progress=False)  # the new contract holds


def test_an_empty_contract_setting_turns_the_check_off(tmp_path, shop):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "sqlrec.toml").write_text((shop / "sqlrec.toml").read_text().replace(
        "[output]\n", '[output]\ncontract = ""\n'))
    sqlrec.run(folder, progress=False)
    assert not (folder / "sqlrec.contract.json").exists()


# -- help ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_commands_help_shows_an_example_of_itself(command):
    text = _invoke(command, "--help")
    examples = text.split("Examples:")[1].strip().splitlines()
    assert examples and all(line.strip().startswith(("sqlrec " + command, 'eval "$(sqlrec ' + command))
                            for line in examples if line.strip())


def test_completion_scripts_are_printed_for_each_shell():
    assert "_SQLREC_COMPLETE=bash_complete" in _invoke("completion", "bash")
    assert "compdef" in _invoke("completion", "zsh")
    assert "complete --no-files --command sqlrec" in _invoke("completion", "fish")


# -- the README's recipes --------------------------------------------------------------------------------------


def test_the_ten_analyst_recipes_run_on_a_published_snapshot(shop):
    page = (Path(__file__).resolve().parents[1] / "docs" / "analysts.md").read_text()
    section = page.split("### Analyst recipes")[1].split("\n### ")[0]
    recipes = [block for block in section.split("```sql\n")[1:]]
    assert len(recipes) == 10
    con = duckdb.connect(str(shop / "out" / "sqlrec.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM recommendations WHERE user_id = 42").fetchall()[0][0] > 0
        for recipe in recipes:
            query = recipe.split("```")[0]
            rows = con.execute(query).fetchall()
            assert rows, query.splitlines()[0]
    finally:
        con.close()


def test_every_view_and_column_of_the_snapshot_is_documented(shop):
    con = duckdb.connect(str(shop / "out" / "sqlrec.duckdb"), read_only=True)
    try:
        views = con.execute("SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'main' "
                            "AND NOT internal").fetchall()
        expected = {"recommendations", "item_catalog", "user_profiles", "run_manifest", "run_stages"}
        assert expected <= {v for v, _ in views}
        assert all(comment for _, comment in views), [v for v, c in views if not c]
        undocumented = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND table_name IN (SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal) "
            "AND comment IS NULL").fetchall()
        assert undocumented == []
    finally:
        con.close()
