"""What the co-occurrence defaults (`cooccurrence_neighbours = 50`, `cooccurrence_max_history = 200`) cost against
exact SAR (`cooccurrence_exact = true`: both 0), on the real datasets.

    python bench/neighbour_default.py            # writes bench/results/neighbour_default.json, rewrites the docs' table

For each dataset, the co-occurrence recommender's top-10 lists with the default and with exact SAR, scored by
`sqlrec.metrics.score_lists` (NDCG, precision, recall, MAP at 10), and the whole `sqlrec run`'s seconds:
- MovieLens 100K on Recommenders' benchmark split (the published SAR lists are the exact ones: test_recommenders);
- UCI Online Retail, the example project, trained on everything before its last 30 days, scored on the purchases
  of those days by customers who bought before (items they had bought before count too: repurchases are sales).
The 1M generated world's figures are bench/knobs.py's (docs/performance.md, "Knobs").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb

CHECKOUT = Path(__file__).resolve().parents[1]
SHARED = CHECKOUT.parent / "shared" / "datasets"
RESULTS = CHECKOUT / "bench" / "results" / "neighbour_default.json"
PAGE = CHECKOUT / "docs" / "recommenders.md"
SETTINGS = {"default (50 neighbours, 200-item histories)": {"cooccurrence_neighbours": 50,
                                                             "cooccurrence_max_history": 200},
            "exact SAR (cooccurrence_exact = true)": {"cooccurrence_exact": True}}
PUBLISH = "-- columns: user_id, item_id, rank\nSELECT user_id, item_id, rank FROM {{ ref('rec_cooccurrence') }}\n"


def movielens(folder: Path) -> tuple[Path, object]:
    from ml100k import benchmark_split, dataset, training_events
    (folder / "sqlrec.toml").write_text(training_events(dataset()) + "[output]\nkeep_runs = 1\n")
    test = duckdb.sql("SELECT userID AS user_id, itemID AS item_id FROM read_csv($p) WHERE split = 'test'",
                      params={"p": str(benchmark_split(dataset()))}).fetch_arrow_table()
    return folder, test


def online_retail(folder: Path) -> tuple[Path, object]:
    """The example's config, its events cut 30 days before the last invoice; the test is what came after."""
    config = (CHECKOUT / "examples" / "online-retail" / "sqlrec.toml").read_text()
    data = SHARED / "online-retail" / "online_retail.parquet"
    config = config.replace("../../../shared/datasets/online-retail/online_retail.parquet", str(data))
    events_filter = "regexp_matches(StockCode, '^[0-9]{5}')\"\nnulls"  # the events' filter, not the items'
    assert events_filter in config
    config = config.replace(events_filter, "regexp_matches(StockCode, '^[0-9]{5}') "
                                           "AND InvoiceDate < TIMESTAMP '2011-11-09'\"\nnulls")
    config = config.replace('path = "output"', 'path = "output"\nkeep_runs = 1')
    (folder / "sqlrec.toml").write_text(config)
    test = duckdb.sql("""
        WITH bought AS (
            SELECT CAST(CustomerID AS BIGINT) AS user_id, StockCode AS item_id, InvoiceDate AS ts FROM read_parquet($p)
            WHERE Quantity > 0 AND UnitPrice > 0 AND NOT starts_with(InvoiceNo, 'C')
              AND regexp_matches(StockCode, '^[0-9]{5}') AND CustomerID IS NOT NULL)
        SELECT DISTINCT user_id, item_id FROM bought
        WHERE ts >= TIMESTAMP '2011-11-09' AND user_id IN (SELECT user_id FROM bought WHERE ts < TIMESTAMP '2011-11-09')
    """, params={"p": str(data)}).fetch_arrow_table()
    return folder, test


def _movielens_folder() -> Path:
    from ml100k import dataset
    return dataset()  # ../shared/datasets/ml-100k, or $SQLREC_ML100K


DATASETS = {"MovieLens 100K (benchmark split)": (movielens, _movielens_folder),
            "UCI Online Retail (last 30 days held out)": (online_retail, lambda: SHARED / "online-retail")}


def measure() -> list[dict]:
    import sqlrec
    from sqlrec.metrics import score_lists
    rows = []
    for name, (build, needs) in DATASETS.items():
        if not needs().is_dir():
            sys.exit(f"{needs()} not found: this measurement reads the real datasets from ../shared")
        with tempfile.TemporaryDirectory() as tmp:
            folder, test = build(Path(tmp))
            (folder / "sql" / "publish").mkdir(parents=True)
            (folder / "sql" / "publish" / "cooccurrence_top10.sql").write_text(PUBLISH)
            for setting, knobs in SETTINGS.items():
                started = time.perf_counter()
                result = sqlrec.run(folder, vars={**knobs, "k": 10}, progress=False)
                seconds = time.perf_counter() - started
                summary = score_lists(result.table("cooccurrence_top10"), test, k=10).summary
                rows.append({"dataset": name, "setting": setting, "seconds": round(seconds, 2),
                             **{m: round(summary[m], 4) for m in ("ndcg", "precision", "recall", "map")}})
                print(rows[-1], flush=True)
    return rows


def render(rows: list[dict]) -> str:
    """The docs/recommenders.md table (tests/test_docs.py checks the page against the results)."""
    exact = {r["dataset"]: r for r in rows if r["setting"].startswith("exact")}
    lines = ["| data | setting | NDCG@10 | P@10 | R@10 | MAP | NDCG kept | run s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        kept = r["ndcg"] / exact[r["dataset"]]["ndcg"]
        lines.append(f"| {r['dataset']} | {r['setting']} | {r['ndcg']:.4f} | {r['precision']:.4f} | "
                     f"{r['recall']:.4f} | {r['map']:.4f} | {kept:.1%} | {r['seconds']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs-only", action="store_true", help="rewrite the docs' table from the last results")
    args = parser.parse_args()
    if args.docs_only:
        rows = json.loads(RESULTS.read_text())
    else:
        rows = measure()
        RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    page = PAGE.read_text()
    block = re.compile(r"(<!-- figures:neighbour-default -->).*?(<!-- /figures:neighbour-default -->)", re.S)
    PAGE.write_text(block.sub(lambda m: f"{m.group(1)}\n{render(rows)}\n{m.group(2)}", page))
    print(render(rows))


if __name__ == "__main__":
    main()
