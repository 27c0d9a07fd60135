"""Settings that can be checked without reading rows are checked by `sqlrec validate` and before any input's rows
are read, on the real example projects: ids in vars against the id column's type (Online Retail's stock codes are
text, MovieLens' ids integers), evaluate.slices against the users input's columns. (More cases, with the outputs
left untouched: tests/test_bad_inputs.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import CHECKOUT, ML100K, ONLINE_RETAIL

RETAIL = CHECKOUT / "examples" / "online-retail"
MOVIELENS = CHECKOUT / "examples" / "movielens-100k"
needs_retail = pytest.mark.skipif(not (ONLINE_RETAIL / "online_retail.parquet").is_file(),
                                  reason=f"UCI Online Retail not found in {ONLINE_RETAIL} (set SQLREC_ONLINE_RETAIL)")
needs_ml100k = pytest.mark.skipif(not (ML100K / "u.data").is_file(),
                                  reason=f"MovieLens 100K not found at {ML100K} (set SQLREC_ML100K)")


def validate(project, *settings: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sqlrec", "validate", "-p", str(project)]
    for setting in settings:
        command += ["--set", setting]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("project, wrong, says, right", [
    pytest.param(RETAIL, 'vars.deny_items=[85123, "22423"]',
                 ["`vars.deny_items` (given with --var or --set) holds 85123, but item ids in input `events`",
                  "are text (column `StockCode`, VARCHAR)",
                  'Hint: write the ids as text, e.g. deny_items = ["85123", "22423"]'],
                 'vars.deny_items=["85123A", "22423"]', marks=needs_retail, id="integer ids for text stock codes"),
    pytest.param(MOVIELENS, 'evaluate.slices=["segment", "gendr"]',
                 ["`evaluate.slices` names `gendr`, which is not a column of input `users`", "did you mean `gender`?"],
                 'evaluate.slices=["segment", "gender"]', marks=needs_ml100k, id="a slice that is no users column"),
])
def test_validate_refuses_a_setting_the_schemas_contradict(project, wrong, says, right):
    done = validate(project, wrong)
    assert done.returncode == 2, done.stderr
    for fragment in says:
        assert fragment in done.stderr, (fragment, done.stderr)
    assert validate(project, right).returncode == 0
