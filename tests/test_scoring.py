"""The building blocks of fast recommenders, each against a plain reference: the sparse scoring product against a
dense NumPy computation, the k-th largest per row against sorting, the top_k macro against the plain window it
replaces, and the Spark spelling of the DuckDB idioms it uses."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
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


# -- the pruned factor scoring macro --------------------------------------------------------------------------

def _factor_problem(seed: int, users=70, items=120, rank=6, seen=0.1, integer=True):
    """Factors with a decaying spectrum and item norms, as an SVD's (with `integer`, small whole numbers: every dot
    product exact, many ties), and seen pairs, with the awkward users: a zero vector, one who has seen every item,
    one who has seen all but two, one who has seen the items of largest norm."""
    rng = np.random.default_rng(seed)
    spread = np.linspace(4, 1, rank)  # the first dimensions carry most of the scores
    if integer:
        u = np.round(rng.uniform(-1, 1, (users, rank)) * spread)
        v = np.round(rng.uniform(-1, 1, (items, rank)) * spread) * rng.integers(1, 4, (items, 1))
    else:
        u = rng.standard_normal((users, rank)) * spread
        v = rng.standard_normal((items, rank)) * spread * rng.random((items, 1)) * 3
    u[0] = 0.0
    x = rng.random((users, items)) < seen
    x[1], x[2] = True, True
    x[2, :2] = False
    x[3, np.argsort(-np.linalg.norm(v, axis=1), kind="stable")[:10]] = True
    return u, v, x


def _numpy_lists(u, v, x, k):
    """Each user's k best unseen items, ties broken by the smaller item index."""
    scores = u @ v.T
    return {user: [j for _, j in sorted((-scores[user, j], j) for j in range(v.shape[0]) if not x[user, j])[:k]]
            for user in range(u.shape[0])}


def _list_column(matrix: np.ndarray) -> pa.Array:
    return pa.array([list(map(float, row)) for row in matrix], pa.list_(pa.float64()))


def _factor_tables(u, v, x) -> dict[str, pa.Table]:
    """The macro's inputs: factors as lists, the seen pairs, and the index -> id maps (ids offset from indexes)."""
    lists = _list_column
    seen_u, seen_i = np.nonzero(x)
    return {"uf": pa.table({"user_ix": np.arange(len(u), dtype=np.int32), "factors": lists(u)}),
            "itf": pa.table({"item_ix": np.arange(len(v), dtype=np.int32), "factors": lists(v)}),
            "seen": pa.table({"user_ix": seen_u.astype(np.int32), "item_ix": seen_i.astype(np.int32)}),
            "users_": pa.table({"user_ix": np.arange(len(u), dtype=np.int32), "user_id": np.arange(len(u)) + 1000}),
            "items_": pa.table({"item_ix": np.arange(len(v), dtype=np.int32), "item_id": np.arange(len(v)) + 500})}


def _render_factor_recommendations(k: int, head_items: int, lead_dims: int) -> str:
    env = make_environment({p.name: p for p in sorted(builtin_dir("macros").glob("*.sql"))})
    return env.from_string(
        "{{ factor_recommendations('uf' | ident, 'itf' | ident, 'seen' | ident, 'users_' | ident, 'items_' | ident, k, "
        "'svd', head_items, lead_dims) }}"
    ).render(k=k, head_items=head_items, lead_dims=lead_dims)


def _lists_of(rows) -> dict[int, list[int]]:
    lists: dict[int, list[int]] = {}
    for user_id, item_id, _score, rank, _source in sorted(rows, key=lambda r: (r[0], r[3])):
        assert rank == len(lists.setdefault(user_id - 1000, [])) + 1
        lists[user_id - 1000].append(item_id - 500)
    return lists


def _scored_by_path(con, sql) -> tuple[int, int, int, int]:
    """The macro's own CTEs, asked how it scored: users joined to the pruned tail, users scored against the whole
    tail, the head's dot products, and the pairs of the pruned tail that got a full dot product."""
    counting = sql[:sql.index("ranked AS (")] + "counted AS (SELECT 1) SELECT " \
        "(SELECT count(*) FROM floors WHERE pruned), (SELECT count(*) FROM floors WHERE NOT pruned), " \
        "(SELECT count(*) FROM head_scores), (SELECT count(*) FROM tail_pairs)"
    return con.execute(counting).fetchone()


@pytest.mark.parametrize("seed, k, head_items, lead_dims, integer", [
    (1, 5, 20, 2, True), (2, 3, 1, 1, True),  # a head of one item: nobody has k unseen head items
    (3, 10, 30, 6, True),  # lead_dims = rank: no rest
    (4, 4, 30, 9, True),  # lead_dims beyond the rank
    (5, 5, 200, 2, True),  # every item in the head
    (6, 5, 25, 3, False), (7, 1, 10, 2, False), (8, 5, 40, 3, True)])
def test_pruned_factor_scoring_equals_scoring_every_pair(seed, k, head_items, lead_dims, integer):
    u, v, x = _factor_problem(seed, integer=integer)
    con = duckdb.connect()
    for name, table in _factor_tables(u, v, x).items():
        con.register(name, table)
    sql = _render_factor_recommendations(k, head_items, lead_dims)
    rows = con.execute(sql).fetchall()
    got = _lists_of(rows)
    expected = {user: items for user, items in _numpy_lists(u, v, x, k).items() if items}
    assert got == expected
    scores = u @ v.T
    for user_id, item_id, score, _rank, source in rows:
        assert score == pytest.approx(scores[user_id - 1000, item_id - 500], abs=1e-12) and source == "svd"
    assert 1 not in got and len(got[2]) == min(2, k) and len(got[0]) == k  # all seen: none; two unseen: two; zero: ties
    pruned, unpruned, _head, tail_pairs = _scored_by_path(con, sql)
    if head_items == 1:
        assert pruned == 0
    elif head_items < v.shape[0]:  # both paths ran, so both were checked above
        assert pruned > 0 and unpruned > 0 and tail_pairs > 0


def test_pruned_factor_scoring_scores_few_pairs():
    """The point of the pruning: on factors with a decaying spectrum most pairs are never scored."""
    rng = np.random.default_rng(8)
    users, items, rank = 400, 600, 16
    u = rng.standard_normal((users, rank)) * np.geomspace(3, 0.1, rank)
    v = rng.standard_normal((items, rank)) * np.geomspace(1, 0.05, rank) * rng.pareto(2, (items, 1))
    x = rng.random((users, items)) < 0.02
    con = duckdb.connect()
    for name, table in _factor_tables(u, v, x).items():
        con.register(name, table)
    sql = _render_factor_recommendations(10, 60, 4)
    assert _lists_of(con.execute(sql).fetchall()) == _numpy_lists(u, v, x, 10)
    pruned, unpruned, head, tail_pairs = _scored_by_path(con, sql)
    assert unpruned == 0 and pruned == users  # every user pruned, so these are all the dot products taken
    assert head + tail_pairs < 0.3 * users * items


def test_factor_recommendations_refuses_bad_settings():
    with pytest.raises(Exception, match="head_items and lead_dims must be whole numbers"):
        _render_factor_recommendations(5, 0, 4)


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
