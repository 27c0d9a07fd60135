"""Co-occurrence against its peers, measured in the same run on the same generated data (medians, ratios).

  count      C = X^T X at 5M events (250k users, 25k items): sqlrec's index stages and int_item_pair_counts (SQL in
             DuckDB, each unordered pair counted and stored once) against scipy.sparse `X.T @ X` on a CSR matrix
             built beforehand, so scipy is timed at its fastest. Also printed: the same plus materialising the
             whole symmetric matrix by item id (the int_item_cooccurrence view). Runs alternate, sqlrec then scipy.
  recommend  fit + top-10 for every user at 1M events (50k users, 5k items), each run in a fresh process that
             reports its own peak RSS, models alternating: sqlrec's pipeline (sum of its stage seconds; whole run
             with input checks and publishing beside it) with 20 neighbours (sparse and SQL scoring) and exact,
             implicit's CosineRecommender(K=20) and Microsoft Recommenders' SAR (jaccard, 30-day half-life, seen
             removed). Every library is imported before the clock starts.

Needs scipy, implicit and recommenders beside sqlrec:
    python -m venv /tmp/msr && /tmp/msr/bin/pip install recommenders==1.2.1 implicit -e .
    /tmp/msr/bin/python bench/cooccurrence.py [count] [recommend] [--repeat 3] [--models NAME ...]
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

import sqlrec
from sqlrec.datagen import WorldSize, generate

BENCH = Path(__file__).resolve()


def peak_rss_mb() -> int:
    """This process's peak resident memory since it started (VmHWM). Not ru_maxrss: Linux carries that over from
    the parent through fork and exec, so a child of a large parent would report the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def make_events(folder: Path, users: int, items: int, events: int) -> Path:
    generate(folder, WorldSize(users=users, items=items, events=events, seed=1))
    return folder / "events.parquet"


def bench_config(inputs: dict[str, Path], extra_vars: str = "") -> str:
    """The head of a benchmark project's sqlrec.toml: the inputs, one kept run, no progress lines, k = 10."""
    declared = "\n".join(f"[inputs.{name}]\npath = {json.dumps(str(path))}" for name, path in inputs.items())
    return f"""
{declared}
[output]
path = "out"
keep_runs = 1
[engine]
progress = false
[vars]
k = 10
{extra_vars}
"""


def write_project(folder: Path, events: Path, extra_vars: str = "", recommender: str = "rec_cooccurrence",
                  extra_config: str = "") -> Path:
    """A project over `events` whose published `recommendations` are `recommender`'s lists, and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sqlrec.toml").write_text(bench_config({"events": events}, extra_vars) + f"""[stages.popular_items]
enabled = false
[stages.popular_by_group]
enabled = false
[stages.similar_items]
enabled = false
{extra_config}
""")
    (folder / "sql" / "publish").mkdir(parents=True, exist_ok=True)
    (folder / "sql" / "publish" / "recommendations.sql").write_text(
        "-- columns: user_id, item_id, score, rank, source\n"
        f"SELECT user_id, item_id, score, rank, source FROM {{{{ ref('{recommender}') }}}}\n")
    return folder


# -- count ------------------------------------------------------------------------------------------------------

COUNT_STAGES = ("int_item_index", "int_user_index", "int_item_pair_counts")  # what counting costs sqlrec


def _stage_runner(project: Path, target: str):
    """The plan up to `target` on sqlrec's own DuckDB engine (in memory, as a run uses it), without publishing."""
    from sqlrec.api import load
    from sqlrec.engines.duckdb import DuckDBEngine
    from sqlrec.input_checks import prepare_inputs
    from sqlrec.inputs import resolve
    from sqlrec.plan import build_plan
    proj = load(project)
    plan = build_plan(proj, targets=(target,))
    inputs = resolve(proj.config)
    allowed = {f.parent for r in inputs.values() for f in r.files}
    engine = DuckDBEngine(proj.config.engine, None, project / ".sqlrec" / "tmp", allowed, show_progress=False)
    prepare_inputs(engine, inputs, proj.config)
    return engine, plan


def bench_count(repeat: int) -> dict:
    import scipy.sparse as sp
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(Path(tmp) / "data", users=250_000, items=25_000, events=5_000_000)
        project = write_project(Path(tmp) / "p", events)
        engine, plan = _stage_runner(project, "int_item_cooccurrence")
        for planned in plan.stages:  # everything before counting: staging, indexes, affinity
            if planned.stage.name not in ("int_item_pair_counts", "int_item_cooccurrence"):
                engine.run_sql(planned.stage.name, planned.sql, "table", str(planned.stage.path))
        pairs = engine.con.execute("SELECT user_ix, item_ix FROM int_user_affinity").fetchnumpy()
        x = sp.csr_matrix((np.ones(len(pairs["user_ix"])), (pairs["user_ix"], pairs["item_ix"])))
        ours, mirrored, theirs = [], [], []
        for _ in range(repeat):  # interleaved, so that both see the same load on a shared machine
            seconds = 0.0
            for planned in plan.stages:
                if planned.stage.name in COUNT_STAGES:
                    seconds += engine.run_sql(planned.stage.name, planned.sql, "table", str(planned.stage.path)).seconds
            ours.append(seconds)
            full = plan["int_item_cooccurrence"]  # the whole symmetric matrix by item id, materialised
            mirrored.append(seconds + engine.run_sql("full_c", full.sql, "table", "").seconds)
            engine.con.execute("DROP TABLE full_c")
            started = time.perf_counter()
            c = x.T @ x
            theirs.append(time.perf_counter() - started)
        once, diagonal, total = engine.con.execute(
            "SELECT count(*) FILTER (WHERE item_ix < other_item_ix), count(*) FILTER (WHERE item_ix = other_item_ix),"
            " sum(users * CASE WHEN item_ix = other_item_ix THEN 1 ELSE 2 END) FROM int_item_pair_counts").fetchone()
        engine.close()
        assert c.nnz == 2 * once + diagonal and c.sum() == total, "different co-occurrence matrices"
    return {"events": 5_000_000, "distinct_user_items": len(pairs["user_ix"]), "nonzero_entries": int(c.nnz),
            "sqlrec_s": statistics.median(ours), "sqlrec_runs_s": ours, "scipy_s": statistics.median(theirs),
            "scipy_runs_s": theirs, "sqlrec_over_scipy": statistics.median(ours) / statistics.median(theirs),
            "sqlrec_with_full_matrix_s": statistics.median(mirrored),
            "full_matrix_over_scipy": statistics.median(mirrored) / statistics.median(theirs)}


# -- recommend (each model in its own process) ------------------------------------------------------------------

def child_sqlrec(events: str, neighbours: int, scoring: str) -> dict:
    import scipy.sparse  # noqa: F401  imported before the clock, as the peers import their libraries
    with tempfile.TemporaryDirectory() as tmp:
        project = write_project(Path(tmp), Path(events),
                                f'cooccurrence_neighbours = {neighbours}\nneighbour_scoring = "{scoring}"')
        started = time.perf_counter()
        result = sqlrec.run(project, progress=False)
        total = time.perf_counter() - started
        # fit + recommend: every stage the lists depend on (staging to rec_cooccurrence), not publishing them
        stages = [s for s in result.manifest["stages"] if not s["published"]]
        return {"seconds": sum(s["seconds"] for s in stages), "whole_run_s": total,
                "stages_s": {s["stage"]: s["seconds"] for s in stages},
                "rows": result.table("recommendations").num_rows}


def ratings_frame(events: str):
    """The events as Recommenders' columns: view 1, cart 3, purchase 5 as the rating, epoch seconds as timestamp."""
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
    df = ratings_frame(events).groupby(["userID", "itemID"], as_index=False)["rating"].sum()
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
    df = ratings_frame(events).groupby(["userID", "itemID"], as_index=False).agg({"rating": "sum", "timestamp": "max"})
    started = time.perf_counter()
    model = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="timestamp",
                similarity_type="jaccard", time_decay_coefficient=30, timedecay_formula=True)
    model.fit(df)
    top = model.recommend_k_items(df, top_k=10, remove_seen=True)
    return {"seconds": time.perf_counter() - started, "rows": len(top)}


def run_child(kind: str, events: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH), "--child", kind, str(events), *args],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


#: name -> (child kind, its arguments)
MODELS = {
    "sqlrec (20 neighbours)": ("sqlrec", ("20", "sparse")),
    "sqlrec (20 neighbours, SQL scoring)": ("sqlrec", ("20", "sql")),
    "sqlrec (exact)": ("sqlrec", ("0", "sparse")),
    "implicit Cosine K=20": ("implicit", ()),
    "SAR": ("sar", ()),
}


def bench_recommend(repeat: int, models: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        events = make_events(Path(tmp) / "data", users=50_000, items=5_000, events=1_000_000)
        runs = {name: [] for name in models}
        for _ in range(repeat):  # interleaved, so that every model sees the same load on a shared machine
            for name in models:
                kind, args = MODELS[name]
                runs[name].append(run_child(kind, events, *args))
    summary = {}
    for name, results in runs.items():
        summary[name] = {"seconds": statistics.median(r["seconds"] for r in results),
                         "runs_s": [round(r["seconds"], 3) for r in results],
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in results), "rows": results[0]["rows"]}
        if "whole_run_s" in results[0]:
            summary[name]["whole_run_s"] = statistics.median(r["whole_run_s"] for r in results)
            summary[name]["stages_s"] = {stage: statistics.median(r["stages_s"][stage] for r in results)
                                         for stage in results[0]["stages_s"]}
    return summary


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, events, *args = sys.argv[2:]
        result = {"sqlrec": lambda: child_sqlrec(events, int(args[0]), args[1]), "implicit": lambda: child_implicit(events),
                  "sar": lambda: child_sar(events)}[kind]()
        result["peak_rss_mb"] = peak_rss_mb()  # this process's peak
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", default=["count", "recommend"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="recommend: which models to run (default: all)")
    args = parser.parse_args()
    if "count" in args.parts:
        print(json.dumps({"count": bench_count(args.repeat)}, indent=2), flush=True)
    if "recommend" in args.parts:
        summary = bench_recommend(args.repeat, args.models)
        print(json.dumps({"recommend": summary}, indent=2))
        for ours in (m for m in summary if m.startswith("sqlrec")):
            for peer in (m for m in summary if not m.startswith("sqlrec")):
                print(f"{ours} / {peer}: time {summary[ours]['seconds'] / summary[peer]['seconds']:.2f}x, "
                      f"peak memory {summary[ours]['peak_rss_mb'] / summary[peer]['peak_rss_mb']:.2f}x")

if __name__ == "__main__":
    main()
