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
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import TYPE_CHECKING, Any, Mapping

from .errors import ConfigError
from .layout import GRACE_SECONDS

if TYPE_CHECKING:
    from .contract import OutputContract

CONFIG_FILE = "sqlrec.toml"
NAME_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")  # \Z, not $: "$" also matches before a final newline

#: Canonical columns of each well-known input and their SQL types; a project maps its own column names onto these.
#: An optional column the data lacks is bound as a typed NULL, so stages can rely on every canonical column.
CANONICAL_COLUMNS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "events": {"user_id": "", "item_id": "", "ts": "", "event_type": "VARCHAR", "weight": "DOUBLE",
               "quantity": "DOUBLE", "price": "DOUBLE", "session_id": "VARCHAR"},
    "items": {"item_id": "", "category": "VARCHAR", "subcategory": "VARCHAR", "brand": "VARCHAR",
              "price": "DOUBLE", "price_tier": "VARCHAR", "title": "VARCHAR", "description": "VARCHAR",
              "in_stock": "BOOLEAN", "launched_at": "TIMESTAMPTZ", "margin": "DOUBLE", "tags": "VARCHAR"},
    "users": {"user_id": "", "segment": "VARCHAR", "signup_at": "TIMESTAMPTZ"},
})
#: The key that identifies a duplicate row of a well-known input, unless `inputs.<name>.unique_key` says otherwise.
DEFAULT_UNIQUE_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "events": ("user_id", "item_id", "ts", "event_type"),
    "items": ("item_id",),
    "users": ("user_id",),
})
#: Columns that `duplicates = "sum"` or `"max"` combine; the other columns come from the first row.
MEASURE_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType({"events": ("weight", "quantity")})
DUPLICATE_POLICIES = ("error", "first", "last", "sum", "max")
#: `ts_format` values for numeric timestamps: seconds, milliseconds or microseconds since 1970-01-01 UTC.
EPOCH_UNITS: Mapping[str, int] = MappingProxyType({"epoch_s": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000})
_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB) *\Z", re.IGNORECASE)

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


#: The whole schema of sqlrec.toml. docs/reference.md's configuration section is generated from it.
SCHEMA: Mapping[str, Mapping[str, Key]] = MappingProxyType({
    "project": {
        "name": Key((str,), "sqlrec-project", "Name shown in summaries and the run manifest."),
    },
    "inputs.*": {
        "path": Key((str, list), None, "File, folder, glob or list of them, relative to the project folder; on "
                    "Spark also URLs (s3a://, gs://, abfss://, hdfs://, file://).", required=True),
        "format": Key((str,), None, "parquet or csv (default: from the file extension).",
                      choices=("parquet", "csv")),
        "hive_partitioning": Key((bool,), False, "Read key=value folders as columns."),
        "columns": Key((dict,), {}, "Map canonical column -> your column, e.g. user_id = \"CustomerID\"."),
        "delimiter": Key((str,), None, "CSV only: field separator (default: detected)."),
        "header": Key((bool,), True, "CSV only: whether the first line names the columns."),
        "encoding": Key((str,), None, "CSV only: text encoding, e.g. latin-1 (default utf-8)."),
        "names": Key((list,), None, "CSV only: column names for a file without a header line."),
        "decimal_separator": Key((str,), ".", "CSV only: the decimal mark of numbers written as text, \".\" or "
                                 "\",\" (10,49: most of Europe's exports, usually with delimiter = \";\").",
                                 choices=(".", ",")),
        "union_by_name": Key((bool,), False,
                             "Allow files of one glob to differ in columns (missing ones read as NULL)."),
        "filter": Key((str,), None, "Keep only rows where this SQL boolean expression over your columns is true."),
        "nulls": Key((str,), "error", "Rows with a NULL id or timestamp: error, or drop them.",
                     choices=("error", "drop")),
        "duplicates": Key((str,), "error", "Rows sharing the unique key: error, keep the first or last (in file "
                          "order), or sum / max the measures (weight, quantity).", choices=DUPLICATE_POLICIES),
        "unique_key": Key((list,), None, "Columns (canonical or your own) that identify a duplicate row (default: events "
                          "[user_id, item_id, ts, event_type], items [item_id], users [user_id])."),
        "ts_format": Key((str,), None, "How text or number timestamps are read: a strptime format such as "
                         "\"%d/%m/%Y %H:%M\", or epoch_s / epoch_ms / epoch_us."),
        "naive_timezone": Key((str,), None, "Time zone of timestamps that carry none, e.g. \"Europe/London\" "
                              "(default: read as UTC, noted in the run manifest)."),
        "ts_range": Key((list,), None, "Plausible [earliest, latest] timestamps, e.g. [\"2010-01-01\", "
                        "\"2012-01-01\"] (default: 1990-01-01 to one day after the run)."),
        "weight_range": Key((list,), None, "Allowed [min, max] weight (default: [0, no limit])."),
        "unknown_items": Key((str,), "error", "Events whose item is not in the items input: error, drop or warn.",
                             choices=("error", "drop", "warn")),
        "flags": Key((dict,), {}, "Items: make category, subcategory, brand or tags from yes/no columns (MovieLens' "
                     "genre flags), e.g. tags = [\"genre_action\", \"genre_drama\"]. A category gets the first "
                     "set flag in the list's order; tags get every set flag. Labels are the column names without "
                     "their common prefix (genre_action -> action)."),
        "suspicious": Key((str,), "note", "Events that look like no purchase of a product (quantity, weight or "
                          "price 0 or below; item codes without a digit, such as POST or BANK CHARGES, where most "
                          "codes have one): note them (with a filter that drops them), error, or ignore.",
                          choices=("note", "error", "ignore")),
    },
    "output": {
        "path": Key((str,), "output", "Folder for published runs, `current/` and the `sqlrec.duckdb` snapshot."),
        "keep_runs": Key((int,), 5, "How many published runs to keep; older ones are pruned."),
        "grace_seconds": Key((int, float), GRACE_SECONDS, "A run beyond `keep_runs` is pruned only this long after it stopped "
                             "being current (and never while a client has its snapshot open), so that readers "
                             "that resolved `current` before a publish can finish."),
        "contract": Key((str,), "sqlrec.contract.json", "File recording the columns and types of every published "
                        "table; a publish that would change them fails unless run with --update-contract. \"\" "
                        "turns the check off."),
        "incremental": Key((bool,), True, "Keep the co-occurrence counts and affinities of each run, so that a run "
                           "whose events only gained files updates them from the new files alone."),
    },
    "engine": {
        "name": Key((str,), "duckdb", "Execution engine of run and evaluate: duckdb (embedded), or spark (PySpark; "
                    "pip install 'sqlrec[spark]' and Java 17+). tune and experiment always run on DuckDB.",
                    choices=("duckdb", "spark")),
        "threads": Key((int,), None, "DuckDB worker threads; Spark's local[n] in local mode (default: all cores)."),
        "memory_limit": Key((str,), None, "DuckDB's memory limit, e.g. \"8GB\" (default: 80% of RAM): it bounds "
                            "the SQL stages, not the Python stages' arrays (docs/readers.md); in Spark "
                            "local mode, the driver's memory (default: 60% of RAM)."),
        "temp_directory": Key((str,), ".sqlrec/tmp", "Where large joins spill to disk, relative to the project."),
        "max_temp_size": Key((str,), None, "The most a run may spill to temp_directory, e.g. \"50GB\" (default: "
                             "90% of the disk's free space); a run that needs more stops with an error."),
        "progress": Key((bool,), True, "Show a progress line for long stages when writing to a terminal."),
        "spark_master": Key((str,), "local[*]", "Spark master URL for name = \"spark\": local[*] runs Spark inside "
                            "this process, on loopback only; spark://host:7077, yarn or k8s://... run on a cluster."),
        "spark_conf": Key((dict,), {}, "Spark settings for name = \"spark\", e.g. { \"spark.executor.memory\" = "
                          "\"8g\" }; they override sqlrec's local-mode defaults."),
        "spark_collect_rows": Key((int,), None, "Largest table copied to the Spark driver for a Python stage (SVD, "
                                  "EASE); larger fails with a message (default: 50,000,000 rows)."),
    },
    "stages.*": {
        "materialized": Key((str,), None, "Override a stage's materialization (default: the stage header's, table unless it "
                              "says view).", choices=("view", "table")),
        "enabled": Key((bool,), None, "Set false to leave a built-in stage out of the graph, true to turn on an "
                                      "optional one such as item_factors (default: the stage header's, true unless "
                                      "it says `enabled: false`)."),
    },
    "evaluate": {
        "split": Key((str,), "time", "How `sqlrec evaluate` holds out test data: time (global cut-off), last_n (each "
                     "user's last events), stratified (a share of each user's or item's rows), kfold (md5 user buckets).",
                     choices=("time", "last_n", "stratified", "kfold")),
        "cutoff": Key((str,), None, "time split: events at or after this moment are test, e.g. \"2026-10-01\"."),
        "test_days": Key((int,), 30, "time split without a cutoff: the last N days before the newest event are test."),
        "last_n": Key((int,), 1, "last_n split: how many of each user's latest events are test."),
        "ratio": Key((float,), 0.75, "stratified split: the share of each group's rows that trains."),
        "stratify_by": Key((str,), "user", "stratified split: the group, user or item.", choices=("user", "item")),
        "folds": Key((int,), 5, "kfold split: number of folds."),
        "fold": Key((int,), 0, "kfold split: the fold held out as test (0 .. folds - 1)."),
        "seed": Key((int,), 42, "Seed of the stratified and kfold splits (md5-based: same on every engine)."),
        "k": Key((list,), [10], "Cut-offs the metrics are computed at, e.g. [5, 10, 20]."),
        "models": Key((list,), None, "Recommenders to evaluate: the stages rec_<model>; `final` is the published "
                      "list (rec_final). Default: final, each source of vars.blend, and popularity as the baseline."),
        "relevant_events": Key((list,), [], "Event types that count as relevant in the test split (empty: all)."),
        "exclude_seen": Key((bool,), True, "Drop test items the user already had in training."),
        "graded": Key((bool,), False, "NDCG with graded gain 2^relevance - 1 (relevance: the test event's largest "
                      "weight) instead of binary gain."),
        "slices": Key((list,), ["segment"], "Columns of the users input to slice metrics by (history = cold/warm "
                      "is always there)."),
    },
    "tune": {
        "grid": Key((dict,), {}, "The parameters to try, per model: [tune.grid.<model>] with one list of values per "
                    "var, e.g. ease_lambda = [100, 300, 1000]; every combination is tried."),
        "metric": Key((str,), "ndcg", "What the chosen parameters maximise on the validation split.",
                      choices=("precision", "recall", "ndcg", "map", "map_at_k", "mrr", "hit_rate")),
        "k": Key((int,), 10, "The cut-off of that metric."),
        "repeats": Key((int,), 1, "Validation splits to average over (seeds seed, seed + 1, ...): fewer chance "
                       "winners where the scores of neighbouring values are close."),
        "holdout": Key((bool,), True, "Keep [evaluate]'s test split out of tuning: tune inside its training part. "
                       "false when the events given are a training set already."),
        "split": Key((str,), None, "How the validation split is carved (default: as [evaluate]).",
                     choices=("time", "last_n", "stratified", "kfold")),
        "cutoff": Key((str,), None, "time split: validation from this moment (default: as [evaluate])."),
        "test_days": Key((int,), None, "time split: the last N days are validation (default: as [evaluate])."),
        "last_n": Key((int,), None, "last_n split: each user's last N events are validation (default: as [evaluate])."),
        "ratio": Key((float,), None, "stratified split: the share that trains (default: as [evaluate])."),
        "stratify_by": Key((str,), None, "stratified split: user or item (default: as [evaluate]).",
                           choices=("user", "item")),
        "folds": Key((int,), None, "kfold split: number of folds (default: as [evaluate])."),
        "fold": Key((int,), None, "kfold split: the fold used for validation (default: as [evaluate])."),
        "seed": Key((int,), None, "Seed of the md5 splits (default: [evaluate]'s seed + 1, another draw)."),
    },
    "experiments.*": {
        "description": Key((str,), "", "What the experiment tests, shown in its report."),
        "control": Key((str,), None, "The variant the others are compared with.", required=True),
        "salt": Key((str,), "sqlrec", "Part of the assignment hash md5(salt:experiment:user_id): a new salt "
                    "re-randomises every user."),
        "holdout": Key((float,), 0.0, "Share of users kept out of the experiment (0 .. 0.5)."),
        "holdout_gets": Key((str,), "control", "What held-out users are shown: the control's list, or none.",
                            choices=("control", "none")),
        "metric": Key((str,), "ndcg", "The offline metric the report leads with.",
                      choices=("precision", "recall", "ndcg", "map", "map_at_k", "mrr", "hit_rate")),
        "k": Key((int,), None, "The cut-off of the comparison (default: the largest of evaluate.k)."),
        "alpha": Key((float,), 0.05, "Family-wise error rate of the Holm-corrected tests; CIs are 1 - alpha."),
        "bootstrap": Key((int,), 2000, "Bootstrap resamples for the confidence intervals."),
        "seed": Key((int,), 7, "Seed of the bootstrap, permutation and simulation draws (same seed, same numbers)."),
        "rounds": Key((int,), 1, "Simulated online test: rounds of show, respond, retrain on the responses."),
        "truth": Key((str,), None, "Folder of a generated world (holding items.parquet and truth/) for the simulated "
                     "online test (default: the events input's folder, when it has truth/)."),
        "variants": Key((dict,), {}, "The variants: [experiments.<name>.variants.<variant>] tables.", required=True),
    },
    "experiments.*.variants.*": {
        "traffic": Key((float,), 1.0, "Relative share of the experiment's users (weights, need not sum to 1)."),
        "description": Key((str,), "", "What this variant is, shown in reports."),
        "vars": Key((dict,), {}, "[vars] entries this variant overrides (blend weights, rules, re-ranker...)."),
        "explore_slots": Key((int,), 0, "Simulated online test: the last N slots of each list go to Thompson "
                             "sampling over items' observed click-through."),
    },
    "vars": {},  # free-form: read in templates with var('name')
})

#: [tune] keys that describe the validation split; unset ones take [evaluate]'s value.
SPLIT_KEYS = ("split", "cutoff", "test_days", "last_n", "ratio", "stratify_by", "folds", "fold", "seed")


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
    union_by_name: bool = False
    filter: str | None = None
    nulls: str = "error"
    duplicates: str = "error"
    unique_key: tuple[str, ...] | None = None
    ts_format: str | None = None
    naive_timezone: str | None = None
    ts_range: tuple[str, str] | None = None
    weight_range: tuple[float, float | None] = (0.0, None)
    unknown_items: str = "error"
    decimal_separator: str = "."
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # canonical column -> yes/no columns
    suspicious: str = "note"

    def key(self, option: str) -> str:
        """The dotted config key of one of this input's options, for error hints."""
        return f"inputs.{self.name}.{option}"


@dataclass(frozen=True)
class EngineSpec:
    name: str = "duckdb"
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str = ".sqlrec/tmp"
    max_temp_size: str | None = None
    progress: bool = True
    spark_master: str = "local[*]"
    spark_conf: Mapping[str, Any] = field(default_factory=dict)
    spark_collect_rows: int | None = None


@dataclass(frozen=True)
class OutputSpec:
    path: str = "output"
    keep_runs: int = 5
    grace_seconds: float = GRACE_SECONDS
    contract: str = "sqlrec.contract.json"
    incremental: bool = True


@dataclass(frozen=True)
class StageSettings:
    materialized: str | None = None
    enabled: bool | None = None  # None: as the stage's header says (on, unless it says `enabled: false`)


VARIANT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
MAX_VARIANTS = 26
BUCKETS = 10_000  # assignment buckets: holdout shares are multiples of 1 / BUCKETS


@dataclass(frozen=True)
class Variant:
    name: str
    traffic: float
    description: str
    vars: Mapping[str, Any]
    explore_slots: int = 0


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    description: str
    control: str
    salt: str
    holdout: float
    holdout_gets: str
    metric: str
    k: int
    alpha: float
    bootstrap: int
    seed: int
    rounds: int
    truth: str | None
    variants: tuple[Variant, ...]  # in config order

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    @property
    def holdout_buckets(self) -> int:
        """Users whose bucket (0 .. BUCKETS - 1) is below this are held out."""
        return round(self.holdout * BUCKETS)

    @property
    def shares(self) -> dict[str, float]:
        """Expected share of all users per group: "holdout" and each variant."""
        total = sum(v.traffic for v in self.variants)
        held = self.holdout_buckets / BUCKETS
        return {"holdout": held, **{v.name: (1 - held) * v.traffic / total for v in self.variants}}


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
    evaluation: Mapping[str, Any] = field(default_factory=dict)  # [evaluate], read by the evaluation stages
    tuning: Mapping[str, Any] = field(default_factory=dict)  # [tune]: the grid and the validation split
    holdout: Mapping[str, Any] = field(default_factory=dict)  # set by `sqlrec tune`: the split whose test it keeps out
    experiments: Mapping[str, "ExperimentSpec"] = field(default_factory=dict)  # [experiments.<name>]
    experiment: "ExperimentSpec | None" = None  # set by `sqlrec experiment`: the one whose users are assigned
    update_contract: bool = False  # set by --update-contract: this run's output columns become the contract
    cli_keys: frozenset = frozenset()  # dotted keys given on the command line (--set, --var), for messages

    def where(self, key: str) -> str:
        """Where a setting's value comes from, for a message: sqlrec.toml, or the command line."""
        return given_where(self.source, key) if key in self.cli_keys else str(self.source)

    @property
    def output_dir(self) -> Path:
        return (self.root / self.output.path).resolve()

    @property
    def contract(self) -> "OutputContract | None":
        from .contract import OutputContract
        if not self.output.contract:
            return None
        return OutputContract((self.root / self.output.contract).resolve(), self.update_contract)


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
    try:
        config = parse_config(data, source=path.resolve())
    except ConfigError as exc:
        _name_the_command_line(exc, overrides or {}, path.resolve())
        raise
    return replace(config, cli_keys=frozenset(overrides or {}))


def _name_the_command_line(exc: ConfigError, overrides: Mapping[str, Any], source: Path) -> None:
    """An error about a value given on the command line says so, instead of blaming sqlrec.toml."""
    given = [key for key in overrides if f"`{key}" in exc.message]
    if given:
        exc.message = exc.message.replace(f"{source}:", given_where(source, max(given, key=len)) + ":", 1)
        exc.args = (exc.message,)


def given_where(source: Path, key: str) -> str:
    """The config file, and that `key` was given on the command line (--var for vars, --set otherwise)."""
    shown = f"--var {key[len('vars.'):]}=..." if key.startswith("vars.") else f"--set {key}=..."
    return f"{source}, with `{key}` given on the command line ({shown})"


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
    _reject_unknown(data, {s.split(".")[0] for s in SCHEMA}, "", where)

    project = _section(data.get("project", {}), SCHEMA["project"], "project", where)
    output = _section(data.get("output", {}), SCHEMA["output"], "output", where)
    engine = _section(data.get("engine", {}), SCHEMA["engine"], "engine", where)
    if output["keep_runs"] < 1:
        raise ConfigError(f"{where}: `output.keep_runs` must be at least 1, got {output['keep_runs']}")
    if output["grace_seconds"] < 0:
        raise ConfigError(f"{where}: `output.grace_seconds` must be 0 or more, got {output['grace_seconds']}")
    for key, value in engine["spark_conf"].items():
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"{where}: `engine.spark_conf.{key}` must be a string, number or boolean, got "
                              f"{type(value).__name__}", hint="Spark settings are single values, e.g. \"8g\"")
    engine["spark_conf"] = MappingProxyType({k: str(v).lower() if isinstance(v, bool) else str(v)
                                             for k, v in engine["spark_conf"].items()})
    if engine["threads"] is not None and engine["threads"] < 1:
        raise ConfigError(f"{where}: `engine.threads` must be at least 1, got {engine['threads']}")
    for size in ("memory_limit", "max_temp_size"):
        if engine[size] is not None and not _MEMORY.match(engine[size]):
            raise ConfigError(f"{where}: `engine.{size}` must be a size such as \"8GB\" or \"512MiB\", "
                              f"got {engine[size]!r}", hint="units: KB, MB, GB, TB, KiB, MiB, GiB, TiB")

    inputs_raw = _table(data.get("inputs", {}), "inputs", where)
    inputs = {name: _input(name, raw, where) for name, raw in inputs_raw.items()}

    evaluation = _evaluation(data.get("evaluate", {}), where)
    tuning = _tuning(data.get("tune", {}), evaluation, where)
    stages_raw = _table(data.get("stages", {}), "stages", where)
    stages = {}
    for name, raw in stages_raw.items():
        _check_name(name, f"stages.{name}", where)
        stages[name] = StageSettings(**_section(raw, SCHEMA["stages.*"], f"stages.{name}", where))

    vars_ = _table(data.get("vars", {}), "vars", where)
    for name, value in vars_.items():
        _check_name(name, f"vars.{name}", where)
        _check_var_value(value, f"vars.{name}", where)
        _check_whole_number_var(name, value, f"vars.{name}", where)
    _check_exact_sar(vars_, where)

    if evaluation["models"] is None:
        evaluation["models"] = default_models(vars_)

    experiments_raw = _table(data.get("experiments", {}), "experiments", where)
    experiments = {name: _experiment(name, raw, evaluation, where) for name, raw in experiments_raw.items()}

    canonical = json.dumps(
        {"project": project, "output": output, "engine": engine, "inputs": inputs_raw, "stages": stages_raw,
         "vars": vars_, "evaluate": evaluation, "tune": tuning, "experiments": experiments_raw},
        sort_keys=True, default=str)
    return Config(
        root=source.parent, source=source, name=project["name"], inputs=MappingProxyType(inputs),
        output=OutputSpec(**output), engine=EngineSpec(**engine), stages=MappingProxyType(stages),
        vars=MappingProxyType(dict(vars_)), hash=hashlib.sha256(canonical.encode()).hexdigest(),
        evaluation=MappingProxyType(evaluation), tuning=MappingProxyType(tuning),
        experiments=MappingProxyType(experiments),
    )


def _evaluation(raw: Any, where: str) -> dict[str, Any]:
    values = _section(raw, SCHEMA["evaluate"], "evaluate", where)
    ks = values["k"]
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ConfigError(f"{where}: `evaluate.k` must be a list of positive integers, got {_show(ks)}",
                          hint="e.g. k = [5, 10]")
    for key in ("models", "relevant_events", "slices"):
        if values[key] is not None and not all(isinstance(v, str) and v for v in values[key]):
            raise ConfigError(f"{where}: `evaluate.{key}` must be a list of names, got {_show(values[key])}")
    if values["models"] is not None and not values["models"]:
        raise ConfigError(f"{where}: `evaluate.models` names no recommender", hint='e.g. models = ["popularity"]')
    _check_split(values, "evaluate", where)
    values["k"] = sorted(set(ks))
    return values


def default_models(vars_: Mapping[str, Any]) -> list[str]:
    """What `sqlrec evaluate` scores unless evaluate.models says: the published list (final), each recommender
    the blend draws on, and popularity as the baseline every model should beat."""
    blend = vars_.get("blend", DEFAULT_BLEND)
    by_segment = vars_.get("blend_by_segment", {})
    sources = blend_source_names(blend if isinstance(blend, Mapping) else {},
                                 by_segment if isinstance(by_segment, Mapping) else {},
                                 bool(vars_.get("cross_sell_segments")))
    return ["final", *[s for s in sources if s not in ("final", "popularity")], "popularity"]


DEFAULT_BLEND = {"cooccurrence": 1.0}


def blend_source_names(blend: Mapping[str, Any], by_segment: Mapping[str, Any], cross_sell: bool) -> list[str]:
    """Every source the blend can hold: vars.blend's, each segment's own (vars.blend_by_segment) and cross_sell
    when vars.cross_sell_segments is set; in code point order, as SQL orders text."""
    names = set(blend)
    for weights in by_segment.values():
        names.update(weights if isinstance(weights, Mapping) else ())
    if cross_sell:
        names.add("cross_sell")
    return sorted(names)


def _check_split(values: Mapping[str, Any], section: str, where: str) -> None:
    """The rules every split (of [evaluate], of [tune]) keeps."""
    if not 0 < values["ratio"] < 1:
        raise ConfigError(f"{where}: `{section}.ratio` must be between 0 and 1, got {values['ratio']}")
    if values["folds"] < 2 or not 0 <= values["fold"] < values["folds"]:
        raise ConfigError(f"{where}: `{section}.fold` must be in 0 .. folds - 1 with folds >= 2, got fold "
                          f"{values['fold']} of {values['folds']}")
    for key in ("test_days", "last_n"):
        if values[key] < 1:
            raise ConfigError(f"{where}: `{section}.{key}` must be at least 1, got {values[key]}")


def _tuning(raw: Any, evaluation: Mapping[str, Any], where: str) -> dict[str, Any]:
    values = _section(raw, SCHEMA["tune"], "tune", where)
    for key in ("k", "repeats"):
        if values[key] < 1:
            raise ConfigError(f"{where}: `tune.{key}` must be at least 1, got {values[key]}")
    grid = {}
    for model, params in values["grid"].items():
        _check_name(model, f"tune.grid.{model}", where)
        if not isinstance(params, dict) or not params:
            raise ConfigError(f"{where}: `tune.grid.{model}` must be a table of vars, each with a list of values",
                              hint=f"e.g. [tune.grid.{model}] then a line such as some_var = [1, 2, 4]")
        for name, choices in params.items():
            _check_name(name, f"tune.grid.{model}.{name}", where)
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: `tune.grid.{model}.{name}` must be a non-empty list of values, got "
                                  f"{_show(choices)}", hint=f"e.g. {name} = [1, 2, 4]")
            for choice in choices:
                _check_var_value(choice, f"tune.grid.{model}.{name}", where)
        grid[model] = {name: list(choices) for name, choices in params.items()}
    values["grid"] = grid
    # The validation split: [evaluate]'s, with whatever [tune] sets, checked by the same rules.
    split = {key: values[key] if values[key] is not None else evaluation[key] for key in SPLIT_KEYS}
    if values["seed"] is None:
        split["seed"] = evaluation["seed"] + 1
    _check_split(split, "tune", where)
    values.update(split)
    return values


def _experiment(name: str, raw: Any, evaluation: Mapping[str, Any], where: str) -> ExperimentSpec:
    key = f"experiments.{name}"
    _check_name(name, key, where)
    values = _section(raw, SCHEMA["experiments.*"], key, where)
    variants_raw = _table(values["variants"], f"{key}.variants", where)
    if not 2 <= len(variants_raw) <= MAX_VARIANTS:
        raise ConfigError(f"{where}: `{key}.variants` must name 2 to {MAX_VARIANTS} variants, got {len(variants_raw)}",
                          hint=f"add [{key}.variants.A] and [{key}.variants.B], each with the vars it changes")
    variants = []
    for vname, vraw in variants_raw.items():
        vkey = f"{key}.variants.{vname}"
        if not VARIANT_NAME_RE.match(vname) or vname.lower() == "holdout":
            raise ConfigError(f"{where}: `{vkey}`: {vname!r} is not a valid variant name",
                              hint="use letters, digits and underscores, starting with a letter (A, B, hybrid_mmr); "
                                   "`holdout` names the held-out users")
        v = _section(vraw, SCHEMA["experiments.*.variants.*"], vkey, where)
        if not v["traffic"] > 0:
            raise ConfigError(f"{where}: `{vkey}.traffic` must be above 0, got {v['traffic']}",
                              hint="remove the variant to stop it; traffic is a relative weight")
        if v["explore_slots"] < 0:
            raise ConfigError(f"{where}: `{vkey}.explore_slots` must be 0 or more, got {v['explore_slots']}")
        for var_name, value in v["vars"].items():
            _check_name(var_name, f"{vkey}.vars.{var_name}", where)
            _check_var_value(value, f"{vkey}.vars.{var_name}", where)
            _check_whole_number_var(var_name, value, f"{vkey}.vars.{var_name}", where)
        _check_exact_sar(v["vars"], f"{where}: `{vkey}`")  # its own vars agree; [vars] joins them when it runs
        variants.append(Variant(name=vname, traffic=float(v["traffic"]), description=v["description"],
                                vars=MappingProxyType(dict(v["vars"])), explore_slots=v["explore_slots"]))
    names = [v.name for v in variants]
    if values["control"] not in names:
        raise ConfigError(f"{where}: `{key}.control` = {values['control']!r} is not one of its variants"
                          + _did_you_mean(values["control"], names), hint="variants: " + ", ".join(names))
    if not 0 <= values["holdout"] <= 0.5:
        raise ConfigError(f"{where}: `{key}.holdout` must be between 0 and 0.5, got {values['holdout']}")
    if not 0 < values["alpha"] < 0.5:
        raise ConfigError(f"{where}: `{key}.alpha` must be between 0 and 0.5, got {values['alpha']}")
    for option, low in (("bootstrap", 100), ("rounds", 1), ("k", 1)):
        if values[option] is not None and values[option] < low:
            raise ConfigError(f"{where}: `{key}.{option}` must be at least {low}, got {values[option]}")
    return ExperimentSpec(
        name=name, description=values["description"], control=values["control"], salt=values["salt"],
        holdout=float(values["holdout"]), holdout_gets=values["holdout_gets"], metric=values["metric"],
        k=values["k"] or max(evaluation["k"]), alpha=float(values["alpha"]), bootstrap=values["bootstrap"],
        seed=values["seed"], rounds=values["rounds"], truth=values["truth"], variants=tuple(variants))


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
    if fmt == "parquet" and values["decimal_separator"] != ".":
        raise ConfigError(f"{where}: `{key}.decimal_separator` applies to CSV files only",
                          hint="Parquet stores numbers as numbers; remove it")
    if fmt == "parquet":
        for csv_only in ("delimiter", "encoding", "names"):
            if values[csv_only] is not None:
                raise ConfigError(f"{where}: `{key}.{csv_only}` only applies to CSV inputs, but the format is parquet")
    unique_key = values["unique_key"]
    if unique_key is not None and (not unique_key or not all(isinstance(c, str) and c for c in unique_key)):
        raise ConfigError(f"{where}: `{key}.unique_key` must be a non-empty list of column names",
                          hint='e.g. unique_key = ["user_id", "item_id", "ts"]')
    if values["duplicates"] in ("sum", "max") and not MEASURE_COLUMNS.get(name):
        raise ConfigError(f"{where}: `{key}.duplicates` = {values['duplicates']!r} needs measure columns to combine, "
                          f"and {name} has none", hint='use "error", "first" or "last"')
    ts_range = values["ts_range"]
    if ts_range is not None:
        if len(ts_range) != 2 or not all(isinstance(t, str) for t in ts_range):
            raise ConfigError(f"{where}: `{key}.ts_range` must be two dates, e.g. [\"2010-01-01\", \"2012-01-01\"]")
        ts_range = tuple(ts_range)
    weight_range = values["weight_range"]
    if weight_range is None:
        weight_range = (0.0, None)
    elif len(weight_range) != 2 or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                           for w in weight_range) or weight_range[0] > weight_range[1]:
        raise ConfigError(f"{where}: `{key}.weight_range` must be [min, max] numbers with min <= max, "
                          f"got {_show(weight_range)}", hint="e.g. weight_range = [0, 100]")
    else:
        weight_range = (float(weight_range[0]), float(weight_range[1]))
    zone = values["naive_timezone"]
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: `{key}.naive_timezone` = {zone!r} is not a time zone name",
                              hint='use an IANA name such as "Europe/London" or "America/New_York"') from None
    text = values["filter"]
    if text is not None and ("{{" in text or "{%" in text):
        raise ConfigError(f"{where}: `{key}.filter` = {text!r} holds a template (`{{{{ ... }}}}`), but filters "
                          "are plain SQL over the input's columns, not rendered like stages",
                          hint=f'write the value itself, e.g. filter = "event_type = \'purchase\'"; vars belong in '
                               "stages, not in inputs")
    fmt_ts = values["ts_format"]
    if fmt_ts is not None and not (fmt_ts in EPOCH_UNITS or "%" in fmt_ts):
        raise ConfigError(f"{where}: `{key}.ts_format` must be a strptime format (with % codes) or one of "
                          f"{', '.join(EPOCH_UNITS)}, got {fmt_ts!r}", hint='e.g. ts_format = "%d/%m/%Y %H:%M"')
    return InputSpec(name=name, paths=tuple(paths), format=fmt, hive_partitioning=values["hive_partitioning"],
                     columns=MappingProxyType(dict(columns)), delimiter=values["delimiter"], header=values["header"],
                     encoding=values["encoding"], names=tuple(names) if names else None,
                     union_by_name=values["union_by_name"], filter=values["filter"], nulls=values["nulls"],
                     duplicates=values["duplicates"], unique_key=tuple(unique_key) if unique_key else None,
                     ts_format=fmt_ts, naive_timezone=values["naive_timezone"], ts_range=ts_range,
                     weight_range=weight_range, unknown_items=values["unknown_items"],
                     flags=MappingProxyType(_flags(values["flags"], name, columns, key, where)),
                     suspicious=values["suspicious"], decimal_separator=values["decimal_separator"])


FLAG_TARGETS = ("category", "subcategory", "brand", "tags")


def _flags(raw: Mapping[str, Any], name: str, columns: Mapping[str, str], key: str,
           where: str) -> dict[str, tuple[str, ...]]:
    if raw and name != "items":
        raise ConfigError(f"{where}: `{key}.flags` applies to the items input only")
    flags = {}
    for canonical, flag_columns in raw.items():
        if canonical not in FLAG_TARGETS:
            raise ConfigError(f"{where}: `{key}.flags.{canonical}`: flags can make {', '.join(FLAG_TARGETS)}"
                              + _did_you_mean(canonical, FLAG_TARGETS))
        if canonical in columns:
            raise ConfigError(f"{where}: `{key}.flags.{canonical}` and `{key}.columns.{canonical}` both set "
                              f"`{canonical}`", hint="keep one of them")
        if not isinstance(flag_columns, list) or not flag_columns or \
                not all(isinstance(c, str) and c for c in flag_columns):
            raise ConfigError(f"{where}: `{key}.flags.{canonical}` must be a non-empty list of column names",
                              hint=f'e.g. {canonical} = ["genre_action", "genre_comedy"]')
        flags[canonical] = tuple(flag_columns)
    return flags


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
                              + _did_you_mean(str(value), [str(c) for c in k.choices]), hint=k.doc or None)
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


#: Vars that must be whole numbers, with their least value: checked with the config, before any input is read.
WHOLE_NUMBER_VARS = {"k": 1}  # the length of each list


def _check_whole_number_var(name: str, value: Any, key: str, where: str) -> None:
    least = WHOLE_NUMBER_VARS.get(name)
    if least is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise ConfigError(f"{where}: `{key}` must be a whole number of at least {least}, not {value!r}",
                          hint=f"e.g. {key.rsplit('.', 1)[-1]} = 10")


#: What `vars.cooccurrence_exact = true` stands for (sql/features/int_item_similarity.sql, int_user_affinity.sql):
#: exact SAR, with every item's neighbours and every user's whole history. The defaults keep 50 neighbours and
#: 200-item histories, which is what keeps large shops fast.
EXACT_SAR = {"cooccurrence_neighbours": 0, "cooccurrence_max_history": 0}


def _check_exact_sar(vars_: Mapping[str, Any], where: str) -> None:
    """`cooccurrence_exact` is a boolean, and no var beside it prunes what it asks to count whole."""
    exact = vars_.get("cooccurrence_exact", False)
    if not isinstance(exact, bool):
        raise ConfigError(f"{where}: `vars.cooccurrence_exact` must be true or false, not {_show(exact)}",
                          hint="cooccurrence_exact = true gives exact SAR")
    for name in EXACT_SAR if exact else ():
        if vars_.get(name, 0) != 0:
            raise ConfigError(f"{where}: `vars.cooccurrence_exact = true` counts every neighbour and every user's "
                              f"whole history, but `vars.{name} = {vars_[name]!r}` prunes them",
                              hint=f"remove one of the two: `vars.cooccurrence_exact` for exact SAR, or `vars.{name}`")


def _check_var_value(value: Any, key: str, where: str, nested: bool = True) -> None:
    """A var is a scalar, a list of scalars, or a table of those; a table may hold tables of them one level down
    (e.g. blend weights per user segment)."""
    scalars = (str, int, float, bool)
    if isinstance(value, scalars) or (isinstance(value, list) and all(isinstance(v, scalars) for v in value)):
        return
    if isinstance(value, dict):
        for name, inner in value.items():
            if isinstance(inner, dict) and nested:
                _check_var_value(inner, f"{key}.{name}", where, nested=False)
            elif isinstance(inner, dict) or not (isinstance(inner, scalars) or (
                    isinstance(inner, list) and all(isinstance(v, scalars) for v in inner))):
                break
        else:
            return
    raise ConfigError(f"{where}: `{key}` must be a string, number, boolean, a list of them, or a table of those "
                      f"(tables may hold tables once more), got {_show(value)}")


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _show(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}
    return f"{kind.get(type(value), type(value).__name__)} {json.dumps(value, default=str)[:60]}"
