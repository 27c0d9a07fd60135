"""MovieLens 100K on Microsoft Recommenders' benchmark protocol, for every recommender stage.

Trains on the benchmark's training rows (`derived/ms_benchmark_split_seed42.csv.gz`: raw rating as weight,
30-day half-life from the newest training time, seen items removed, k = 10), and writes

    DIR/<model>_top10.csv     userID,itemID,rank
    DIR/metrics.json          {"<model>": {"map", "ndcg@10", "precision@10", "recall@10", "fit_s", "recommend_s"}}

with Recommenders' metric definitions (`map` divides by all of a user's test items). fit_s is the seconds of the
stages a model's recommendations depend on, recommend_s those of its rec_<model> stage (median of --repeat runs).

    python bench/ml100k.py --out /tmp/ml100k            # reads ../shared/datasets/ml-100k or $SQLREC_ML100K
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
from pathlib import Path

import duckdb

import sqlrec
from sqlrec.metrics import score_lists

MODELS = {  # model -> the stages it is fitted by
    "popularity": ("stg_events", "int_item_popularity"),
    "cooccurrence": ("stg_events", "int_user_affinity", "int_item_cooccurrence", "int_item_similarity"),
    "content": ("stg_events", "int_user_affinity", "int_item_tokens", "int_item_content_similarity"),
}


def dataset() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
    return Path(os.environ.get("SQLREC_ML100K") or default)


def write_project(folder: Path, data: Path) -> None:
    split = data / "derived" / "ms_benchmark_split_seed42.csv.gz"
    (folder / "sqlrec.toml").write_text(f"""
[inputs.events]
path = {json.dumps(str(split))}
format = "csv"
filter = "split = 'train'"
ts_format = "epoch_s"
weight_range = [1, 5]
[inputs.events.columns]
user_id = "userID"
item_id = "itemID"
ts = "timestamp"
weight = "rating"

[inputs.items]
path = {json.dumps(str(data / "u.item"))}
format = "csv"
delimiter = "|"
header = false
encoding = "latin-1"
names = ["item_id", "title", "release_date", "video_release_date", "imdb_url", "g0", "g1", "g2", "g3", "g4", "g5",
         "g6", "g7", "g8", "g9", "g10", "g11", "g12", "g13", "g14", "g15", "g16", "g17", "g18"]

[output]
path = "out"
keep_runs = 1

[vars]
k = 10
""")
    publish = folder / "sql" / "publish"
    publish.mkdir(parents=True)
    for model in MODELS:
        (publish / f"top10_{model}.sql").write_text(
            f"-- columns: user_id, item_id, rank\nSELECT user_id, item_id, rank FROM {{{{ ref('rec_{model}') }}}}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = dataset()
    args.out.mkdir(parents=True, exist_ok=True)
    test = duckdb.sql("SELECT userID AS user_id, itemID AS item_id FROM read_csv($p) WHERE split = 'test'",
                      params={"p": str(data / "derived" / "ms_benchmark_split_seed42.csv.gz")}).to_arrow_table()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        write_project(project, data)
        runs = [sqlrec.run(project, progress=False) for _ in range(args.repeat)]
        seconds = {s["stage"]: statistics.median(r.manifest["stages"][i]["seconds"] for r in runs)
                   for i, s in enumerate(runs[0].manifest["stages"])}
        result = runs[-1]
        metrics = {}
        for model, fit_stages in MODELS.items():
            lists = result.table(f"top10_{model}")
            with open(args.out / f"{model}_top10.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["userID", "itemID", "rank"])
                for row in sorted(lists.to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
                    writer.writerow([row["user_id"], row["item_id"], row["rank"]])
            summary = score_lists(lists, test, k=10).summary
            metrics[model] = {"map": round(summary["map"], 6), "ndcg@10": round(summary["ndcg"], 6),
                              "precision@10": round(summary["precision"], 6),
                              "recall@10": round(summary["recall"], 6),
                              "fit_s": round(sum(seconds[s] for s in fit_stages), 4),
                              "recommend_s": round(seconds[f"rec_{model}"], 4)}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
