"""Recommender stages: SAR parity on MovieLens, NumPy oracles on random data, one contract for every recommender."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlrec
from sqlrec.datagen import WorldSize, generate
from sqlrec.metrics import score_lists
from sqlrec.stages.cooccurrence import upper_pair_counts

from conftest import ML100K, world_inputs

DERIVED = ML100K / "derived"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
SIMILARITIES = ["cooccurrence", "cosine", "jaccard", "lift", "inclusion_index", "mutual_information",
                "lexicographers_mutual_information", "damped"]


# -- SAR parity on the Recommenders benchmark -----------------------------------------------------------------

@pytest.mark.skipif(not (DERIVED / "ms_benchmark_sar_top10.csv.gz").is_file(),
                    reason=f"Recommenders' MovieLens benchmark files not found in {DERIVED} (set SQLREC_ML100K)")
@pytest.mark.parametrize("scoring", ["sparse", "sql"])
def test_cooccurrence_equals_sar_on_the_movielens_benchmark(tmp_path, scoring):
    split = DERIVED / "ms_benchmark_split_seed42.csv.gz"
    (tmp_path / "sqlrec.toml").write_text(f"""
[vars]
neighbour_scoring = "{scoring}"
cooccurrence_exact = true  # exact SAR: every neighbour and every user's whole history
[inputs.events]
path = "{split}"
format = "csv"
filter = "split = 'train'"
ts_format = "epoch_s"
weight_range = [1, 5]
[inputs.events.columns]
user_id = "userID"
item_id = "itemID"
ts = "timestamp"
weight = "rating"
""")
    (tmp_path / "sql" / "publish").mkdir(parents=True)
    (tmp_path / "sql" / "publish" / "sar.sql").write_text(
        "-- columns: user_id, item_id, score, rank\nSELECT user_id, item_id, score, rank FROM {{ ref('rec_cooccurrence') }}\n")
    result = sqlrec.run(tmp_path, progress=False)
    ours = {(r["user_id"], r["rank"]): (r["item_id"], r["score"]) for r in result.table("sar").to_pylist()}
    theirs = duckdb.sql("SELECT userID, itemID, prediction, rank FROM read_csv($p)",
                        params={"p": str(DERIVED / "ms_benchmark_sar_top10.csv.gz")}).fetchall()
    assert len(ours) == len(theirs) == 9_430
    same = sum(ours[(u, r)][0] == i for u, i, _, r in theirs)
    assert same == 9_430  # every entry, in the same order
    assert max(abs(ours[(u, r)][1] - p) / p for u, _, p, r in theirs) < 1e-8  # scores as printed by SAR
    test = duckdb.sql("SELECT userID AS user_id, itemID AS item_id FROM read_csv($p) WHERE split = 'test'",
                      params={"p": str(split)}).to_arrow_table()
    summary = score_lists(result.table("sar"), test, k=10).summary
    assert [round(summary[m], 6) for m in ("map", "ndcg", "precision", "recall")] == [
        0.114038, 0.393819, 0.340615, 0.185377]


# -- oracles on random data -----------------------------------------------------------------------------------

def _random_events(seed, users=40, items=25, n=400):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append((int(rng.integers(1, users)), int(rng.integers(1, items)), float(rng.integers(1, 6)),
                     START + timedelta(days=int(rng.integers(0, 90)), seconds=i)))
    return rows


def _oracle_project(make_project, rows, name, extra=""):
    project = make_project(extra, name=name)
    pq.write_table(pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                             "weight": [r[2] for r in rows],
                             "ts": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC"))}),
                   project.root / "data" / "events.parquet")
    for stage in ("int_user_affinity", "int_item_cooccurrence", "int_item_similarity", "rec_cooccurrence"):
        project.write(f"sql/publish/out_{stage}.sql", f"SELECT * FROM {{{{ ref('{stage}') }}}}\n")
    return project


def _numpy_model(rows, half_life_days=30.0):
    users = sorted({r[0] for r in rows})
    items = sorted({r[1] for r in rows})
    u_index = {u: k for k, u in enumerate(users)}
    i_index = {i: k for k, i in enumerate(items)}
    t_now = max(r[3] for r in rows)
    affinity = np.zeros((len(users), len(items)))
    for u, i, w, t in rows:
        affinity[u_index[u], i_index[i]] += w * min(1.0, 0.5 ** ((t_now - t).total_seconds() / (half_life_days * 86400)))
    binary = (affinity > 0).astype(float)
    return users, items, affinity, binary.T @ binary


def _numpy_similarity(name, c):
    diag = np.diag(c)
    rows, cols = diag[:, None], diag[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "cooccurrence": c,
            "cosine": c / np.sqrt(rows * cols),
            "jaccard": c / (rows + cols - c),
            "lift": c / (rows * cols),
            "inclusion_index": c / np.minimum(rows, cols),
            "mutual_information": np.log2(c.shape[0] * c / (rows * cols)),
            "lexicographers_mutual_information": c * np.log2(c.shape[0] * c / (rows * cols)),
            "damped": c / (rows ** 0.5 * cols ** 0.5),
        }[name]


@pytest.mark.parametrize("scoring", ["sparse", "sql"])
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_cooccurrence_stages_equal_numpy(make_project, similarity, scoring):
    rows = _random_events(11)
    project = _oracle_project(make_project, rows, f"o_{similarity}_{scoring}",
                              f'\n[vars]\ncooccurrence_similarity = "{similarity}"\nk = 5\n'
                              f'neighbour_scoring = "{scoring}"\n')
    result = sqlrec.run(project.root, progress=False)
    users, items, affinity, cooc = _numpy_model(rows)
    u_index = {u: k for k, u in enumerate(users)}
    i_index = {i: k for k, i in enumerate(items)}

    got_aff = np.zeros_like(affinity)
    for r in result.table("out_int_user_affinity").to_pylist():
        got_aff[u_index[r["user_id"]], i_index[r["item_id"]]] = r["affinity"]
    np.testing.assert_allclose(got_aff, affinity, rtol=1e-12, atol=1e-12)
    got_c = np.zeros_like(cooc)
    for r in result.table("out_int_item_cooccurrence").to_pylist():
        got_c[i_index[r["item_id"]], i_index[r["other_item_id"]]] = r["users"]
    np.testing.assert_array_equal(got_c, cooc)  # X^T X

    expected_s = _numpy_similarity(similarity, cooc)
    # SQL keeps the pairs of different items that co-occur. SAR's zero entries contribute nothing, and an item's
    # similarity to itself only scores items the user already has, which are removed.
    present = (cooc > 0) & ~np.eye(len(items), dtype=bool)
    got_s = np.zeros_like(cooc)
    similarity_rows = result.table("out_int_item_similarity").to_pylist()
    for r in similarity_rows:
        got_s[i_index[r["item_id"]], i_index[r["other_item_id"]]] = r["similarity"]
    assert len(similarity_rows) == present.sum()
    np.testing.assert_allclose(got_s[present], expected_s[present], rtol=1e-12)

    scores = affinity @ np.where(present, expected_s, 0.0)
    scores[affinity > 0] = -np.inf
    got = {}
    for r in sorted(result.table("out_rec_cooccurrence").to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
        got.setdefault(r["user_id"], []).append(r["item_id"])
    for user in users:
        row = scores[u_index[user]]
        # Candidates: unseen items with a nonzero score (a score of exactly 0 is no evidence, on both paths).
        candidates = [(-row[k], items[k]) for k in range(len(items)) if np.isfinite(row[k]) and row[k] != 0]
        # Ties broken by the smaller item id; near-equal floats are compared after rounding to 1e-9.
        expected = [i for _, i in sorted(candidates, key=lambda x: (round(x[0], 9), x[1]))][:5]
        assert got.get(user, []) == expected, user


def test_histories_are_capped_at_200_items_by_default(make_project):
    # a user with 230 items keeps the 200 of highest affinity; the others keep all of theirs (at most 25)
    rows = _random_events(5) + [(99, 1000 + i, float(1 + i % 5), START + timedelta(days=i % 90, seconds=i))
                                for i in range(230)]
    project = _oracle_project(make_project, rows, "cap")
    result = sqlrec.run(project.root, progress=False)
    users, items, affinity, _ = _numpy_model(rows)
    kept_rows = result.table("out_int_user_affinity").to_pylist()
    per_user = Counter(r["user_id"] for r in kept_rows)
    assert per_user[99] == 200
    for k, user in enumerate(users):
        kept = sorted((r["affinity"] for r in kept_rows if r["user_id"] == user), reverse=True)
        assert kept == pytest.approx(sorted(affinity[k][affinity[k] > 0], reverse=True)[:200])


def test_half_life_and_history_cap(make_project):
    rows = _random_events(12)
    project = _oracle_project(make_project, rows, "hl",
                              "\n[vars]\ncooccurrence_half_life_days = 7\ncooccurrence_max_history = 3\n")
    result = sqlrec.run(project.root, progress=False)
    users, items, affinity, _ = _numpy_model(rows, half_life_days=7)
    kept_rows = result.table("out_int_user_affinity").to_pylist()
    assert max(Counter(r["user_id"] for r in kept_rows).values()) == 3
    for k, user in enumerate(users):  # each user keeps their 3 items of highest 7-day-half-life affinity
        kept = [r["affinity"] for r in kept_rows if r["user_id"] == user]
        assert sorted(kept, reverse=True) == pytest.approx(sorted(affinity[k][affinity[k] > 0], reverse=True)[:3])


def test_neighbour_pruning_keeps_the_top_n_per_item(make_project):
    rows = _random_events(13)
    project = _oracle_project(make_project, rows, "nb", "\n[vars]\ncooccurrence_neighbours = 4\n")
    result = sqlrec.run(project.root, progress=False)
    _, items, _, cooc = _numpy_model(rows)
    jaccard = _numpy_similarity("jaccard", cooc)
    got = {}
    for r in result.table("out_int_item_similarity").to_pylist():
        got.setdefault(r["item_id"], []).append((r["similarity"], r["other_item_id"]))
    for k, item in enumerate(items):
        others = sorted(((-jaccard[k, j], items[j]) for j in range(len(items)) if j != k and cooc[k, j] > 0))
        expected = [i for _, i in others[:4]]
        assert [i for _, i in sorted(got.get(item, []), key=lambda x: (-x[0], x[1]))] == expected


@pytest.mark.parametrize("scoring", ["sparse", "sql"])
def test_slicing_knobs_do_not_change_results(make_project, scoring):
    """Counting pairs as a sparse product or in SQL in 1 or 7 slices of items, and scoring users in 1 or 3 slices,
    give the same outputs."""
    rows = _random_events(14, users=60, items=30, n=700)
    outputs = []
    for name, counting, partitions, score_partitions in (("sparse", "sparse", 32, 1), ("one", "sql", 1, 1),
                                                         ("sliced", "sql", 7, 3)):
        score_slices = f"cooccurrence_score_partitions = {score_partitions}\n" if scoring == "sql" else ""
        project = _oracle_project(make_project, rows, f"{name}_{scoring}",
                                  f"\n[vars]\ncooccurrence_partitions = {partitions}\n{score_slices}"
                                  f'cooccurrence_counting = "{counting}"\n'
                                  f'cooccurrence_neighbours = 6\nneighbour_scoring = "{scoring}"\n')
        result = sqlrec.run(project.root, progress=False)
        outputs.append({stage: sorted(tuple(r.values()) for r in result.table(f"out_{stage}").to_pylist())
                        for stage in ("int_item_cooccurrence", "int_item_similarity", "rec_cooccurrence")})
    first = outputs[0]
    for other in outputs[1:]:
        assert first["int_item_cooccurrence"] == other["int_item_cooccurrence"]  # integer counts: identical
        assert first["int_item_similarity"] == other["int_item_similarity"]
        # Lists identical; scores summed in another order may differ in the last bit.
        assert [(u, i, rank) for u, i, _, rank, _ in first["rec_cooccurrence"]] == \
            [(u, i, rank) for u, i, _, rank, _ in other["rec_cooccurrence"]]
        assert [r[2] for r in first["rec_cooccurrence"]] == pytest.approx(
            [r[2] for r in other["rec_cooccurrence"]], rel=1e-12)
    assert len(first["rec_cooccurrence"]) > 100


@pytest.mark.parametrize("counting", ["sparse", "sql"])
def test_pair_counts_store_each_pair_once(make_project, counting):
    rows = _random_events(15)
    project = _oracle_project(make_project, rows, f"once_{counting}",
                              f'\n[vars]\ncooccurrence_counting = "{counting}"\n')
    project.write("sql/publish/out_pairs.sql", "SELECT * FROM {{ ref('int_item_pair_counts') }}\n")
    project.write("sql/publish/out_index.sql", "SELECT * FROM {{ ref('int_item_index') }}\n")
    result = sqlrec.run(project.root, progress=False)
    _, items, _, cooc = _numpy_model(rows)
    index = {r["item_ix"]: r["item_id"] for r in result.table("out_index").to_pylist()}
    assert sorted(index.values()) == items and sorted(index) == list(range(len(items)))  # dense, in id order
    assert all(index[ix] < index[ix + 1] for ix in range(len(items) - 1))
    got = np.zeros_like(cooc)
    for r in result.table("out_pairs").to_pylist():
        assert r["item_ix"] <= r["other_item_ix"]
        got[items.index(index[r["item_ix"]]), items.index(index[r["other_item_ix"]])] = r["users"]
    np.testing.assert_array_equal(got, np.triu(cooc))


@pytest.mark.parametrize("work_per_slice, threads", [(1, 3), (60, 2), (10**9, 1)])
def test_sparse_pair_counts_equal_numpy_for_any_slicing(work_per_slice, threads):
    rng = np.random.default_rng(7)
    baskets = rng.random((80, 40)) < 0.15
    baskets[:, 5] = False  # an item nobody had: no row at all
    users, items = np.nonzero(baskets)
    order = rng.permutation(len(users))  # rows in any order
    rows, cols, counts = upper_pair_counts(users[order], items[order], 40, threads=threads,
                                           work_per_slice=work_per_slice)
    assert (rows <= cols).all() and len(set(zip(rows.tolist(), cols.tolist()))) == len(rows)
    assert (np.diff(rows) >= 0).all() and (counts > 0).all()
    got = np.zeros((40, 40), np.int64)
    got[rows, cols] = counts
    np.testing.assert_array_equal(got, np.triu(baskets.T.astype(np.int64) @ baskets))


# -- content similarity ---------------------------------------------------------------------------------------

SHOP_STAGES = ("int_item_tokens", "int_item_content_similarity", "int_item_similarity", "int_user_affinity",
               "rec_content", "rec_cooccurrence", "rec_popularity", "int_item_popularity", "int_latest_session",
               "rec_session")


def _shop_run(folder, scoring):
    """neighbour_scoring = content_similarity = cooccurrence_counting = "sql" is the all-SQL run; "sparse" the
    default Python stages."""
    project = folder / scoring
    project.mkdir()
    (project / "sqlrec.toml").write_text(f"""
{world_inputs("../data")}[output]
path = "out"
[vars]
k = 10
neighbour_scoring = "{scoring}"
content_similarity = "{'sql' if scoring == 'sql' else 'dense'}"
cooccurrence_counting = "{scoring}"
""")
    (project / "sql" / "publish").mkdir(parents=True)
    for stage in SHOP_STAGES:
        (project / "sql" / "publish" / f"out_{stage}.sql").write_text(f"SELECT * FROM {{{{ ref('{stage}') }}}}\n")
    return sqlrec.run(project, progress=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    generate(out / "data", WorldSize(users=400, items=120, events=6_000, seed=5))
    return out, _shop_run(out, "sparse")


@pytest.fixture(scope="module")
def shop_sql(shop):
    folder, _ = shop
    return folder, _shop_run(folder, "sql")


def test_tfidf_cosine_equals_numpy(shop):
    folder, result = shop
    items = pq.read_table(folder / "data" / "items.parquet").to_pylist()
    docs = {}
    for it in items:
        tokens = [t for t in re.split(r"[^a-z0-9]+", f"{it['title']} {it['description']}".lower()) if len(t) >= 2]
        tokens += [f"category={it['category'].lower()}", f"brand={it['brand'].lower()}",
                   f"tier={it['price_tier'].lower()}"]
        docs[it["item_id"]] = Counter(tokens)
    n = len(docs)
    df = Counter(t for counts in docs.values() for t in counts)
    vocab = sorted(t for t, d in df.items() if d <= 0.5 * n and d < n)
    ids = sorted(docs)
    matrix = np.array([[docs[i][t] * math.log(n / df[t]) for t in vocab] for i in ids])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    cosine = matrix @ matrix.T
    index = {i: k for k, i in enumerate(ids)}
    pairs = result.table("out_int_item_content_similarity").to_pylist()
    for r in pairs:
        assert r["similarity"] == pytest.approx(cosine[index[r["item_id"]], index[r["other_item_id"]]], abs=1e-12)
    per_item = Counter(r["item_id"] for r in pairs)
    for item in ids:  # 50 neighbours, or every item sharing a token when fewer do
        assert per_item[item] == min(50, int(np.sum(cosine[index[item]] > 1e-12)) - 1)
    for item in ids[:20]:  # the kept neighbours are the 50 most similar, ties by id
        row = cosine[index[item]]
        expected = sorted(((-row[k], ids[k]) for k in range(n) if ids[k] != item and row[k] > 1e-12))[:50]
        got = sorted(((-r["similarity"], r["other_item_id"]) for r in pairs if r["item_id"] == item))
        assert [i for _, i in got] == [i for _, i in expected]


def test_content_similarity_is_the_same_from_blas_blocks_and_from_the_sql_join(shop, shop_sql):
    dense = shop[1].table("out_int_item_content_similarity").to_pylist()
    joined = shop_sql[1].table("out_int_item_content_similarity").to_pylist()
    assert len(dense) > 1000
    key = lambda r: (r["item_id"], r["other_item_id"])  # noqa: E731
    assert sorted(map(key, dense)) == sorted(map(key, joined))
    by_pair = {key(r): r["similarity"] for r in joined}
    assert max(abs(r["similarity"] - by_pair[key(r)]) for r in dense) <= 1e-12


@pytest.mark.parametrize("vectors", ["dense", "sparse"])
def test_content_similarity_from_blocks_keeps_ties_at_the_cut_whole_for_sql_to_break_by_id(vectors, monkeypatch):
    from sqlrec.stages import content
    from sqlrec.stages.content import int_content_similarity_candidates
    if vectors == "sparse":  # as for a vocabulary too large for a dense matrix
        monkeypatch.setattr(content, "DENSE_BYTES", 0)
    tokens = pa.table({"item_id": ["a", "a", "b", "c", "c", "d", "e", "f"],
                       "token": ["x", "y", "x", "x", "y", "x", "z", "x"],
                       "weight": [0.6, 0.8, 1.0, 0.6, 0.8, 1.0, 1.0, 1.0]})
    index = pa.table({"item_id": ["a", "b", "c", "d", "e", "f"], "item_ix": pa.array(range(6), pa.int32())})
    got = int_content_similarity_candidates({"int_item_tokens": tokens, "int_item_index": index},
                                            {"content_neighbours": 1}).to_pylist()
    # a and c are the same vector (0.6^2 + 0.8^2, exactly 1 once rounded); b, d and f are too, so b's one best
    # neighbour is a tie of d and f, both kept; e shares no token with anyone and has no row
    assert sorted((r["item_ix"], r["other_item_ix"], r["similarity"]) for r in got) == [
        (0, 2, 1.0), (1, 3, 1.0), (1, 5, 1.0), (2, 0, 1.0), (3, 1, 1.0), (3, 5, 1.0), (5, 1, 1.0), (5, 3, 1.0)]


def test_content_similarity_multiplies_sparse_vectors_when_blas_would_mostly_multiply_zeros(monkeypatch):
    """Titles over a large vocabulary (5 words of 3,000 per item, as in Online Retail) take the sparse product; a
    small shop vocabulary takes BLAS. Both give the same neighbours, similarities equal to the grid (2^-40)."""
    from sqlrec.stages import content
    rng = np.random.default_rng(3)
    n_items, words = 600, 3_000
    items = np.repeat(np.arange(n_items), 5)
    tokens = pa.table({"item_id": items, "token": [f"w{t}" for t in rng.integers(0, words, items.size)],
                       "weight": rng.uniform(0.1, 1.0, items.size)})
    tokens = pa.table(duckdb.sql("SELECT item_id, token, sum(weight) AS weight FROM tokens GROUP BY ALL").arrow()
                      .read_all())
    index = pa.table({"item_id": np.arange(n_items), "item_ix": pa.array(range(n_items), pa.int32())})
    import sqlrec.factor_models as factor_models
    chosen = []
    original = factor_models.top_factor_candidates

    def recording(user_factors, *args, **kwargs):
        chosen.append("dense" if isinstance(user_factors, np.ndarray) else "sparse")
        return original(user_factors, *args, **kwargs)
    monkeypatch.setattr(factor_models, "top_factor_candidates", recording)
    tables = {"int_item_tokens": tokens, "int_item_index": index}
    by_sparse = content.int_content_similarity_candidates(tables, {"content_neighbours": 10}).to_pylist()
    monkeypatch.setattr(content, "DENSE_OVER_SPARSE", 10**12)  # BLAS whatever the work
    by_blas = content.int_content_similarity_candidates(tables, {"content_neighbours": 10}).to_pylist()
    assert chosen == ["sparse", "dense"]
    key = lambda r: (r["item_ix"], r["other_item_ix"])  # noqa: E731
    assert len(by_sparse) > 2_000 and sorted(map(key, by_sparse)) == sorted(map(key, by_blas))
    blas = {key(r): r["similarity"] for r in by_blas}
    assert max(abs(r["similarity"] - blas[key(r)]) for r in by_sparse) <= 2.0 ** -40
    monkeypatch.undo()
    shop = pa.table({"item_id": np.repeat(np.arange(n_items), 3),  # category, brand, tier: 3 of 40 tokens
                     "token": [f"t{t}" for t in rng.integers(0, 40, 3 * n_items)],
                     "weight": np.ones(3 * n_items)})
    shop = pa.table(duckdb.sql("SELECT item_id, token, sum(weight) AS weight FROM shop GROUP BY ALL").arrow()
                    .read_all())
    monkeypatch.setattr(factor_models, "top_factor_candidates", recording)
    content.int_content_similarity_candidates({"int_item_tokens": shop, "int_item_index": index},
                                              {"content_neighbours": 10})
    assert chosen[-1] == "dense"


def test_content_similarity_from_blocks_reads_inputs_in_several_chunks_alike():
    # each Arrow chunk encodes its own dictionary of tokens; the codes must still name the same token
    from sqlrec.stages.content import int_content_similarity_candidates
    tokens = pa.Table.from_batches([
        pa.record_batch({"item_id": ["a", "a", "b"], "token": ["x", "y", "x"], "weight": [0.6, 0.8, 1.0]}),
        pa.record_batch({"item_id": ["c", "c", "d"], "token": ["y", "x", "z"], "weight": [0.8, 0.6, 1.0]})])
    index = pa.table({"item_id": ["a", "b", "c", "d"], "item_ix": pa.array(range(4), pa.int32())})
    got = int_content_similarity_candidates({"int_item_tokens": tokens, "int_item_index": index},
                                            {"content_neighbours": 1}).to_pylist()
    assert [(r["item_ix"], r["other_item_ix"]) for r in sorted(got, key=lambda r: (r["item_ix"], r["other_item_ix"]))] \
        == [(0, 2), (1, 0), (1, 2), (2, 0)]
    assert {round(r["similarity"], 9) for r in got} == {1.0, 0.6}


def test_content_recommends_items_without_events(shop):
    folder, result = shop
    sold = set(pq.read_table(folder / "data" / "events.parquet").column("item_id").to_pylist())
    recommended = set(result.table("out_rec_content").column("item_id").to_pylist())
    assert recommended - sold  # catalogue items nobody interacted with still get recommended


def test_similar_items_output(shop):
    _, result = shop
    rows = result.table("similar_items").to_pylist()
    assert {r["source"] for r in rows} == {"cooccurrence", "content"}
    by_key = Counter((r["item_id"], r["source"]) for r in rows)
    assert max(by_key.values()) == 10 and all(r["item_id"] != r["other_item_id"] for r in rows)


# -- the contract every recommender stage keeps ---------------------------------------------------------------

def _lists(rows):
    lists = {}
    for r in sorted(rows, key=lambda r: (r["user_id"], r["rank"])):
        lists.setdefault(r["user_id"], []).append(r)
    return lists


@pytest.mark.parametrize("stage, source", [("rec_popularity", "popularity"), ("rec_cooccurrence", "cooccurrence"),
                                           ("rec_content", "content")])
def test_recommender_contract(shop, stage, source):
    folder, result = shop
    table = result.table(f"out_{stage}")
    assert table.column_names == ["user_id", "item_id", "score", "rank", "source"]
    rows = table.to_pylist()
    assert {r["source"] for r in rows} == {source}
    assert len({(r["user_id"], r["item_id"]) for r in rows}) == len(rows)  # no duplicates
    events = pq.read_table(folder / "data" / "events.parquet").to_pylist()
    seen = {(e["user_id"], e["item_id"]) for e in events}
    assert not any((r["user_id"], r["item_id"]) in seen for r in rows)  # no seen items
    assert all(math.isfinite(r["score"]) for r in rows)
    candidates = _candidate_counts(folder, result, stage, events, seen)
    lists = _lists(rows)
    for user, items in lists.items():
        assert [r["rank"] for r in items] == list(range(1, len(items) + 1))
        assert all((a["score"], -a["item_id"]) >= (b["score"], -b["item_id"]) for a, b in zip(items, items[1:]))
    for user, n in candidates.items():  # exactly k rows for every user with k candidates, else all of them
        assert len(lists.get(user, [])) == min(10, n), user
    assert sum(len(v) == 10 for v in lists.values()) > 0.9 * len(lists)
    if stage == "rec_popularity":  # users without events get the popular items too
        users = pq.read_table(folder / "data" / "users.parquet").column("user_id").to_pylist()
        assert set(users) <= set(lists)


def _candidate_counts(folder, result, stage, events, seen):
    """How many items each user could be recommended, computed in Python from the stages' inputs."""
    users = {e["user_id"] for e in events}
    if stage == "rec_popularity":  # every sold item the user has not seen
        sold = {e["item_id"] for e in events}
        return {u: len(sold) - len({i for v, i in seen if v == u}) for u in users}
    similarity = "int_item_similarity" if stage == "rec_cooccurrence" else "int_item_content_similarity"
    neighbours = {}
    for r in result.table(f"out_{similarity}").to_pylist():
        neighbours.setdefault(r["item_id"], {})[r["other_item_id"]] = r["similarity"]
    affinity = {(r["user_id"], r["item_id"]): r["affinity"] for r in result.table("out_int_user_affinity").to_pylist()}
    scores = {}
    for (user, item), a in affinity.items():
        for other, sim in neighbours.get(item, {}).items():
            scores[(user, other)] = scores.get((user, other), 0.0) + a * sim
    counts = dict.fromkeys(users, 0)
    for (user, other), score in scores.items():
        if (user, other) not in seen and score != 0:
            counts[user] += 1
    return counts


@pytest.mark.parametrize("stage", ["rec_cooccurrence", "rec_content", "rec_session"])
def test_sparse_and_sql_scoring_give_the_same_lists(shop, shop_sql, stage):
    sparse = _lists(shop[1].table(f"out_{stage}").to_pylist())
    sql = _lists(shop_sql[1].table(f"out_{stage}").to_pylist())
    assert sparse.keys() == sql.keys()
    for user in sparse:
        assert [r["item_id"] for r in sparse[user]] == [r["item_id"] for r in sql[user]], user
        assert [r["score"] for r in sparse[user]] == pytest.approx([r["score"] for r in sql[user]], rel=1e-12)


def test_session_recommender_equals_python(shop):
    """rec_session: the summed similarity to the items of the latest visit, leaving out every item the user ever
    had (not only those of the visit), the best k per user, ties by the smaller item id."""
    folder, result = shop
    events = pq.read_table(folder / "data" / "events.parquet").to_pylist()
    ever = {(e["user_id"], e["item_id"]) for e in events}
    neighbours = {}
    for r in result.table("out_int_item_similarity").to_pylist():
        neighbours.setdefault(r["item_id"], {})[r["other_item_id"]] = r["similarity"]
    scores = {}
    for r in result.table("out_int_latest_session").to_pylist():
        for other, sim in neighbours.get(r["item_id"], {}).items():
            user_scores = scores.setdefault(r["user_id"], {})
            user_scores[other] = user_scores.get(other, 0.0) + sim
    got = _lists(result.table("out_rec_session").to_pylist())
    expected = {}
    for user, user_scores in scores.items():
        ranked = sorted((-round(v, 9), item) for item, v in user_scores.items() if (user, item) not in ever and v)
        if ranked:
            expected[user] = [item for _, item in ranked[:10]]
    assert {user: [r["item_id"] for r in rows] for user, rows in got.items()} == expected
    left_out = sum(1 for user in scores for item in scores[user] if (user, item) in ever)
    assert left_out > 0 and len(expected) > 100  # the oracle had seen items to leave out, and many users


# -- popularity variants --------------------------------------------------------------------------------------

def test_popularity_variants_equal_numpy(shop):
    folder, result = shop
    events = pq.read_table(folder / "data" / "events.parquet").to_pylist()
    weights = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
    t_now = max(e["ts"] for e in events)
    got = {r["item_id"]: r for r in result.table("out_int_item_popularity").to_pylist()}
    score, users, decayed, recent, earlier = Counter(), {}, Counter(), Counter(), Counter()
    for e in events:
        w = weights[e["event_type"]]
        age = (t_now - e["ts"]).total_seconds()
        score[e["item_id"]] += w
        users.setdefault(e["item_id"], set()).add(e["user_id"])
        decayed[e["item_id"]] += w * 0.5 ** (age / (14 * 86400))
        if age < 7 * 86400:
            recent[e["item_id"]] += w
        elif age < 14 * 86400:
            earlier[e["item_id"]] += w
    mean = sum(score.values()) / sum(len(u) for u in users.values())
    for item, row in got.items():
        assert row["score"] == pytest.approx(score[item])
        assert row["decayed_score"] == pytest.approx(decayed[item], rel=1e-12)
        assert row["trending_score"] == pytest.approx((recent[item] + 5) / (earlier[item] + 5), rel=1e-12)
        assert row["smoothed_score"] == pytest.approx((score[item] + 5 * mean) / (len(users[item]) + 5), rel=1e-12)


def test_popularity_within_the_users_segment(shop):
    folder, _ = shop
    project = folder / "by_segment"
    project.mkdir()
    (project / "sqlrec.toml").write_text("""
[inputs.events]
path = "../data/events.parquet"
[inputs.users]
path = "../data/users.parquet"
[output]
path = "out"
[vars]
k = 5
popularity_by = "segment"
popularity_score = "smoothed_score"
""")
    (project / "sql" / "publish").mkdir(parents=True)
    for stage in ("rec_popularity", "int_segment_popularity"):
        (project / "sql" / "publish" / f"out_{stage}.sql").write_text(f"SELECT * FROM {{{{ ref('{stage}') }}}}\n")
    result = sqlrec.run(project, progress=False)
    events = pq.read_table(folder / "data" / "events.parquet").to_pylist()
    segment = {u["user_id"]: u["segment"] or "(none)"
               for u in pq.read_table(folder / "data" / "users.parquet").to_pylist()}
    weights = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
    score, buyers = Counter(), {}
    for e in events:
        key = (segment.get(e["user_id"], "(none)"), e["item_id"])
        score[key] += weights[e["event_type"]]
        buyers.setdefault(key, set()).add(e["user_id"])
    mean = {s: sum(v for (g, _), v in score.items() if g == s) / sum(len(b) for (g, _), b in buyers.items() if g == s)
            for s in {g for g, _ in score}}
    smoothed = {key: (score[key] + 5 * mean[key[0]]) / (len(buyers[key]) + 5) for key in score}
    got = {(r["segment"], r["item_id"]): r["smoothed_score"] for r in result.table("out_int_segment_popularity").to_pylist()}
    assert got.keys() == smoothed.keys()
    assert all(got[key] == pytest.approx(value, rel=1e-12) for key, value in smoothed.items())
    seen = {(e["user_id"], e["item_id"]) for e in events}
    lists = _lists(result.table("out_rec_popularity").to_pylist())
    assert set(segment) <= set(lists)  # users without events get their segment's popular items
    for user, rows in lists.items():
        group = segment.get(user, "(none)")
        ranked = sorted(((-v, item) for (g, item), v in smoothed.items() if g == group and (user, item) not in seen))
        assert [r["item_id"] for r in rows] == [item for _, item in ranked[:5]], user


def test_popularity_by_segment_needs_users(make_project):
    project = make_project('\n[vars]\npopularity_by = "segment"\n')
    with pytest.raises(sqlrec.SqlrecError, match="needs a users input"):
        sqlrec.validate(project.root)
