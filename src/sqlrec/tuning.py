"""`sqlrec tune`: choose each model's parameters on a validation split carved from the training data only.

For every model of [tune.grid] and every combination of its values, the pipeline runs in "tune" mode: the events
are split by [evaluate] and only its training part is kept (unless tune.holdout = false), that part is split again
by [tune] into training and validation, the model is fitted on the first and scored on the second. The test split
of [evaluate] never takes part. The scores of every combination and the best one per model are published under
<output>/tuning/ (tuning_results, best_params.json), atomically, like a run.

>>> list(grid_points({"ease_lambda": [100, 300], "ease_weighting": ["binary"]}))
[{'ease_lambda': 100, 'ease_weighting': 'binary'}, {'ease_lambda': 300, 'ease_weighting': 'binary'}]
"""

from __future__ import annotations

import itertools
import json
import platform
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import duckdb
import pyarrow as pa

from . import __version__
from .config import SPLIT_KEYS, Config
from .errors import ConfigError
from .pipeline import compute_tables
from .project import Column, Stage, StageHeader, load_project
from .publish import publish_tables

TUNING_FOLDER = "tuning"  # under the project's output folder, beside the run's outputs and evaluation/
BEST_FILE = "best_params.json"
METRICS = ("precision", "recall", "ndcg", "map", "map_at_k", "mrr", "hit_rate")
RESULTS = Stage(
    name="tuning_results", kind="python", path=Path(__file__), origin="builtin", layer="tuning",
    header=StageHeader(
        description="Validation scores of every parameter combination `sqlrec tune` tried.",
        grain="one row per (model, params)", unique=("model", "params"),
        columns=(Column("model", "the recommender (stage rec_<model>)"),
                 Column("params", "the vars tried, as JSON"),
                 Column("chosen", "true for the model's best combination by the tune metric (first of ties)"),
                 *(Column(m, f"{m} at tune.k on the validation split (mean over tune.repeats splits)")
                   for m in METRICS))))


@dataclass(frozen=True)
class TuneResult:
    results: pa.Table  # one row per (model, combination)
    best: Mapping[str, Mapping[str, Any]]  # model -> {"params": {...}, "<metric>": value}
    metric: str
    k: int
    run_dir: Path


def grid_points(grid: Mapping[str, list]) -> Iterator[dict[str, Any]]:
    """Every combination of the values of `grid` (var -> list), in the order the lists give them."""
    names = list(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        yield dict(zip(names, values))


def choose(rows: list[dict], metric: str) -> dict[str, dict]:
    """The best row of each model by `metric` (higher is better); the first in grid order among ties."""
    best: dict[str, dict] = {}
    for row in rows:
        if row["model"] not in best or row[metric] > best[row["model"]][metric]:
            best[row["model"]] = row
    return best


def tune(load: Callable[[Mapping[str, Any]], Config], report: Callable[[str], None] | None = None,
         progress: bool = False) -> TuneResult:
    """Run the grid of `load({})`'s [tune]. `load(vars)` gives the project's config with those vars overridden."""
    report = report or (lambda _msg: None)
    base = load({})
    settings = base.tuning
    if not settings["grid"]:
        raise ConfigError(f"{base.source}: [tune] has no grid to try",
                          hint="add [tune.grid.<model>] with a list of values per var, e.g. "
                               "[tune.grid.ease] then ease_lambda = [100, 300, 1000]")
    known = load_project(base).stages
    for model in settings["grid"]:
        if f"rec_{model}" not in known:
            raise ConfigError(f"{base.source}: `tune.grid.{model}` names no recommender (no stage rec_{model})",
                              hint="the models are the rec_<model> stages: `sqlrec ls` lists them")
    metric, k = settings["metric"], settings["k"]
    validation = {**base.evaluation, **{key: settings[key] for key in SPLIT_KEYS}, "k": [k]}
    holdout = MappingProxyType(dict(base.evaluation)) if settings["holdout"] else MappingProxyType({})
    started_at = datetime.now(timezone.utc)
    rows = []
    # Only the md5 splits draw anew with another seed; a time or last_n split would repeat the same run.
    repeats = settings["repeats"] if validation["split"] in ("stratified", "kfold") else 1
    for model, grid in settings["grid"].items():
        for point in grid_points(grid):
            config = load({**point, "k": max(k, point.get("k", base.vars.get("k", 10)))})
            runs = []
            for repeat in range(repeats):  # the same split with other seeds (md5 splits; a time split repeats)
                split = {**validation, "models": [model], "seed": validation["seed"] + repeat}
                metrics = compute_tables(replace(config, evaluation=MappingProxyType(split), holdout=holdout),
                                         ("metrics",), mode="tune", show_progress=progress)["metrics"]
                runs.append(next(r for r in metrics.to_pylist() if r["model"] == model and r["k"] == k))
            scores = {m: sum(r[m] for r in runs) / repeats for m in METRICS}
            rows.append({"model": model, "params": point, **scores})
            report(f"{model} {json.dumps(point, sort_keys=True)}: {metric}@{k} = {scores[metric]:.4f}"
                    + (f" (mean of {repeats} splits)" if repeats > 1 else ""))
    best = choose(rows, metric)
    table = pa.table({
        "model": [r["model"] for r in rows],
        "params": [json.dumps(r["params"], sort_keys=True) for r in rows],
        "chosen": [best[r["model"]] is r for r in rows],
        **{m: pa.array([r[m] for r in rows], pa.float64()) for m in METRICS}})
    chosen = {model: {"params": row["params"], **{m: row[m] for m in METRICS}} for model, row in best.items()}
    run_dir = _publish(base, table, chosen, metric, k, repeats, validation, bool(holdout), started_at)
    return TuneResult(results=table, best=chosen, metric=metric, k=k, run_dir=run_dir)


def _publish(config: Config, table: pa.Table, best: Mapping, metric: str, k: int, repeats: int,
             validation: Mapping, holdout: bool, started_at: datetime) -> Path:
    manifest = {
        "mode": "tune", "project": config.name, "config_file": str(config.source), "config_hash": config.hash,
        "started_at": started_at.isoformat(),
        "versions": {"sqlrec": __version__, "duckdb": duckdb.__version__, "pyarrow": pa.__version__,
                     "python": platform.python_version()},
        "vars": dict(config.vars),
        "tuning": {"metric": metric, "k": k, "repeats": repeats, "holdout": holdout,
                   "validation_split": dict(validation), "best": best}}
    best_file = json.dumps({"metric": metric, "k": k, "best": best}, indent=2, sort_keys=True) + "\n"
    return publish_tables(config.output_dir / TUNING_FOLDER, config.output.keep_runs, [(RESULTS, table)], manifest,
                          {BEST_FILE: best_file}, config.contract, config.output.grace_seconds)
