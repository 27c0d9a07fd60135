"""The README documents every config key, every command and every exit code (checked against the code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqlrec import errors
from sqlrec.cli import cli
from sqlrec.config import SCHEMA

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def test_every_config_key_is_in_the_reference(readme):
    documented = set(re.findall(r"^\| `((?:project|inputs|output|engine|stages|vars|evaluate|tune|experiments)\.[a-z_.<>]+)` \|", readme,
                                flags=re.M))
    expected = set()
    for section, keys in SCHEMA.items():
        prefix = section.replace("inputs.*", "inputs.<name>").replace("stages.*", "stages.<stage>") \
            .replace("experiments.*.variants.*", "experiments.<name>.variants.<variant>") \
            .replace("experiments.*", "experiments.<name>")
        expected |= {f"{prefix}.{name}" for name in keys}
    expected.add("vars.<name>")
    assert expected == documented


def test_every_command_is_documented(readme):
    for name in cli.commands:
        assert f"`sqlrec {name}" in readme, name


def test_exit_codes_match_the_code(readme):
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", readme, flags=re.M))
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
