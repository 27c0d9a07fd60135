"""Turn a project into an ordered plan: render every stage, build the ref() graph, select what the published
outputs need, parse and lint each selected stage. Pure: nothing here touches data or a database.
"""

from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

import sqlglot
from sqlglot import exp

from .config import DEFAULT_BLEND
from .errors import ConfigError, ProjectError
from .project import Project, Stage
from .templating import DIALECT, INPUT_PREFIX, RenderContext, make_environment, render_stage
from .sql_lint import lint_stage


@dataclass(frozen=True)
class PlannedStage:
    stage: Stage
    deps: tuple[str, ...]  # stages this one reads
    sources: tuple[str, ...]  # inputs this one reads
    sql: str | None = None  # rendered DuckDB SQL (SQL stages), linted

    @cached_property
    def tree(self) -> exp.Expression | None:
        """The SQL parsed, for engines that run a translation (DuckDB runs the text)."""
        return sqlglot.parse_one(self.sql, read=DIALECT) if self.sql is not None else None


@dataclass(frozen=True)
class Plan:
    stages: tuple[PlannedStage, ...]  # in execution order
    published: tuple[str, ...]

    def __getitem__(self, name: str) -> PlannedStage:
        for planned in self.stages:
            if planned.stage.name == name:
                return planned
        raise KeyError(name)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(sorted({s for p in self.stages for s in p.sources}))


def render_one(project: Project, name: str, env=None, mode: str = "run",
               refresh: Mapping[str, Any] | None = None) -> tuple[str, RenderContext]:
    """Render a single SQL stage (for `sqlrec render`): its SQL and what it referred to."""
    stage = project.stage(name)
    if stage.kind != "sql":
        raise ProjectError(f"stage `{name}` is a Python stage ({stage.path}); it has no SQL to render")
    env = env or make_environment(project.macro_files)
    ctx = _context(project, name, mode, refresh)
    return render_stage(env, stage.path, ctx), ctx


#: What `sqlrec evaluate` changes: stages outside sql/eval/ read the training split instead of the events input, and
#: the catalogue as of the split's cut-off instead of the items input.
EVALUATION_REDIRECT = {"events": "eval_train", "items": "eval_items"}
EVALUATION_LAYERS = ("eval", "eval_publish")


#: What `sqlrec tune` changes besides: the split itself reads the training part of the [evaluate] split.
TUNING_REDIRECT = {"events": "eval_holdout"}
SPLIT_STAGE = "eval_split"
EVALUATING_MODES = ("evaluate", "tune")


def _context(project: Project, name: str, mode: str = "run", refresh: Mapping[str, Any] | None = None
             ) -> RenderContext:
    stage = project.stages[name]
    config = project.config
    redirect = {}
    if mode in EVALUATING_MODES and stage.layer not in EVALUATION_LAYERS:
        redirect = EVALUATION_REDIRECT
    elif mode == "tune" and name == SPLIT_STAGE and config.holdout:
        redirect = TUNING_REDIRECT
    return RenderContext(stage=name, relations=lambda n: n if n in project.stages else None,
                         inputs=frozenset(config.inputs), vars=config.vars, redirect=redirect,
                         evaluation=config.evaluation, holdout=config.holdout or config.evaluation,
                         experiment=_assignment_settings(config.experiment), refresh=refresh)


def _assignment_settings(spec) -> dict | None:
    """What the assignment macro needs of an experiment (plain values, for the template)."""
    if spec is None:
        return None
    return {"name": spec.name, "salt": spec.salt, "holdout_buckets": spec.holdout_buckets,
            "holdout_gets": spec.holdout_gets, "control": spec.control,
            "variants": [v.name for v in spec.variants], "traffic": [v.traffic for v in spec.variants]}


def build_plan(project: Project, targets: tuple[str, ...] | None = None, mode: str = "run",
               refresh: Mapping[str, Any] | None = None) -> Plan:
    """Plan the stages that `targets` (default: every published stage of `mode`) need, in dependency order.

    mode "run" publishes sql/publish/; mode "evaluate" (and "tune") sql/eval_publish/, with training stages reading
    the training split (see EVALUATION_REDIRECT).
    """
    env = make_environment(project.macro_files)
    rendered: dict[str, tuple[str | None, RenderContext | None]] = {}
    vars_read: set[str] = set()
    for name, stage in project.stages.items():
        if stage.kind == "sql":
            sql, ctx = render_one(project, name, env, mode, refresh)
            _check_declared_inputs(stage, ctx)
            rendered[name] = (sql, ctx)
            vars_read |= ctx.vars_read
        else:
            rendered[name] = (None, None)
            vars_read |= set(stage.vars)

    deps = {name: _deps(project, name, ctx) for name, (_, ctx) in rendered.items()}
    _check_cycles(project, deps)
    _check_unused_vars(project, vars_read)

    if targets is None:
        layer = "eval_publish" if mode in EVALUATING_MODES else "publish"
        targets = tuple(n for n, s in project.stages.items() if s.layer == layer)
        if not targets:
            raise ProjectError("no stage to publish: the project has no stage in a sql/publish/ folder",
                               hint="add sql/publish/<table>.sql selecting from the stages you want published")
    for target in targets:
        project.stage(target)
    selected = _ancestors(targets, deps)
    order = _topological(selected, deps)

    known = set(project.stages) | {INPUT_PREFIX + i for i in project.config.inputs}
    known |= set((refresh or {}).get("tables", ()))  # the last run's state, bound before any stage runs
    planned = []
    for name in order:
        stage = project.stages[name]
        sql, ctx = rendered[name]
        if ctx is not None and ctx.missing_sources:
            missing = ctx.missing_sources[0]
            raise ConfigError(
                f"stage {name} ({stage.path}) reads input `{missing}`, which {project.config.source} does not declare",
                hint=f"add [inputs.{missing}] with its path, or disable the stage with [stages.{name}] enabled = false")
        if sql is not None:
            lint_stage(sql, name, stage.path, known)
        planned.append(PlannedStage(stage=stage, deps=deps[name], sources=tuple(ctx.sources) if ctx else (),
                                    sql=sql))
    published_layer = "eval_publish" if mode in EVALUATING_MODES else "publish"
    return Plan(stages=tuple(planned), published=tuple(n for n in order if project.stages[n].layer == published_layer))


def _deps(project: Project, name: str, ctx: RenderContext | None) -> tuple[str, ...]:
    stage = project.stages[name]
    refs = tuple(ctx.refs) if ctx is not None else stage.inputs
    for ref in refs:
        if ref not in project.stages:
            if ref in project.disabled:
                raise ProjectError(f"stage {name} ({stage.path}) reads stage `{ref}`, which sqlrec.toml disables",
                                   hint=f"enable `{ref}` again, or disable `{name}` too")
            named = _source_setting(project, ref)
            if named:
                sources = sorted(n[len("rec_"):] for n in project.stages if n.startswith("rec_"))
                close = difflib.get_close_matches(ref[len("rec_"):], sources, n=1)
                raise ConfigError(
                    f"{project.config.where(named.strip('`'))}: {named} names the recommender `{ref[len('rec_'):]}`, which has no stage "
                    f"`{ref}`" + (f" (did you mean `{close[0]}`?)" if close else ""),
                    hint="recommenders are the stages rec_<name>: " + ", ".join(sources))
            close = difflib.get_close_matches(ref, list(project.stages), n=1)
            raise ProjectError(
                f"stage {name} ({stage.path}) refers to unknown stage `{ref}`"
                + (f" (did you mean `{close[0]}`, {project.stages[close[0]].path}?)" if close else ""),
                hint="`sqlrec ls` lists the stages; inputs are read with source('name'), not ref()")
    return refs


def _source_setting(project: Project, ref: str) -> str | None:
    """The setting that names a recommender whose stage `ref` (rec_<name>) does not exist, if one does: a typo there
    surfaces as an unknown ref in whichever stage reads it first, so say where to fix it."""
    if not ref.startswith("rec_"):
        return None
    source = ref[len("rec_"):]
    config = project.config
    blend = config.vars.get("blend", DEFAULT_BLEND)
    by_segment = config.vars.get("blend_by_segment", {})
    for key, names in (("vars.blend", blend if isinstance(blend, Mapping) else {}),
                       *((f"vars.blend_by_segment.{segment}", weights) for segment, weights in
                         (by_segment.items() if isinstance(by_segment, Mapping) else ())),
                       ("vars.cascade", config.vars.get("cascade", [])),
                       ("evaluate.models", config.evaluation.get("models") or [])):
        if isinstance(names, (Mapping, list, tuple)) and source in names:
            return f"`{key}`"
    return None


def _check_declared_inputs(stage: Stage, ctx: RenderContext) -> None:
    """A header's `inputs:` line is documentation that cannot go stale: it must name exactly what the SQL reads."""
    if stage.header.inputs is None:
        return
    redirected = set(ctx.redirected)
    declared = set(stage.header.inputs)
    read = {r for r in ctx.refs if r not in redirected} | set(ctx.sources) | \
        {name for name, target in ctx.redirect.items() if target in redirected}
    if declared != read:
        missing, extra = sorted(read - declared), sorted(declared - read)
        raise ProjectError(
            f"stage {stage.name} ({stage.path}): header `inputs:` lists {', '.join(sorted(declared)) or 'nothing'} "
            f"but the SQL reads {', '.join(sorted(read)) or 'nothing'}"
            + (f"; not listed: {', '.join(missing)}" if missing else "")
            + (f"; not read: {', '.join(extra)}" if extra else ""),
            hint="make the `-- inputs:` line name every ref() and source() of the stage")


def _check_cycles(project: Project, deps: Mapping[str, tuple[str, ...]]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for dep in deps[node]:
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                files = ", ".join(f"{n} ({project.stages[n].path})" for n in cycle[:-1])
                raise ProjectError(f"stages depend on each other in a cycle: {' -> '.join(cycle)}",
                                   hint=f"break the cycle between: {files}")
            if state.get(dep) is None:
                visit(dep, path)
        path.pop()
        state[node] = 2

    for node in sorted(deps):
        if node not in state:
            visit(node, [])


def _check_unused_vars(project: Project, read: set[str]) -> None:
    for name in project.config.vars:
        if name not in read:
            close = difflib.get_close_matches(name, sorted(read), n=1)
            raise ConfigError(f"{project.config.source}: `vars.{name}` is not read by any stage"
                              + (f" (did you mean `{close[0]}`?)" if close else ""),
                              hint="remove it, or read it in a stage with var('" + name + "')")


def _ancestors(targets, deps) -> set[str]:
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


def _topological(selected: set[str], deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Kahn's algorithm, taking ready stages in name order so the plan is the same on every run."""
    waiting = {n: {d for d in deps[n] if d in selected} for n in selected}
    ready = [n for n, d in waiting.items() if not d]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for other, needs in waiting.items():
            if node in needs:
                needs.discard(node)
                if not needs and other not in order and other not in ready:
                    heapq.heappush(ready, other)
    return order
