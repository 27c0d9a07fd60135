"""The benchmark suite: sqlrec against the tools a retail data team would otherwise use, in one run on the same data.

    python bench/run.py --scale 1M|5M|20M|smoke [--repeat 3] [--data DIR] [--out bench/results] [--only NAME ...]
    python bench/run.py --docs      # docs/performance.md's tables again, from bench/results/run-<scale>.json

Generates the synthetic retail world of the scale once (cached under --data, default $TMPDIR/sqlrec-bench/<scale>):

    1M   1,000,000 events    50,000 users     5,000 items
    5M   5,000,000 events   250,000 users    25,000 items
    20M 20,000,000 events 1,000,000 users   100,000 items   (about MovieLens-20M)
    smoke   30,000 events     2,000 users       300 items   (for tests/test_bench_lines.py: the documented
                                                             lines, run end to end in seconds)

then runs every measurement below in a fresh process that reports its own peak RSS (VmHWM), the measurements
alternating, `--repeat` times, and reports medians:

  sqlrec            `sqlrec run` of the default pipeline (bench/scale.py's full project: staging, popularity,
                    co-occurrence, content, SVD, blend, rules, re-rank, explanations, publish): the whole run, and
                    every stage on its own from the run's manifest
  scipy_cooc        X^T X of the binary user x item CSR matrix (built before the clock), with each user's history
                    capped at 200 items as sqlrec's is by default (cooccurrence_max_history), so that both count the
                    same pairs
  sar               Microsoft Recommenders SAR (jaccard, 30-day half-life): fit + recommend_k_items(10, seen
                    removed) for every user, in batches of users so that its dense score matrix fits in memory
  implicit_cosine   implicit CosineRecommender(K=50): fit + recommend(N=10) for every user
  implicit_als      implicit AlternatingLeastSquares(64 factors, 15 iterations): fit + recommend(N=10)
  svds              scipy.sparse.linalg.svds(k=64) (ARPACK) of the binary matrix (built before the clock)
  sklearn_content   scikit-learn TfidfVectorizer over the same item text and attribute tokens + NearestNeighbors
                    (cosine, brute force): each item's 50 most similar items
  eval_sqlrec,      precision, recall, NDCG and MAP at 10 of one top-10 list per user against 10 test items per
  eval_recommenders user: sqlrec.metrics.score_lists (the SQL `sqlrec evaluate` runs) and Recommenders'
                    python_evaluation, on the same lists

Then, once each (unless --no-accuracy), bench/accuracy.py scores every model the rows compare on one time split of
the world (sqlrec's, last 14 days held out): NDCG@10 of sqlrec's co-occurrence, SVD, EASE, content and final list,
of SAR, implicit's cosine and ALS (its small grid tuned on a validation split carved from the training events) and
a scikit-learn content recommender. Each row then says which is more accurate, and claims "faster" only at equal
or better accuracy; otherwise it states the trade-off.

It prints a table of each piece of work, sqlrec's seconds (the sum of the stages doing that work), each peer's,
sqlrec / the fastest peer and the accuracies, and writes it to --out as run-<scale>.json and run-<scale>.md. A peer that fails (SAR's
dense item x item matrix does not fit at 100k items) is reported with its error, not left out.

The peers are optional extras of the benchmark, not of sqlrec:
    python -m venv /tmp/peer && /tmp/peer/bin/pip install -e . 'recommenders==1.2.1' implicit scikit-learn
    /tmp/peer/bin/python bench/run.py --scale 1M
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cooccurrence import peak_rss_mb, ratings_frame
from factors import binary_matrix
from scale import write_full_project

BENCH = Path(__file__).resolve()
SCALES = {"1M": dict(users=50_000, items=5_000, events=1_000_000),
          "5M": dict(users=250_000, items=25_000, events=5_000_000),
          "20M": dict(users=1_000_000, items=100_000, events=20_000_000),
          "smoke": dict(users=2_000, items=300, events=30_000)}
#: the defaults a user gets (cooccurrence_neighbours = 50, cooccurrence_max_history = 200): no knob is set here, so
#: that the suite measures what `sqlrec init` gives; the peers' neighbours and history cap match them
NEIGHBOURS, MAX_HISTORY = 50, 200
KNOBS = ""
#: DuckDB's memory limit in the measured runs. At 20M events, 6GB kept the whole run's peak RSS at 7.7 GB (454 s);
#: 10GB let it reach 10.5 GB. Smaller scales never reach it.
MEMORY_LIMIT = "6GB"
K, RANK = 10, 64

#: work -> (sqlrec's stages doing it, the peers doing the same work). "whole run" is sqlrec's whole `sqlrec run`.
WORK = {
    "co-occurrence counts": (["int_item_pair_counts_sparse", "int_item_pair_counts"], ["scipy_cooc"]),
    "co-occurrence recommender (fit + top-10)": (
        ["int_user_affinity", "int_item_pair_counts_sparse", "int_item_pair_counts", "int_item_similarity",
         "int_cooccurrence_candidates", "rec_cooccurrence"], ["implicit_cosine", "sar"]),
    "truncated SVD, rank 64": (["int_svd_item_factors"], ["svds"]),
    "latent-factor recommender (fit + top-10)": (
        ["int_svd_matrix", "int_svd_item_factors", "int_svd_user_factors", "int_svd_candidates", "rec_svd"],
        ["implicit_als"]),
    "content similarity (top-50 per item)": (
        ["int_item_tokens", "int_content_similarity_candidates", "int_item_content_similarity"],
        ["sklearn_content"]),
    "metrics at 10 (precision, recall, NDCG, MAP)": (["eval_sqlrec"], ["eval_recommenders"]),
    "whole pipeline against SAR fit + recommend alone": (["whole run"], ["sar"]),
}
KINDS = ("sqlrec", "scipy_cooc", "sar", "implicit_cosine", "implicit_als", "svds", "sklearn_content", "eval_sqlrec",
         "eval_recommenders")
#: work -> (sqlrec's models, the peers) whose NDCG@10 (bench/accuracy.py, one time split) stands beside the timing;
#: the first model is the one the row times, and the verdict is its (EASE is shown beside SVD, untimed here)
ACCURACY = {
    "co-occurrence recommender (fit + top-10)": (["cooccurrence"], ["implicit_cosine", "sar"]),
    "latent-factor recommender (fit + top-10)": (["svd", "ease"], ["implicit_als"]),
    "content similarity (top-50 per item)": (["content"], ["sklearn_content"]),
    "whole pipeline against SAR fit + recommend alone": (["final"], ["sar"]),
}
ACCURACY_KINDS = ("sqlrec", "sar", "implicit_cosine", "implicit_als", "sklearn_content")


# -- children: each measures one thing in a fresh process -------------------------------------------------------

def child_sqlrec(world: Path) -> dict:
    import scipy.sparse  # noqa: F401  imported before the clock, as the peers import their libraries

    import sqlrec
    with tempfile.TemporaryDirectory() as tmp:
        project = write_full_project(Path(tmp), world, KNOBS)
        config = project / "sqlrec.toml"
        config.write_text(config.read_text().replace("[engine]\n", f'[engine]\nmemory_limit = "{MEMORY_LIMIT}"\n'))
        started = time.perf_counter()
        result = sqlrec.run(project, progress=False)
        return {"seconds": time.perf_counter() - started,
                "stages_s": {s["stage"]: s["seconds"] for s in result.manifest["stages"]},
                "rows": result.table("recommendations").num_rows}


def child_scipy_cooc(world: Path) -> dict:
    # the same history cap as sqlrec's baskets, so both count the same pairs (one 9,400-item user alone makes 44M)
    x = binary_matrix(str(world / "events.parquet"), cap=MAX_HISTORY)
    started = time.perf_counter()
    c = x.T @ x
    return {"seconds": time.perf_counter() - started, "nonzero": int(c.nnz)}


def child_sar(world: Path) -> dict:
    np.NaN = np.nan  # recommenders 1.2.1 still uses the alias NumPy 2 removed
    from recommenders.models.sar import SAR
    df = ratings_frame(str(world / "events.parquet")).groupby(["userID", "itemID"], as_index=False).agg(
        {"rating": "sum", "timestamp": "max"})
    started = time.perf_counter()
    model = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="timestamp",
                similarity_type="jaccard", time_decay_coefficient=30, timedecay_formula=True)
    model.fit(df)
    users = df["userID"].unique()
    per_batch = max(1, 2**27 // len(model.item2index))  # a 1 GB block of dense scores per call
    rows = 0
    for lo in range(0, len(users), per_batch):
        batch = df[df["userID"].isin(users[lo:lo + per_batch])]
        rows += len(model.recommend_k_items(batch, top_k=K, remove_seen=True))
    return {"seconds": time.perf_counter() - started, "rows": rows}


def _user_items(world: Path):
    import scipy.sparse as sp
    df = ratings_frame(str(world / "events.parquet")).groupby(["userID", "itemID"], as_index=False)["rating"].sum()
    _, u = np.unique(df["userID"].to_numpy(), return_inverse=True)
    _, i = np.unique(df["itemID"].to_numpy(), return_inverse=True)
    return sp.csr_matrix((df["rating"].to_numpy(np.float32), (u, i)))


def _one_blas_thread():
    """implicit runs its own threads and warns that a multi-threaded BLAS slows it down: set it as it asks."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(1, "blas")


def child_implicit_cosine(world: Path) -> dict:
    from implicit.nearest_neighbours import CosineRecommender
    _one_blas_thread()
    user_items = _user_items(world)
    started = time.perf_counter()
    model = CosineRecommender(K=NEIGHBOURS)
    model.fit(user_items, show_progress=False)
    ids, _ = model.recommend(np.arange(user_items.shape[0]), user_items, N=K, filter_already_liked_items=True)
    return {"seconds": time.perf_counter() - started, "rows": int((ids >= 0).sum())}


def child_implicit_als(world: Path) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares
    _one_blas_thread()
    user_items = _user_items(world)
    started = time.perf_counter()
    model = AlternatingLeastSquares(factors=RANK, iterations=15, random_state=0)
    model.fit(user_items, show_progress=False)
    ids, _ = model.recommend(np.arange(user_items.shape[0]), user_items, N=K, filter_already_liked_items=True)
    return {"seconds": time.perf_counter() - started, "rows": int((ids >= 0).sum())}


def child_svds(world: Path) -> dict:
    from scipy.sparse.linalg import svds
    x = binary_matrix(str(world / "events.parquet"))
    started = time.perf_counter()
    svds(x, k=RANK, random_state=0)
    return {"seconds": time.perf_counter() - started}


def child_sklearn_content(world: Path) -> dict:
    import pyarrow.parquet as pq
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors
    items = pq.read_table(world / "items.parquet").to_pydict()
    started = time.perf_counter()
    texts = [f"{t} {d} category={c} brand={b} tier={p}".lower() for t, d, c, b, p in
             zip(items["title"], items["description"], items["category"], items["brand"], items["price_tier"])]
    tfidf = TfidfVectorizer(token_pattern=r"[a-z0-9=]{2,}", max_df=0.5, smooth_idf=False, sublinear_tf=False)
    vectors = tfidf.fit_transform(texts)
    found = NearestNeighbors(n_neighbors=NEIGHBOURS + 1, metric="cosine", algorithm="brute", n_jobs=-1)
    _, neighbours = found.fit(vectors).kneighbors(vectors)
    return {"seconds": time.perf_counter() - started, "rows": int(neighbours.size - len(texts))}


def _lists(world: Path):
    """One top-10 list per user and 10 test items per user, each drawn by popularity (p ~ 1 / rank^0.8, so that
    lists hit), as evaluate_vs_recommenders.py does, vectorised for a million users: oversample with replacement,
    keep each user's first 10 distinct draws."""
    import pandas as pd
    shape = json.loads((world / "scale.json").read_text())
    users, items, rng = shape["users"], shape["items"], np.random.default_rng(0)
    popularity = 1 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()

    def draw() -> np.ndarray:
        picks = rng.choice(items, size=(users, 8 * K), p=popularity)
        order = np.argsort(picks, axis=1, kind="stable")
        ordered = np.take_along_axis(picks, order, axis=1)
        first = np.ones_like(picks, dtype=bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        keep = np.zeros_like(first)
        np.put_along_axis(keep, order, first, axis=1)  # each item's first draw, in draw order
        rank = np.cumsum(keep, axis=1)
        chosen = keep & (rank <= K)
        assert (chosen.sum(axis=1) == K).all(), "too few distinct draws: raise the oversampling"
        return picks[chosen].reshape(users, K)

    truth_items, rec_items = draw(), draw()
    user = np.repeat(np.arange(users), K)
    rank = np.tile(np.arange(1, K + 1), users)
    truth = pd.DataFrame({"userID": user, "itemID": truth_items.ravel(), "rating": 1.0})
    preds = pd.DataFrame({"userID": user, "itemID": rec_items.ravel(), "prediction": (K + 1 - rank).astype(float)})
    return truth, preds


def child_eval_sqlrec(world: Path) -> dict:
    from evaluate_vs_recommenders import run_sqlrec
    truth, preds = _lists(world)
    started = time.perf_counter()
    values = run_sqlrec(truth, preds, K)
    return {"seconds": time.perf_counter() - started, "values": values}


def child_eval_recommenders(world: Path) -> dict:
    np.NaN = np.nan
    from evaluate_vs_recommenders import run_recommenders
    truth, preds = _lists(world)
    started = time.perf_counter()
    values = run_recommenders(truth, preds, K)
    return {"seconds": time.perf_counter() - started, "values": values}


def run_child(kind: str, world: Path, flag: str = "--child") -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(BENCH), flag, kind, str(world)], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"failed": f"{last[:300]} (exit {done.returncode}, after {time.perf_counter() - started:.0f} s)"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the suite --------------------------------------------------------------------------------------------------

def world_for(scale: str, data: Path) -> Path:
    from sqlrec.datagen import WorldSize, generate
    world = data / scale
    if not (world / "scale.json").is_file():
        started = time.perf_counter()
        generate(world, WorldSize(seed=1, **SCALES[scale]))
        (world / "scale.json").write_text(json.dumps(SCALES[scale]))
        print(f"generated the {scale} world in {time.perf_counter() - started:.0f} s", flush=True)
    return world


def summarise(runs: dict[str, list[dict]], accuracy: dict[str, dict] | None = None) -> dict:
    """Medians of each measurement, and a row per piece of work: sqlrec / the fastest peer, and beside it the
    NDCG@10 of sqlrec's models and of the peers on one time split, and which is more accurate."""
    accuracy = accuracy or {}
    ndcg_of = {name: value for result in accuracy.values() for name, value in result.get("ndcg", {}).items()}
    def median(kind: str, key: str = "seconds"):
        ok = [r for r in runs.get(kind, []) if "failed" not in r]
        return statistics.median(r[key] for r in ok) if ok else None

    ours = [r for r in runs.get("sqlrec", []) if "failed" not in r]
    stages = {name: statistics.median(r["stages_s"][name] for r in ours) for name in ours[0]["stages_s"]} if ours \
        else {}
    measured = {kind: {"seconds": median(kind), "runs_s": [r.get("seconds") for r in results],
                       "peak_rss_mb": max((r["peak_rss_mb"] for r in results if "peak_rss_mb" in r), default=None),
                       "failed": next((r["failed"] for r in results if "failed" in r), None)}
                for kind, results in runs.items()}
    rows = []
    for work, (our_parts, peers) in WORK.items():
        if our_parts == ["whole run"]:
            seconds = median("sqlrec")
        elif our_parts == ["eval_sqlrec"]:
            seconds = median("eval_sqlrec")
        else:
            seconds = sum(stages[p] for p in our_parts) if all(p in stages for p in our_parts) else None
        peer_s = {p: measured[p]["seconds"] for p in peers if p in measured}
        done = {p: s for p, s in peer_s.items() if s is not None}
        fastest = min(done, key=done.get) if done else None
        ratio = seconds / done[fastest] if fastest and seconds is not None else None
        row = {"work": work, "sqlrec_stages": our_parts, "sqlrec_s": seconds, "peers_s": peer_s,
               "fastest_peer": fastest, "sqlrec_over_fastest": ratio}
        if work in ACCURACY:
            models, accuracy_peers = ACCURACY[work]
            ours = {m: ndcg_of[m] for m in models if m in ndcg_of}
            theirs = {p: ndcg_of[p] for p in accuracy_peers if p in ndcg_of}
            row["ndcg_at_10"] = {"sqlrec": ours, "peers": theirs}
            if models[0] in ours and theirs:  # the verdict is the timed model's (the first); others shown beside
                best_ours, best_theirs = ours[models[0]], max(theirs.values())
                row["more_accurate"] = "sqlrec" if best_ours > best_theirs else \
                    max(theirs, key=theirs.get) if best_theirs > best_ours else "equal"
                row["claim"] = ("faster at equal or better accuracy" if row["more_accurate"] in ("sqlrec", "equal")
                                and ratio is not None and ratio < 1 else
                                "a trade-off: " + ("faster, less accurate" if ratio is not None and ratio < 1 else
                                                   "slower, more accurate" if row["more_accurate"] == "sqlrec"
                                                   else "slower and less accurate"))
        rows.append(row)
    evaluated = [runs[kind][0].get("values") for kind in ("eval_sqlrec", "eval_recommenders") if runs.get(kind)]
    if len(evaluated) == 2 and None not in evaluated:  # the same metrics, or the timing compares different work
        assert all(abs(evaluated[0][m] - evaluated[1][m]) < 1e-9 for m in evaluated[0]), evaluated
    return {"work": rows, "measured": measured, "stages_s": stages, "accuracy": accuracy}


def earlier_runs(path: Path) -> dict[str, list[dict]]:
    """The raw measurements of an earlier report (or, from a report without them, its medians)."""
    report = json.loads(path.read_text())
    if "runs" in report:
        return report["runs"]
    runs = {}
    for kind, m in report["measured"].items():
        runs[kind] = [{"failed": m["failed"]}] if m["failed"] else \
            [{"seconds": s, "peak_rss_mb": m["peak_rss_mb"]} for s in m["runs_s"]]
        if kind == "sqlrec" and not m["failed"]:
            for run in runs[kind]:
                run["stages_s"] = report["stages_s"]
    return runs


def _seconds(x: float | None) -> str:
    return "failed" if x is None else f"{x:.2f} s"


def render(report: dict) -> str:
    """The work table of a report (run-<scale>.json): docs/performance.md shows it as written (tests/test_docs.py)."""
    s = _seconds
    machine = report.get("machine", {})
    lines = [f"Measured on {report['date']}: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GiB, "
             f"DuckDB memory limit {report['memory_limit']}.", ""] if "date" in report and "cpu" in machine else []
    lines += ["| work | sqlrec | peers | sqlrec / fastest peer | NDCG@10 sqlrec | NDCG@10 peers | verdict |",
              "|---|---|---|---|---|---|---|"]
    for row in report["work"]:
        peers = ", ".join(f"{p} {s(v)}" for p, v in row["peers_s"].items())
        ratio = "-" if row["sqlrec_over_fastest"] is None else f"{row['sqlrec_over_fastest']:.2f}x"
        accuracy = row.get("ndcg_at_10", {})
        ours = ", ".join(f"{m} {v:.4f}" for m, v in accuracy.get("sqlrec", {}).items()) or "-"
        theirs = ", ".join(f"{p} {v:.4f}" for p, v in accuracy.get("peers", {}).items()) or "-"
        lines.append(f"| {row['work']} | {s(row['sqlrec_s'])} | {peers} | {ratio} | {ours} | {theirs} | "
                     f"{row.get('claim', '-')} |")
    return "\n".join(lines)


GROWTH_SCALES, GROWTH_ROWS = ("1M", "5M", "20M"), 14
PAGE = BENCH.parents[1] / "docs" / "performance.md"


def growth(reports: dict[str, dict]) -> str:
    """How each stage's seconds grow from 1M to 5M to 20M events (docs/performance.md's block `growth`, from
    bench/results/run-<scale>.json). Events, users and items all grow 5x then 4x, so an exponent of 1 is linear
    growth and 2 is growth with users x items (or items x items)."""
    stages = reports["20M"]["stages_s"]
    largest = sorted(stages, key=lambda name: -stages[name])[:GROWTH_ROWS]

    def exponents(values: list[float]) -> str:
        steps = [math.log(b / a) / math.log(f) if a > 0 and b > 0 else float("nan")
                 for a, b, f in ((values[0], values[1], 5), (values[1], values[2], 4))]
        return " | ".join(f"{e:.2f}" for e in steps)

    lines = ["| stage | 1M s | 5M s | 20M s | exponent 1M to 5M | exponent 5M to 20M |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in largest:
        values = [reports[scale]["stages_s"].get(name, 0.0) for scale in GROWTH_SCALES]
        lines.append(f"| `{name}` | " + " | ".join(f"{v:.2f}" for v in values) + f" | {exponents(values)} |")
    whole = [reports[scale]["measured"]["sqlrec"]["seconds"] for scale in GROWTH_SCALES]
    lines.append("| **whole run** | " + " | ".join(f"{v:.1f}" for v in whole) + f" | {exponents(whole)} |")
    peak = [reports[scale]["measured"]["sqlrec"]["peak_rss_mb"] for scale in GROWTH_SCALES]
    lines.append("| peak RSS (MB) | " + " | ".join(f"{v:,}" for v in peak) + f" | {exponents(peak)} |")
    return "\n".join(lines)


def markdown(scale: str, summary: dict, repeat: int) -> str:
    s = _seconds
    lines = [f"### {scale} events ({SCALES[scale]['users']:,} users, {SCALES[scale]['items']:,} items), "
             f"medians of {repeat}", "", render(summary)]
    lines += ["", "| process | median s | peak RSS MB | note |", "|---|---|---|---|"]
    for kind, m in summary["measured"].items():
        lines.append(f"| {kind} | {s(m['seconds'])} | {m['peak_rss_mb'] or '-'} | {m['failed'] or ''} |")
    lines += ["", "| sqlrec stage | median s |", "|---|---|"]
    lines += [f"| {name} | {sec:.2f} |" for name, sec in sorted(summary["stages_s"].items(), key=lambda kv: -kv[1])]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        kind, world = sys.argv[2], Path(sys.argv[3])
        if kind != "sqlrec":  # a peer that outgrows the machine fails with MemoryError instead of swapping it out
            limit = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.9)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        result = globals()[f"child_{kind}"](world)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--accuracy-child":
        import accuracy
        print(json.dumps(getattr(accuracy, f"accuracy_{sys.argv[2]}")(Path(sys.argv[3]), KNOBS)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=list(SCALES), help="required, except with --docs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sqlrec-bench")
    parser.add_argument("--out", type=Path, default=BENCH.parent / "results")
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="measure only these")
    parser.add_argument("--no-accuracy", action="store_true",
                        help="leave out the NDCG@10 of each model on a time split (bench/accuracy.py)")
    parser.add_argument("--docs", action="store_true",
                        help="only rewrite docs/performance.md's tables (each scale's work table and the per-stage "
                             "growth) from the results; a run into bench/results rewrites them too")
    parser.add_argument("--merge", action="store_true",
                        help="keep the last report's measurements of the kinds not measured now")
    args = parser.parse_args()
    if not args.docs and not args.scale:
        parser.error("--scale is required")
    if args.docs:
        print(write_docs(args.out))
        return
    world = world_for(args.scale, args.data)
    report_path = args.out / f"run-{args.scale}.json"
    kept = earlier_runs(report_path) if args.merge and report_path.is_file() else {}
    runs = {**{kind: results for kind, results in kept.items() if kind not in args.only},
            **{kind: [] for kind in args.only}}
    for round_ in range(args.repeat):  # alternating, so that every measurement sees the same load
        for kind in args.only:
            result = run_child(kind, world)
            runs[kind].append(result)
            shown = result.get("failed") or f"{result['seconds']:.2f} s, {result['peak_rss_mb']:,} MB"
            print(f"[{round_ + 1}/{args.repeat}] {kind}: {shown}", flush=True)
    accuracy = {} if args.no_accuracy else {kind: run_child(kind, world, "--accuracy-child")
                                             for kind in ACCURACY_KINDS if kind in args.only}
    for kind, result in accuracy.items():
        print(f"accuracy {kind}: {result.get('failed') or result['ndcg']}", flush=True)
    if args.merge and report_path.is_file():
        accuracy = {**json.loads(report_path.read_text()).get("accuracy", {}), **accuracy}
    summary = summarise(runs, accuracy)
    report = {"scale": args.scale, **SCALES[args.scale], "repeat": args.repeat, "knobs": KNOBS,
              "memory_limit": MEMORY_LIMIT, "runs": runs,
              "machine": {"cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                                       * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                          "cpu": cpu_model(), "python": platform.python_version()},
              "date": time.strftime("%Y-%m-%d"), **summary}
    args.out.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2))
    table = markdown(args.scale, summary, args.repeat)
    (args.out / f"run-{args.scale}.md").write_text(table)
    print(table)
    if args.out == BENCH.parent / "results" and args.scale in GROWTH_SCALES:  # the figures the docs show
        write_docs(args.out)


def cpu_model() -> str:
    """The processor's name: the shared machines change kind between days, and times only compare on one kind."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def write_docs(results: Path) -> str:
    """docs/performance.md's block run-<scale> for each scale, and the growth table, from the results files
    (tests/test_docs.py checks both against them)."""
    from readme_figures import replace_block
    reports = {scale: json.loads((results / f"run-{scale}.json").read_text()) for scale in GROWTH_SCALES}
    text = PAGE.read_text()
    for scale, report in reports.items():
        text = replace_block(text, f"run-{scale}", render(report))
    table = growth(reports)
    PAGE.write_text(replace_block(text, "growth", table))
    return table


if __name__ == "__main__":
    main()
