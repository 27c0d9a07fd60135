"""The building blocks of fast recommenders, each against a plain reference: the sparse scoring product against a
dense NumPy computation, the k-th largest per row against sorting, the top_k macro against the plain window it
replaces, and the Spark spelling of the DuckDB idioms it uses."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import sqlglot

from sqlrec.dialects import SqlrecSpark
from sqlrec.neighbour_scoring import kth_largest_per_row, top_candidates
from sqlrec.templating import make_environment
from sqlrec.resources import builtin_dir


def _random_problem(seed: int, users=60, items=40, history=0.15, neighbours=0.3, negative=False, ties=False):
    rng = np.random.default_rng(seed)
    affinity = np.where(rng.random((users, items)) < history, rng.integers(1, 4, (users, items)) * 0.5, 0.0)
    similarity = np.where(rng.random((items, items)) < neighbours, rng.random((items, items)), 0.0)
    if ties:  # few distinct values, so that many scores tie exactly
        similarity = np.round(similarity * 2) / 2
    if negative:  # mutual information can be negative
        similarity -= np.where(similarity != 0, 0.4, 0.0)
    np.fill_diagonal(similarity, 0.0)
    return affinity, similarity


def _dense_oracle(affinity, similarity, k):
    """Per user: unseen items with a nonzero score at or above the k-th best nonzero unseen score."""
    scores = affinity @ similarity
    expected = set()
    for u in range(affinity.shape[0]):
        eligible = [(scores[u, j], j) for j in range(affinity.shape[1]) if affinity[u, j] == 0 and scores[u, j] != 0]
        if not eligible:
            continue
        values = sorted((s for s, _ in eligible), reverse=True)
        kth = values[k - 1] if len(values) >= k else -np.inf
        expected |= {(u, j) for s, j in eligible if s >= kth}
    return scores, expected


@pytest.mark.parametrize("seed, negative, ties, k, work", [
    (1, False, False, 5, 10**9), (2, True, False, 3, 10**9), (3, False, True, 4, 10**9),
    (4, False, True, 1, 7),  # tiny work per slice: many slices of a few users each
    (5, True, True, 10, 50)])
def test_top_candidates_equal_dense_numpy(seed, negative, ties, k, work):
    affinity, similarity = _random_problem(seed, negative=negative, ties=ties)
    u, i = np.nonzero(affinity)
    si, so = np.nonzero(similarity)
    users, items, scores = top_candidates(u, i, affinity[u, i], si, so, similarity[si, so], k, work_per_slice=work)
    dense, expected = _dense_oracle(affinity, similarity, k)
    assert {(int(a), int(b)) for a, b in zip(users, items)} == expected
    np.testing.assert_allclose(scores, dense[users, items], rtol=1e-12)
    assert len(set(zip(users.tolist(), items.tolist()))) == len(users)  # one row per (user, item)


def test_top_candidates_of_nothing():
    empty = np.empty(0, np.int64)
    users, items, scores = top_candidates(empty, empty, np.empty(0), empty, empty, np.empty(0), 10)
    assert len(users) == len(items) == len(scores) == 0


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_kth_largest_per_row_equals_sorting(k):
    rng = np.random.default_rng(k)
    lengths = rng.integers(0, 40, 300)
    lengths[:5] = [0, 1, k - 1, k, 33]
    values = rng.integers(0, 6, int(lengths.sum())).astype(float)  # many repeats
    values[rng.random(len(values)) < 0.1] = -np.inf  # removed entries
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    got = kth_largest_per_row(indptr, values, k)
    for row in range(len(lengths)):
        part = sorted(values[indptr[row]:indptr[row + 1]], reverse=True)
        assert got[row] == (part[k - 1] if len(part) >= k else -np.inf), row


# -- the top_k macro ------------------------------------------------------------------------------------------

def _render_top_k(k: int) -> str:
    env = make_environment({p.name: p for p in sorted(builtin_dir("macros").glob("*.sql"))})
    body = env.from_string("{{ top_k('rows_', 'g', 'score', 'id', k) }}").render(k=k)
    return f"WITH rows_ AS MATERIALIZED (SELECT * FROM t) {body}"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_top_k_macro_equals_the_plain_window(k):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT i AS id, i % 11 AS g, CAST((i * 7919) % 5 AS DOUBLE) AS score "
                "FROM range(400) AS r(i)")  # 5 distinct scores per group: ties at every cut
    got = con.execute(f"SELECT g, id, score, rank FROM ({_render_top_k(k)}) ORDER BY g, rank").fetchall()
    expected = con.execute(f"""
        SELECT g, id, score, rank FROM (
            SELECT *, row_number() OVER (PARTITION BY g ORDER BY score DESC, id) AS rank FROM t)
        WHERE rank <= {k} ORDER BY g, rank""").fetchall()
    assert got == expected and len(got) == 11 * k


def test_top_k_macro_refuses_a_bad_k():
    with pytest.raises(Exception, match="k must be a whole number"):
        _render_top_k(0)


def test_spark_dialect_spells_the_duckdb_idioms():
    sql = sqlglot.transpile(_render_top_k(3), read="duckdb", write=SqlrecSpark,
                            unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
    assert "MATERIALIZED" not in sql
    assert "ARRAY_MIN(SLICE(SORT_ARRAY(COLLECT_LIST(`score`), FALSE), 1, 3))" in sql
    assert sqlglot.parse_one(sql, read="spark") is not None


# -- Arrow <-> NumPy for Python stages ------------------------------------------------------------------------

def test_numeric_columns_move_between_arrow_and_numpy_intact():
    import pyarrow as pa
    from sqlrec.arrays import to_arrow, to_numpy
    chunked = pa.chunked_array([pa.array([5, 6, 7, 8], pa.int32()).slice(1), pa.array([], pa.int32()),
                                pa.array([9], pa.int32())])  # an offset slice, an empty chunk
    assert to_numpy(chunked, np.int64).tolist() == [6, 7, 8, 9]
    assert to_numpy(pa.array([0.5, -1.25]), np.float64).tolist() == [0.5, -1.25]
    assert to_numpy(pa.array([], pa.float64()), np.float64).tolist() == []
    back = to_arrow(np.array([1, 2, 3], np.int64), pa.int32())
    assert back.type == pa.int32() and back.to_pylist() == [1, 2, 3]
    with pytest.raises(ValueError, match="1 NULLs"):
        to_numpy(pa.array([1, None]), np.int64)
    with pytest.raises(TypeError, match="integer or floating"):
        to_numpy(pa.array(["a"]), np.int64)
