"""Run a project end to end: plan, bind inputs, run stages, check, publish atomically, write the manifest."""

from __future__ import annotations

import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import duckdb
import jinja2
import numpy
import pyarrow as pa
import sqlglot

from . import __version__
from .checks import check_columns, check_published
from .output_checks import TABLE as RECOMMENDATIONS, check_recommendations
from .config import Config
from .engines.duckdb import DuckDBEngine, StageStats
from .errors import ConfigError, SqlrecError, StageRunError
from .input_checks import InputReport, prepare_inputs
from .inputs import ResolvedInput, fingerprint, resolve
from .plan import Plan, PlannedStage, build_plan
from .sql_lint import to_dialect
from .project import Project, load_project
from . import refresh
from .layout import SNAPSHOT, current_run_dir, table_path
from .publish import OutputStore, build_snapshot, new_run_id, publishing_errors, write_manifest
from .result import RunResult

if TYPE_CHECKING:
    from .engines.spark import SparkEngine

Reporter = Callable[[str], None]


LIST_COLUMNS = ("user_id", "item_id", "score", "rank", "source")  # what the list checks read
EVALUATION_FOLDER = "evaluation"  # `sqlrec evaluate` publishes under <output>/evaluation/, beside the run's outputs


def run_project(config: Config, report: Reporter | None = None, show_progress: bool = True,
                mode: str = "run", spark: Any = None) -> RunResult:
    """mode "run": publish sql/publish/. mode "evaluate": split, train on the training split, publish metrics.
    With `[engine] name = "spark"` the stages run in Spark (in `spark`, an existing SparkSession, if given)."""
    report = report or (lambda _msg: None)
    started_at = datetime.now(timezone.utc)
    project = load_project(config)
    plan = build_plan(project, mode=mode)
    sql = stage_sql(plan, config.engine.name)  # a stage the engine cannot run fails before any data is read
    inputs = resolve(config)  # every declared input is checked, also those no stage reads yet
    root = config.output_dir / EVALUATION_FOLDER if mode == "evaluate" else config.output_dir
    store = OutputStore(root, config.output.keep_runs, config.output.grace_seconds)
    with store.lock():
        for finding in store.findings:
            report(f"output: {finding}")
        run_id = new_run_id()
        staging = store.staging(run_id)
        try:
            return _run_in_staging(config, project, plan, sql, inputs, store, run_id, staging, report,
                                   show_progress, started_at, mode, spark)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the published outputs were never touched
            raise


def compute_tables(config: Config, tables: tuple[str, ...], mode: str = "run",
                   show_progress: bool = False) -> dict[str, pa.Table]:
    """Run the stages that `tables` need and return those tables, publishing nothing (for `sqlrec tune`, which
    runs the pipeline once per point of its grid and keeps only the metrics)."""
    plan = build_plan(load_project(config), targets=tables, mode=mode)
    inputs = resolve(config)
    engine = open_engine(config, inputs, show_progress)
    try:
        prepare_inputs(engine, inputs, config)
        for planned in plan.stages:
            run_stage(engine, planned, config)
        return {name: engine.arrow(name) for name in tables}
    finally:
        engine.close()


def _run_in_staging(config: Config, project: Project, plan: Plan, sql: Mapping[str, str],
                    inputs: Mapping[str, ResolvedInput],
                    store: OutputStore, run_id: str, staging: Path, report: Reporter, show_progress: bool,
                    started_at: datetime, mode: str, spark: Any = None) -> RunResult:
    publish_dir = staging / "publish"
    fingerprints = {name: fingerprint(r) for name, r in inputs.items()}
    on_spark = config.engine.name == "spark"
    key, update, why = None, None, "the Spark engine always rebuilds in full"
    if mode == "run" and not on_spark:  # the kept state is DuckDB's
        key = refresh.state_key(config, plan)
        update, why = refresh.decide(config, project, plan, fingerprints, current_run_dir(store.root))
    if mode == "run":
        report(f"refresh: {'incremental' if update else 'full'} ({why})")
        if update is not None:
            plan = build_plan(project, mode=mode, refresh=update.context())
            sql = stage_sql(plan, config.engine.name)
    engine = start_spark(config, spark) if on_spark else open_engine(
        config, inputs, show_progress, writes_to=staging, reads_from=update.state_dir if update is not None else None)
    try:
        checked = prepare_inputs(engine, inputs, config,
                                 keep_file=frozenset({"events"}) if update is not None else frozenset())
        for name, resolved in inputs.items():  # the files behind URLs (Spark only), as their file systems list them
            if resolved.urls:
                fingerprints[name]["files"] += engine.inputs().url_files(resolved)
        if update is not None:
            refresh.bind_state(engine, update)
        for name, input_report in checked.items():
            for note in input_report.notes:
                report(f"input {name}: {note}")
        stats = {}
        for planned in plan.stages:
            stats[planned.stage.name] = run_stage(engine, planned, config, sql.get(planned.stage.name))
            report(f"{planned.stage.name}: {stats[planned.stage.name].rows} rows in "
                   f"{stats[planned.stage.name].seconds:.2f}s")
        published = [project.stages[n] for n in plan.published]
        for stage in published:
            check_published(engine, stage, stats[stage.name].rows)
        sanity = {}
        if RECOMMENDATIONS in plan.published and \
                set(LIST_COLUMNS) <= set(engine.columns(RECOMMENDATIONS)):
            sanity = check_recommendations(engine, config.vars, str(project.stages[RECOMMENDATIONS].path), stats)
        for stage in published:
            engine.copy_to_parquet(stage.name, table_path(publish_dir, stage.name), stage.header.row_order)
        if key is not None:
            with publishing_errors(store.root):
                refresh.save_state(engine, publish_dir, key, fingerprints, config.root)
    finally:
        engine.close()
    contract = config.contract
    new_contract = contract.check({s.name: table_path(publish_dir, s.name) for s in published}) if contract else None
    manifest = _manifest(run_id, config, project, plan, fingerprints, checked, stats, started_at)
    manifest["mode"] = mode
    manifest["engine"] = {"name": config.engine.name, **({"spark": engine.version, "master": engine.master}
                                                         if on_spark else {})}
    if store.findings:
        manifest["client_findings"] = store.findings
    if sanity:
        manifest["output_checks"] = {RECOMMENDATIONS: sanity}
    if mode == "run":
        manifest["refresh"] = {"incremental": update is not None, "reason": why,
                               "new_files": list(update.new_files) if update else []}
    with publishing_errors(store.root):
        write_manifest(publish_dir, manifest)
        build_snapshot(publish_dir / SNAPSHOT, publish_dir, published, manifest)
        run_dir = store.commit(run_id, staging)
    if new_contract is not None:
        contract.save(new_contract)
    if mode == "run":
        refresh.prune_old_states(store.root, run_id)
    return RunResult.from_run_dir(run_dir)


def open_engine(config: Config, inputs: Mapping[str, ResolvedInput], show_progress: bool,
                writes_to: Path | None = None, reads_from: Path | None = None) -> DuckDBEngine:
    """An in-memory engine that may read the inputs' folders (and `reads_from`, and write to `writes_to`), spilling
    to the project's temp directory."""
    for name, resolved in inputs.items():
        if resolved.urls:  # a Spark project's URL, in a command that runs on DuckDB (tune, experiment)
            raise ConfigError(
                f"{config.source}: `inputs.{name}.path` = {resolved.urls[0]!r} is a URL, which only the Spark engine "
                "reads, and this command runs on DuckDB",
                hint=f"give it a local copy: --set inputs.{name}.path=/data/{name}.parquet (or mount the bucket)")
    allowed = {f.parent for r in inputs.values() for f in r.files} | {p for p in (writes_to, reads_from) if p}
    return DuckDBEngine(config.engine, database=None,
                        temp_directory=(config.root / config.engine.temp_directory).resolve(),
                        allowed=allowed, show_progress=show_progress)


def stage_sql(plan: Plan, engine: str) -> dict[str, str]:
    """Each SQL stage's text for the engine: DuckDB runs the rendered SQL, Spark its translation (which refuses a
    function with no verified Spark meaning, naming the stage)."""
    return {p.stage.name: p.sql if engine == "duckdb" else
            to_dialect(p.tree, engine, f"stage {p.stage.name} ({p.stage.path})")
            for p in plan.stages if p.stage.kind == "sql"}


def start_spark(config: Config, session: Any = None) -> "SparkEngine":
    """The Spark engine, on `session` or on one started as [engine] says; it reads and checks the inputs itself."""
    from .engines.spark import SparkEngine  # pyspark is imported by Spark runs only

    return SparkEngine(config.engine, (config.root / config.engine.temp_directory).resolve(), session=session)


def run_stage(engine: DuckDBEngine, planned: PlannedStage, config: Config, sql: str | None = None) -> StageStats:
    """Run one stage; `sql` is its text for the engine (default: the rendered DuckDB SQL)."""
    stage = planned.stage
    if stage.kind == "sql":
        stats = engine.run_sql(stage.name, sql or planned.sql, stage.header.materialized, str(stage.path))
    else:
        stats = _run_python(engine, planned, config)
    check_columns(engine, stage)
    return stats


def _run_python(engine: DuckDBEngine, planned: PlannedStage, config: Config) -> StageStats:
    stage = planned.stage
    started = time.perf_counter()
    tables = {name: engine.arrow(name, stage.reads.get(name)) for name in planned.deps}
    try:
        result = stage.func(tables, {k: v for k, v in config.vars.items() if k in stage.vars})
    except SqlrecError:
        raise  # the stage said what is wrong (a var, an input) and how to fix it
    except Exception as exc:
        raise StageRunError(f"python stage {stage.name} ({stage.path}) raised {type(exc).__name__}: {exc}",
                            hint="run it with --debug for the traceback") from exc
    if not isinstance(result, pa.Table):
        raise StageRunError(f"python stage {stage.name} ({stage.path}) returned {type(result).__name__}, "
                            "not a pyarrow.Table", hint="return pyarrow.table({...}) with the declared columns")
    rows = engine.store_arrow(stage.name, result)
    return StageStats(rows=rows, seconds=time.perf_counter() - started)


def _manifest(run_id: str, config: Config, project: Project, plan: Plan, fingerprints: Mapping[str, dict],
              checked: Mapping[str, InputReport], stats: Mapping[str, StageStats],
              started_at: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "project": config.name,
        "config_file": str(config.source),
        "config_hash": config.hash,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "versions": {"sqlrec": __version__, "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__,
                     "jinja2": jinja2.__version__, "numpy": numpy.__version__, "pyarrow": pa.__version__,
                     "python": platform.python_version()},
        "vars": dict(config.vars),
        "inputs": dict(fingerprints),
        "input_checks": {name: r.as_dict() for name, r in checked.items()},
        "published": list(plan.published),
        "stages": [{"stage": p.stage.name, "kind": p.stage.kind, "origin": p.stage.origin,
                    "path": str(p.stage.path), "materialized": p.stage.header.materialized,
                    "published": p.stage.name in plan.published, "deps": list(p.deps), "sources": list(p.sources),
                    "rows": stats[p.stage.name].rows, "seconds": round(stats[p.stage.name].seconds, 4)}
                   for p in plan.stages],
    }
