"""Discover a project's stages and macros: the built-in ones, overridden or extended by the project's own.

Built-in stages live in the package's `sql/` folder, grouped by layer; a project's `sql/**/*.sql` file with the
same stage name (the file stem) replaces the built-in one, and a new name adds a stage. Macros work the same way
by macro name. Python stages come from the package (`sqlrec.stages`) and the project's `python/*.py`, which
replace built-ins of the same name. Stages in a `publish/` folder are the outputs.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from .config import NAME_RE, Config, StageSettings
from .errors import ConfigError, ProjectError
from .python_stages import PythonStageSpec, spec_of
from .python_stages import discover as discover_python_stages
from .templating import INPUT_PREFIX
from .resources import builtin_dir
from .stages import BUILTIN_STAGES

PUBLISH_LAYER = "publish"
HEADER_KEYS = ("grain", "inputs", "columns", "materialized", "unique", "order_by", "not_null", "zero",
               "allow_empty", "enabled")
_KEY_LINE = re.compile(r"^([a-z_]+):\s*(.*)$")
_COLUMN_LINE = re.compile(r"^\s{2,}([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Column:
    name: str
    doc: str = ""


@dataclass(frozen=True)
class StageHeader:
    """What a stage's leading `--` comment declares about it."""

    description: str = ""
    grain: str = ""
    inputs: tuple[str, ...] | None = None  # stages and inputs it reads; checked against its ref()/source() calls
    columns: tuple[Column, ...] = ()
    materialized: str = "table"
    unique: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()  # published rows are written in this order (default: the unique key)
    not_null: tuple[str, ...] = ()
    zero: tuple[str, ...] = ()  # columns that must be 0 in every row (invariants such as leaked rows)
    allow_empty: bool = False
    enabled: bool = True  # `enabled: false`: an optional built-in output, on only when sqlrec.toml enables it

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def row_order(self) -> tuple[str, ...]:
        return self.order_by or self.unique


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str  # "sql" or "python"
    path: Path
    origin: str  # "builtin" or "project"
    layer: str  # the folder under sql/ (staging, features, candidates, ...) or "python"
    header: StageHeader
    func: Callable | None = None  # python stages only
    inputs: tuple[str, ...] = ()  # python stages only; SQL stages declare theirs with ref()
    vars: tuple[str, ...] = ()  # python stages only; SQL stages read theirs with var()
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # python stages: the columns read per input

    @property
    def published(self) -> bool:
        return self.layer == PUBLISH_LAYER


@dataclass(frozen=True)
class Project:
    config: Config
    stages: Mapping[str, Stage]  # enabled stages by name
    macro_files: Mapping[str, Path]  # file key -> path, built-ins first so project macros override
    disabled: frozenset[str] = field(default_factory=frozenset)

    def stage(self, name: str) -> Stage:
        if name not in self.stages:
            hint = _did_you_mean(name, self.stages)
            raise ProjectError(f"no stage named `{name}`" + (f" (did you mean `{hint}`?)" if hint else ""),
                               hint="`sqlrec ls` lists the stages of this project")
        return self.stages[name]


def load_project(config: Config) -> Project:
    builtin = {**_sql_stages(builtin_dir("sql"), "builtin"), **_builtin_python_stages()}
    own = _sql_stages(config.root / "sql", "project")
    stages: dict[str, Stage] = {**builtin}
    for name, stage in own.items():
        stages[name] = stage  # a project's stage overrides the built-in of the same name
    for name, spec, func, path in discover_python_stages(config.root / "python"):
        _check_stage_name(name, path)
        if name in own:
            raise ProjectError(f"stage `{name}` is defined twice: {own[name].path} and {path}",
                               hint="rename one of them; stage names are unique in a project")
        stages[name] = _python_stage(name, spec, func, path, "project")

    for name, settings in config.stages.items():
        if name not in stages:
            hint = _did_you_mean(name, stages)
            raise ConfigError(f"{config.source}: `[stages.{name}]` names no stage"
                              + (f" (did you mean `{hint}`?)" if hint else ""),
                              hint="`sqlrec ls` lists the stages of this project")
        if settings.materialized:
            stage = stages[name]
            stages[name] = Stage(**{**stage.__dict__, "header": StageHeader(
                **{**stage.header.__dict__, "materialized": settings.materialized})})
    disabled = frozenset(name for name, stage in stages.items() if not _enabled(stage, config.stages.get(name)))
    enabled = {n: s for n, s in sorted(stages.items()) if n not in disabled}

    macros = {f"builtin:{p.name}": p for p in sorted(builtin_dir("macros").glob("*.sql"))}
    macros.update({f"project:{p.name}": p for p in sorted((config.root / "macros").glob("*.sql"))})
    return Project(config=config, stages=MappingProxyType(enabled), macro_files=MappingProxyType(macros),
                   disabled=disabled)


def _enabled(stage: Stage, settings: StageSettings | None) -> bool:
    """`[stages.X] enabled` when set, else the stage header's (true unless it says `enabled: false`)."""
    return settings.enabled if settings is not None and settings.enabled is not None else stage.header.enabled


def _python_stage(name: str, spec: PythonStageSpec, func: Callable, path: Path, origin: str) -> Stage:
    header = StageHeader(description=(func.__doc__ or "").strip().split("\n")[0], grain=spec.grain,
                         columns=tuple(Column(c) for c in spec.columns))
    return Stage(name=name, kind="python", path=path, origin=origin, layer=spec.layer, header=header, func=func,
                 inputs=spec.inputs, vars=spec.vars, reads=spec.reads)


def _builtin_python_stages() -> dict[str, Stage]:
    found = {}
    for func in BUILTIN_STAGES:
        spec = spec_of(func)
        name = spec.name or func.__name__
        found[name] = _python_stage(name, spec, func, Path(inspect.getfile(func)), "builtin")
    return found


def _sql_stages(folder: Path, origin: str) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    if not folder.is_dir():
        return stages
    for path in sorted(folder.rglob("*.sql")):
        name = path.stem
        _check_stage_name(name, path)
        if name in stages:
            raise ProjectError(f"stage `{name}` is defined twice: {stages[name].path} and {path}",
                               hint="rename one of them; a stage's name is its file name")
        relative = path.relative_to(folder)
        layer = relative.parts[0] if len(relative.parts) > 1 else ""
        header = parse_header(path.read_text(encoding="utf-8"), path)
        stages[name] = Stage(name=name, kind="sql", path=path, origin=origin, layer=layer, header=header)
    return stages


def _check_stage_name(name: str, path: Path) -> None:
    if not NAME_RE.match(name):
        raise ProjectError(f"{path}: `{name}` is not a valid stage name",
                           hint="name stage files with lower-case letters, digits and underscores")
    if name.startswith(INPUT_PREFIX):
        raise ProjectError(f"{path}: stage names may not start with `{INPUT_PREFIX}` (reserved for inputs)",
                           hint=f"rename the file, e.g. stg_{name[len(INPUT_PREFIX):]}.sql")


def parse_header(text: str, path: Path) -> StageHeader:
    """Read the leading `--` comment block.

    >>> h = parse_header("-- Top items.\\n-- grain: one row per item\\n-- columns:\\n--   item_id: the item\\n"
    ...                  "-- unique: item_id\\nSELECT 1", Path("x.sql"))
    >>> (h.description, h.grain, h.column_names, h.unique)
    ('Top items.', 'one row per item', ('item_id',), ('item_id',))
    """
    description: list[str] = []
    values: dict[str, object] = {}
    columns: list[Column] = []
    in_columns = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            if values or description:
                in_columns = False
            continue
        if stripped.startswith("{#") or stripped.startswith("{%"):
            continue  # Jinja comments or blocks ahead of the SQL don't end the header
        if not stripped.startswith("--"):
            break
        body = stripped[2:]
        body = body[1:] if body.startswith(" ") else body
        column = _COLUMN_LINE.match(body)
        if in_columns and column:
            columns.append(Column(column.group(1), column.group(2).strip()))
            continue
        key_line = _KEY_LINE.match(body)
        # `word: text` is a header key, a misspelt one (an error), or prose such as "Note: ..." in the description.
        misspelt = key_line and key_line.group(1) not in HEADER_KEYS and _did_you_mean(key_line.group(1), HEADER_KEYS)
        if key_line and (key_line.group(1) in HEADER_KEYS or misspelt or values):
            key, value = key_line.groups()
            if key not in HEADER_KEYS:
                raise ProjectError(f"{path}, line {lineno}: unknown header key `{key}`"
                                   + (f" (did you mean `{misspelt}`?)" if misspelt else ""),
                                   hint="header keys: " + ", ".join(HEADER_KEYS))
            in_columns = key == "columns" and not value.strip()
            if key == "columns" and value.strip():
                columns.extend(Column(c) for c in _names(value))
            elif key in ("unique", "order_by", "not_null", "zero", "inputs"):
                values[key] = _names(value)
            elif key == "materialized":
                if value.strip() not in ("view", "table"):
                    raise ProjectError(f"{path}, line {lineno}: `materialized` must be view or table, got "
                                       f"{value.strip()!r}")
                values[key] = value.strip()
            elif key in ("allow_empty", "enabled"):
                if value.strip().lower() not in ("true", "false", "yes", "no", "1", "0"):
                    raise ProjectError(f"{path}, line {lineno}: `{key}` must be true or false, got {value.strip()!r}")
                values[key] = value.strip().lower() in ("true", "yes", "1")
            elif key == "grain":
                values[key] = value.strip()
            continue
        in_columns = False
        if not values:
            description.append(body.strip())
    return StageHeader(description=" ".join(description).strip(), columns=tuple(columns), **values)


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def _did_you_mean(word: str, options) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1)
    return close[0] if close else None
