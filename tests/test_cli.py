"""The `sqlrec` command: each subcommand, the single error handler and the documented exit codes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import sqlrec
from sqlrec.cli import cli
from sqlrec.errors import EXIT_CONFIG, EXIT_DATA, EXIT_LOCK, EXIT_RUNTIME


@pytest.fixture
def runner():
    return CliRunner()


def test_exit_codes_are_the_documented_ones():
    assert (EXIT_CONFIG, EXIT_DATA, EXIT_RUNTIME, EXIT_LOCK) == (2, 3, 4, 5)


def test_init_then_run_then_ls(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["init", "shop"])
    assert result.exit_code == 0, result.output
    assert "Created" in result.output and (tmp_path / "shop" / "sqlrec.toml").is_file()
    text = (tmp_path / "shop" / "sqlrec.toml").read_text()
    assert text.count("\n#") > 10  # a commented starter, not a bare file

    monkeypatch.chdir(tmp_path / "shop")
    result = runner.invoke(cli, ["run", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "recommendations" in result.output and "Sample of recommendations" in result.output
    assert (tmp_path / "shop" / "output" / "current" / "recommendations" / "data.parquet").is_file()

    result = runner.invoke(cli, ["ls"])
    assert result.exit_code == 0
    lines = {line.split()[1]: line for line in result.output.splitlines()}
    assert "publish" in lines["recommendations"] and "rec_final" in lines["recommendations"]


def test_init_sets_nothing_that_only_means_something_for_the_demo(runner, tmp_path):
    """A starter for the user's own data: no demo event types, consumable categories or experiment are in force."""
    import tomllib
    assert runner.invoke(cli, ["init", str(tmp_path / "shop")]).exit_code == 0
    config = tomllib.loads((tmp_path / "shop" / "sqlrec.toml").read_text())
    assert set(config["vars"]) == {"k"} and "experiments" not in config
    demo = tomllib.loads((tmp_path / "shop" / "sqlrec.toml").read_text())  # the generated data is read as is
    assert set(demo["inputs"]) == {"events", "items", "users"}


def test_init_without_data_declares_only_what_it_says_to_provide(runner, tmp_path, monkeypatch):
    import tomllib
    result = runner.invoke(cli, ["init", str(tmp_path / "mine"), "--no-data"])
    assert result.exit_code == 0, result.output
    config = tomllib.loads((tmp_path / "mine" / "sqlrec.toml").read_text())
    assert set(config["inputs"]) == {"events"}  # items and users are shown as comments to fill in
    assert "put your events in" in result.output and "sqlrec check" in result.output
    assert "Next: cd" not in result.output.split("put your events")[0]
    monkeypatch.chdir(tmp_path / "mine")
    checked = runner.invoke(cli, ["check"])
    assert checked.exit_code == 3 and "`inputs.events.path`" in checked.stderr and "events.parquet" in checked.stderr
    assert "items" not in checked.stderr


def test_init_refuses_to_overwrite_a_project(runner, tmp_path):
    assert runner.invoke(cli, ["init", str(tmp_path / "p"), "--no-data"]).exit_code == 0
    result = runner.invoke(cli, ["init", str(tmp_path / "p")])
    assert result.exit_code == EXIT_CONFIG and "already" in result.stderr


def test_run_outside_a_project_runs_the_demo(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["run", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "running the built-in demo project in sqlrec-demo/" in result.output
    demo = tmp_path / "sqlrec-demo"
    assert (demo / "sqlrec.toml").is_file() and (demo / "data" / "events.parquet").is_file()
    con = duckdb.connect(str(demo / "output" / "sqlrec.duckdb"), read_only=True)
    columns = [r[0] for r in con.sql("DESCRIBE recommendations").fetchall()]
    assert columns[:5] == ["user_id", "item_id", "score", "rank", "source"]
    con.close()
    # The written demo is an ordinary project: rerunning it there works and publishes a new run.
    monkeypatch.chdir(demo)
    again = runner.invoke(cli, ["run", "-q"])
    assert again.exit_code == 0 and again.output.strip().endswith("output/current")


def test_quiet_run_prints_only_the_output_path(runner, project):
    result = runner.invoke(cli, ["run", "-p", str(project.root), "-q"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(project.out / "current")


def test_render_and_validate(runner, project):
    result = runner.invoke(cli, ["render", "rec_popularity", "-p", str(project.root), "--dialect", "spark"])
    assert result.exit_code == 0 and "ROW_NUMBER() OVER" in result.output and "`stg_events`" in result.output
    result = runner.invoke(cli, ["validate", "-p", str(project.root)])
    assert result.exit_code == 0 and result.output.startswith("OK:")
    assert "input events: 4 columns" in result.output


def test_var_override_from_the_command_line(runner, project):
    result = runner.invoke(cli, ["run", "-p", str(project.root), "-q", "--var", "k=1"])
    assert result.exit_code == 0, result.output
    per_user = duckdb.sql("SELECT max(rank) FROM read_parquet($p)",
                          params={"p": str(project.out / "current" / "recommendations" / "*.parquet")}).fetchall()
    assert per_user == [(1,)]
    bad = runner.invoke(cli, ["run", "-p", str(project.root), "--var", "k"])
    assert bad.exit_code == 2 and "is not NAME=VALUE" in bad.output


def test_config_error_is_one_line_and_a_hint_with_exit_2(runner, project):
    project.write("sqlrec.toml", project.config.read_text().replace("[output]", "[outptu]"))
    result = runner.invoke(cli, ["run", "-p", str(project.root)])
    assert result.exit_code == EXIT_CONFIG
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and "outptu" in lines[0] and lines[1].startswith("Hint: ")
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(runner, project):
    project.write("sqlrec.toml", project.config.read_text().replace("[output]", "[outptu]"))
    result = runner.invoke(cli, ["--debug", "run", "-p", str(project.root)])
    assert result.exit_code == EXIT_CONFIG and "Traceback" in result.stderr


def test_data_error_exits_3(runner, make_project):
    project = make_project('\n[inputs.events.columns]\nuser_id = "customer"\n')
    result = runner.invoke(cli, ["run", "-p", str(project.root)])
    assert result.exit_code == EXIT_DATA and "no column `customer`" in result.stderr


def test_runtime_error_exits_4(runner, project):
    project.write("sql/publish/out.sql", "-- columns: x\nSELECT CAST('x' AS INTEGER) AS x FROM {{ ref('stg_events') }}\n")
    result = runner.invoke(cli, ["run", "-p", str(project.root)])
    assert result.exit_code == EXIT_RUNTIME and "stage out" in result.stderr


def test_lock_exits_5(runner, project):
    project.out.mkdir()
    with open(project.out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = runner.invoke(cli, ["run", "-p", str(project.root)])
    assert result.exit_code == EXIT_LOCK and "another sqlrec run" in result.stderr


def test_generate_writes_requested_sizes(runner, tmp_path):
    result = runner.invoke(cli, ["generate", "--out", str(tmp_path / "g"), "--users", "50", "--items", "30",
                                 "--events", "500", "--seed", "7"])
    assert result.exit_code == 0, result.output
    counts = duckdb.sql("SELECT count(*) FROM read_parquet($p)", params={"p": str(tmp_path / "g" / "events.parquet")})
    assert counts.fetchall() == [(500,)]


def test_python_dash_m_and_console_script(tmp_path):
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "sqlrec", "--version"], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and sqlrec.__version__ in result.stdout
    script = Path(sys.executable).parent / "sqlrec"
    result = subprocess.run([str(script), "render", "nope", "-p", str(tmp_path)], capture_output=True, text=True,
                            env=env)
    assert result.returncode == EXIT_CONFIG and result.stderr.startswith("Error: ")
