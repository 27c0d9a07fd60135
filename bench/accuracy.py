"""NDCG@10 of sqlrec's models and of the peers bench/run.py times, on one time split of the same world.

The split is sqlrec's own `[evaluate] split = "time"`, last 14 days held out (eval_train, eval_test), written once
per world to <world>/split/. Every list, sqlrec's and the peers', is scored by the same function
(sqlrec.metrics.score_lists, which bench/run.py's metrics row checks against Recommenders' python_evaluation):
binary relevance, the test users, seen items already removed from the lists.

  sqlrec            `sqlrec.evaluate` of bench/run.py's project: cooccurrence, svd, content, final (and ease when
                    the catalogue is at most 20,000 items); their lists from evaluation_lists
  sar               Recommenders SAR (jaccard, 30-day half-life) on the training events
  implicit_cosine   implicit CosineRecommender(K=50) on the summed training weights
  implicit_als      implicit ALS, 64 factors, 15 iterations; regularization and alpha chosen from GRID on a
                    validation split carved from the training events (their last 14 days), then refit
  sklearn_content   scikit-learn TF-IDF + NearestNeighbors (cosine, top 50) as a recommender: a user's score
                    for an item is the sum of its similarities to the items of their training history
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

K, TEST_DAYS, NEIGHBOURS, RANK = 10, 14, 50, 64
#: implicit ALS's small tuning grid (factors and iterations as timed): regularization x alpha
GRID = [{"regularization": r, "alpha": a} for r in (0.01, 0.1) for a in (1.0, 10.0)]
WEIGHTS = "CASE event_type WHEN 'purchase' THEN 5.0 WHEN 'cart' THEN 3.0 ELSE 1.0 END"
EASE_MAX_ITEMS = 20_000


def split_for(world: Path, knobs: str) -> Path:
    """<world>/split/{train,test}.parquet from sqlrec's own time split (computed once per world)."""
    folder = world / "split"
    if (folder / "test.parquet").is_file():
        return folder
    import pyarrow.parquet as pq

    from sqlrec.config import load_config
    from sqlrec.pipeline import compute_tables
    with tempfile.TemporaryDirectory() as tmp:
        project = _evaluation_project(Path(tmp), world, knobs)
        tables = compute_tables(load_config(project / "sqlrec.toml"), ("eval_train", "eval_test"), mode="evaluate")
    folder.mkdir(exist_ok=True)
    pq.write_table(tables["eval_train"], folder / "train.parquet")
    pq.write_table(tables["eval_test"].select(["user_id", "item_id"]), folder / "test.parquet")
    return folder


def _evaluation_project(folder: Path, world: Path, knobs: str, models: list[str] | None = None) -> Path:
    from scale import write_full_project
    project = write_full_project(folder, world, knobs)
    config = project / "sqlrec.toml"
    models = models or ["cooccurrence"]
    config.write_text(config.read_text() + "\n[evaluate]\nmodels = " + json.dumps(models) +
                      f'\nsplit = "time"\ntest_days = {TEST_DAYS}\nk = [{K}]\n')
    return project


def ndcg(lists, test_path: Path) -> float:
    """NDCG@10 of (user_id, item_id, rank) lists against the split's test file."""
    from sqlrec.metrics import score_lists
    test = duckdb.sql("SELECT user_id, item_id FROM read_parquet($p)", params={"p": str(test_path)}).fetch_arrow_table()
    return float(score_lists(lists, test, k=K).summary["ndcg"])


def _lists_table(users: np.ndarray, items: np.ndarray):
    """(n_users, K) item ids per user (-1 for none) -> an Arrow table of (user_id, item_id, rank)."""
    import pyarrow as pa
    rank = np.tile(np.arange(1, items.shape[1] + 1), len(users))
    keep = items.ravel() >= 0
    return pa.table({"user_id": np.repeat(users, items.shape[1])[keep], "item_id": items.ravel()[keep],
                     "rank": rank[keep]})


def _matrix(train_path: Path):
    """The summed training weights as a users x items CSR matrix, and its user and item ids."""
    import scipy.sparse as sp
    pairs = duckdb.sql(f"SELECT user_id, item_id, sum({WEIGHTS}) AS w FROM read_parquet($p) GROUP BY ALL",
                       params={"p": str(train_path)}).fetchnumpy()
    user_ids, u = np.unique(pairs["user_id"], return_inverse=True)
    item_ids, i = np.unique(pairs["item_id"], return_inverse=True)
    matrix = sp.csr_matrix((pairs["w"].astype(np.float32), (u, i)), shape=(len(user_ids), len(item_ids)))
    return matrix, user_ids, item_ids


def _test_rows(user_ids: np.ndarray, test_path: Path) -> np.ndarray:
    test_users = np.unique(duckdb.sql("SELECT DISTINCT user_id FROM read_parquet($p)",
                                      params={"p": str(test_path)}).fetchnumpy()["user_id"])
    return np.flatnonzero(np.isin(user_ids, test_users))


def accuracy_sqlrec(world: Path, knobs: str) -> dict:
    import pyarrow.parquet as pq

    import sqlrec
    split = split_for(world, knobs)
    items = pq.read_metadata(world / "items.parquet").num_rows
    models = ["cooccurrence", "svd", "content", "final"] + (["ease"] if items <= EASE_MAX_ITEMS else [])
    with tempfile.TemporaryDirectory() as tmp:
        project = _evaluation_project(Path(tmp), world, knobs, models)
        started = time.perf_counter()
        result = sqlrec.evaluate(project, progress=False)
        lists = result.table("evaluation_lists")
        con = duckdb.connect()
        con.register("lists", lists)
        scores = {m: ndcg(con.execute("SELECT user_id, item_id, rank FROM lists WHERE model = $m", {"m": m})
                          .to_arrow_table(), split / "test.parquet") for m in models}
    return {"ndcg": scores, "seconds": time.perf_counter() - started}


def accuracy_sar(world: Path, knobs: str) -> dict:
    np.NaN = np.nan  # recommenders 1.2.1 still uses the alias NumPy 2 removed
    import pandas as pd
    from recommenders.models.sar import SAR
    split = split_for(world, knobs)
    df = duckdb.sql(f"SELECT user_id AS userID, item_id AS itemID, sum({WEIGHTS}) AS rating, "
                    "max(epoch(ts)) AS timestamp FROM read_parquet($p) GROUP BY ALL",
                    params={"p": str(split / "train.parquet")}).df()
    model = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="timestamp",
                similarity_type="jaccard", time_decay_coefficient=30, timedecay_formula=True)
    model.fit(df)
    test_users = duckdb.sql("SELECT DISTINCT user_id FROM read_parquet($p)",
                            params={"p": str(split / "test.parquet")}).fetchnumpy()["user_id"]
    known = df[df["userID"].isin(test_users)]
    users = known["userID"].unique()
    per_batch = max(1, 2**27 // len(model.item2index))
    parts = []
    for lo in range(0, len(users), per_batch):
        batch = known[known["userID"].isin(users[lo:lo + per_batch])]
        parts.append(model.recommend_k_items(batch, top_k=K, remove_seen=True))
    recs = pd.concat(parts)
    recs["rank"] = recs.groupby("userID")["prediction"].rank(method="first", ascending=False).astype(int)
    import pyarrow as pa
    lists = pa.table({"user_id": recs["userID"].to_numpy(), "item_id": recs["itemID"].to_numpy(),
                      "rank": recs["rank"].to_numpy()})
    return {"ndcg": {"sar": ndcg(lists, split / "test.parquet")}}


def _implicit_lists(model, matrix, rows, user_ids, item_ids):
    ids, _ = model.recommend(rows, matrix[rows], N=K, filter_already_liked_items=True)
    items = np.where(ids >= 0, item_ids[np.clip(ids, 0, None)], -1)
    return _lists_table(user_ids[rows], items)


def accuracy_implicit_cosine(world: Path, knobs: str) -> dict:
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, "blas")
    split = split_for(world, knobs)
    matrix, user_ids, item_ids = _matrix(split / "train.parquet")
    model = CosineRecommender(K=NEIGHBOURS)
    model.fit(matrix, show_progress=False)
    rows = _test_rows(user_ids, split / "test.parquet")
    lists = _implicit_lists(model, matrix, rows, user_ids, item_ids)
    return {"ndcg": {"implicit_cosine": ndcg(lists, split / "test.parquet")}}


def accuracy_implicit_als(world: Path, knobs: str) -> dict:
    """Each grid point fitted on the training events before their last 14 days and scored on those days; the best
    refitted on all training events and scored on the test split."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, "blas")
    split = split_for(world, knobs)
    validation = split / "validation"
    if not (validation / "test.parquet").is_file():
        validation.mkdir(exist_ok=True)
        con = duckdb.connect()
        con.execute("CREATE TABLE t AS FROM read_parquet($p)", {"p": str(split / "train.parquet")})
        cutoff = con.execute(f"SELECT max(ts) - INTERVAL {TEST_DAYS} DAY FROM t").fetchone()[0]
        con.execute("COPY (FROM t WHERE ts <= $c) TO $o (FORMAT parquet)", {"c": cutoff,
                                                                             "o": str(validation / "train.parquet")})
        con.execute("COPY (SELECT DISTINCT user_id, item_id FROM t WHERE ts > $c AND user_id IN "
                    "(SELECT user_id FROM t WHERE ts <= $c) AND (user_id, item_id) NOT IN "
                    "(SELECT user_id, item_id FROM t WHERE ts <= $c)) TO $o (FORMAT parquet)",
                    {"c": cutoff, "o": str(validation / "test.parquet")})

    def fitted(train: Path, point: dict):
        matrix, user_ids, item_ids = _matrix(train)
        model = AlternatingLeastSquares(factors=RANK, iterations=15, random_state=0, **point)
        model.fit(matrix, show_progress=False)
        return model, matrix, user_ids, item_ids

    tried = []
    for point in GRID:
        model, matrix, user_ids, item_ids = fitted(validation / "train.parquet", point)
        rows = _test_rows(user_ids, validation / "test.parquet")
        tried.append((ndcg(_implicit_lists(model, matrix, rows, user_ids, item_ids), validation / "test.parquet"),
                      point))
    best = max(tried, key=lambda t: t[0])[1]
    model, matrix, user_ids, item_ids = fitted(split / "train.parquet", best)
    rows = _test_rows(user_ids, split / "test.parquet")
    lists = _implicit_lists(model, matrix, rows, user_ids, item_ids)
    return {"ndcg": {"implicit_als": ndcg(lists, split / "test.parquet")}, "chosen": best,
            "validation": [{"ndcg": v, **p} for v, p in tried]}


def accuracy_sklearn_content(world: Path, knobs: str) -> dict:
    import pyarrow.parquet as pq
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors
    split = split_for(world, knobs)
    items = pq.read_table(world / "items.parquet").to_pydict()
    texts = [f"{t} {d} category={c} brand={b} tier={p}".lower() for t, d, c, b, p in
             zip(items["title"], items["description"], items["category"], items["brand"], items["price_tier"])]
    vectors = TfidfVectorizer(token_pattern=r"[a-z0-9=]{2,}", max_df=0.5, smooth_idf=False).fit_transform(texts)
    distances, neighbours = NearestNeighbors(n_neighbors=NEIGHBOURS + 1, metric="cosine", algorithm="brute",
                                             n_jobs=-1).fit(vectors).kneighbors(vectors)
    n = len(texts)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    similarity = sp.csr_matrix((1.0 - distances.ravel(), (rows, neighbours.ravel())), shape=(n, n))
    similarity.setdiag(0.0)
    matrix, user_ids, item_ids = _matrix(split / "train.parquet")
    position = {item: k for k, item in enumerate(items["item_id"])}
    to_catalogue = np.array([position[i] for i in item_ids])
    history = sp.csr_matrix((np.ones(matrix.nnz), matrix.indices, matrix.indptr), shape=matrix.shape)
    history = sp.csr_matrix((history.data, to_catalogue[history.indices], history.indptr), shape=(len(user_ids), n))
    test_rows = _test_rows(user_ids, split / "test.parquet")
    catalogue = np.asarray(items["item_id"])
    found = []
    for lo in range(0, len(test_rows), 2_000):
        block = history[test_rows[lo:lo + 2_000]]
        scores = (block @ similarity).toarray()
        scores[block.nonzero()] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        picked = np.take_along_axis(scores, top, axis=1)
        found.append(np.where(picked > 0, catalogue[top], -1))
    lists = _lists_table(user_ids[test_rows], np.vstack(found))
    return {"ndcg": {"sklearn_content": ndcg(lists, split / "test.parquet")}}
