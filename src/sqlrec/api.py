"""The Python API: what the CLI calls and what notebooks use.

>>> import sqlrec
>>> result = sqlrec.demo("sqlrec-demo")                       # doctest: +SKIP
>>> result.table("recommendations").num_rows                  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pyarrow as pa

from .config import CONFIG_FILE, Config, load_config
from .engines.duckdb import DuckDBEngine
from .errors import ConfigError
from .lookups import Explanation
from .input_checks import InputReport, describe_input, prepare_inputs
from .inputs import ResolvedInput, resolve
from .pipeline import EVALUATION_FOLDER, run_project, stage_sql, start_spark
from .plan import Plan, build_plan, render_one
from .project import Project, load_project
from .layout import CURRENT, current_run_dir
from .publish import OutputStore
from .templating import DIALECT
from .result import RunResult
from .lookups import open_current
from .session import ProjectSession
from .scaffold import DEMO_DIR, ensure_demo, init_project
from .tuning import TuneResult
from .tuning import tune as run_tuning
from .sql_lint import parse_stage, pretty

if TYPE_CHECKING:
    from .experiments.runner import ExperimentResult

PathLike = str | Path


def load(project: PathLike = ".", vars: Mapping[str, Any] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Project:
    """Load a project's config and stages. `vars` overrides [vars] entries; `overrides` any dotted key
    (e.g. {"inputs.events.path": "/data/events.parquet"})."""
    return load_project(load_config(_config_path(project), _overrides(vars, overrides)))


def _configured(project: PathLike, vars: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None,
                update_contract: bool) -> Config:
    config = load(project, vars, overrides).config
    return replace(config, update_contract=True) if update_contract else config


def _overrides(vars: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**(overrides or {}), **{f"vars.{k}": v for k, v in (vars or {}).items()}}


def run(project: PathLike = ".", vars: Mapping[str, Any] | None = None,
        report: Callable[[str], None] | None = None, progress: bool = True,
        overrides: Mapping[str, Any] | None = None, update_contract: bool = False,
        spark: Any = None) -> RunResult:
    """Run the whole pipeline and publish its outputs atomically. `update_contract`: accept changed output columns
    and record them in the contract (see sqlrec.contract). `spark`: an existing SparkSession to run the stages in
    (as `[engine] name = "spark"`, but on that session, which stays open)."""
    return run_project(_configured(project, vars, _spark_overrides(overrides, spark), update_contract),
                       report=report, show_progress=progress, spark=spark)


def _spark_overrides(overrides: Mapping[str, Any] | None, spark: Any) -> Mapping[str, Any] | None:
    return {**(overrides or {}), "engine.name": "spark"} if spark is not None else overrides


def evaluate(project: PathLike = ".", vars: Mapping[str, Any] | None = None,
             report: Callable[[str], None] | None = None, progress: bool = True,
             overrides: Mapping[str, Any] | None = None, update_contract: bool = False,
             spark: Any = None) -> RunResult:
    """Split the events, train the models of [evaluate] on the training split, score their lists on the test split.

    Publishes split_summary, metrics, metrics_by_user and metrics_by_slice under <output>/evaluation/. The models'
    lists are as long as the largest k of evaluate.k (vars.k is raised to it when smaller). `spark` as in run().
    """
    overrides = _spark_overrides(overrides, spark)
    config = _configured(project, vars, overrides, update_contract)
    longest = max(config.evaluation["k"])
    if config.vars.get("k", 10) < longest:
        config = _configured(project, {**(vars or {}), "k": longest}, overrides, update_contract)
    return run_project(config, report=report, show_progress=progress, mode="evaluate", spark=spark)


def tune(project: PathLike = ".", vars: Mapping[str, Any] | None = None,
         report: Callable[[str], None] | None = None, progress: bool = True,
         overrides: Mapping[str, Any] | None = None, update_contract: bool = False) -> TuneResult:
    """Try every combination of [tune.grid] on a validation split carved from the training data; publish the
    scores of each and the best parameters per model under <output>/tuning/ (see sqlrec.tuning)."""
    return run_tuning(lambda point: _configured(project, {**(vars or {}), **point}, overrides, update_contract),
                      report=report, progress=progress)


def experiment(project: PathLike = ".", name: str | None = None, vars: Mapping[str, Any] | None = None,
               report: Callable[[str], None] | None = None, progress: bool = True,
               overrides: Mapping[str, Any] | None = None, simulate: bool | None = None,
               update_contract: bool = False) -> ExperimentResult:
    """Run an experiment of [experiments.<name>]: assign users, compare the variants offline on one split (paired
    tests, Holm), simulate the online test on a generated world (`simulate`: None = when its truth/ is found), and
    publish experiment_* tables under <output>/experiments/<name>/ (see sqlrec.experiments.runner)."""
    from .experiments.runner import run_experiment  # scipy loads in ~1 s: only commands that test need it
    return run_experiment(
        lambda v, o: _configured(project, {**(vars or {}), **v}, {**(overrides or {}), **o}, update_contract),
        name, report=report, progress=progress, simulate=simulate)


def report(project: PathLike = ".", name: str | None = None, out: PathLike | None = None,
           evaluation: bool = False) -> Path:
    """Write the HTML report of an experiment's published results (`sqlrec experiment` first), or with
    `evaluation=True` of the published evaluation (`sqlrec evaluate` first); returns its path (default: report.html
    in the experiment's or the evaluation's output folder)."""
    config = load_config(_config_path(project))
    if evaluation:
        from .evaluation_report import REPORT_NAME, write_evaluation_report  # matplotlib: only reports load it
        folder = config.output_dir / EVALUATION_FOLDER
        run_dir = current_run_dir(folder)
        if run_dir is None:
            raise ConfigError(f"no published evaluation in {folder}", hint="run `sqlrec evaluate` first")
        tuning = config.tuning
        return write_evaluation_report(run_dir, Path(out) if out else folder / REPORT_NAME,
                                       metric=tuning["metric"], k=tuning["k"])
    from .experiments.report import write_report
    from .experiments.runner import EXPERIMENTS_FOLDER, choose_experiment
    spec = choose_experiment(config, name)
    folder = config.output_dir / EXPERIMENTS_FOLDER / spec.name
    if OutputStore(folder).current_run() is None:
        raise ConfigError(f"experiment {spec.name} has no published results in {folder}",
                          hint=f"run `sqlrec experiment {spec.name}` first")
    target = Path(out) if out else folder / "report.html"
    return write_report((folder / CURRENT).resolve(), target)


def demo(folder: PathLike = DEMO_DIR, report: Callable[[str], None] | None = None,
         progress: bool = True) -> RunResult:
    """Write (or reuse) the demo project in `folder` and run it."""
    config = ensure_demo(Path(folder))
    return run(config, report=report, progress=progress)


def init(folder: PathLike, with_data: bool = True) -> Path:
    """Write a commented starter project; returns the path of its sqlrec.toml."""
    return init_project(Path(folder), with_data=with_data)


def render(stage: str, project: PathLike = ".", dialect: str = DIALECT, vars: Mapping[str, Any] | None = None,
           raw: bool = False, overrides: Mapping[str, Any] | None = None) -> str:
    """A stage's SQL, rendered and pretty-printed (or transpiled to `dialect`, e.g. "spark")."""
    proj = load(project, vars, overrides)
    sql, _ctx = render_one(proj, stage)
    if raw:
        return sql
    known = set(proj.stages) | {f"src_{i}" for i in proj.config.inputs}
    tree = parse_stage(sql, stage, proj.stage(stage).path, known)
    return pretty(tree, dialect, f"stage {stage} ({proj.stage(stage).path})")


@dataclass(frozen=True)
class Validation:
    project: Project
    plan: Plan
    input_columns: Mapping[str, list[str]]


def validate(project: PathLike = ".", vars: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None) -> Validation:
    """Everything short of running: config, stages, graph, rendering, SQL parsing (and, for `[engine] name =
    "spark"`, the Spark translation of every stage), input files and column mapping."""
    proj = load(project, vars, overrides)
    plan = build_plan(proj)
    stage_sql(plan, proj.config.engine.name)
    inputs = resolve(proj.config, plan.inputs)
    with _scratch_engine(proj.config, inputs) as engine:
        columns = {name: describe_input(engine, resolved, proj.config) for name, resolved in inputs.items()}
    return Validation(project=proj, plan=plan, input_columns=columns)


def check(project: PathLike = ".", overrides: Mapping[str, Any] | None = None) -> dict[str, InputReport]:
    """Run the input checks a run starts with, on every declared input, without running any stage."""
    config = load_config(_config_path(project), _overrides(None, overrides))
    inputs = resolve(config)
    with _scratch_engine(config, inputs) as engine:
        return prepare_inputs(engine, inputs, config)


@contextmanager
def _scratch_engine(config: Config, inputs: Mapping[str, ResolvedInput]):
    """The engine the project runs on, for checking its inputs: DuckDB with a throwaway database, or Spark (which
    reads the files, and the URLs, itself)."""
    with ExitStack() as cleanup:
        if config.engine.name == "spark":
            engine = start_spark(config)
        else:
            scratch = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sqlrec-check-"))
            engine = DuckDBEngine(config.engine, database=Path(scratch) / "check.duckdb",
                                  temp_directory=(config.root / config.engine.temp_directory).resolve(),
                                  allowed={f.parent for r in inputs.values() for f in r.files}, show_progress=False)
        cleanup.callback(engine.close)
        yield engine


def list_stages(project: PathLike = ".") -> list[dict[str, Any]]:
    """One row per stage: name, kind, origin, layer, materialization, published, deps, file, description."""
    proj = load(project)
    plan = build_plan(proj, targets=tuple(proj.stages))
    rows = []
    for planned in sorted(plan.stages, key=lambda p: (p.stage.layer, p.stage.name)):
        s = planned.stage
        rows.append({"stage": s.name, "kind": s.kind, "origin": s.origin, "layer": s.layer or "-",
                     "materialized": s.header.materialized, "published": s.published,
                     "deps": list(planned.deps) + [f"source:{x}" for x in planned.sources],
                     "path": str(s.path), "description": s.header.description})
    return rows


def open_outputs(project: PathLike = ".") -> RunResult:
    """The currently published run of a project, without running anything."""
    config = load_config(_config_path(project))
    store = OutputStore(config.output_dir)
    if store.current_run() is None:
        raise ConfigError(f"{config.output_dir} has no published run yet", hint="run `sqlrec run` first")
    return RunResult.from_run_dir((config.output_dir / CURRENT).resolve())


def open(project: PathLike = ".") -> ProjectSession:
    """A project for a notebook: run it, read any output as Arrow, DuckDB, pandas or polars, query them in SQL
    (see sqlrec.session)."""
    return ProjectSession(project)


def recommend(user: Any, project: PathLike = ".", k: int | None = None, explain: bool = False) -> pa.Table:
    """`user`'s published list (rank, item_id, score, source, reason; with `explain`, the largest contributors).
    Ids may be given as text: `recommend("42")` finds an integer id."""
    with open_current(load_config(_config_path(project)).output_dir) as lookup:
        return lookup.recommendations(user, k, explain).arrow()


def similar(item: Any, project: PathLike = ".", k: int | None = None, source: str | None = None) -> pa.Table:
    """The items published as similar to `item` (source, rank, other_item_id, score)."""
    with open_current(load_config(_config_path(project)).output_dir) as lookup:
        return lookup.similar(item, k, source).arrow()


def explain(user: Any, item: Any, project: PathLike = ".") -> Explanation:
    """Why `item` is in `user`'s published list: its rank, source and reason, and its largest contributors."""
    with open_current(load_config(_config_path(project)).output_dir) as lookup:
        return lookup.explanation(user, item)


def _config_path(project: PathLike) -> Path:
    path = Path(project)
    return path / CONFIG_FILE if path.is_dir() else path
