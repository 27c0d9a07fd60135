"""Latent-factor (SVD) and linear item (EASE) models: NumPy oracles for the fits, the SQL scoring against U @ V.T,
fold-in of users the fit never saw, reruns, the recommender contract, and `sqlrec tune`."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

import sqlrec
from sqlrec.factor_models import (ease_weights, randomized_svd, round_to_grid, strongest_per_row,
                                  top_factor_candidates)

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


# -- the NumPy fits ------------------------------------------------------------------------------------------

def _low_rank(seed, users=120, items=50, rank=6, density=0.3):
    rng = np.random.default_rng(seed)
    signal = rng.random((users, rank)) @ rng.random((rank, items))
    return sp.csr_matrix(np.where(rng.random((users, items)) < density, signal, 0.0))


def test_randomized_svd_equals_the_exact_svd():
    # Rank 8, within the 15 columns the range finder samples: its answer is exact up to rounding.
    x = _low_rank(1, rank=8, density=1.0)
    values, factors = randomized_svd(x, rank=5, oversampling=10, power_iterations=2, seed=3)
    _, exact_values, vt = np.linalg.svd(x.toarray(), full_matrices=False)
    np.testing.assert_allclose(values, exact_values[:5], rtol=1e-8)
    for dim in range(5):  # the same vectors up to sign; the sign rule makes the largest entry positive
        exact = vt[dim] * np.sign(vt[dim][np.abs(vt[dim]).argmax()])
        np.testing.assert_allclose(factors[:, dim], exact, atol=1e-6)  # the range finder runs in float32
        assert factors[np.abs(factors[:, dim]).argmax(), dim] > 0
    np.testing.assert_allclose(factors.T @ factors, np.eye(5), atol=1e-10)


def test_power_iterations_close_in_on_the_exact_singular_values():
    x = _low_rank(1)  # sparse and noisy: full rank, with close singular values after the first
    exact = np.linalg.svd(x.toarray(), compute_uv=False)[:5]
    errors = [np.abs(randomized_svd(x, 5, oversampling=5, power_iterations=q, seed=3)[0] - exact).max() / exact[0]
              for q in (0, 2, 6, 20)]
    assert errors[0] > errors[1] > errors[2] > errors[3] and errors[3] < 1e-6


def test_randomized_svd_is_the_same_on_every_rerun_and_refuses_a_bad_rank():
    x = _low_rank(2)
    first, second = randomized_svd(x, 8, seed=5), randomized_svd(x, 8, seed=5)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    with pytest.raises(ValueError, match="rank must be between 1 and 50"):
        randomized_svd(x, 51)


def test_ease_weights_equal_a_direct_numpy_solve():
    x = sp.csr_matrix((np.random.default_rng(4).random((80, 30)) < 0.2).astype(float))
    weights = ease_weights(x, 7.5)
    p = np.linalg.inv(x.toarray().T @ x.toarray() + 7.5 * np.eye(30))
    expected = np.eye(30) - p @ np.diag(1.0 / np.diag(p))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-12)
    with pytest.raises(ValueError, match="regularisation .* must be positive"):
        ease_weights(x, 0)


def test_strongest_per_row_keeps_ties_whole():
    weights = np.array([[0.0, 3.0, 1.0, 3.0], [2.0, 0.0, 0.0, 0.0]])
    rows, cols, values = strongest_per_row(weights, 1)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 1), (0, 3), (1, 0)]
    assert len(strongest_per_row(weights, 0)[0]) == 4  # 0 keeps every nonzero weight


@pytest.mark.parametrize("k, block", [(1, 500), (4, 7), (60, 3)])
def test_top_factor_candidates_equal_dense_numpy(k, block):
    rng = np.random.default_rng(k)
    users, items = rng.standard_normal((40, 6)), np.round(rng.standard_normal((50, 6)), 1)
    mask = (rng.random((40, 50)) < 0.2).astype(float)
    mask[0] = 1.0  # a user who has every item: nothing to recommend
    seen = sp.csr_matrix(mask)
    rows, cols, scores = top_factor_candidates(users, items, seen, k, users_per_block=block, threads=2)
    dense = users @ items.T
    expected = set()
    for u in range(40):
        unseen = [j for j in range(50) if seen[u, j] == 0]
        if unseen:
            kth = sorted((dense[u, j] for j in unseen), reverse=True)[min(k, len(unseen)) - 1]
            expected |= {(u, j) for j in unseen if dense[u, j] >= kth}
    assert set(zip(rows.tolist(), cols.tolist())) == expected
    np.testing.assert_allclose(scores, dense[rows, cols], rtol=1e-12)


@pytest.mark.parametrize("positive_only, grid_bits", [(False, None), (True, 40)])
def test_top_factor_candidates_over_many_items_equal_a_full_sort(positive_only, grid_bits):
    # 3,000 items: the k-th best is found among the scores at or above a bound from groups of 64 (k_th_lower_bound)
    rng = np.random.default_rng(7)
    users = rng.integers(-2, 3, (30, 4)).astype(float)
    items = np.round(rng.standard_normal((3_000, 4)), 1)  # few distinct scores: many ties at the k-th
    mask = (rng.random((30, 3_000)) < 0.3).astype(float)
    mask[0, :2_995] = 1.0  # a user with 5 unseen items: all of them
    seen = sp.csr_matrix(mask)
    rows, cols, scores = top_factor_candidates(users, items, seen, 10, positive_only=positive_only,
                                               grid_bits=grid_bits, threads=2)
    dense = users @ items.T
    if grid_bits:  # sums equal in exact arithmetic tie once rounded; unrounded, BLAS may order them either way
        dense = round_to_grid(dense, grid_bits)
    expected = set()
    for u in range(30):
        unseen = [j for j in range(3_000) if mask[u, j] == 0 and (dense[u, j] > 0 or not positive_only)]
        ranked = sorted((dense[u, j] for j in unseen), reverse=True)
        kth = ranked[min(10, len(ranked)) - 1] if ranked else np.inf
        expected |= {(u, j) for j in unseen if dense[u, j] >= kth}
    assert len(expected) > 300
    assert set(zip(rows.tolist(), cols.tolist())) == expected
    np.testing.assert_allclose(scores, dense[rows, cols], atol=1e-12)


@pytest.mark.parametrize("k", [1, 10, 40])
def test_scoring_by_descending_norm_skips_most_items_and_finds_the_full_sort_s_candidates(k, monkeypatch):
    # factors whose norms decay, as an SVD's do: popular items have long vectors. Items of one norm tie in order,
    # and some scores tie exactly at the k-th (integer factors)
    import sqlrec.factor_models as factor_models
    rng = np.random.default_rng(k)
    n_users, n_items = 300, 9_000
    items = rng.integers(-3, 4, (n_items, 8)).astype(float) * rng.zipf(1.5, n_items).clip(1, 50)[:, None]
    items[:500] = items[500:1_000]  # equal norms and equal scores
    users = rng.integers(-3, 4, (n_users, 8)).astype(float)
    users[0] = 0.0  # every score 0: every unseen item ties
    mask = rng.random((n_users, n_items)) < 0.01
    mask[1, :8_990] = True  # 10 unseen items
    seen = sp.csr_matrix(mask.astype(float))
    scored = []
    bound = factor_models.k_th_lower_bound
    monkeypatch.setattr(factor_models, "k_th_lower_bound", lambda s, kk: scored.append(s.size) or bound(s, kk))
    rows, cols, scores = top_factor_candidates(users, items, seen, k, threads=2)
    dense = np.where(mask, -np.inf, users @ items.T)
    kth = -np.sort(-dense, axis=1)[:, k - 1]
    expected = set(zip(*np.nonzero((dense >= kth[:, None]) & np.isfinite(dense))))
    assert len(expected) >= n_users * k
    assert set(zip(rows.tolist(), cols.tolist())) == expected
    np.testing.assert_allclose(scores, dense[rows, cols], rtol=1e-12)
    assert np.all(np.diff(rows) >= 0)  # by user
    assert sum(scored) < 0.5 * n_users * n_items, "the norm bound pruned too little"
    scored.clear()
    unpruned = top_factor_candidates(users, items, seen, k, threads=2, by_norm=False)
    assert sum(scored) == n_users * n_items
    assert all(np.array_equal(a, b) for a, b in zip((rows, cols), unpruned[:2]))


def test_a_failing_block_cancels_the_blocks_not_yet_started():
    # as Ctrl-C does: a stopped run must not first finish every block of the stage
    from sqlrec.neighbour_scoring import map_blocks
    ran = []

    def block(i):
        ran.append(i)
        time.sleep(0.002)
        if i == 0:
            raise KeyboardInterrupt
        return i

    with pytest.raises(KeyboardInterrupt):
        map_blocks(block, range(2_000), threads=2)
    assert 1 <= len(ran) < 100
    assert map_blocks(lambda i: i * i, range(50), threads=2) == [i * i for i in range(50)]


# -- the stages in a project -----------------------------------------------------------------------------------

def _events(seed, users=60, items=35, n=900):
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(1, users)), int(rng.integers(1, items)), START + timedelta(hours=i))
            for i in range(n)]


def _project(make_project, rows, name, extra=""):
    project = make_project(extra, name=name)
    pq.write_table(pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                             "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC"))}),
                   project.root / "data" / "events.parquet")
    for stage in ("rec_svd", "rec_ease", "int_svd_matrix", "int_svd_user_factors", "int_svd_item_factors",
                  "int_ease_weights", "int_user_index", "int_item_index"):
        project.write(f"sql/publish/out_{stage}.sql", f"SELECT * FROM {{{{ ref('{stage}') }}}}\n")
    return project


def _binary(result, rows):
    """The run's user and item indexes, and the binary user x item matrix of `rows` by them."""
    users = {r["user_id"]: r["user_ix"] for r in result.table("out_int_user_index").to_pylist()}
    items = {r["item_id"]: r["item_ix"] for r in result.table("out_int_item_index").to_pylist()}
    x = np.zeros((len(users), len(items)))
    for u, i, _ in rows:
        x[users[u], items[i]] = 1.0
    return users, items, x


def _dense(rows, index_column, value_column="factors"):
    index = [r[index_column] for r in rows]
    order = np.argsort(index)
    return np.array(index)[order], np.array([rows[i][value_column] for i in order])


@pytest.mark.parametrize("scoring", ["dense", "sql"])
def test_svd_scores_equal_numpy(make_project, scoring):
    rows = _events(21)
    project = _project(make_project, rows, f"svd_{scoring}",
                       f'\n[vars]\nk = 5\nsvd_rank = 6\nsvd_power_iterations = 30\n'
                       f'factor_scoring = "{scoring}"\n')
    result = sqlrec.run(project.root, progress=False)
    users, items, x = _binary(result, rows)  # binary weighting, the default
    item_ix, v = _dense(result.table("out_int_svd_item_factors").to_pylist(), "item_ix")
    assert list(item_ix) == list(range(len(items)))
    _, exact_values, vt = np.linalg.svd(x, full_matrices=False)
    # With enough power iterations V is the exact top-6 right singular vectors (up to sign).
    np.testing.assert_allclose(np.abs(v.T @ vt[:6].T), np.eye(6), atol=1e-6)
    user_ix, u = _dense(result.table("out_int_svd_user_factors").to_pylist(), "user_ix")
    np.testing.assert_allclose(u, x[user_ix] @ v, atol=1e-12)  # fold-in: x_u V
    scores = u @ v.T  # the scores the SQL ranks, from NumPy
    lists = {}
    for r in sorted(result.table("out_rec_svd").to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
        lists.setdefault(r["user_id"], []).append(r)
    for user, ix in users.items():
        unseen = [(-scores[ix, j], item) for item, j in items.items() if x[ix, j] == 0]
        expected = [item for _, item in sorted(unseen, key=lambda t: (round(t[0], 9), t[1]))][:5]
        assert [r["item_id"] for r in lists[user]] == expected, user
        for r in lists[user]:
            assert r["score"] == pytest.approx(scores[ix, items[r["item_id"]]], abs=1e-10)


def test_svd_folds_in_users_the_fit_never_saw(make_project):
    """Item factors from an earlier run, read back as an input: users with new events score without a refit."""
    rows = _events(22)
    first = _project(make_project, rows, "fit", "\n[vars]\nsvd_rank = 4\n[stages.item_factors]\nenabled = true\n")
    published = sqlrec.run(first.root, progress=False).path("item_factors")
    newcomer = [(999, 3, START + timedelta(days=90)), (999, 7, START + timedelta(days=90, hours=1))]
    later = _project(make_project, rows + newcomer, "later", f"""
        [inputs.item_factors]
        path = "{published}"
    """)
    # Replace the fit with the published factors (the dims in order), so nothing is refitted.
    later.write("sql/features/int_svd_item_factors.sql", """
        -- columns: item_ix, factors
        SELECT i.item_ix, list(f.value ORDER BY f.dim) AS factors
        FROM {{ source('item_factors') }} AS f JOIN {{ ref('int_item_index') }} AS i ON i.item_id = f.item_id
        GROUP BY i.item_ix
    """)
    result = sqlrec.run(later.root, progress=False)
    factors = {r["item_id"]: np.array(r["value"]) for r in
               duckdb.sql("SELECT item_id, list(value ORDER BY dim) AS value FROM read_parquet($p) GROUP BY item_id",
                          params={"p": str(published)}).to_arrow_table().to_pylist()}
    newcomer_ix = {r["user_id"]: r["user_ix"] for r in result.table("out_int_user_index").to_pylist()}[999]
    folded = {r["user_ix"]: np.array(r["factors"]) for r in result.table("out_int_svd_user_factors").to_pylist()}
    np.testing.assert_allclose(folded[newcomer_ix], factors[3] + factors[7], atol=1e-12)
    recs = [r for r in result.table("out_rec_svd").to_pylist() if r["user_id"] == 999]
    best = max((i for i in factors if i not in (3, 7)), key=lambda i: (float(factors[i] @ folded[newcomer_ix]), -i))
    assert len(recs) == 10 and min(recs, key=lambda r: r["rank"])["item_id"] == best


@pytest.mark.parametrize("scoring", ["sparse", "sql"])
def test_ease_scores_equal_numpy(make_project, scoring):
    rows = _events(23)
    project = _project(make_project, rows, f"ease_{scoring}",
                       f'\n[vars]\nk = 5\nease_lambda = 12.5\nneighbour_scoring = "{scoring}"\n')
    result = sqlrec.run(project.root, progress=False)
    users, items, x = _binary(result, rows)
    p = np.linalg.inv(x.T @ x + 12.5 * np.eye(len(items)))
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    got = np.zeros_like(b)
    for r in result.table("out_int_ease_weights").to_pylist():
        got[r["item_ix"], r["other_item_ix"]] = r["weight"]
    np.testing.assert_allclose(got, b, atol=1e-12)
    scores = x @ b
    for user, ix in users.items():
        unseen = [(-scores[ix, j], item) for item, j in items.items() if x[ix, j] == 0 and scores[ix, j] != 0]
        expected = [item for _, item in sorted(unseen, key=lambda t: (round(t[0], 9), t[1]))][:5]
        got_list = sorted((r for r in result.table("out_rec_ease").to_pylist() if r["user_id"] == user),
                          key=lambda r: r["rank"])
        assert [r["item_id"] for r in got_list] == expected, user


def test_reruns_give_identical_lists(make_project):
    rows = _events(24)
    project = _project(make_project, rows, "rerun", "\n[vars]\nsvd_rank = 5\n")
    first = sqlrec.run(project.root, progress=False)
    second = sqlrec.run(project.root, progress=False)
    for table in ("out_rec_svd", "out_rec_ease", "out_int_svd_item_factors"):
        key = ["item_ix"] if table == "out_int_svd_item_factors" else ["user_id", "rank"]
        a, b = (r.table(table).sort_by([(c, "ascending") for c in key]) for r in (first, second))
        assert a.equals(b), table


def test_published_factor_tables_are_off_until_enabled(make_project):
    rows = _events(25)
    project = _project(make_project, rows, "published")
    assert "item_factors" not in sqlrec.run(project.root, progress=False).tables
    project.write("sqlrec.toml", project.config.read_text() + """
[vars]
svd_rank = 3
ease_neighbours = 4
[stages.item_factors]
enabled = true
[stages.user_factors]
enabled = true
[stages.item_weights]
enabled = true
""")
    result = sqlrec.run(project.root, progress=False)
    item_factors = result.table("item_factors").to_pylist()
    assert sorted({r["dim"] for r in item_factors}) == [1, 2, 3]
    vectors = result.table("out_int_svd_item_factors").to_pylist()
    ids = {r["item_ix"]: r["item_id"] for r in result.table("out_int_item_index").to_pylist()}
    long = {(r["item_id"], r["dim"]): r["value"] for r in item_factors}
    assert all(long[(ids[v["item_ix"]], d + 1)] == value for v in vectors for d, value in enumerate(v["factors"]))
    weights = result.table("item_weights").to_pylist()
    per_item = {}
    for r in weights:
        per_item[r["item_id"]] = per_item.get(r["item_id"], 0) + 1
    assert max(per_item.values()) <= 5 and len(result.table("user_factors").to_pylist()) > 0  # 4, +ties


def test_ease_refuses_a_catalogue_over_its_limit(make_project):
    project = _project(make_project, _events(26), "big", "\n[vars]\nease_max_items = 10\n")
    with pytest.raises(sqlrec.SqlrecError, match=r"over vars.ease_max_items \(10.*use rec_cooccurrence"):
        sqlrec.run(project.root, progress=False)


@pytest.mark.parametrize("stage", ["rec_svd", "rec_ease"])
def test_factor_recommenders_keep_the_contract(make_project, stage):
    rows = _events(27)
    project = _project(make_project, rows, f"contract_{stage}", "\n[vars]\nsvd_rank = 4\n")
    table = sqlrec.run(project.root, progress=False).table(f"out_{stage}")
    assert table.column_names == ["user_id", "item_id", "score", "rank", "source"]
    out = table.to_pylist()
    seen = {(u, i) for u, i, _ in rows}
    n_items = len({i for _, i, _ in rows})
    assert not any((r["user_id"], r["item_id"]) in seen for r in out)
    assert len({(r["user_id"], r["item_id"]) for r in out}) == len(out)
    assert all(math.isfinite(r["score"]) for r in out)
    lists = {}
    for r in sorted(out, key=lambda r: (r["user_id"], r["rank"])):
        lists.setdefault(r["user_id"], []).append(r)
    for user in {u for u, _, _ in rows}:
        items = lists.get(user, [])
        unseen = n_items - len({i for u, i in seen if u == user})
        assert len(items) == min(10, unseen), user  # every unseen item is a candidate of these dense models
        assert [r["rank"] for r in items] == list(range(1, len(items) + 1))
        assert all((a["score"], -a["item_id"]) >= (b["score"], -b["item_id"]) for a, b in zip(items, items[1:]))


# -- sqlrec tune --------------------------------------------------------------------------------------------------

def test_tune_chooses_by_validation_and_never_sees_the_test_split(make_project):
    rows = _events(28, users=80, n=2_400)
    project = _project(make_project, rows, "tune", """
        [evaluate]
        split = "time"
        test_days = 20
        [tune]
        split = "stratified"
        ratio = 0.7
        k = 5
        [tune.grid.ease]
        ease_lambda = [1.0, 30.0, 3000.0]
    """)
    project.write("sql/eval_publish/tuned_on.sql", """
        -- columns: latest
        SELECT max(ts) AS latest FROM {{ ref('eval_split') }}
    """)
    result = sqlrec.tune(project.root, progress=False)
    table = result.results.to_pylist()
    assert [json.loads(r["params"])["ease_lambda"] for r in table] == [1.0, 30.0, 3000.0]
    best = max(table, key=lambda r: r["ndcg"])
    assert [r["chosen"] for r in table] == [r is best for r in table]
    assert result.best["ease"]["params"] == json.loads(best["params"])
    written = json.loads((result.run_dir / "best_params.json").read_text())
    assert written["best"]["ease"]["params"] == result.best["ease"]["params"] and written["metric"] == "ndcg"
    assert pq.read_table(result.run_dir / "tuning_results" / "data.parquet").num_rows == 3
    # What tuning split came only from events before [evaluate]'s test cut-off (20 days before the newest).
    cutoff = max(r[2] for r in rows) - timedelta(days=20)
    holdout = sqlrec.load(project.root).config
    from sqlrec.pipeline import compute_tables  # the stage tables of one grid point, as tune computes them
    from dataclasses import replace
    from types import MappingProxyType
    from sqlrec.config import SPLIT_KEYS
    point = replace(holdout, holdout=holdout.evaluation, evaluation=MappingProxyType(
        {**holdout.evaluation, **{k: holdout.tuning[k] for k in SPLIT_KEYS}, "models": ["ease"], "k": [5]}))
    seen = compute_tables(point, ("tuned_on",), mode="tune")["tuned_on"].to_pylist()[0]["latest"]
    assert seen < cutoff


def test_tune_without_a_grid_says_what_to_add(make_project):
    project = _project(make_project, _events(29), "nogrid")
    with pytest.raises(sqlrec.SqlrecError, match=r"\[tune\] has no grid"):
        sqlrec.tune(project.root, progress=False)
    project.write("sqlrec.toml", project.config.read_text() + "\n[tune.grid.nope]\nx = [1]\n")
    with pytest.raises(sqlrec.SqlrecError, match=r"`tune.grid.nope` names no recommender"):
        sqlrec.tune(project.root, progress=False)


def test_tune_on_the_command_line(make_project):
    from click.testing import CliRunner
    from sqlrec.cli import cli
    project = _project(make_project, _events(30), "cli", """
        [tune]
        split = "stratified"
        [tune.grid.svd]
        svd_rank = [2, 3]
    """)
    result = CliRunner().invoke(cli, ["tune", "-p", str(project.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert 'svd {"svd_rank": 2}: ndcg@10 = ' in result.output and "--var svd_rank=" in result.output
    assert "best_params.json" in result.output
