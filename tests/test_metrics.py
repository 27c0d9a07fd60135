"""Metric macros against independent references: Microsoft Recommenders' published benchmark, and NumPy."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sqlrec import metrics as metrics_module
from sqlrec.metrics import score_lists

from conftest import ML100K

DERIVED = ML100K / "derived"
needs_benchmark = pytest.mark.skipif(not (DERIVED / "ms_benchmark_sar_top10.csv.gz").is_file(),
                                     reason=f"Microsoft Recommenders' benchmark files not found in {DERIVED} "
                                            "(set SQLREC_ML100K); MovieLens may not be copied into the project")


@needs_benchmark
def test_sar_top10_on_the_benchmark_split_matches_the_published_table():
    test = duckdb.sql("SELECT userID AS user_id, itemID AS item_id FROM read_csv($p) WHERE split = 'test'",
                      params={"p": str(DERIVED / "ms_benchmark_split_seed42.csv.gz")}).to_arrow_table()
    recs = duckdb.sql('SELECT userID AS user_id, itemID AS item_id, "rank" FROM read_csv($p)',
                      params={"p": str(DERIVED / "ms_benchmark_sar_top10.csv.gz")}).to_arrow_table()
    summary = score_lists(recs, test, k=10).summary
    # Microsoft Recommenders, examples/06_benchmarks/movielens.ipynb (k = 10), and map_at_k from the README.
    assert round(summary["map"], 6) == 0.114038
    assert round(summary["ndcg"], 6) == 0.393819
    assert round(summary["precision"], 6) == 0.340615
    assert round(summary["recall"], 6) == 0.185377
    assert round(summary["map_at_k"], 6) == 0.258452
    assert summary["users"] == 943


# -- an independent NumPy reference ---------------------------------------------------------------------------


def _positions(recs):
    """user -> items in list order: by rank, ties broken by the smaller item id."""
    lists = {}
    for user, item, rank in sorted(recs, key=lambda r: (r[0], r[2], r[1])):
        lists.setdefault(user, []).append(item)
    return lists


def _reference_accuracy(recs, test, k, relevance=None):
    lists = _positions(recs)
    truth = {}
    for user, item in test:
        truth.setdefault(user, set()).add(item)
    out = {}
    for user, relevant in truth.items():
        top = lists.get(user, [])[:k]
        hits = np.array([item in relevant for item in top], dtype=float)
        discounts = 1 / np.log2(np.arange(2, len(top) + 2))
        if relevance is None:
            gains = hits
            ideal = np.sort(np.ones(len(relevant)))[::-1][:k]
        else:
            gains = np.array([2.0 ** relevance[(user, item)] - 1 if item in relevant else 0.0 for item in top])
            ideal = np.sort([2.0 ** relevance[(user, i)] - 1 for i in relevant])[::-1][:k]
        idcg = float(np.sum(ideal / np.log2(np.arange(2, len(ideal) + 2))))
        precisions = np.cumsum(hits) / np.arange(1, len(top) + 1) if len(top) else np.array([])
        ap_sum = float(np.sum(precisions * hits)) if len(top) else 0.0
        first = next((p + 1 for p, h in enumerate(hits) if h), None)
        out[user] = {"precision": hits.sum() / k, "recall": hits.sum() / len(relevant),
                     "ndcg": float(np.sum(gains * discounts)) / idcg if len(top) else 0.0,
                     "map": ap_sum / len(relevant), "map_at_k": ap_sum / min(k, len(relevant)),
                     "mrr": 1 / first if first else 0.0, "hit_rate": float(hits.sum() > 0)}
    return out


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    recs, test, relevance = [], [], {}
    for user in range(n_users):
        if user % 10 == 0:
            pass  # no list at all for this user
        else:
            length = int(rng.integers(1, 25))  # shorter and longer than k
            items = rng.choice(n_items, length, replace=False)
            ranks = rng.integers(1, 6, length)  # few distinct ranks: many ties
            recs += [(user, int(i), int(r)) for i, r in zip(items, ranks)]
        n_test = 1 if user % 7 == 0 else int(rng.integers(1, 12))  # some users with a single relevant item
        for item in rng.choice(n_items, n_test, replace=False):
            test.append((user, int(item)))
            relevance[(user, int(item))] = int(rng.integers(1, 6))
    test.append(test[0])  # a duplicated test row counts once
    return recs, test, relevance


def _table(rows, names):
    return pa.table({name: [r[i] for r in rows] for i, name in enumerate(names)})


@pytest.mark.parametrize("seed, k", [(1, 10), (2, 5), (3, 1), (4, 20)])
def test_accuracy_metrics_equal_a_numpy_reference(seed, k):
    recs, test, _ = _random_case(seed)
    scores = score_lists(_table(recs, ["user_id", "item_id", "rank"]), _table(test, ["user_id", "item_id"]), k=k)
    expected = _reference_accuracy(recs, test, k)
    got = {row["user_id"]: row for row in scores.per_user.to_pylist()}
    assert set(got) == set(expected)
    for user, metrics in expected.items():
        for name, value in metrics.items():
            assert got[user][name] == pytest.approx(value, abs=1e-9), (user, name)
    for name in expected[next(iter(expected))]:
        assert scores.summary[name] == pytest.approx(np.mean([m[name] for m in expected.values()]), abs=1e-9)


def test_graded_ndcg_equals_a_numpy_reference():
    recs, test, relevance = _random_case(5)
    test_rows = [(u, i, relevance[(u, i)]) for u, i in test]
    scores = score_lists(_table(recs, ["user_id", "item_id", "rank"]),
                         _table(test_rows, ["user_id", "item_id", "relevance"]), k=10, graded=True)
    expected = _reference_accuracy(recs, test, 10, relevance)
    for row in scores.per_user.to_pylist():
        assert row["ndcg"] == pytest.approx(expected[row["user_id"]]["ndcg"], abs=1e-9)


def test_beyond_accuracy_metrics_equal_a_numpy_reference():
    recs, test, _ = _random_case(6)
    rng = np.random.default_rng(6)
    n_items, k = 40, 10
    catalog = list(range(n_items + 5))  # five items nobody sees
    category = {i: f"c{int(rng.integers(4))}" for i in catalog}
    train = [(int(u), int(i)) for u, i in zip(rng.integers(0, 80, 900), rng.integers(0, n_items - 3, 900))]
    embedding = {i: rng.normal(size=4) for i in catalog}
    attributes = [(u, "vip" if u % 3 == 0 else "regular") for u in range(80)]
    scores = score_lists(
        _table(recs, ["user_id", "item_id", "rank"]), _table(test, ["user_id", "item_id"]), k=k,
        train=_table(train, ["user_id", "item_id"]),
        items=_table([(i, category[i]) for i in catalog], ["item_id", "category"]),
        embeddings=_table([(i, d, float(embedding[i][d])) for i in catalog for d in range(4)],
                          ["item_id", "dim", "value"]),
        user_attributes=_table(attributes, ["user_id", "segment"]))

    lists = {u: items[:k] for u, items in _positions(recs).items()}
    train_users = len({u for u, _ in train})
    item_users = {i: len({u for u, j in train if j == i}) for i in catalog}
    item_count = {i: sum(1 for _, j in train if j == i) for i in catalog}
    history = {}
    for u, i in train:
        history.setdefault(u, []).append(i)
    got = {row["user_id"]: row for row in scores.per_user.to_pylist()}
    for user, items in lists.items():
        row = got.get(user) or {}
        seen = [i for i in items if item_users[i] > 0]
        novelty = np.mean([-math.log2(item_users[i] / train_users) for i in seen]) if seen else None
        expected = {"novelty": novelty, "avg_popularity": np.mean([item_count[i] for i in items])}
        if len(items) > 1:
            pairs = [(a, b) for x, a in enumerate(items) for b in items[x + 1:]]
            expected["category_diversity"] = np.mean([category[a] != category[b] for a, b in pairs])
            expected["embedding_diversity"] = np.mean([
                1 - embedding[a] @ embedding[b] / (np.linalg.norm(embedding[a]) * np.linalg.norm(embedding[b]))
                for a, b in pairs])
        if user in history:
            profile = sorted(set(history[user]))
            expected["profile_popularity"] = np.mean([item_count[i] for i in profile])
            cats = sorted(set(category.values()))
            p = np.array([sum(category[i] == c for i in history[user]) for c in cats], float)
            p /= p.sum()
            q = np.array([sum(category[i] == c for i in items) for c in cats], float)
            q /= q.sum()
            q_tilde = 0.99 * q + 0.01 * p
            expected["calibration_kl"] = float(sum(pc * math.log2(pc / qc) for pc, qc in zip(p, q_tilde) if pc > 0))
        if user not in got:  # users with a list but no test items are not in the accuracy table
            continue
        for name, value in expected.items():
            if value is None:
                assert row[name] is None
            else:
                assert row[name] == pytest.approx(value, abs=1e-9), (user, name)

    slots = [i for items in lists.values() for i in items]
    counts = np.array([slots.count(i) for i in catalog], float)
    shares = counts[counts > 0] / counts.sum()
    x = np.sort(counts)
    n = len(x)
    gini = np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * x.sum())
    assert scores.summary["catalog_coverage"] == pytest.approx(np.count_nonzero(counts) / len(catalog), abs=1e-9)
    assert scores.summary["distributional_coverage"] == pytest.approx(-np.sum(shares * np.log2(shares)), abs=1e-9)
    assert scores.summary["gini"] == pytest.approx(gini, abs=1e-9)

    by_slice = {(r["slice"], r["value"]): r for r in scores.by_slice.to_pylist()}
    vip = [got[u]["precision"] for u in got if u % 3 == 0]
    assert by_slice[("segment", "vip")]["users"] == len(vip)
    assert by_slice[("segment", "vip")]["precision"] == pytest.approx(np.mean(vip), abs=1e-9)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        score_lists(pa.table({"user_id": [1], "item_id": [1], "rank": [1]}),
                    pa.table({"user_id": [1], "item_id": [1]}), k=0)


def test_graded_relevance_of_zero_or_below_is_not_relevant():
    """Relevance <= 0 (an impression, a return): no hit, no gain, not in recall's denominator; a user with nothing
    relevant is not a test user. The reference keeps only the positive items and scores them with NumPy."""
    recs, test, relevance = _random_case(7)
    rng = np.random.default_rng(7)
    for key in relevance:
        relevance[key] = int(rng.integers(-2, 4))  # -2 .. 3: about half not relevant
    test_rows = [(u, i, relevance[(u, i)]) for u, i in test]
    scores = score_lists(_table(recs, ["user_id", "item_id", "rank"]),
                         _table(test_rows, ["user_id", "item_id", "relevance"]), k=10, graded=True)
    positive = [(u, i) for u, i in test if relevance[(u, i)] > 0]
    expected = _reference_accuracy(recs, positive, 10, relevance)
    got = {row["user_id"]: row for row in scores.per_user.to_pylist()}
    assert set(got) == set(expected) and len(got) < len({u for u, _ in test})
    for user, metrics in expected.items():
        for name, value in metrics.items():
            assert got[user][name] == pytest.approx(value, abs=1e-9), (user, name)
    assert all(np.isfinite(v) for k, v in scores.summary.items() if k in expected[next(iter(expected))])


def test_a_list_naming_an_item_twice_is_refused_and_the_macro_counts_it_once():
    recs = _table([(1, 10, 1), (1, 10, 2), (1, 10, 3), (1, 11, 4)], ["user_id", "item_id", "rank"])
    test = _table([(1, 10), (1, 12)], ["user_id", "item_id"])
    with pytest.raises(ValueError, match="recs lists item 10 3 times for user 1"):
        score_lists(recs, test, k=4)
    con = duckdb.connect()
    con.register("recs", recs)
    con.register("test", test)
    sql = metrics_module._environment().from_string(
        "{{ accuracy_by_user('recs' | ident, 'test' | ident, 4) }}").render()
    row = dict(zip(["user_id", "n_relevant", "hits", "precision", "recall", "ndcg"], con.execute(sql).fetchone()))
    assert row["hits"] == 1 and row["recall"] == 0.5 and row["precision"] == 0.25
    assert row["ndcg"] == pytest.approx(1 / (1 + 1 / np.log2(3)), abs=1e-12)  # one hit at position 1 of 2 ideal


def test_graded_relevance_must_be_finite():
    recs = _table([(1, 10, 1)], ["user_id", "item_id", "rank"])
    test = _table([(1, 10, float("nan"))], ["user_id", "item_id", "relevance"])
    with pytest.raises(ValueError, match="finite"):
        score_lists(recs, test, k=1, graded=True)


def test_category_diversity_leaves_out_unknown_categories_and_is_null_without_any():
    """Pairs with an unknown category say nothing about diversity; a catalogue without categories gives NULL (shown
    as n/a), not 0, which would read as "every list is one category"."""
    recs = _table([(1, 10, 1), (1, 11, 2), (1, 12, 3), (1, 13, 4), (2, 11, 1), (2, 14, 2)],
                  ["user_id", "item_id", "rank"])
    test = _table([(1, 10), (2, 11)], ["user_id", "item_id"])
    train = _table([(3, 10), (3, 11)], ["user_id", "item_id"])
    items = pa.table({"item_id": [10, 11, 12, 13, 14], "category": ["a", None, "b", "a", None]})
    scores = score_lists(recs, test, k=4, train=train, items=items)
    got = {r["user_id"]: r["category_diversity"] for r in scores.per_user.to_pylist()}
    known = [("a", "b"), ("a", "a"), ("b", "a")]  # user 1's pairs with both categories known: 10-12, 10-13, 12-13
    assert got[1] == pytest.approx(np.mean([x != y for x, y in known]))
    assert got[2] is None  # 11 and 14 are both unknown
    none = score_lists(recs, test, k=4, train=train,
                       items=pa.table({"item_id": [10, 11, 12, 13, 14], "category": pa.nulls(5, pa.string())}))
    assert none.summary["category_diversity"] is None
