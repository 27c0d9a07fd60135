"""MovieLens 100K on Microsoft Recommenders' benchmark protocol, for every recommender stage.

Trains on the benchmark's training rows (`derived/ms_benchmark_split_seed42.csv.gz`: raw rating as weight,
30-day half-life from the newest training time, seen items removed, k = 10), and writes

    DIR/<model>_top10.csv     userID,itemID,rank
    DIR/metrics.json          {"<model>": {"map", "ndcg@10", "precision@10", "recall@10", "fit_s", "recommend_s"}}
    DIR/tuning.json           the parameters `sqlrec tune` chose for ease and svd, and every validation score

The parameters of ease and svd are chosen first by `sqlrec tune` on a validation split carved from the training rows
(the test rows are not in the project at all), then every model is fitted on all training rows and scored on test.

with Recommenders' metric definitions (`map` divides by all of a user's test items). recommend_s is the seconds of
its rec_<model> stage and of its scoring product (int_<model>_candidates) when it has one, fit_s those of every
other stage its lists depend on (medians of --repeat runs).

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

MODELS = ("popularity", "cooccurrence", "content", "ease", "svd")
#: What `sqlrec tune` tries, on a validation split carved from the training rows only: stratified by user, 75% to
#: train as the benchmark's own split does, averaged over 3 seeds. Fixed before looking at any test result.
TUNING = """
[tune]
holdout = false
split = "stratified"
stratify_by = "user"
ratio = 0.75
seed = 7
repeats = 3
metric = "ndcg"
k = 10
[tune.grid.ease]
ease_lambda = [50, 100, 200, 300, 500, 800, 1000, 1500, 2000, 3000]
[tune.grid.svd]
svd_rank = [4, 8, 12, 16, 24, 32, 48, 64]
"""


def model_seconds(stages: list[dict], seconds: dict[str, float], model: str) -> tuple[float, float]:
    """(fit, recommend) seconds of rec_<model>: recommend is the stage itself and its scoring product
    (int_<model>_candidates) when there is one; fit is every other stage it depends on."""
    deps = {s["stage"]: s["deps"] for s in stages}
    recommend = {f"rec_{model}", f"int_{model}_candidates"} & set(deps)
    needed, todo = set(), [f"rec_{model}"]
    while todo:
        stage = todo.pop()
        if stage not in needed:
            needed.add(stage)
            todo.extend(deps[stage])
    return sum(seconds[s] for s in needed - recommend), sum(seconds[s] for s in recommend)


def dataset() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
    return Path(os.environ.get("SQLREC_ML100K") or default)


def benchmark_split(data: Path) -> Path:
    """Recommenders' MovieLens 100K benchmark split (seed 42): userID, itemID, rating, timestamp, split."""
    return data / "derived" / "ms_benchmark_split_seed42.csv.gz"


def training_events(data: Path) -> str:
    """The [inputs.events] of a project reading the benchmark split's training rows."""
    return f"""
[inputs.events]
path = {json.dumps(str(benchmark_split(data)))}
format = "csv"
filter = "split = 'train'"
ts_format = "epoch_s"
weight_range = [1, 5]
[inputs.events.columns]
user_id = "userID"
item_id = "itemID"
ts = "timestamp"
weight = "rating"
"""


def write_project(folder: Path, data: Path) -> None:
    (folder / "sqlrec.toml").write_text(training_events(data) + f"""

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
cooccurrence_exact = true  # exact SAR, as the published benchmark: no pruning, whole histories
""" + TUNING)
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
        tuned = sqlrec.tune(project, progress=False, report=print)  # sees the training rows only
        chosen = {name: value for best in tuned.best.values() for name, value in best["params"].items()}
        (args.out / "tuning.json").write_text(json.dumps(
            {"chosen": chosen, "validation": tuned.best, "metric": tuned.metric, "k": tuned.k,
             "grid": tuned.results.to_pylist()}, indent=2, default=str) + "\n")
        runs = [sqlrec.run(project, vars=chosen, progress=False) for _ in range(args.repeat)]
        seconds = {s["stage"]: statistics.median(r.manifest["stages"][i]["seconds"] for r in runs)
                   for i, s in enumerate(runs[0].manifest["stages"])}
        result = runs[-1]
        metrics = {}
        for model in MODELS:
            lists = result.table(f"top10_{model}")
            with open(args.out / f"{model}_top10.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["userID", "itemID", "rank"])
                for row in sorted(lists.to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
                    writer.writerow([row["user_id"], row["item_id"], row["rank"]])
            summary = score_lists(lists, test, k=10).summary
            fit_s, recommend_s = model_seconds(result.manifest["stages"], seconds, model)
            metrics[model] = {"map": round(summary["map"], 6), "ndcg@10": round(summary["ndcg"], 6),
                              "precision@10": round(summary["precision"], 6),
                              "recall@10": round(summary["recall"], 6),
                              "fit_s": round(fit_s, 4), "recommend_s": round(recommend_s, 4)}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
