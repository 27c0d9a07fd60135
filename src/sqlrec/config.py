"""Load and validate `sqlrec.toml` into frozen objects.

Pure: this module reads the one TOML file it is given and nothing else (input paths are resolved and checked by
`sqlrec.inputs`). Every error names the key, the file and the expected form.

>>> cfg = parse_config({"inputs": {"events": {"path": "events.parquet"}}}, source=Path("sqlrec.toml"))
>>> cfg.inputs["events"].format
'parquet'
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .errors import ConfigError

CONFIG_FILE = "sqlrec.toml"
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")

#: Canonical columns of each well-known input and their SQL types; a project maps its own column names onto these.
#: An optional column the data lacks is bound as a typed NULL, so stages can rely on every canonical column.
CANONICAL_COLUMNS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "events": {"user_id": "", "item_id": "", "ts": "", "event_type": "VARCHAR", "weight": "DOUBLE",
               "quantity": "DOUBLE", "price": "DOUBLE", "session_id": "VARCHAR"},
    "items": {"item_id": "", "category": "VARCHAR", "subcategory": "VARCHAR", "brand": "VARCHAR",
              "price": "DOUBLE", "title": "VARCHAR", "description": "VARCHAR", "in_stock": "BOOLEAN",
              "launched_at": "TIMESTAMPTZ"},
    "users": {"user_id": "", "segment": "VARCHAR"},
})
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)

#: Columns a well-known input cannot do without (after mapping).
REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "events": ("user_id", "item_id", "ts"),
    "items": ("item_id",),
    "users": ("user_id",),
})


@dataclass(frozen=True)
class Key:
    """One allowed key: its type(s), default, allowed values and a line of documentation."""

    types: tuple[type, ...]
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    required: bool = False


def _expected_form(key: Key) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    form = " or ".join(names[t] for t in key.types)
    if key.choices:
        form = "one of " + ", ".join(json.dumps(c) for c in key.choices)
    return form


#: The whole schema of sqlrec.toml. The README's configuration reference is checked against it.
SCHEMA: Mapping[str, Mapping[str, Key]] = MappingProxyType({
    "project": {
        "name": Key((str,), "sqlrec-project", "Name shown in summaries and the run manifest."),
    },
    "inputs.*": {
        "path": Key((str, list), None, "File, glob or list of them, relative to the project folder.", required=True),
        "format": Key((str,), None, "parquet or csv; inferred from the file extension when left out.",
                      choices=("parquet", "csv")),
        "hive_partitioning": Key((bool,), False, "Read key=value folders as columns."),
        "columns": Key((dict,), {}, "Map canonical column -> your column, e.g. user_id = \"CustomerID\"."),
        "delimiter": Key((str,), None, "CSV only: field separator (default: detected)."),
        "header": Key((bool,), True, "CSV only: whether the first line names the columns."),
        "encoding": Key((str,), None, "CSV only: text encoding, e.g. latin-1 (default utf-8)."),
        "names": Key((list,), None, "CSV only: column names for a file without a header line."),
    },
    "output": {
        "path": Key((str,), "output", "Folder for published runs, `current/` and the `sqlrec.duckdb` snapshot."),
        "keep_runs": Key((int,), 5, "How many published runs to keep; older ones are pruned."),
    },
    "engine": {
        "name": Key((str,), "duckdb", "Execution engine.", choices=("duckdb",)),
        "threads": Key((int,), None, "DuckDB worker threads (default: all cores)."),
        "memory_limit": Key((str,), None, "DuckDB memory limit, e.g. \"8GB\" (default: 80% of RAM)."),
        "temp_directory": Key((str,), ".sqlrec/tmp", "Where large joins spill to disk, relative to the project."),
        "progress": Key((bool,), True, "Show a progress line for long stages when writing to a terminal."),
    },
    "stages.*": {
        "materialized": Key((str,), None, "Override a stage's materialization.", choices=("view", "table")),
        "enabled": Key((bool,), True, "Set false to leave a built-in stage out of the graph."),
    },
    "vars": {},  # free-form: read in templates with var('name')
})


@dataclass(frozen=True)
class InputSpec:
    name: str
    paths: tuple[str, ...]
    format: str
    hive_partitioning: bool = False
    columns: Mapping[str, str] = field(default_factory=dict)  # canonical -> source column
    delimiter: str | None = None
    header: bool = True
    encoding: str | None = None
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EngineSpec:
    name: str = "duckdb"
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str = ".sqlrec/tmp"
    progress: bool = True


@dataclass(frozen=True)
class OutputSpec:
    path: str = "output"
    keep_runs: int = 5


@dataclass(frozen=True)
class StageSettings:
    materialized: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    root: Path  # the project folder: every relative path is relative to it
    source: Path  # the sqlrec.toml this came from
    name: str
    inputs: Mapping[str, InputSpec]
    output: OutputSpec
    engine: EngineSpec
    stages: Mapping[str, StageSettings]
    vars: Mapping[str, Any]
    hash: str  # sha256 of the validated settings, recorded in the run manifest

    @property
    def output_dir(self) -> Path:
        return (self.root / self.output.path).resolve()


def load_config(path: Path | str, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a sqlrec.toml. `overrides` maps dotted keys (e.g. ``vars.k``) to values set on the CLI."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", hint="run `sqlrec init DIR` to create a project") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="check quoting and brackets on that line") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value, path)
    return parse_config(data, source=path.resolve())


def _set_dotted(data: dict, dotted: str, value: Any, source: Path) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: cannot override `{dotted}`: `{part}` is not a table")
    node[last] = value


def parse_config(data: Mapping[str, Any], source: Path) -> Config:
    """Validate a decoded TOML document. Pure."""
    where = str(source)
    _reject_unknown(data, [s.split(".")[0] for s in SCHEMA], "", where)

    project = _section(data.get("project", {}), SCHEMA["project"], "project", where)
    output = _section(data.get("output", {}), SCHEMA["output"], "output", where)
    engine = _section(data.get("engine", {}), SCHEMA["engine"], "engine", where)
    if output["keep_runs"] < 1:
        raise ConfigError(f"{where}: `output.keep_runs` must be at least 1, got {output['keep_runs']}")
    if engine["threads"] is not None and engine["threads"] < 1:
        raise ConfigError(f"{where}: `engine.threads` must be at least 1, got {engine['threads']}")
    if engine["memory_limit"] is not None and not _MEMORY.match(engine["memory_limit"]):
        raise ConfigError(f"{where}: `engine.memory_limit` must be a size such as \"8GB\" or \"512MiB\", "
                          f"got {engine['memory_limit']!r}", hint="units: KB, MB, GB, TB, KiB, MiB, GiB, TiB")

    inputs_raw = _table(data.get("inputs", {}), "inputs", where)
    inputs = {name: _input(name, raw, where) for name, raw in inputs_raw.items()}

    stages_raw = _table(data.get("stages", {}), "stages", where)
    stages = {}
    for name, raw in stages_raw.items():
        _check_name(name, f"stages.{name}", where)
        stages[name] = StageSettings(**_section(raw, SCHEMA["stages.*"], f"stages.{name}", where))

    vars_ = _table(data.get("vars", {}), "vars", where)
    for name, value in vars_.items():
        _check_name(name, f"vars.{name}", where)
        _check_var_value(value, f"vars.{name}", where)

    canonical = json.dumps(
        {"project": project, "output": output, "engine": engine, "inputs": inputs_raw, "stages": stages_raw,
         "vars": vars_}, sort_keys=True, default=str)
    return Config(
        root=source.parent, source=source, name=project["name"], inputs=MappingProxyType(inputs),
        output=OutputSpec(**output), engine=EngineSpec(**engine), stages=MappingProxyType(stages),
        vars=MappingProxyType(dict(vars_)), hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _input(name: str, raw: Any, where: str) -> InputSpec:
    key = f"inputs.{name}"
    _check_name(name, key, where)
    values = _section(raw, SCHEMA["inputs.*"], key, where)
    paths = values["path"] if isinstance(values["path"], list) else [values["path"]]
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(f"{where}: `{key}.path` must be a non-empty string or list of strings",
                          hint=f'e.g. path = "data/{name}.parquet" or path = "data/{name}/*.parquet"')
    fmt = values["format"] or _infer_format(paths[0])
    if fmt is None:
        raise ConfigError(f"{where}: `{key}.format` is needed: cannot tell the format of {paths[0]!r}",
                          hint='add format = "parquet" or format = "csv"')
    columns = values["columns"]
    for canonical, source_col in columns.items():
        if not isinstance(source_col, str) or not source_col:
            raise ConfigError(f"{where}: `{key}.columns.{canonical}` must be the name of a column in your data",
                              hint=f'e.g. {canonical} = "CustomerID"')
        _check_name(canonical, f"{key}.columns.{canonical}", where)
    known = CANONICAL_COLUMNS.get(name)
    if known:
        for canonical in columns:
            if canonical not in known:
                raise ConfigError(
                    f"{where}: `{key}.columns.{canonical}`: `{canonical}` is not a canonical column of {name}"
                    + _did_you_mean(canonical, known),
                    hint=f"canonical columns of {name}: {', '.join(known)}")
    names = values["names"]
    if names is not None and not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{where}: `{key}.names` must be a list of column names")
    if fmt == "parquet":
        for csv_only in ("delimiter", "encoding", "names"):
            if values[csv_only] is not None:
                raise ConfigError(f"{where}: `{key}.{csv_only}` only applies to CSV inputs, but the format is parquet")
    return InputSpec(name=name, paths=tuple(paths), format=fmt, hive_partitioning=values["hive_partitioning"],
                     columns=MappingProxyType(dict(columns)), delimiter=values["delimiter"], header=values["header"],
                     encoding=values["encoding"], names=tuple(names) if names else None)


def _infer_format(path: str) -> str | None:
    lowered = path.lower()
    if lowered.endswith((".parquet", ".pq", "/*")) or lowered.endswith("/"):
        return "parquet"
    if lowered.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".data")):
        return "csv"
    return None


def _table(value: Any, key: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a table, e.g. [{key}]")
    return value


def _section(raw: Any, spec: Mapping[str, Key], key: str, where: str) -> dict:
    raw = _table(raw, key, where)
    _reject_unknown(raw, spec, key + ".", where)
    values = {}
    for name, k in spec.items():
        full = f"{key}.{name}"
        if name not in raw:
            if k.required:
                raise ConfigError(f"{where}: `{full}` is required ({k.doc})", hint=f"expected {_expected_form(k)}")
            values[name] = k.default
            continue
        value = raw[name]
        # TOML integers are fine where a number is expected; bool is an int in Python, so exclude it explicitly.
        ok = any(isinstance(value, t) and not (t in (int, float) and isinstance(value, bool)) for t in k.types)
        ok = ok or (float in k.types and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{where}: `{full}` must be {_expected_form(k)}, got {_show(value)}",
                              hint=k.doc or None)
        if k.choices and value not in k.choices:
            raise ConfigError(f"{where}: `{full}` must be {_expected_form(k)}, got {_show(value)}"
                              + _did_you_mean(str(value), [str(c) for c in k.choices]))
        values[name] = value
    return values


def _reject_unknown(raw: Mapping, allowed, prefix: str, where: str) -> None:
    for name in raw:
        if name not in allowed:
            raise ConfigError(f"{where}: unknown key `{prefix}{name}`" + _did_you_mean(name, list(allowed)),
                              hint="allowed here: " + ", ".join(f"{prefix}{a}" for a in allowed))


def _check_name(name: str, key: str, where: str) -> None:
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: `{key}`: {name!r} is not a valid name",
                          hint="use lower-case letters, digits and underscores, starting with a letter")


def _check_var_value(value: Any, key: str, where: str) -> None:
    scalars = (str, int, float, bool)
    if isinstance(value, scalars) or (isinstance(value, list) and all(isinstance(v, scalars) for v in value)):
        return
    if isinstance(value, dict) and all(isinstance(v, scalars) for v in value.values()):
        return
    raise ConfigError(f"{where}: `{key}` must be a string, number, boolean, or a list or table of them, "
                      f"got {_show(value)}")


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _show(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}
    return f"{kind.get(type(value), type(value).__name__)} {json.dumps(value, default=str)[:60]}"
