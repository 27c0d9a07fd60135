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


@needs_retail
def test_integer_ids_in_a_var_for_text_stock_codes_are_refused_by_validate():
    done = validate(RETAIL, "vars.deny_items=[85123, \"22423\"]")
    assert done.returncode == 2, done.stderr
    assert "`vars.deny_items` (given with --var or --set) holds 85123, but item ids in input `events`" in done.stderr
    assert "are text (column `StockCode`, VARCHAR)" in done.stderr
    assert 'Hint: write the ids as text, e.g. deny_items = ["85123", "22423"]' in done.stderr
    assert validate(RETAIL, "vars.deny_items=[\"85123A\", \"22423\"]").returncode == 0


@needs_ml100k
def test_a_slice_that_is_not_a_users_column_is_refused_by_validate():
    done = validate(MOVIELENS, 'evaluate.slices=["segment", "gendr"]')
    assert done.returncode == 2, done.stderr
    assert "`evaluate.slices` names `gendr`, which is not a column of input `users`" in done.stderr
    assert "did you mean `gender`?" in done.stderr
    assert validate(MOVIELENS, 'evaluate.slices=["segment", "gender"]').returncode == 0
