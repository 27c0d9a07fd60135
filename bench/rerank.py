"""What the re-rankers, debiasing and cross-sell do to the final lists, on synthetic retail data with planted patterns.

    python bench/rerank.py [--out DIR] [--users 20000 --items 600 --events 600000 --seed 11]

Generates a world, holds out its last 14 days (`sqlrec evaluate`, time split), and evaluates the whole pipeline
(`rec_final`: blend, cascade, rules, re-ranking, cut at k = 10) once per variant. For each it prints NDCG@10, the
number of distinct categories in a list, intra-list category diversity (share of pairs of different categories),
catalogue coverage, the average popularity of recommended items (training interactions), calibration (KL between a
user's category mix and their list's), and for the high-propensity segment the share of its test-period purchases
in complementary categories (the planted cross-sell complements of what it bought in training) that its lists
contained. Ratios are against the plain blend. Writes DIR/rerank.json when --out is given.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import duckdb

import sqlrec
from sqlrec.datagen import WorldSize, generate

BASE = {"blend": {"cooccurrence": 0.7, "content": 0.3}, "candidates": 50, "rerank": "none"}
VARIANTS = {
    "plain blend": {},
    "round robin": {"rerank": "round_robin"},
    "geometric 0.5": {"rerank": "geometric"},
    "MMR lambda 0.7 (category)": {"rerank": "mmr"},
    "MMR lambda 0.8 (category)": {"rerank": "mmr", "mmr_lambda": 0.8},
    "calibration": {"rerank": "calibration"},
    "max 2 per category": {"max_per_category": 2},
    "debias alpha 0.5": {"debias_alpha": 0.5},
    "debias alpha 1": {"debias_alpha": 1.0},
    "long-tail boost 1": {"longtail_boost": 1.0},
    "cross-sell (high_propensity)": {"cross_sell_segments": ["high_propensity"]},
}


def write_project(folder: Path, data: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sqlrec.toml").write_text(f"""
[inputs.events]
path = {json.dumps(str(data / "events.parquet"))}
[inputs.items]
path = {json.dumps(str(data / "items.parquet"))}
[inputs.users]
path = {json.dumps(str(data / "users.parquet"))}
[output]
path = "out"
keep_runs = 1
[engine]
progress = false
[evaluate]
split = "time"
test_days = 14
models = ["final"]
k = [10]
slices = []
""")
    publish = folder / "sql" / "eval_publish"
    publish.mkdir(parents=True)
    (publish / "lists.sql").write_text(
        "-- columns: user_id, item_id, rank\nSELECT user_id, item_id, rank FROM {{ ref('eval_recs') }}\n")
    (publish / "purchases.sql").write_text(
        "-- columns: user_id, item_id, period\n"
        "SELECT user_id, item_id, __split AS period FROM {{ ref('eval_split') }} WHERE event_type = 'purchase'\n")
    return folder


def measure(project: Path, data: Path, variant: dict) -> dict:
    result = sqlrec.evaluate(project, vars={**BASE, **variant}, progress=False)
    metrics = {r["model"]: r for r in result.table("metrics").to_pylist()}["final"]
    con = duckdb.connect()
    con.register("lists", result.table("lists"))
    con.register("purchases", result.table("purchases"))
    params = {"items": str(data / "items.parquet"), "truth": str(data / "truth" / "items.parquet"),
              "users": str(data / "users.parquet")}
    categories = con.execute("""
        SELECT avg(n) FROM (SELECT l.user_id, count(DISTINCT i.category) AS n
                            FROM lists AS l JOIN read_parquet($items) AS i ON i.item_id = l.item_id GROUP BY 1)
    """, {"items": params["items"]}).fetchall()[0][0]
    cross_sell = con.execute("""
        WITH hp AS (SELECT user_id FROM read_parquet($users) WHERE segment = 'high_propensity'),
        item_category AS (SELECT item_id, category FROM read_parquet($items)),
        complementary AS (  -- categories of the planted complements of what each user bought in training
            SELECT DISTINCT p.user_id, c.category
            FROM purchases AS p JOIN hp USING (user_id)
            JOIN read_parquet($truth) AS t ON t.item_id = p.item_id AND t.complement_item_id IS NOT NULL
            JOIN item_category AS c ON c.item_id = t.complement_item_id
            WHERE p.period = 'train'
        ),
        wanted AS (  -- test-period purchases in those categories
            SELECT DISTINCT p.user_id, p.item_id
            FROM purchases AS p JOIN item_category AS i ON i.item_id = p.item_id
            JOIN complementary AS c ON c.user_id = p.user_id AND c.category = i.category
            WHERE p.period = 'test'
        )
        SELECT count(*) FILTER (WHERE l.item_id IS NOT NULL) / CAST(count(*) AS DOUBLE), count(*)
        FROM wanted AS w LEFT JOIN lists AS l ON l.user_id = w.user_id AND l.item_id = w.item_id
    """, params).fetchall()[0]
    return {"ndcg@10": metrics["ndcg"], "categories_per_list": categories,
            "category_diversity": metrics["category_diversity"], "catalog_coverage": metrics["catalog_coverage"],
            "avg_popularity": metrics["avg_popularity"], "calibration_kl": metrics["calibration_kl"],
            "cross_sell_recall": cross_sell[0], "cross_sell_purchases": cross_sell[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(data, WorldSize(users=args.users, items=args.items, events=args.events, seed=args.seed))
        project = write_project(Path(tmp) / "project", data)
        results = {name: measure(project, data, variant) for name, variant in VARIANTS.items()}
    plain = results["plain blend"]
    columns = ["ndcg@10", "categories_per_list", "category_diversity", "catalog_coverage", "avg_popularity",
               "calibration_kl", "cross_sell_recall"]
    print(f"{'variant':<30}" + "".join(f"{c:>22}" for c in columns))
    for name, row in results.items():
        cells = "".join(f"{row[c]:>12.4f} ({row[c] / plain[c]:>5.2f}x)" if plain[c] else f"{row[c]:>22.4f}"
                        for c in columns)
        print(f"{name:<30}{cells}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rerank.json").write_text(json.dumps({"variants": VARIANTS, "base": BASE, "results": results},
                                                         indent=2) + "\n")


if __name__ == "__main__":
    main()
