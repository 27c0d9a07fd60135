"""The docs (README.md and the site in docs/) document every config key, every command and every exit code
(checked against the code); the README stays a short page; the site builds in strict mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqlrec import docs, errors
from sqlrec.cli import cli
from sqlrec.config import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"


MAX_README_LINES = 250


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


@pytest.fixture(scope="module")
def all_docs() -> str:
    """The README and every page of the site, as one text."""
    return "\n".join([README.read_text()] + [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))])


def test_the_readme_is_short_and_links_every_page_of_the_site(readme):
    assert readme.count("\n") <= MAX_README_LINES
    config = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"](docs/{page.name})" in readme, page.name
            assert page.name in config, page.name


def test_the_site_builds_in_strict_mode_and_fails_on_a_broken_link(tmp_path):
    """mkdocs build --strict: a missing page, a page left out of the navigation or a broken link is an error."""
    import shutil
    import subprocess
    import sys
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict"]  # not --quiet: it silences the warnings strict counts
    env = {**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([*mkdocs, "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "evaluation" / "index.html").is_file()
    # the same build on a copy with one broken link fails
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "spark.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    broken = subprocess.run([*mkdocs, "-f", str(copy / "mkdocs.yml"), "-d", str(tmp_path / "site2")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert broken.returncode != 0 and "no-such-page.md" in broken.stdout + broken.stderr


def _figures(page, block: str) -> str:
    """The generated block `block` of a docs page (<!-- figures:name --> ... <!-- /figures:name -->)."""
    found = re.search(rf"<!-- figures:{block} -->(.*?)<!-- /figures:{block} -->", page.read_text(), re.S)
    return found.group(1).strip()


def test_the_growth_table_is_the_three_scales_results():
    import json
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import run
    reports = {scale: json.loads((ROOT / "bench" / "results" / f"run-{scale}.json").read_text())
               for scale in run.GROWTH_SCALES}
    assert _figures(ROOT / "docs" / "performance.md", "growth") == run.growth(reports), \
        "docs/performance.md is stale: run python bench/run.py --docs"


def test_mkdocs_serve_serves_the_site_as_the_readme_says(tmp_path):
    """The README's `mkdocs serve`, for real: the live server answers with the built pages until it is stopped."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    server = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "-f", str(ROOT / "mkdocs.yml"),
                               "-a", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
    try:
        deadline, page = time.monotonic() + 120, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/evaluation/", timeout=5) as answer:
                    page = (answer.status, answer.read().decode())
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"mkdocs serve did not answer: {server.poll()}"
        assert page[0] == 200 and "<title>" in page[1] and "Evaluation" in page[1]
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_the_reference_page_is_up_to_date():
    assert REFERENCE.read_text() == docs.reference(), "docs/reference.md is stale: run python -m sqlrec.docs"


def test_the_reference_documents_every_key_command_stage_macro_and_output():
    """Found here independently of sqlrec.docs: the schema, the CLI, the files under sql/ and macros/."""
    text = REFERENCE.read_text()
    documented_keys = set(re.findall(r"^\| `([a-z_.<>]+)` \|", text.split("## Configuration")[1].split("\n## ")[0],
                                     flags=re.M))
    expected = {"vars.<name>"}
    for section, keys in SCHEMA.items():
        prefix = section.replace("inputs.*", "inputs.<name>").replace("stages.*", "stages.<stage>") \
            .replace("experiments.*.variants.*", "experiments.<name>.variants.<variant>") \
            .replace("experiments.*", "experiments.<name>")
        expected |= {f"{prefix}.{name}" for name in keys}
    assert documented_keys == expected
    for name in cli.commands:
        assert f"### `sqlrec {name}`" in text, name
    stages = text.split("## Stages")[1].split("\n## ")[0]
    for path in (ROOT / "sql").rglob("*.sql"):
        assert f"| `{path.stem}` |" in stages, path
    macros = text.split("## Macros")[1].split("\n## ")[0]
    for path in (ROOT / "macros").glob("*.sql"):
        for name in re.findall(r"\{%-?\s*macro\s+(\w+)\(", path.read_text()):
            assert f"#### `{name}(" in macros, (path.name, name)
    outputs = text.split("## Outputs")[1]
    for folder in ("publish", "eval_publish"):
        for path in (ROOT / "sql" / folder).glob("*.sql"):
            section = outputs.split(f"### `{path.stem}`")[1].split("\n### ")[0]
            header = path.read_text().split("-- columns:")[1]
            for column in re.findall(r"^--   (\w+):", header, flags=re.M):
                assert f"| `{column}` |" in section, (path.stem, column)
    for table in ("experiment_results", "experiment_assignments", "tuning_results", "run_manifest", "run_stages"):
        assert f"### `{table}`" in outputs


def test_every_command_is_documented(all_docs):
    for name in cli.commands:
        assert f"`sqlrec {name}" in all_docs, name


def test_exit_codes_match_the_code(all_docs):
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", all_docs, flags=re.M))
    assert {int(k) for k in table} == {0, errors.EXIT_INTERNAL, errors.EXIT_CONFIG, errors.EXIT_DATA,
                                       errors.EXIT_RUNTIME, errors.EXIT_LOCK}
    assert "lock" in table[str(errors.EXIT_LOCK)] and "data" in table[str(errors.EXIT_DATA)]
    for cls, code in ((errors.ConfigError, 2), (errors.DataError, 3), (errors.StageRunError, 4),
                      (errors.LockError, 5)):
        assert cls("x").exit_code == code


def test_quick_start_is_two_commands_and_ci_runs_the_test_one(readme):
    quick = readme.split("## Quick start")[1].split("\n## ")[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick)
    assert len(commands) == 2 and "sqlrec run --demo" in commands[0] and "pytest" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].split("&& ", 1)[1] in ci.replace('"$VENV/bin/', ".venv/bin/").replace('"', "")


@pytest.mark.parametrize("script, block, page", [("readers", "readers", "readers.md"),
                                                 ("memory_limit", "memory-limit", "readers.md"),
                                                 ("neighbour_default", "neighbour-default", "recommenders.md"),
                                                 ("run", "run-1M", "performance.md"),
                                                 ("run", "run-5M", "performance.md"),
                                                 ("run", "run-20M", "performance.md"),
                                                 ("knobs", "knobs-1M", "performance.md")])
def test_the_measured_tables_of_the_docs_are_the_benchmarks_results(script, block, page):
    """The docs show what bench/<script>.py last measured (bench/results/<script>.json), not figures typed by hand:
    rerunning the script rewrites both."""
    import importlib
    import json
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    module = importlib.import_module(script)
    results = block if block.startswith(script + "-") else script  # run-1M.json: bench/run.py at one scale
    rows = json.loads((ROOT / "bench" / "results" / f"{results}.json").read_text())
    assert _figures(ROOT / "docs" / page, block) == module.render(rows), \
        f"docs/{page} is stale: run python bench/{script}.py"


def test_the_reliability_section_counts_the_bad_input_cases(all_docs):
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from test_bad_inputs import CASES
    assert f"(`tests/test_bad_inputs.py`, {len(CASES)} cases)" in all_docs
