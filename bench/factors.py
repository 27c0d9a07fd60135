"""The truncated SVD model against its peers, measured in the same run on the same generated data (medians, ratios).

  svd      rank-64 factors at 1M events (50k users, 5k items) and 5M events (250k users, 25k items): sqlrec's
           int_svd_item_factors stage (Arrow out of DuckDB, randomized SVD, Arrow back in; the seconds the run
           records) against scipy.sparse.linalg.svds(k=64) (ARPACK) on the same binary matrix, built beforehand.
           Also: how far our singular values are from ARPACK's, and the peak RSS of a run that fits the factors
           and publishes them (input checks, staging, matrix, SVD, item_factors) against svds's process.
  score    top-10 for every user from rank-64 factors at 1M events: sqlrec's dense path (int_svd_candidates: BLAS
           blocks, then rec_svd ranks in SQL) and its SQL path (macros/factors.sql: dot products in DuckDB, most
           pairs skipped by exact norm bounds), against implicit's
           AlternatingLeastSquares.recommend(N=10, filter_already_liked_items=True) on factors of the same shape.
           The pruning depends on the factors, so the SQL macro is also timed on Gaussian factors of that shape
           (no decaying spectrum: almost nothing is pruned), with the share of pairs each scored.

Each measurement runs in a fresh process that reports its own peak RSS (VmHWM); runs alternate between the models.
Needs scipy and implicit beside sqlrec:
    python -m venv /tmp/msr && /tmp/msr/bin/pip install implicit -e .
    /tmp/msr/bin/python bench/factors.py [svd] [score] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

import cooccurrence
from cooccurrence import make_events, peak_rss_mb

import sqlrec

BENCH = Path(__file__).resolve()
SIZES = {"1M": dict(users=50_000, items=5_000, events=1_000_000),
         "5M": dict(users=250_000, items=25_000, events=5_000_000)}


def write_project(folder: Path, events: Path, extra_vars: str, fit_only: bool = False) -> Path:
    """A project publishing rec_svd's lists, or with `fit_only` only the item factors (no scoring at all)."""
    fit = "[stages.recommendations]\nenabled = false\n[stages.item_factors]\nenabled = true\n" if fit_only else ""
    return cooccurrence.write_project(folder, events, f"svd_rank = 64\n{extra_vars}", recommender="rec_svd",
                                      extra_config=fit)


def binary_matrix(events: str, cap: int = 0):
    """The binary user x item matrix of the events; with `cap`, at most that many items per user (each user's most
    weighted: view 1, cart 3, purchase 5), as sqlrec's cooccurrence_max_history leaves its baskets."""
    import scipy.sparse as sp
    if cap:
        pairs = duckdb.sql("""
            SELECT user_id, item_id FROM (
                SELECT user_id, item_id,
                       sum(CASE event_type WHEN 'purchase' THEN 5 WHEN 'cart' THEN 3 ELSE 1 END) AS w
                FROM read_parquet($p) GROUP BY user_id, item_id)
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY w DESC, item_id) <= $cap""",
                           params={"p": events, "cap": cap}).fetchnumpy()
    else:
        pairs = duckdb.sql("SELECT DISTINCT user_id, item_id FROM read_parquet($p)",
                           params={"p": events}).fetchnumpy()
    _, users = np.unique(pairs["user_id"], return_inverse=True)
    _, items = np.unique(pairs["item_id"], return_inverse=True)
    return sp.csr_matrix((np.ones(len(users)), (users, items)))


# -- children: each measures one thing in a fresh process -------------------------------------------------------

def child_sqlrec(events: str, scoring: str) -> dict:
    """scoring "fit": fit the factors only (the SVD measurement and its peak memory); "dense" or "sql": the lists."""
    import scipy.linalg  # noqa: F401  imported before the clock, as the peers import their libraries
    import scipy.sparse  # noqa: F401
    with tempfile.TemporaryDirectory() as tmp:
        fit_only = scoring == "fit"
        project = write_project(Path(tmp), Path(events), "" if fit_only else f'factor_scoring = "{scoring}"',
                                fit_only=fit_only)
        result = sqlrec.run(project, progress=False)
        stages = {s["stage"]: s["seconds"] for s in result.manifest["stages"]}
        if fit_only:
            return {"svd_s": stages["int_svd_item_factors"], "stages_s": stages}
        rows = result.table("recommendations").num_rows
        return {"stages_s": stages, "rows": rows, "score_s": stages["rec_svd"] + stages.get("int_svd_candidates", 0.0)}


def child_svds(events: str) -> dict:
    from scipy.sparse.linalg import svds
    x = binary_matrix(events)
    started = time.perf_counter()
    _, values, _ = svds(x, k=64, random_state=0)
    seconds = time.perf_counter() - started
    from sqlrec.factor_models import randomized_svd  # the same math as the stage, for the accuracy figure
    ours, _ = randomized_svd(x, 64)
    exact = np.sort(values)[::-1]
    return {"svd_s": seconds, "max_relative_gap": float(np.max(np.abs(ours - exact) / exact)),
            "gap_of_the_64th": float(abs(ours[-1] - exact[-1]) / exact[-1])}


def child_implicit(events: str) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares
    x = binary_matrix(events).astype(np.float32)
    rng = np.random.default_rng(0)
    model = AlternatingLeastSquares(factors=64)
    model.user_factors = rng.standard_normal((x.shape[0], 64)).astype(np.float32)
    model.item_factors = rng.standard_normal((x.shape[1], 64)).astype(np.float32)
    started = time.perf_counter()
    ids, _ = model.recommend(np.arange(x.shape[0]), x, N=10, filter_already_liked_items=True)
    return {"score_s": time.perf_counter() - started, "rows": int((ids >= 0).sum())}


def child_sql_macro(events: str, factors: str) -> dict:
    """factor_recommendations alone, in DuckDB, on the run's SVD factors ("svd") or Gaussian ones ("gaussian")."""
    import pyarrow as pa
    from sqlrec.factor_models import randomized_svd
    from sqlrec.resources import builtin_dir
    from sqlrec.templating import make_environment
    x = binary_matrix(events)
    if factors == "svd":
        _, v = randomized_svd(x, 64)
        u = np.asarray(x @ v)
    else:
        rng = np.random.default_rng(0)
        u, v = rng.standard_normal((x.shape[0], 64)), rng.standard_normal((x.shape[1], 64))
    def lists(m: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.arange(0, m.size + 1, m.shape[1], dtype=np.int32)),
                                        pa.array(m.ravel()))
    seen = x.tocoo()
    con = duckdb.connect()
    for name, table in {"uf": pa.table({"user_ix": np.arange(len(u), dtype=np.int32), "factors": lists(u)}),
                        "itf": pa.table({"item_ix": np.arange(len(v), dtype=np.int32), "factors": lists(v)}),
                        "seen": pa.table({"user_ix": seen.row.astype(np.int32), "item_ix": seen.col.astype(np.int32)})
                        }.items():
        con.register("table_", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM table_")  # a name from this dict, not from data
        con.unregister("table_")
    con.execute("CREATE TABLE users_ AS SELECT user_ix, user_ix AS user_id FROM uf")
    con.execute("CREATE TABLE items_ AS SELECT item_ix, item_ix AS item_id FROM itf")
    env = make_environment({p.name: p for p in sorted(builtin_dir("macros").glob("*.sql"))})
    sql = env.from_string("{{ factor_recommendations('uf' | ident, 'itf' | ident, 'seen' | ident, 'users_' | ident, "
                          "'items_' | ident, 10, 'svd') }}").render()
    started = time.perf_counter()
    con.execute(f"CREATE TABLE lists AS {sql}")
    seconds = time.perf_counter() - started
    counting = sql[:sql.index("ranked AS (")] + "counted AS (SELECT 1) SELECT (SELECT count(*) FROM head_scores) + " \
        "(SELECT count(*) FROM tail_pairs) + (SELECT count(*) FROM floors WHERE NOT pruned) * " \
        "((SELECT count(*) FROM ranked_items) - (SELECT count(DISTINCT item_ix) FROM head_scores))"
    scored = con.execute(counting).fetchone()[0]
    return {"score_s": seconds, "rows": con.execute("SELECT count(*) FROM lists").fetchone()[0],
            "scored_share": scored / (x.shape[0] * x.shape[1])}


def run_child(kind: str, events: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH), "--child", kind, str(events), *args],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_svd(repeat: int) -> dict:
    out = {}
    for size, shape in SIZES.items():
        with tempfile.TemporaryDirectory() as tmp:
            events = make_events(Path(tmp) / "data", **shape)
            ours, theirs = [], []
            for _ in range(repeat):
                ours.append(run_child("sqlrec", events, "fit"))
                theirs.append(run_child("svds", events))
        out[size] = {"sqlrec_svd_s": median_of(ours, "svd_s"), "sqlrec_runs_s": [r["svd_s"] for r in ours],
                     "svds_s": median_of(theirs, "svd_s"), "svds_runs_s": [r["svd_s"] for r in theirs],
                     "sqlrec_over_svds": median_of(ours, "svd_s") / median_of(theirs, "svd_s"),
                     "max_relative_gap_to_arpack": theirs[0]["max_relative_gap"],
                     "sqlrec_peak_rss_mb": max(r["peak_rss_mb"] for r in ours),
                     "svds_peak_rss_mb": max(r["peak_rss_mb"] for r in theirs),
                     "sqlrec_stages_s": ours[0]["stages_s"]}
        print(json.dumps({size: out[size]}, indent=2), flush=True)
    return out


def bench_score(repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(Path(tmp) / "data", **SIZES["1M"])
        dense, sql, theirs, macro = [], [], [], {"svd": [], "gaussian": []}
        for _ in range(repeat):
            dense.append(run_child("sqlrec", events, "dense"))
            sql.append(run_child("sqlrec", events, "sql"))
            theirs.append(run_child("implicit", events))
            for factors, runs in macro.items():
                runs.append(run_child("sql_macro", events, factors))
    out = {"sqlrec_dense_s": median_of(dense, "score_s"), "sqlrec_dense_runs_s": [r["score_s"] for r in dense],
           "sqlrec_sql_s": median_of(sql, "score_s"), "sqlrec_sql_runs_s": [r["score_s"] for r in sql],
           "implicit_s": median_of(theirs, "score_s"), "implicit_runs_s": [r["score_s"] for r in theirs],
           "rows": {"dense": dense[0]["rows"], "sql": sql[0]["rows"], "implicit": theirs[0]["rows"]}}
    out["dense_over_implicit"] = out["sqlrec_dense_s"] / out["implicit_s"]
    out["sql_over_implicit"] = out["sqlrec_sql_s"] / out["implicit_s"]
    for factors, runs in macro.items():  # the SQL macro alone, by the kind of factors it is given
        out[f"sql_macro_{factors}_s"] = median_of(runs, "score_s")
        out[f"sql_macro_{factors}_over_implicit"] = out[f"sql_macro_{factors}_s"] / out["implicit_s"]
        out[f"sql_macro_{factors}_scored_share"] = runs[0]["scored_share"]
    print(json.dumps({"score": out}, indent=2), flush=True)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, events, *args = sys.argv[2:]
        result = {"sqlrec": lambda: child_sqlrec(events, args[0]), "svds": lambda: child_svds(events),
                  "implicit": lambda: child_implicit(events),
                  "sql_macro": lambda: child_sql_macro(events, args[0])}[kind]()
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", default=["svd", "score"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if "svd" in args.parts:
        bench_svd(args.repeat)
    if "score" in args.parts:
        bench_score(args.repeat)


if __name__ == "__main__":
    main()
