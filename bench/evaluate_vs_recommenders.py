"""Time sqlrec's SQL metrics against Microsoft Recommenders' python_evaluation on the same lists, same run.

1M test interactions over 100k users (10 each), a top-10 list per user; precision@10, recall@10, NDCG@10 and
MAP@10 from both, values compared to 1e-9, medians of 3 repetitions.

Needs `recommenders` (tested with 1.2.1, which pins pandas < 3) beside sqlrec in one environment:
    python -m venv /tmp/msr && /tmp/msr/bin/pip install recommenders==1.2.1 -e . && /tmp/msr/bin/python bench/evaluate_vs_recommenders.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from sqlrec.metrics import score_lists


def make_data(users: int, per_user: int, items: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, items + 1) ** 0.8  # popular items are likelier in both, so there are hits
    popularity /= popularity.sum()
    user = np.repeat(np.arange(users), per_user)
    test_item = np.concatenate([rng.choice(items, per_user, replace=False, p=popularity) for _ in range(users)])
    rec_item = np.concatenate([rng.choice(items, k, replace=False, p=popularity) for _ in range(users)])
    rec_user = np.repeat(np.arange(users), k)
    rank = np.tile(np.arange(1, k + 1), users)
    truth = pd.DataFrame({"userID": user, "itemID": test_item, "rating": 1.0})
    preds = pd.DataFrame({"userID": rec_user, "itemID": rec_item, "prediction": (k + 1 - rank).astype(float)})
    return truth, preds


def run_recommenders(truth, preds, k):
    from recommenders.evaluation import python_evaluation as pe  # a peer: sqlrec's own figures run without it
    return {
        "precision": pe.precision_at_k(truth, preds, k=k),
        "recall": pe.recall_at_k(truth, preds, k=k),
        "ndcg": pe.ndcg_at_k(truth, preds, k=k),
        "map": pe.map(truth, preds, k=k),
    }


def run_sqlrec(truth, preds, k):
    test = pa.table({"user_id": truth["userID"].to_numpy(), "item_id": truth["itemID"].to_numpy()})
    recs = pa.table({"user_id": preds["userID"].to_numpy(), "item_id": preds["itemID"].to_numpy(),
                     "rank": (k + 1 - preds["prediction"].to_numpy()).astype(np.int64)})
    summary = score_lists(recs, test, k=k).summary
    return {name: summary[name] for name in ("precision", "recall", "ndcg", "map")}


def timed(func, *args, repeat: int):
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func(*args)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    k = 10
    truth, preds = make_data(args.users, args.per_user, args.items, k)
    print(f"{len(truth):,} test interactions, {args.users:,} users, k = {k}")
    ms_seconds, ms = timed(run_recommenders, truth, preds, k, repeat=args.repeat)
    sql_seconds, ours = timed(run_sqlrec, truth, preds, k, repeat=args.repeat)
    print(f"\n{'metric':<10} {'recommenders':>14} {'sqlrec':>14}  equal")
    for name in ms:
        print(f"{name:<10} {ms[name]:>14.9f} {ours[name]:>14.9f}  {abs(ms[name] - ours[name]) < 1e-9}")
    print(f"\nmedian seconds: recommenders {ms_seconds:.2f}, sqlrec {sql_seconds:.2f}, "
          f"ratio {ms_seconds / sql_seconds:.1f}x")


if __name__ == "__main__":
    main()
