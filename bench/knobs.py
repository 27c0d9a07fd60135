"""The knobs that trade accuracy for speed, measured: NDCG@10 and the seconds of the stages each knob drives.

    python bench/knobs.py [--scale 1M] [--data DIR]

For each setting below, `sqlrec evaluate` (time split, last 14 days held out) of bench/run.py's project on that
scale's world, in a fresh process, other knobs as in bench/run.py:

  cooccurrence_neighbours   0 (exact), 100, 50, 20, 10      the co-occurrence model's NDCG, its stages' seconds
  cooccurrence_max_history  0 (all), 200, 100, 50, 20      the same
  svd_rank                  16, 32, 64, 128                 the SVD model's NDCG, its stages' seconds
  content_neighbours        100, 50, 20                     the content model's NDCG, its stages' seconds

and the final blended list's NDCG beside each. Prints a Markdown table (bench/results/knobs-<scale>.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme_figures import save_figures
from run import KNOBS, PAGE, SCALES, WORK, world_for
from scale import write_full_project

BENCH = Path(__file__).resolve()
SETTINGS = [("cooccurrence_neighbours", v, "cooccurrence") for v in (0, 100, 50, 20, 10)] + \
           [("cooccurrence_max_history", v, "cooccurrence") for v in (0, 200, 100, 50, 20)] + \
           [("svd_rank", v, "svd") for v in (16, 32, 64, 128)] + \
           [("content_neighbours", v, "content") for v in (100, 50, 20)]
STAGES = {"cooccurrence": WORK["co-occurrence recommender (fit + top-10)"][0],
          "svd": WORK["latent-factor recommender (fit + top-10)"][0],
          "content": WORK["content similarity (top-50 per item)"][0] + ["int_content_candidates", "rec_content"]}


#: The defaults of the knobs bench/run.py's project leaves unset.
DEFAULTS = {"svd_rank": 64, "content_neighbours": 50, "cooccurrence_neighbours": 50, "cooccurrence_max_history": 200}


def knobs_with(knob: str, value: int) -> str:
    """bench/run.py's knobs with `knob` set to `value`."""
    knobs = [line for line in KNOBS.splitlines() if line and not line.startswith(f"{knob} =")]
    return "\n".join([*knobs, f"{knob} = {value}"])


def effective(knob: str, value: int) -> frozenset:
    """The settings a project with `knob = value` runs with, defaults included: equal ones give equal results."""
    settings = dict(DEFAULTS)
    for line in knobs_with(knob, value).splitlines():
        name, _, setting = line.partition(" = ")
        settings[name.strip()] = setting.strip()
    return frozenset((name, str(setting)) for name, setting in settings.items())


def child(world: str, knob: str, value: int) -> dict:
    import sqlrec
    with tempfile.TemporaryDirectory() as tmp:
        project = write_full_project(Path(tmp), Path(world), knobs_with(knob, value))
        config = project / "sqlrec.toml"
        config.write_text(config.read_text() + '\n[evaluate]\nmodels = ["cooccurrence", "svd", "content", "final"]\n'
                                               'split = "time"\ntest_days = 14\nk = [10]\n')
        started = time.perf_counter()
        result = sqlrec.evaluate(project, progress=False)
        metrics = result.table("metrics").to_pylist()
        return {"seconds": time.perf_counter() - started,
                "ndcg": {m["model"]: m["ndcg"] for m in metrics if m["k"] == 10},
                "stages_s": {s["stage"]: s["seconds"] for s in result.manifest["stages"]}}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=list(SCALES), default="1M")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sqlrec-bench")
    parser.add_argument("--out", type=Path, default=BENCH.parent / "results")
    args = parser.parse_args()
    world = world_for(args.scale, args.data)
    results, by_project = [], {}
    for knob, value, model in SETTINGS:
        project = effective(knob, value)
        if project not in by_project:  # a setting equal to the base project's (e.g. 50 neighbours) runs once
            done = subprocess.run([sys.executable, str(BENCH), "--child", str(world), knob, str(value)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{knob} = {value} failed:\n{done.stderr[-2000:]}")
            by_project[project] = json.loads(done.stdout.strip().splitlines()[-1])
        result = by_project[project]
        seconds = sum(result["stages_s"].get(stage, 0.0) for stage in STAGES[model])
        results.append({"knob": knob, "value": value, "model": model, **result, "model_stages_s": seconds})
        print(render(results[-1:]).splitlines()[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table = render(results)
    (args.out / f"knobs-{args.scale}.md").write_text(f"### Knobs at {args.scale} events: `sqlrec evaluate`, time "
                                                     f"split (last 14 days held out)\n\n{table}\n")
    if args.out == BENCH.parent / "results" and args.scale == "1M":  # the figures docs/performance.md shows
        save_figures(results, args.out / "knobs-1M.json", PAGE, "knobs-1M", table)
    else:
        (args.out / f"knobs-{args.scale}.json").write_text(json.dumps(results, indent=2))
    print(table)


def render(rows: list[dict]) -> str:
    """The knobs table (docs/performance.md's block knobs-1M; tests/test_docs.py checks it against the results)."""
    lines = ["| knob | value | model | its NDCG@10 | its stages' seconds | final list NDCG@10 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{r['knob']}` | {r['value']} | {r['model']} | {r['ndcg'][r['model']]:.4f} | "
              f"{r['model_stages_s']:.2f} | {r['ndcg']['final']:.4f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
