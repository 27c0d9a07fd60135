"""Score ranked lists with the metric macros of `macros/metrics.sql`, from Python (notebooks, tests, benchmarks).

The same macros run inside `sqlrec evaluate`; this module renders them over Arrow tables in a private DuckDB
connection, so a notebook gets exactly the numbers the pipeline publishes.

>>> import pyarrow as pa
>>> recs = pa.table({"user_id": [1, 1], "item_id": [10, 11], "rank": [1, 2]})
>>> test = pa.table({"user_id": [1], "item_id": [11]})
>>> round(score_lists(recs, test, k=2).summary["ndcg"], 6)  # 1 / log2(3)
0.63093
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from .connections import quiet_connection
from .templating import ident, lit, make_environment
from .resources import builtin_dir

#: Accuracy metrics, averaged over test users. The formulas are in macros/metrics.sql.
ACCURACY = ("precision", "recall", "ndcg", "map", "map_at_k", "mrr", "hit_rate")
#: Per-user metrics beyond accuracy, averaged over users with a list (NULLs left out).
BEYOND = ("novelty", "avg_popularity", "category_diversity", "calibration_kl")
EXPOSURE = ("catalog_coverage", "distributional_coverage", "gini")


@dataclass
class ListScores:
    k: int
    per_user: pa.Table  # accuracy (and beyond-accuracy) columns per test user
    summary: dict[str, float]  # every metric averaged as documented
    by_slice: pa.Table | None = None  # slice, value, users, and each metric's mean
    extra: dict[str, Any] = field(default_factory=dict)


def _environment():
    return make_environment({f"builtin:{p.name}": p for p in sorted(builtin_dir("macros").glob("*.sql"))})


def score_lists(recs: Any, test: Any, k: int = 10, *, train: Any = None, items: Any = None,
                embeddings: Any = None, user_attributes: Any = None, graded: bool = False,
                con: duckdb.DuckDBPyConnection | None = None) -> ListScores:
    """Metrics of ranked lists `recs` (user_id, item_id, rank) against `test` (user_id, item_id[, relevance]).

    Each (user_id, item_id) may appear once in `recs` (ValueError otherwise). With `graded`, `test` needs a finite
    `relevance`; an item of relevance 0 or below is not relevant (no hit, no gain, not counted in recall).

    With `train` (user_id, item_id) and `items` (item_id, category): novelty, popularity, category diversity,
    calibration and exposure over the catalogue too. With `embeddings` (item_id, dim, value): embedding diversity.
    With `user_attributes` (user_id, then one column per attribute): every metric per attribute value.
    Inputs may be Arrow tables, DuckDB relations or anything DuckDB can scan.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    own = con is None
    con = con or quiet_connection()
    try:
        names = {"recs": recs, "test": test, "train": train, "items": items, "embeddings": embeddings,
                 "user_attributes": user_attributes}
        for name, value in names.items():
            if value is not None:
                con.register(f"__{name}", value)
        _check_lists(con, graded)
        env = _environment()
        rel = {name: ident(f"__{name}") for name, value in names.items() if value is not None}

        def run(template: str) -> pa.Table:
            sql = env.from_string(template).render(k=k, graded=graded, **rel)
            return con.sql(sql).to_arrow_table()

        per_user = run("SELECT * FROM ({{ accuracy_by_user(recs, test, k, graded) }}) AS m ORDER BY user_id")
        summary = {m: _mean(per_user, m) for m in ACCURACY}
        summary["users"] = per_user.num_rows
        if train is not None and items is not None:
            beyond = run("SELECT * FROM ({{ beyond_accuracy_by_user(recs, train, items, k) }}) AS b ORDER BY user_id")
            per_user = _join(per_user, beyond)
            summary.update({m: _mean(beyond, m) for m in BEYOND})
            profile = _mean(beyond, "profile_popularity")
            summary["popularity_lift"] = (summary["avg_popularity"] / profile - 1) if profile else None
            exposure = run("SELECT * FROM ({{ exposure(recs, items, k) }}) AS e").to_pylist()[0]
            summary.update(exposure)
        if embeddings is not None:
            diversity = run("SELECT * FROM ({{ embedding_diversity_by_user(recs, embeddings, k) }}) AS d "
                            "ORDER BY user_id")
            per_user = _join(per_user, diversity)
            summary["embedding_diversity"] = _mean(diversity, "embedding_diversity")
        by_slice = _slices(con, per_user, user_attributes) if user_attributes is not None else None
        return ListScores(k=k, per_user=per_user, summary=summary, by_slice=by_slice)
    finally:
        if own:
            con.close()


def _check_lists(con: duckdb.DuckDBPyConnection, graded: bool) -> None:
    """Refuse lists that would inflate the metrics: an item twice in a user's list (counted twice, recall could pass
    1), and graded relevance that is missing or not finite (NDCG would be NaN)."""
    repeated = con.execute("SELECT user_id, item_id, count(*) AS n FROM __recs GROUP BY user_id, item_id "
                       "HAVING count(*) > 1 ORDER BY n DESC, user_id, item_id LIMIT 1").fetchone()
    if repeated:
        user, item, n = repeated
        raise ValueError(f"recs lists item {item!r} {n} times for user {user!r}; each (user_id, item_id) may appear "
                         "once: keep each item's best rank, e.g. "
                         "SELECT user_id, item_id, min(rank) AS rank FROM recs GROUP BY user_id, item_id")
    if not graded:
        return
    columns = con.sql("SELECT * FROM __test LIMIT 0").columns
    if "relevance" not in columns:
        raise ValueError(f"graded=True needs a `relevance` column in test; it has {columns}")
    bad = con.execute("SELECT user_id, item_id, relevance FROM __test WHERE relevance IS NULL OR "
                  "NOT isfinite(CAST(relevance AS DOUBLE)) LIMIT 1").fetchone()
    if bad:
        raise ValueError(f"test relevance must be a finite number: user {bad[0]!r}, item {bad[1]!r} has {bad[2]!r} "
                         "(0 or below means not relevant)")


def _mean(table: pa.Table, column: str) -> float | None:
    values = [v for v in table.column(column).to_pylist() if v is not None]
    return sum(values) / len(values) if values else None


def _join(left: pa.Table, right: pa.Table) -> pa.Table:
    return left.join(right, "user_id", join_type="left outer").sort_by("user_id")


def _slices(con: duckdb.DuckDBPyConnection, per_user: pa.Table, attributes: Any) -> pa.Table:
    """Each metric averaged per value of each user attribute, with the number of users behind it."""
    con.register("__per_user", per_user)
    columns = [c for c in con.sql("SELECT * FROM __user_attributes LIMIT 0").columns if c != "user_id"]
    metrics = [c for c in per_user.column_names if c not in ("user_id", "n_relevant", "hits")]
    tables = []
    for column in columns:
        means = ", ".join(f"avg(m.{ident(m)}) AS {ident(m)}" for m in metrics)
        tables.append(con.sql(
            f"SELECT {lit(column)} AS slice, CAST(a.{ident(column)} AS VARCHAR) AS value, count(*) AS users, {means} "
            "FROM __per_user AS m JOIN __user_attributes AS a USING (user_id) GROUP BY ALL ORDER BY value"
        ).to_arrow_table())
    return pa.concat_tables(tables) if tables else None
