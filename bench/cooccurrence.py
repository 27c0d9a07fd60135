"""Co-occurrence against its peers, measured in the same run on the same generated data (medians, ratios).

  count      C = X^T X at 5M events (250k users, 25k items): sqlrec's int_item_cooccurrence stage SQL in DuckDB
             against scipy.sparse `X.T @ X` (CSR already built, so scipy is timed at its fastest).
  recommend  fit + top-10 for every user at 1M events (50k users, 5k items), each in a fresh process for its peak
             RSS: sqlrec's pipeline (stage seconds and whole run), implicit's CosineRecommender(K=20) and
             Microsoft Recommenders' SAR (jaccard, 30-day half-life, seen removed).

Needs scipy, implicit and recommenders beside sqlrec:
    python -m venv /tmp/msr && /tmp/msr/bin/pip install recommenders==1.2.1 implicit -e .
    /tmp/msr/bin/python bench/cooccurrence.py [count] [recommend] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

import sqlrec
from sqlrec.datagen import WorldSize, generate

BENCH = Path(__file__).resolve()


def make_events(folder: Path, users: int, items: int, events: int) -> Path:
    generate(folder, WorldSize(users=users, items=items, events=events, seed=1))
    return folder / "events.parquet"


def write_project(folder: Path, events: Path, extra_vars: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sqlrec.toml").write_text(f"""
[inputs.events]
path = {json.dumps(str(events))}
[output]
path = "out"
keep_runs = 1
[engine]
progress = false
[vars]
k = 10
{extra_vars}
[stages.popular_items]
enabled = false
[stages.popular_by_group]
enabled = false
[stages.similar_items]
enabled = false
""")
    (folder / "sql" / "publish").mkdir(parents=True, exist_ok=True)
    (folder / "sql" / "publish" / "recommendations.sql").write_text(  # only the co-occurrence lists
        "-- columns: user_id, item_id, score, rank, source\n"
        "SELECT user_id, item_id, score, rank, source FROM {{ ref('rec_cooccurrence') }}\n")
    return folder


# -- count ------------------------------------------------------------------------------------------------------

def bench_count(repeat: int) -> dict:
    import scipy.sparse as sp
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(Path(tmp) / "data", users=250_000, items=25_000, events=5_000_000)
        project = write_project(Path(tmp) / "p", events)
        sql = sqlrec.render("int_item_cooccurrence", project, raw=True)
        con = duckdb.connect()
        con.execute("CREATE TABLE int_user_affinity AS SELECT DISTINCT user_id, item_id, 1.0 AS affinity "
                    "FROM read_parquet($p)", {"p": str(events)})
        pairs = con.execute("SELECT user_id, item_id FROM int_user_affinity").fetchnumpy()
        ours = []
        for _ in range(repeat):
            started = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TABLE c AS {sql}")
            ours.append(time.perf_counter() - started)
        n_pairs = con.execute("SELECT count(*), sum(users) FROM c").fetchall()[0]
        users, user_index = np.unique(pairs["user_id"], return_inverse=True)
        items, item_index = np.unique(pairs["item_id"], return_inverse=True)
        x = sp.csr_matrix((np.ones(len(user_index)), (user_index, item_index)), shape=(len(users), len(items)))
        theirs = []
        for _ in range(repeat):
            started = time.perf_counter()
            c = x.T @ x
            theirs.append(time.perf_counter() - started)
        assert c.nnz == n_pairs[0] and c.sum() == n_pairs[1], "different co-occurrence matrices"
    return {"events": 5_000_000, "distinct_user_items": len(user_index), "nonzero_pairs": int(c.nnz),
            "sqlrec_s": statistics.median(ours), "scipy_s": statistics.median(theirs),
            "sqlrec_over_scipy": statistics.median(ours) / statistics.median(theirs)}


# -- recommend (each model in its own process) ------------------------------------------------------------------

def child_sqlrec(events: str, neighbours: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = write_project(Path(tmp), Path(events), f"cooccurrence_neighbours = {neighbours}")
        started = time.perf_counter()
        result = sqlrec.run(project, progress=False)
        total = time.perf_counter() - started
        stages = {s["stage"]: s["seconds"] for s in result.manifest["stages"]}
        fit = sum(stages[s] for s in ("stg_events", "int_user_affinity", "int_item_cooccurrence", "int_item_similarity"))
        return {"seconds": fit + stages["rec_cooccurrence"], "whole_run_s": total,
                "rows": result.table("recommendations").num_rows}


def _frame(events: str):
    import pandas as pd
    weights = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
    df = duckdb.sql("SELECT user_id, item_id, event_type, epoch(ts) AS ts FROM read_parquet($p)",
                    params={"p": events}).df()
    df["rating"] = df["event_type"].map(weights)
    return pd.DataFrame({"userID": df["user_id"], "itemID": df["item_id"], "rating": df["rating"],
                         "timestamp": df["ts"]})


def child_implicit(events: str) -> dict:
    import scipy.sparse as sp
    from implicit.nearest_neighbours import CosineRecommender
    df = _frame(events).groupby(["userID", "itemID"], as_index=False)["rating"].sum()
    started = time.perf_counter()
    users, u = np.unique(df["userID"].to_numpy(), return_inverse=True)
    items, i = np.unique(df["itemID"].to_numpy(), return_inverse=True)
    user_items = sp.csr_matrix((df["rating"].to_numpy(), (u, i)), shape=(len(users), len(items)))
    model = CosineRecommender(K=20)
    model.fit(user_items, show_progress=False)
    ids, _ = model.recommend(np.arange(len(users)), user_items, N=10, filter_already_liked_items=True)
    return {"seconds": time.perf_counter() - started, "rows": int((ids >= 0).sum())}


def child_sar(events: str) -> dict:
    np.NaN = np.nan  # recommenders 1.2.1 still uses the alias NumPy 2 removed
    from recommenders.models.sar import SAR
    df = _frame(events).groupby(["userID", "itemID"], as_index=False).agg({"rating": "sum", "timestamp": "max"})
    started = time.perf_counter()
    model = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="timestamp",
                similarity_type="jaccard", time_decay_coefficient=30, timedecay_formula=True)
    model.fit(df)
    top = model.recommend_k_items(df, top_k=10, remove_seen=True)
    return {"seconds": time.perf_counter() - started, "rows": len(top)}


def run_child(kind: str, events: Path, *args: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, str(BENCH), "--child", kind, str(events), *args],
                          capture_output=True, text=True, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest so far: a smaller child than an earlier one reports no new peak.
    result["peak_rss_mb"] = round(peak / 1024) if peak > before else None
    return result


def bench_recommend(repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(Path(tmp) / "data", users=50_000, items=5_000, events=1_000_000)
        runs = {}
        # Smallest expected peak first, so that each child's peak RSS is a new maximum and can be read.
        for name, kind, args in (("sqlrec (20 neighbours)", "sqlrec", ("20",)), ("sqlrec (exact)", "sqlrec", ("0",)),
                                 ("implicit Cosine K=20", "implicit", ()), ("SAR", "sar", ())):
            runs[name] = [run_child(kind, events, *args) for _ in range(repeat)]
    summary = {}
    for name, results in runs.items():
        peaks = [r["peak_rss_mb"] for r in results if r["peak_rss_mb"] is not None]
        summary[name] = {"seconds": statistics.median(r["seconds"] for r in results),
                         "peak_rss_mb": max(peaks) if peaks else None, "rows": results[0]["rows"]}
        if "whole_run_s" in results[0]:
            summary[name]["whole_run_s"] = statistics.median(r["whole_run_s"] for r in results)
    return summary


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, events, *args = sys.argv[2:]
        result = {"sqlrec": lambda: child_sqlrec(events, int(args[0])), "implicit": lambda: child_implicit(events),
                  "sar": lambda: child_sar(events)}[kind]()
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", default=["count", "recommend"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if "count" in args.parts:
        print(json.dumps({"count": bench_count(args.repeat)}, indent=2), flush=True)
    if "recommend" in args.parts:
        summary = bench_recommend(args.repeat)
        print(json.dumps({"recommend": summary}, indent=2))
        ours = summary["sqlrec (20 neighbours)"]
        for peer in ("implicit Cosine K=20", "SAR"):
            print(f"sqlrec (20 neighbours) / {peer}: time {ours['seconds'] / summary[peer]['seconds']:.2f}x")
        exact = summary["sqlrec (exact)"]
        print(f"sqlrec (exact) / SAR: time {exact['seconds'] / summary['SAR']['seconds']:.2f}x")


if __name__ == "__main__":
    main()
