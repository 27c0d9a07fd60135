"""The popularity recommender against an independent NumPy computation on random data with many ties."""

from __future__ import annotations

import numpy as np
import pytest

import sqlrec

from conftest import write_events

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def _reference(rows, k):
    """Per user: the k highest-scoring items they have not seen, ties broken by the smaller item id."""
    users = np.array([r[0] for r in rows])
    items = np.array([r[1] for r in rows])
    weights = np.array([WEIGHTS[r[2]] for r in rows])
    item_ids = np.unique(items)
    scores = np.array([weights[items == i].sum() for i in item_ids])
    order = np.lexsort((item_ids, -scores))  # score descending, then item id ascending
    ranked = item_ids[order]
    expected = {}
    for user in np.unique(users):
        seen = set(items[users == user].tolist())
        picks = [int(i) for i in ranked if int(i) not in seen][:k]
        expected[int(user)] = picks
    return expected, dict(zip(item_ids.tolist(), scores.tolist()))


@pytest.mark.parametrize("seed, k", [(1, 5), (2, 10), (3, 1)])
def test_popularity_matches_numpy_reference(make_project, seed, k):
    rng = np.random.default_rng(seed)
    n = 3000
    rows = list(zip(rng.integers(1, 300, n).tolist(),
                    rng.integers(1, 60, n).tolist(),  # few items and small integer weights: many exact ties
                    rng.choice(list(WEIGHTS), n, p=[0.7, 0.2, 0.1]).tolist(),
                    rng.integers(0, 90, n).tolist()))
    project = make_project(f"\n[vars]\nk = {k}\n", name=f"pop{seed}")
    write_events(project.root / "data" / "events.parquet", rows)
    project.write("sql/publish/popular.sql", "SELECT * FROM {{ ref('rec_popularity') }}\n")
    result = sqlrec.run(project.root, progress=False)

    expected, scores = _reference(rows, k)
    got: dict[int, list[int]] = {}
    for r in sorted(result.table("popular").to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
        got.setdefault(r["user_id"], []).append(r["item_id"])
        assert r["score"] == pytest.approx(scores[r["item_id"]])
        assert r["source"] == "popularity"
    assert got == {u: items for u, items in expected.items() if items}
    ranks = result.relation("popular").aggregate("user_id, max(rank) = count(*) AS dense").fetchall()
    assert all(dense for _, dense in ranks)
