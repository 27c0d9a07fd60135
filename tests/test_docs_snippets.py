"""Every snippet of the docs (README.md and docs/*.md) is run or checked as a user would copy it.

- Shell: every `sqlrec ...` line is accepted by the command line's parser (the command and each option exist, each
  value is valid); the lookup and inspection commands run on the demo project, and the "your own project" walk
  (init, validate, ls, render, run) runs as written; every line that trains (run, evaluate, tune, experiment,
  report) and the 1M-event generate line run as written on a small demo project. The README's tour runs in
  bench/readme_figures.py (tests/test_readme_figures.py), the `--engine spark` lines in tests/test_spark_demo.py,
  the Online Retail and MovieLens examples' commands in tests/test_real_data_commands.py, docs/performance.md's
  benchmark block (the peers' install and the bench/ lines) in tests/test_bench_lines.py.
- Python: every block runs in a fresh process beside the demo and the walk's project; a `@python_stage` block runs
  inside a project's `sqlrec run`.
- SQL: queries run on the demo's snapshot; a stage template (`{{ ref(...) }}`) renders and runs in a project.
- TOML: every config fragment, merged into the demo's config, passes the config's validation.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import sqlrec
from conftest import CHECKOUT
from sqlrec.cli import cli
from sqlrec.config import load_config
from sqlrec.datagen import WorldSize, generate
from sqlrec.scaffold import init_project

PAGES = [CHECKOUT / "README.md"] + sorted((CHECKOUT / "docs").glob("*.md"))
SHARES_OUTPUT = """-- Each item's share of the buyers (the docs' Python stage, published).
-- grain: one row per item
-- inputs: item_share
-- unique: item_id
-- not_null: item_id, share
-- columns:
--   item_id: the item
--   share: its share
SELECT item_id, share FROM {{ ref('item_share') }}
"""
RUN_HERE = {"recommend", "similar", "explain", "render", "ls", "validate", "check", "completion"}
#: The commands that train, run as written by test_the_commands_that_train_run_as_written on a small demo project;
#: the `--engine spark` lines run in tests/test_spark_demo.py; `run --demo`, `init` and `generate` (but its
#: 1M-event line) run in test_the_commands_given_a_project_folder_and_the_starter_commands_run_as_written.
TRAIN = {"run", "evaluate", "tune", "experiment", "report"}


def blocks(language: str, pages=PAGES) -> list[tuple[str, str]]:
    """(page name, code) of every fenced block in `language`."""
    found = []
    for page in pages:
        for code in re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), re.S | re.M):
            found.append((page.name, code))
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    """Each `sqlrec ...` command of the shell blocks, as argv after `sqlrec` (comments and `cd x &&` removed)."""
    found = []
    for page, code in blocks("sh"):
        for line in code.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            words = [w for word in words for w in (shlex.split(word[2:-1]) if word.startswith("$(") else [word])]
            command: list[str] = []
            for word in words + ["&&"]:
                if word in ("&&", ">", "|"):
                    if len(command) > 1 and command[0].endswith("sqlrec"):
                        found.append((page, command[1:]))
                    command = [] if word == "&&" else ["(redirected)"]
                elif command != ["(redirected)"]:
                    command.append(word)
    return found


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder holding the demo project (run) and the walk's `shop` project (made by the walk's test)."""
    folder = tmp_path_factory.mktemp("docs")
    sqlrec.demo(folder / "sqlrec-demo", progress=False)
    return folder


def test_every_documented_command_line_is_accepted_by_the_cli():
    lines = command_lines()
    assert len(lines) >= 30, lines
    for page, argv in lines:
        name, args = argv[0], argv[1:]
        command = cli.get_command(None, name)
        assert command is not None, (page, argv)
        if "--help" in args:
            continue
        try:
            command.make_context(name, list(args))
        except Exception as exc:  # noqa: BLE001 - the parser's own error says what is wrong
            pytest.fail(f"{page}: `sqlrec {' '.join(argv)}` is not accepted: {exc}")


def test_the_lookup_and_inspection_commands_run_on_the_demo(place, monkeypatch):
    monkeypatch.chdir(place / "sqlrec-demo")
    ran = 0
    for page, argv in command_lines():
        if argv[0] in RUN_HERE and "-p" not in argv and "--project" not in argv:
            result = CliRunner().invoke(cli, argv)
            assert result.exit_code == 0, (page, argv, result.output)
            assert result.output.strip(), (page, argv)
            ran += 1
    assert ran >= 10


def test_the_your_own_project_walk_runs_as_written(place):
    walk = next(code for page, code in blocks("sh") if page == "your-data.md" and "sqlrec init shop" in code)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", walk], cwd=place, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (place / "shop" / "output" / "sqlrec.duckdb").exists()


def test_every_python_snippet_runs(place):
    if not (place / "shop").exists():
        test_the_your_own_project_walk_runs_as_written(place)
    for page, code in blocks("python"):
        if "@python_stage" in code:  # a stage: it runs inside a project's run, published through a SQL stage
            (place / "shop" / "python" / "docs_stage.py").write_text(code)
            output = place / "shop" / "sql" / "publish" / "item_shares.sql"
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(SHARES_OUTPUT)
            result = sqlrec.run(place / "shop", progress=False, update_contract=True)
            shares = result.table("item_shares").column("share").to_pylist()
            assert shares and abs(sum(shares) - 1.0) < 1e-9, page
            output.unlink()  # the next run (the SQL snippets') updates the contract again
            continue
        done = subprocess.run([sys.executable, "-c", code], cwd=place, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (page, code, done.stderr[-2000:])


def test_every_sql_snippet_runs(place):
    if not (place / "shop").exists():
        test_the_your_own_project_walk_runs_as_written(place)
    snapshot = place / "sqlrec-demo" / "output" / "sqlrec.duckdb"
    ran = 0
    for page, code in blocks("sql"):
        if "{{" in code:  # a stage template: add it to a project as an output, run it
            stage = place / "shop" / "sql" / "publish" / "docs_item_buyers.sql"
            stage.parent.mkdir(parents=True, exist_ok=True)
            stage.write_text(code)
            result = sqlrec.run(place / "shop", progress=False, update_contract=True)
            assert result.table("docs_item_buyers").num_rows > 0, page
            stage.unlink()
            ran += 1
            continue
        con = duckdb.connect(str(snapshot), read_only=True)
        cwd = os.getcwd()
        os.chdir(place)  # relative paths in the snippets start beside the demo folder
        try:
            for statement in (s for s in code.split(";") if s.strip() and not _only_comments(s)):
                assert con.execute(statement).fetchall() is not None, (page, statement)
                ran += 1
        finally:
            os.chdir(cwd)
            con.close()
    assert ran >= 12


def test_every_config_fragment_passes_validation(place, tmp_path):
    base = (place / "sqlrec-demo" / "sqlrec.toml").read_text()
    for page, code in blocks("toml"):
        fragment = tomllib.loads(code)  # a fragment is valid TOML on its own
        merged = tmp_path / "sqlrec.toml"
        merged.write_text(_merge(base, fragment))
        for folder in ("data", "sql", "macros", "python"):
            if (place / "sqlrec-demo" / folder).exists() and not (tmp_path / folder).exists():
                (tmp_path / folder).symlink_to(place / "sqlrec-demo" / folder)
        load_config(merged)


def _merge(base: str, fragment: dict) -> str:
    """The base config with the fragment's tables replacing the same tables: written back as TOML."""
    data = tomllib.loads(base)

    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value
    merge(data, fragment)
    return _dump(data)


def _dump(data: dict, prefix: str = "") -> str:
    scalars = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [_dump(v, f"{prefix}{_key(k)}.") for k, v in data.items() if isinstance(v, dict)]
    head = f"[{prefix[:-1]}]\n" if prefix and scalars else ""
    return head + "".join(line + "\n" for line in scalars) + "".join(tables)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def test_the_commands_given_a_project_folder_and_the_starter_commands_run_as_written(place, tmp_path, monkeypatch):
    """`-p shop` lines beside the walk's project; `init`, `generate` (at its default size) and `run --demo` in a
    fresh folder; `python -c ...` lines beside the demo. (`-p examples/...` lines: tests/test_real_data_commands.py
    runs those commands on the examples, pointed at ../shared.)"""
    if not (place / "shop").exists():
        test_the_your_own_project_walk_runs_as_written(place)
    ran = 0
    for page, argv in command_lines():
        name = argv[0]
        if name in RUN_HERE and "-p" in argv and argv[argv.index("-p") + 1] == "shop":
            monkeypatch.chdir(place)
        elif name in ("init", "generate") and "--events" not in argv or argv[:2] == ["run", "--demo"]:
            fresh = tmp_path / f"fresh{ran}"
            fresh.mkdir()
            monkeypatch.chdir(fresh)
        else:
            continue
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 0, (page, argv, result.output)
        ran += 1
    assert ran >= 8
    for page, code in blocks("sh"):
        for line in code.splitlines():
            if line.startswith("python -c "):
                done = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=place, capture_output=True,
                                      text=True, timeout=120)
                assert done.returncode == 0, (page, line, done.stderr[-2000:])
                ran += 1


def test_the_commands_that_train_run_as_written(tmp_path, monkeypatch):
    """Every documented `run`, `evaluate`, `tune`, `experiment` and `report` line (but `--engine spark`, the
    examples' `-p examples/...` and the tour's), and the 1M-event `generate` line, run as written. They run in a
    project with the demo's settings over a world a third of the demo's size, so that the suite stays fast; `-p shop`
    lines run beside it."""
    shop = tmp_path / "shop"
    init_project(shop, name="shop", demo=True)
    generate(shop / "data", WorldSize(users=700, items=120, events=12_000))
    (shop / "data" / "events").mkdir()  # for the line reading a glob of event files
    (shop / "data" / "events.parquet").rename(shop / "data" / "events" / "part-0.parquet")
    (shop / "data" / "events.parquet").symlink_to(Path("events") / "part-0.parquet")
    ran = []
    for page, argv in sorted(command_lines(), key=lambda line: line[1][0] == "report"):  # reports need results
        if argv[0] not in TRAIN | {"generate"} or "spark" in argv or "--demo" in argv:
            continue
        if argv[0] == "generate" and "--events" not in argv or argv in (["evaluate"], ["experiment"]):
            continue  # the README's tour runs these two on the demo (tests/test_readme_figures.py)
        if "-p" in argv and argv[argv.index("-p") + 1] != "shop":
            continue  # the examples' lines: tests/test_real_data_commands.py
        if argv in [done for _, done in ran]:
            continue
        monkeypatch.chdir(tmp_path if "-p" in argv or argv[0] == "generate" else shop)
        result = CliRunner().invoke(cli, argv + ["--no-progress"] * (argv[0] in TRAIN - {"report"}))
        assert result.exit_code == 0, (page, argv, result.output[-3000:])
        ran.append((page, argv))
    assert {argv[0] for _, argv in ran} == TRAIN | {"generate"} and len(ran) >= 12
    assert ["experiment", "strategies", "--no-simulate"] in [argv for _, argv in ran]
    assert (tmp_path / "big" / "events.parquet").exists()
    assert (shop / "strategies.html").exists()
    assert (shop / "output" / "evaluation" / "report.html").exists()
