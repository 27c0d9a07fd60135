"""Run several configurations of one project (an experiment's variants) in one DuckDB engine, computing each stage
once per distinct content.

A stage's fingerprint is its rendered SQL (or, for a Python stage, its function and the vars it reads) together with
the fingerprints of the stages it reads. Each variant gets a schema; a stage whose fingerprint was computed already,
for any variant, becomes a view of that table instead of running again. So variants that differ only in their blend
weights share staging, features and every candidate source, and recompute only the blend and what follows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Mapping

import pyarrow as pa
from sqlglot import exp

from ..checks import check_unique
from ..config import Config
from ..engines.duckdb import DuckDBEngine
from ..input_checks import prepare_inputs
from ..inputs import resolve
from ..pipeline import open_engine, run_stage
from ..plan import PlannedStage, build_plan
from ..project import load_project


@dataclass
class VariantTables:
    """The engine after `run_variants`, with every variant's stages under its own schema."""

    engine: DuckDBEngine
    schemas: Mapping[str, str]  # variant -> schema
    computed: list[str] = field(default_factory=list)  # "variant.stage" of each stage that ran
    shared: list[str] = field(default_factory=list)  # "variant.stage" of each stage read from another variant

    def arrow(self, variant: str, table: str, columns: tuple[str, ...] | None = None) -> pa.Table:
        self.engine.use_schema(self.schemas[variant])
        return self.engine.arrow(table, columns)

    def close(self) -> None:
        self.engine.close()


def run_variants(configs: Mapping[str, Config], targets: tuple[str, ...], mode: str = "run",
                 show_progress: bool = False, report: Callable[[str], None] | None = None) -> VariantTables:
    """Run the stages `targets` need for every variant's config (all of one project, same inputs); the caller
    closes the result."""
    report = report or (lambda _msg: None)
    base = next(iter(configs.values()))
    inputs = resolve(base)
    engine = open_engine(base, inputs, show_progress)
    result = VariantTables(engine, {name: f"variant_{i}" for i, name in enumerate(configs)})
    try:
        prepare_inputs(engine, inputs, base)  # inputs are bound once, in the main schema every variant sees
        holder: dict[str, str] = {}  # fingerprint -> the schema whose table has it
        for variant, config in configs.items():
            schema = result.schemas[variant]
            engine.use_schema(schema)
            plan = build_plan(load_project(config), targets=targets, mode=mode)
            prints: dict[str, str] = {}
            for planned in plan.stages:
                name = planned.stage.name
                prints[name] = fingerprint(planned, config, prints)
                if prints[name] in holder:
                    engine.alias(name, schema, holder[prints[name]])
                    result.shared.append(f"{variant}.{name}")
                    continue
                stats = run_stage(engine, planned, config)
                if name in targets:  # what the caller reads must hold the grain its header declares
                    check_unique(engine.scalar, exp.to_table(name, quoted=True), planned.stage)
                holder[prints[name]] = schema
                result.computed.append(f"{variant}.{name}")
                report(f"{variant}: {name}: {stats.rows} rows in {stats.seconds:.2f}s")
    except BaseException:
        engine.close()
        raise
    return result


def fingerprint(planned: PlannedStage, config: Config, upstream: Mapping[str, str]) -> str:
    """What decides a stage's rows: its SQL (or function and vars) and the fingerprints of what it reads."""
    stage = planned.stage
    if stage.kind == "sql":
        own = {"sql": planned.sql, "materialized": stage.header.materialized}
    else:
        own = {"function": f"{stage.path}:{stage.name}", "reads": {k: list(v) if v else None for k, v in stage.reads.items()},
               "vars": {k: config.vars[k] for k in sorted(stage.vars) if k in config.vars}}
    content = {"stage": stage.name, **own, "deps": {d: upstream[d] for d in planned.deps},
               "sources": list(planned.sources)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
