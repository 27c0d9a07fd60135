"""Python stages: functions from Arrow tables to an Arrow table, for math SQL does badly (SVD, EASE).

A project defines them in `python/*.py` files of its own:

    from sqlrec import python_stage

    @python_stage(inputs=["stg_events"], columns=["item_id", "dim", "value"], vars=["rank"],
                  grain="one row per item and dim")
    def item_factors(tables, vars):
        events = tables["stg_events"]        # a pyarrow.Table
        rank = vars["rank"]                  # only the declared vars are passed
        ...
        return pyarrow.table({...})          # exactly the declared columns

`inputs` may also map each stage to the columns to read, e.g. {"stg_events": ["user_id", "item_id"]}, so that wide
tables are not copied out of the engine whole. Built-in Python stages live in `sqlrec.stages`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .errors import ProjectError

_MARK = "__sqlrec_stage__"


@dataclass(frozen=True)
class PythonStageSpec:
    name: str | None
    inputs: tuple[str, ...]
    columns: tuple[str, ...]
    grain: str
    vars: tuple[str, ...] = ()
    materialized: str = "table"
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # stage -> the columns read (default: all)
    layer: str = "python"  # the built-in stages name the layer they belong to (features, candidates)


def python_stage(name: str | None = None, *, inputs: Sequence[str] | Mapping[str, Sequence[str]],
                 columns: Sequence[str], vars: Sequence[str] = (), grain: str = "", layer: str = "python"):
    """Mark a function `f(tables: dict[str, pyarrow.Table], vars: Mapping) -> pyarrow.Table` as a stage.

    `inputs` are the stages it reads (like ref()), or a mapping from each to the columns it reads; `columns` the
    exact output columns, checked after it runs; `vars` the [vars] entries it reads (like var()): it receives
    those that are set, and no others.
    """
    if isinstance(inputs, str) or isinstance(columns, str) or isinstance(vars, str):
        raise TypeError("python_stage: inputs, columns and vars are lists of names")
    reads = {}
    if isinstance(inputs, Mapping):
        for stage, read in inputs.items():
            if isinstance(read, str) or not read:
                raise TypeError(f"python_stage: inputs[{stage!r}] must be a non-empty list of column names")
            reads[stage] = tuple(read)

    def mark(func: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]):
        setattr(func, _MARK, PythonStageSpec(name, tuple(inputs), tuple(columns), grain, tuple(vars),
                                             reads=reads, layer=layer))
        return func

    return mark


def spec_of(func: Callable) -> PythonStageSpec | None:
    """The stage specification of a function marked with @python_stage, else None."""
    spec = getattr(func, _MARK, None)
    return spec if isinstance(spec, PythonStageSpec) else None


def discover(folder: Path) -> list[tuple[str, PythonStageSpec, Callable, Path]]:
    """Import every `*.py` in `folder` and return its marked functions as (name, spec, function, file)."""
    found = []
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        digest = hashlib.md5(str(path.resolve()).encode()).hexdigest()[:12]  # one module per file, stable names
        module_name = f"sqlrec_project_stages.{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ProjectError(f"python stage file {path}: import failed: {type(exc).__name__}: {exc}",
                               hint="run `python` on the file to see the full error") from None
        for attr in vars(module).values():
            stage_spec = spec_of(attr)
            if stage_spec is not None and getattr(attr, "__module__", None) == module_name:
                found.append((stage_spec.name or attr.__name__, stage_spec, attr, path))
    return found
