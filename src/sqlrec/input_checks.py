"""Check each input inside the engine that runs the stages and load it as a clean table before any stage runs.

For every declared input, in this order (events last, because its items are checked against the items input):

1. each file is readable, and all files of one glob have the same columns (unless `union_by_name`);
2. mapped columns exist and required canonical columns are present;
3. the analyst's `filter` is one boolean expression over the input's own columns;
4. canonical columns are converted to their types (ids to BIGINT or VARCHAR, timestamps to UTC TIMESTAMPTZ,
   measures to DOUBLE); a value that does not convert is an error;
5. NULL ids and timestamps, timestamps outside a plausible range, non-finite or out-of-range weights;
6. duplicates on the unique key, handled by the declared policy; events whose item is not in the catalog;
7. an input left empty.

A failure raises DataError naming the file, the column, an example row, the count and the config key that fixes
it. What was dropped or merged is recorded in an InputReport, which the run manifest keeps. The clean rows become
the table `src_<name>` that stages read with source('<name>').

The checks are sqlglot trees, run by DuckDB or (transpiled) by Spark: engines/duckdb_inputs.py and
engines/spark_inputs.py say how each engine reads the files and keeps the tables in between.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .config import (CANONICAL_COLUMNS, DEFAULT_UNIQUE_KEYS, EPOCH_UNITS, MEASURE_COLUMNS, REQUIRED_COLUMNS,
                     Config, InputSpec)
from .engines.duckdb_inputs import FILE, ROW
from .errors import ConfigError, DataError, StageRunError, first_line as _first_line
from .inputs import ResolvedInput
from .templating import DIALECT
from .sql_lint import FORBIDDEN_FUNCTIONS

SOURCE_PREFIX = "__src_"  # the unconverted value of a converted column, for examples of values that failed
ID_COLUMNS = ("user_id", "item_id")
MAX_ID_CHARS = 1_000
TIME_COLUMNS = ("ts", "launched_at", "signup_at")
DEFAULT_EARLIEST = "1990-01-01"
TEXT_OFFSET = r"([+-]\d\d(:?\d\d)?|Z)$"  # a time written with its zone: 10:00+01, 10:00:00-05:30, 10:00Z
INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT")
NUMBER_TYPES = INTEGER_TYPES + ("FLOAT", "DOUBLE", "REAL")


@dataclass
class InputReport:
    """What the checks found and did for one input; kept in the run manifest."""

    name: str
    files: int
    rows_read: int = 0
    rows: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # reason -> rows removed
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "rows_read": self.rows_read, "rows": self.rows, "removed": dict(self.removed),
                "notes": list(self.notes)}


def prepare_inputs(engine, inputs: Mapping[str, ResolvedInput], config: Config,
                   keep_file: frozenset[str] = frozenset()) -> dict[str, InputReport]:
    """Check every input and create its `src_<name>` table. Raises DataError or ConfigError on the first failure.
    Inputs named in `keep_file` keep the `__file` column saying which file each row came from."""
    reports: dict[str, InputReport] = {}
    source = engine.inputs()
    checks = {name: _InputCheck(source, resolved, config, keep_file=name in keep_file)
              for name, resolved in inputs.items()}
    for check in checks.values():  # every input's schema first, so that a wrong setting fails before any rows are read
        check.preflight()
    for name in sorted(inputs, key=lambda n: (n == "events", n)):
        reports[name] = checks[name].run(has_items="items" in reports)
    return reports


def describe_input(engine, resolved: ResolvedInput, config: Config) -> list[str]:
    """Check that an input's files are readable and its column mapping fits; return its column names."""
    return _InputCheck(engine.inputs(), resolved, config).describe()


ITEM_ID_VARS = ("deny_items", "allow_items")  # vars that hold item ids (macros/rules.sql)
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "INT", "LONG", "SHORT", "BYTE"}  # DuckDB's names, then Spark's


def _id_kind(column_type: str) -> str | None:
    upper = column_type.upper()
    if upper in _INTEGER_TYPES:
        return "integer"
    if upper.startswith(("VARCHAR", "STRING", "TEXT")):
        return "text"
    return None


def _id_kind_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):  # "42" casts to an integer id, so it fits either kind
        return "either" if value.strip().lstrip("-").isdigit() else "text"
    return type(value).__name__


def _toml_list(values: list) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


class _InputCheck:
    def __init__(self, source, resolved: ResolvedInput, config: Config, keep_file: bool = False):
        self.source = source  # DuckDBInputs or SparkInputs
        self.keep_file = keep_file
        self.resolved = resolved
        self.spec: InputSpec = resolved.spec
        self.config = config
        self.has_items = False  # whether the items input was checked already (set by run)
        self.columns: list[tuple[str, str]] = []  # the files' (name, type) columns, found by preflight
        self.condition: exp.Expression | None = None  # the parsed filter, found by preflight
        self.canonical = CANONICAL_COLUMNS.get(self.spec.name, {})
        self.raw = f"__raw_{self.spec.name}"
        self.deduplicated = f"__deduplicated_{self.spec.name}"
        self.temporary: list[str] = []  # tables made on the way, dropped with the raw one
        self.report = InputReport(name=self.spec.name, files=len(resolved.locations))
        self.converted: dict[str, str] = {}  # canonical column -> source column, for columns that were converted

    # -- helpers ------------------------------------------------------------------------------------------------

    def _where(self, files: list[str] | None = None) -> str:
        shown = files or list(self.resolved.locations[:2])
        more = len(self.resolved.locations) - len(shown)
        return f"input `{self.spec.name}` ({', '.join(shown)}{f' and {more} more files' if more > 0 else ''})"

    def _given(self, option: str) -> str:
        """Where a setting's value came from, when it was not sqlrec.toml."""
        return " (given with --set)" if self.spec.key(option) in self.config.cli_keys else ""

    def _fix(self, option: str, example: str) -> str:
        return f"set `{self.spec.key(option)}` in {self.config.source}, e.g. {self.spec.key(option)} = {example}"

    def _fetch(self, query: exp.Expression | str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.source.rows(query, params)

    def _example(self, condition: exp.Expression, columns: list[str]) -> tuple[int, str]:
        """How many rows of the raw table match `condition`, and the first of them (in file order) as text."""
        shown = [c for c in columns if c not in (FILE, ROW)]
        types = self._types(exp.to_table(self.raw, quoted=True))
        # Zoned timestamps are shown as text: fetching them as Python objects would need pytz.
        values = [exp.cast(_col(c), "VARCHAR") if "TIME ZONE" in types.get(c, "") else _col(c) for c in shown]
        query = (exp.select(*values, _col(FILE), _col(ROW), "count(*) OVER () AS __n")
                 .from_(exp.to_table(self.raw, quoted=True)).where(condition)
                 .order_by(_col(FILE), _col(ROW)).limit(1))
        rows = self._fetch(query)
        if not rows:
            return 0, ""
        *values, file, row, count = rows[0]
        fields = ", ".join(f"{c}: {_shown_value(v)}" for c, v in zip(shown, values))
        return count, f"row {row + 1:,} of {self.source.shown_file(file)}: {{{fields}}}"

    def _types(self, relation: exp.Expression) -> dict[str, str]:
        """Column name -> type (as DuckDB names it) of a table or query."""
        return dict(self._describe_query(relation))

    def _describe_query(self, relation: exp.Expression) -> list[tuple[str, str]]:
        query = exp.select("*").from_(relation) if isinstance(relation, exp.Table) else relation
        return self.source.describe(query)

    def _source_name(self, canonical: str) -> str:
        return self.spec.columns.get(canonical, canonical)

    def _describe(self, column: str) -> str:
        source = self._source_name(column)
        return f"`{column}`" + (f" (your `{source}`)" if source != column else "")

    # -- the steps ----------------------------------------------------------------------------------------------

    def describe(self) -> list[str]:
        """Steps 1 and 2 only: the files are readable and the mapping fits. Returns the file's column names."""
        self.preflight()
        return [c for c, _ in self.columns]

    def preflight(self) -> None:
        """What can be checked from the files' schemas, reading no rows: the files are readable, the column mapping
        fits, and the settings that name columns or ids agree with them (the filter, slices, ids in vars)."""
        self.columns = self._check_files()
        names = [c for c, _ in self.columns]
        self._check_mapping(names)
        self._check_slices(names)
        self._check_item_id_vars(dict(self.columns))
        self.condition = self._parse_filter(dict(self.columns))

    def run(self, has_items: bool) -> InputReport:
        """Read, check and create the input's table; after preflight()."""
        self.has_items = has_items
        self._load_raw(self.columns, self.condition)
        self._check_values()
        final = self._dedup_and_link()
        self._create(final)
        for name in [self.raw, *self.temporary]:
            self.source.drop(name)
        return self.report

    def _check_files(self) -> list[tuple[str, str]]:
        """Every file readable; one schema across files unless union_by_name. Returns the (name, type) columns."""
        schemas = []
        try:
            listed = self.source.listed(self.resolved)
        except self.source.errors as exc:
            raise DataError(f"{self._where()}: cannot list the files: {_first_line(exc)}",
                            hint=f"check `{self.spec.key('path')}` and the credentials of its file system "
                                 "([engine] spark_conf)") from None
        if not listed:
            raise DataError(f"{self._where()} matches no file", hint=f"check `{self.spec.key('path')}`")
        for location in listed:
            if "://" not in location and os.path.isfile(location) and os.path.getsize(location) == 0:
                raise DataError(f"{self._where([location])}: the file is empty (0 bytes): no header and no rows",
                                hint=f"the export that wrote it may have failed; replace it, or leave it out of "
                                     f"`{self.spec.key('path')}`")
            try:
                schema = self.source.file_columns(self.resolved, location)
            except self.source.errors as exc:
                if "not utf-8 encoded" in str(exc):
                    raise DataError(f"{self._where([location])}: cannot read the file: its text is not UTF-8 "
                                    f"({_first_line(exc)})",
                                    hint=self._fix("encoding", '"latin-1"') + " (the file's own encoding)") from None
                raise DataError(
                    f"{self._where([location])}: cannot read the file: {_first_line(exc)}",
                    hint=f"the file may be truncated or not {self.spec.format}; replace it, or leave it out of "
                         f"`{self.spec.key('path')}`") from None
            schemas.append((self.source.shown_file(location), schema))
        first_path, first = schemas[0]
        if not self.spec.union_by_name:
            for path, schema in schemas[1:]:
                if schema != first:
                    a, b = dict(first), dict(schema)
                    column = next(c for c in list(a) + list(b) if a.get(c) != b.get(c))
                    raise DataError(
                        f"{self._where([first_path, path])}: the files differ in column `{column}`: "
                        f"{a.get(column, 'missing')} in {_file_name(first_path)}, {b.get(column, 'missing')} in "
                        f"{_file_name(path)}",
                        hint=f"fix the file, or {self._fix('union_by_name', 'true')} to read missing columns as "
                             f"NULL")
        try:
            return self._describe_query(exp.select("*").from_(self.source.files(self.resolved)))
        except self.source.errors as exc:
            raise DataError(f"{self._where()}: cannot read the files together: {_first_line(exc)}",
                            hint=f"{self._fix('union_by_name', 'true')} if the files have different columns") from None

    def _check_mapping(self, columns: list[str]) -> None:
        spec = self.spec
        if spec.format == "csv" and len(columns) == 1 and any(d in columns[0] for d in ",;\t|"):
            raise DataError(f"{self._where()} was read as one column `{columns[0][:60]}`: the CSV delimiter was not "
                            "detected (a truncated or ragged line can cause this)",
                            hint=f"set `{spec.key('delimiter')}` (e.g. \",\" or \";\") in {self.config.source}, and "
                                 "check the file's last lines")
        for canonical, source in spec.columns.items():
            if source not in columns:
                close = difflib.get_close_matches(source, columns, n=1)
                raise DataError(
                    f"{self._where()} has no column `{source}` (mapped to `{canonical}` by "
                    f"`{spec.key('columns')}.{canonical}`)" + (f"; did you mean `{close[0]}`?" if close else ""),
                    hint=f"its columns are: {', '.join(columns)}")
        for canonical, flag_columns in spec.flags.items():
            for flag in flag_columns:
                if flag not in columns:
                    close = difflib.get_close_matches(flag, columns, n=1)
                    raise DataError(
                        f"{self._where()} has no column `{flag}` (named in `{spec.key('flags')}.{canonical}`)"
                        + (f"; did you mean `{close[0]}`?" if close else ""),
                        hint=f"its columns are: {', '.join(columns)}")
        mapped = set(spec.columns) | {c for c in columns if c not in spec.columns.values()}
        for required in REQUIRED_COLUMNS.get(spec.name, ()):
            if required not in mapped:
                raise DataError(
                    f"{self._where()} has no `{required}` column",
                    hint=f'map one of its columns with `{spec.key("columns")}.{required} = "<your column>"` in '
                         f"{self.config.source}; its columns are: {', '.join(columns)}")

    def _check_slices(self, columns: list[str]) -> None:
        """evaluate.slices are columns of the users input (after its column mapping)."""
        if self.spec.name != "users":
            return
        names = set(self.spec.columns) | {c for c in columns if c not in self.spec.columns.values()}
        missing = [s for s in self.config.evaluation.get("slices") or () if s not in names]
        if missing:
            close = difflib.get_close_matches(missing[0], sorted(names), n=1)
            raise ConfigError(
                f"{self.config.source}: `evaluate.slices` names `{missing[0]}`, which is not a column of "
                f"{self._where()}" + (f"; did you mean `{close[0]}`?" if close else ""),
                hint=f"its columns are: {', '.join(sorted(names))} (or map one with "
                     f"`{self.spec.key('columns')}.{missing[0]} = \"<your column>\"`)")

    def _check_item_id_vars(self, types: Mapping[str, str]) -> None:
        """Item ids in vars (deny_items, allow_items) of the kind the files hold, checked from the files' schema
        before any row is read: text compared with integer ids (or the reverse) fails in SQL mid-run."""
        if self.spec.name not in ("events", "items"):
            return
        source = self.spec.columns.get("item_id", "item_id")
        kind = _id_kind(types.get(source, ""))
        if kind is None:
            return
        for name in ITEM_ID_VARS:
            values = self.config.vars.get(name)
            if not isinstance(values, list):
                continue
            wrong = next((v for v in values if _id_kind_of_value(v) not in (kind, "either")), None)
            if wrong is None:
                continue
            example = next((v for v in values if _id_kind_of_value(v) in (kind, "either")), None)
            given = " (given with --var or --set)" if f"vars.{name}" in self.config.cli_keys else ""
            raise ConfigError(
                f"{self.config.source}: `vars.{name}`{given} holds {wrong!r}, but item ids in {self._where()} are "
                f"{kind} (column `{source}`, {types[source]}): it cannot be compared with them",
                hint=(f"write the ids as text, e.g. {name} = {_toml_list([str(v) for v in values])}" if kind == "text" else
                      f"write the ids as numbers, e.g. {name} = [{example if example is not None else 42}]"))

    def _parse_filter(self, columns: Mapping[str, str]) -> exp.Expression | None:
        text = self.spec.filter
        if text is None:
            return None
        key = self.spec.key("filter")
        try:
            tree = exp.maybe_parse(text, dialect=DIALECT, into=exp.Condition)
        except (ParseError, TokenError) as exc:  # an unclosed quote fails in the tokenizer
            raise ConfigError(f"{self.config.source}: `{key}` is not a SQL expression: {_first_line(exc)}",
                              hint="write one condition over your columns, e.g. \"Quantity > 0\"") from None
        if tree.find(exp.Query, exp.Subquery, exp.Table) is not None or isinstance(tree, exp.Query):
            raise ConfigError(f"{self.config.source}: `{key}` must be one boolean expression, not a query",
                              hint="write one condition over your columns, e.g. \"Quantity > 0\"")
        for func in tree.find_all(exp.Func):
            name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS:
                raise ConfigError(f"{self.config.source}: `{key}` may not call {name}()")
        for column in tree.find_all(exp.Column):
            if column.table or column.name not in columns:
                close = difflib.get_close_matches(column.name, list(columns), n=1)
                raise ConfigError(
                    f"{self.config.source}: `{key}` refers to `{column.sql(DIALECT)}`, which is not a column of "
                    f"{self._where()}" + (f" (did you mean `{close[0]}`?)" if close else ""),
                    hint=f"the filter reads your own column names: {', '.join(columns)}")
        probe = exp.select(exp.alias_(tree.copy(), "f")).from_(self.source.files(self.resolved)).limit(0)
        try:
            kind = self.source.describe(probe)[0][1]
        except self.source.errors as exc:
            raise ConfigError(f"{self.config.source}: `{key}` cannot be evaluated: {_first_line(exc)}") from None
        if kind != "BOOLEAN":
            raise ConfigError(f"{self.config.source}: `{key}` must be true or false for each row, but it is {kind}",
                              hint="compare it with something, e.g. \"Quantity > 0\"")
        return tree

    def _convert(self, canonical: str, source: str, kind: str) -> exp.Expression | None:
        """SQL converting a source column to the canonical type, or None to keep it as it is."""
        value = _col(source)
        if canonical in ID_COLUMNS:
            # TRY_CAST: an id beyond BIGINT (an unsigned or DECIMAL column) is reported with an example row
            as_bigint = exp.TryCast(this=value.copy(), to=exp.DataType.build("BIGINT"))
            if kind in INTEGER_TYPES:
                return as_bigint
            if kind == "VARCHAR":  # an id longer than this is a broken file or a wrong mapping, not an id
                short = exp.LTE(this=exp.func("length", value), expression=exp.Literal.number(MAX_ID_CHARS))
                return exp.Case(ifs=[exp.If(this=short, true=value)])
            if kind in ("FLOAT", "DOUBLE", "REAL") or kind.startswith("DECIMAL"):
                # Float ids (CustomerID read by pandas as 17850.0) are whole numbers or not ids at all.
                whole = exp.EQ(this=value, expression=exp.func("round", value))
                return exp.Case(ifs=[exp.If(this=whole, true=as_bigint)])
            raise DataError(f"{self._where()}: column {self._describe(canonical)} is {kind}; ids must be integers "
                            "or text", hint=f"map `{self.spec.key('columns')}.{canonical}` to an id column")
        if canonical in TIME_COLUMNS:
            return self._convert_time(value, kind)
        target = self.canonical.get(canonical)
        if not target or kind == target or (target == "VARCHAR" and kind.startswith("VARCHAR")):
            return None
        if target == "DOUBLE" and kind == "VARCHAR" and self.spec.decimal_separator == ",":
            value = exp.func("replace", value, exp.Literal.string(","), exp.Literal.string("."))
        return exp.TryCast(this=value, to=exp.DataType.build(target))

    def _convert_time(self, value: exp.Expression, kind: str) -> exp.Expression:
        fmt, zone = self.spec.ts_format, self.spec.naive_timezone or "UTC"

        def local(naive: exp.Expression) -> exp.Expression:
            return exp.func("timezone", exp.Literal.string(zone), naive, dialect=DIALECT)

        if fmt in EPOCH_UNITS:
            if kind not in NUMBER_TYPES:
                raise DataError(f"{self._where()}: `{self.spec.key('ts_format')}` = {fmt!r} needs numbers, but "
                                f"the column is {kind}", hint="remove ts_format, or map a numeric column")
            seconds = exp.Div(this=exp.cast(value, "DOUBLE"), expression=exp.Literal.number(EPOCH_UNITS[fmt]))
            return exp.func("to_timestamp", seconds, dialect=DIALECT)
        if kind == "TIMESTAMP WITH TIME ZONE":
            return value
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            self._note_naive(kind)
            return local(exp.cast(value, "TIMESTAMP"))
        if kind == "VARCHAR":
            if fmt is not None:
                self._note_naive("text")
                return local(exp.func("try_strptime", value, exp.Literal.string(fmt), dialect=DIALECT))
            # Text with an offset (2011-06-01 10:00+01) keeps it; text without one is local to naive_timezone.
            has_offset = exp.func("regexp_matches", value, exp.Literal.string(TEXT_OFFSET), dialect=DIALECT)
            self._note_naive("text without an offset")
            zoned = exp.TryCast(this=value, to=exp.DataType.build("TIMESTAMPTZ"))
            return exp.Case(ifs=[exp.If(this=has_offset, true=zoned)],
                            default=local(exp.TryCast(this=value, to=exp.DataType.build("TIMESTAMP"))))
        if kind in NUMBER_TYPES:
            raise DataError(f"{self._where()}: timestamps are numbers ({kind})",
                            hint=self._fix("ts_format", '"epoch_s"') + " (or epoch_ms / epoch_us)")
        raise DataError(f"{self._where()}: timestamps have type {kind}, which is not a time",
                        hint="map a timestamp, date or text column")

    def _note_naive(self, what: str) -> None:
        if self.spec.naive_timezone is None:
            note = (f"timestamps ({what}) carry no time zone and were read as UTC; set "
                    f"`{self.spec.key('naive_timezone')}` to state their zone")
            if note not in self.report.notes:
                self.report.notes.append(note)

    def _load_raw(self, columns: list[tuple[str, str]], condition: exp.Expression | None) -> None:
        spec = self.spec
        renamed = {source: canonical for canonical, source in spec.columns.items()}
        projections: list[exp.Expression] = []
        present = set()
        for source, kind in columns:
            if source not in renamed and source in spec.columns:
                continue  # a column named like a canonical one that the mapping replaces
            name = renamed.get(source, source)
            converted = self._convert(name, source, kind) if name in self.canonical else None
            if converted is None:
                projections.append(exp.alias_(_col(source), name, quoted=True))
            else:
                projections.append(exp.alias_(converted, name, quoted=True))
                projections.append(exp.alias_(exp.cast(_col(source), "VARCHAR"), SOURCE_PREFIX + name, quoted=True))
                self.converted[name] = source
            present.add(name)
        for canonical, flag_columns in spec.flags.items():
            projections.append(exp.alias_(_from_flags(canonical, flag_columns), canonical, quoted=True))
            present.add(canonical)
        for canonical, sql_type in self.canonical.items():
            if canonical not in present and sql_type:  # optional and absent: a typed NULL keeps stages uniform
                projections.append(exp.alias_(exp.cast(exp.null(), sql_type), canonical, quoted=True))
        projections += [_col(FILE), _col(ROW)]

        count_read = exp.select("count(*)").from_(self.source.files(self.resolved))
        self.report.rows_read = self._execute_data(lambda: self._fetch(count_read)[0][0])
        query = exp.select(*projections).from_(self.source.files(self.resolved, origin=True))
        if condition is not None:
            query = query.where(condition.copy())
        self._execute_data(lambda: self.source.create(self.raw, query, temporary=True))
        kept = self.raw_rows = self._fetch(exp.select("count(*)").from_(exp.to_table(self.raw, quoted=True)))[0][0]
        if condition is not None:
            self._removed("filter", self.report.rows_read - kept, f"{self.spec.key('filter')} = {spec.filter!r}")

    def _execute_data(self, action: Callable[[], Any]) -> Any:
        """Run `action`, which reads the input's data; a failure is the data's (or a resource's), said as such."""
        try:
            return action()
        except self.source.errors as exc:
            hint = self.source.resource_hint(exc)
            if hint:  # out of memory or disk: nothing wrong with the data
                raise StageRunError(f"{self._where()}: cannot check the data: {_first_line(exc)}", hint=hint) from None
            raise DataError(f"{self._where()}: cannot read the data: {_first_line(exc)}",
                            hint="check the file and the input's format options in sqlrec.toml") from None

    def _removed(self, reason: str, rows: int, how: str) -> None:
        if rows:
            self.report.removed[reason] = self.report.removed.get(reason, 0) + rows
            self.report.notes.append(f"{reason}: removed {rows:,} rows ({how})")

    def _check_values(self) -> None:
        names = list(self._types(exp.to_table(self.raw, quoted=True)))
        visible = [n for n in names if not n.startswith(SOURCE_PREFIX)][:10]
        for column, source in self.converted.items():
            failed = exp.and_(_col(SOURCE_PREFIX + column).is_(exp.not_(exp.null())), _col(column).is_(exp.null()))
            others = [c for c in visible if c != column]
            count, example = self._example(failed, [SOURCE_PREFIX + column] + others)
            example = example.replace(f"{SOURCE_PREFIX}{column}:", f"{source}:", 1)
            target = ("a timestamp" if column in TIME_COLUMNS
                      else f"an id (a whole number, or text of at most {MAX_ID_CHARS:,} characters)"
                      if column in ID_COLUMNS else self.canonical.get(column) or "its type")
            if count:
                if column in TIME_COLUMNS and self.spec.ts_format is not None:
                    hint = (f"`{self.spec.key('ts_format')}` = {self.spec.ts_format!r}{self._given('ts_format')} "
                            "does not match these values: change it to their format (strptime codes such as "
                            "%d/%m/%Y %H:%M, or epoch_s / epoch_ms / epoch_us)")
                elif column in TIME_COLUMNS:
                    hint = self._fix("ts_format", '"%d/%m/%Y %H:%M"') + " (or epoch_s for Unix seconds)"
                elif column in ID_COLUMNS:
                    hint = f"ids must be whole numbers or text; fix the data or filter those rows with " \
                           f"`{self.spec.key('filter')}`"
                elif re.search(r"'\s*-?\d+,\d+\s*'", example) and self.spec.decimal_separator == ".":
                    hint = self._fix("decimal_separator", '","') + " if the numbers are written with a decimal comma"
                else:
                    hint = f"fix the data, or filter those rows with `{self.spec.key('filter')}`"
                raise DataError(f"{self._where()}: column {self._describe(column)}: {count:,} values do not convert "
                                f"to {target}, e.g. {example}", hint=hint)
        required = [c for c in REQUIRED_COLUMNS.get(self.spec.name, ()) if c in names]
        for column in required:
            missing = _col(column).is_(exp.null())
            count, example = self._example(missing, visible)
            if not count:
                continue
            if self.spec.nulls == "error":
                raise DataError(f"{self._where()}: column {self._describe(column)} is NULL in {count:,} rows, e.g. "
                                f"{example}", hint=self._fix("nulls", '"drop"') + " to leave those rows out")
            self._delete(missing, "null " + column, f'{self.spec.key("nulls")} = "drop"')
        if "ts" in names:
            self._check_time_range(visible)
        if "weight" in names:
            self._check_weights(visible)
        if self.spec.name == "events" and self.spec.suspicious != "ignore":
            self._check_suspicious(names, visible)

    def _delete(self, condition: exp.Expression, reason: str, how: str) -> None:
        table = exp.to_table(self.raw, quoted=True)
        count = self._fetch(exp.select("count(*)").from_(table).where(condition.copy()))[0][0]
        self.source.delete(self.raw, condition)
        self._removed(reason, count, how)

    def _check_time_range(self, visible: list[str]) -> None:
        earliest, latest = self.spec.ts_range or (
            DEFAULT_EARLIEST, (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"))
        bounds = []
        for bound in (earliest, latest):
            if not self._fetch("SELECT TRY_CAST($b AS TIMESTAMPTZ) IS NOT NULL", {"b": bound})[0][0]:
                raise ConfigError(f"{self.config.source}: `{self.spec.key('ts_range')}`: {bound!r} is not a date",
                                  hint='e.g. ts_range = ["2010-01-01", "2012-01-01"]')
            bounds.append(exp.cast(exp.Literal.string(bound), "TIMESTAMPTZ"))
        outside = exp.or_(exp.LT(this=_col("ts"), expression=bounds[0]), exp.GT(this=_col("ts"), expression=bounds[1]))
        count, example = self._example(outside, visible)
        if count:
            raise DataError(f"{self._where()}: column {self._describe('ts')}: {count:,} timestamps fall outside "
                            f"{earliest} .. {latest}, e.g. {example}",
                            hint=self._fix("ts_range", '["2000-01-01", "2030-01-01"]') + " if they are real, or "
                                 f"filter them with `{self.spec.key('filter')}`")

    def _check_weights(self, visible: list[str]) -> None:
        weight = _col("weight")
        not_finite = exp.or_(exp.func("isnan", weight), exp.func("isinf", weight))
        count, example = self._example(not_finite, visible)
        if count:
            raise DataError(f"{self._where()}: column {self._describe('weight')}: {count:,} weights are NaN or "
                            f"infinite, e.g. {example}", hint=f"filter them with `{self.spec.key('filter')}`")
        low, high = self.spec.weight_range
        outside = exp.LT(this=weight, expression=exp.Literal.number(low))
        if high is not None:
            outside = exp.or_(outside, exp.GT(this=weight, expression=exp.Literal.number(high)))
        count, example = self._example(outside, visible)
        if count:
            shown = f"outside [{low:g}, {high:g}]" if high is not None else f"below {low:g}"
            raise DataError(f"{self._where()}: column {self._describe('weight')}: {count:,} weights are {shown} "
                            f"(`{self.spec.key('weight_range')}`{self._given('weight_range')}), e.g. {example}",
                            hint=self._fix("weight_range", "[-1, 10]") + " if they are valid, or filter them with "
                                 f"`{self.spec.key('filter')}`")

    def _check_suspicious(self, names: list[str], visible: list[str]) -> None:
        """Rows that are likely no purchase of a product: returns and cancellations (quantity <= 0; below 0 where
        events have types, since a view has none), zero weights, free or adjustment lines (price <= 0), and fee or
        postage codes (an item code without a digit where at least 90% of codes have one). Each finding is a note
        with an example and the filter that drops those rows, or an error (`suspicious = "error"`).

        One aggregate query counts everything (on Spark each query is a job); examples are fetched only for what
        was found."""
        table = exp.to_table(self.raw, quoted=True)
        zero = exp.Literal.number(0)
        conditions = {"typed": _col("event_type").is_(exp.not_(exp.null())),
                      "negative": exp.LT(this=_col("quantity"), expression=zero.copy())}
        for column in ("quantity", "weight", "price"):
            conditions[column] = exp.LTE(this=_col(column), expression=zero.copy())
        no_digit = None
        if "item_id" in names and self._types(table).get("item_id") == "VARCHAR":
            no_digit = exp.not_(exp.func("regexp_matches", _col("item_id"), exp.Literal.string("[0-9]"),
                                         dialect=DIALECT))
            conditions["no_digit"] = no_digit
        counted = [exp.alias_(exp.func("sum", exp.Case(ifs=[exp.If(this=c.copy(), true=exp.Literal.number(1))],
                                                       default=zero.copy())), name)
                   for name, c in conditions.items()]
        if no_digit is not None:
            counted += [exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col("item_id")])), "codes"),
                        exp.alias_(exp.Count(this=exp.Distinct(expressions=[
                            exp.Case(ifs=[exp.If(this=no_digit.copy(), true=_col("item_id"))])])), "odd_codes")]
        row = self._fetch(exp.select(*counted).from_(table))[0]
        found = {name: value or 0 for name, value in zip([*conditions, "codes", "odd_codes"], row)}
        # With event types, a quantity of 0 is ordinary (a view buys nothing): only a negative one is a return.
        typed = found["typed"] > 0
        findings = []
        for column, what in (("quantity", "returns or cancellations?"), ("weight", "no interest shown?"),
                             ("price", "free lines or adjustments?")):
            strict = column == "quantity" and typed
            if column not in names or not found["negative" if strict else column]:
                continue
            count, example = self._example(conditions["negative" if strict else column], visible)
            source = _ident(self._source_name(column))
            findings.append((f"{count:,} rows have {column} {'below 0' if strict else '0 or below'} ({what}), "
                             f"e.g. {example}", f"{source} {'>=' if strict else '>'} 0"))
        if no_digit is not None and found["odd_codes"] and found["odd_codes"] <= 0.1 * found["codes"]:
            top = self._fetch(exp.select(_col("item_id"), "count(*) AS n").from_(table).where(no_digit.copy())
                              .group_by(_col("item_id")).order_by("n DESC", _col("item_id")).limit(5))
            more = found["odd_codes"] - len(top)
            shown = ", ".join(f"{code} {n:,}" for code, n in top) + (f" and {more} more" if more > 0 else "")
            _count, example = self._example(no_digit, visible)
            source = _ident(self._source_name("item_id"))
            findings.append((f"{found['no_digit']:,} rows have item codes without a digit, unlike nearly all others, "
                             f"and look like fees or postage rather than products ({shown}), e.g. {example}",
                             f"regexp_matches({source}, '[0-9]')"))
        for finding, keep in findings:
            fix = f'add `{keep}` to `{self.spec.key("filter")}` to leave them out'
            if self.spec.suspicious == "error":
                raise DataError(f"{self._where()}: {finding}",
                                hint=f'{fix}, or set `{self.spec.key("suspicious")}` = "note" to keep them')
            self.report.notes.append(f"{finding}; {fix} (or `{self.spec.key('suspicious')}` = \"ignore\" to keep "
                                     "them without this note)")

    def _dedup_and_link(self) -> exp.Select:
        table = exp.to_table(self.raw, quoted=True)
        names = list(self._types(table))
        output = [n for n in names if n not in (FILE, ROW) and not n.startswith(SOURCE_PREFIX)]
        key = list(self.spec.unique_key or DEFAULT_UNIQUE_KEYS.get(self.spec.name, ()))
        for column in key:
            if column not in output:
                raise ConfigError(f"{self.config.source}: `{self.spec.key('unique_key')}` names `{column}`, which "
                                  f"{self._where()} does not have", hint=f"its columns: {', '.join(output)}")
        read = exp.select(*[_col(c) for c in output], _col(FILE), _col(ROW)).from_(table)
        query = self._dedup(read, key, output) if key else read
        if self.spec.name == "events" and self.has_items:
            if query is not read:  # deduplicated once, not again for the count of unknown items
                self._execute_data(lambda: self.source.create(self.deduplicated, query, temporary=True))
                self.temporary.append(self.deduplicated)
                query = exp.select(*[_col(c) for c in output], _col(FILE), _col(ROW)).from_(
                    exp.to_table(self.deduplicated, quoted=True))
            query = self._link_items(query, output)
        return query

    def _dedup(self, query: exp.Select, key: list[str], output: list[str]) -> exp.Select:
        keys = [_col(c) for c in key]
        groups = (exp.select(*keys, "count(*) AS __n").from_(exp.to_table(self.raw, quoted=True)).group_by(*keys)
                  .having("count(*) > 1"))
        stats = self._fetch(exp.select("count(*)", "coalesce(sum(__n), 0)").from_(groups.subquery("g")))[0]
        duplicate_groups, duplicate_rows = stats
        if not duplicate_groups:
            return query
        policy = self.spec.duplicates
        if policy == "error":
            types = self._types(exp.to_table(self.raw, quoted=True))
            shown_keys = [exp.cast(_col(c), "VARCHAR") if "TIME ZONE" in types[c] else _col(c) for c in key]
            first = self._fetch(exp.select(*shown_keys, "__n").from_(groups.subquery("g"))
                                .order_by(*[_col(c) for c in key]).limit(1))[0]
            shown = ", ".join(f"{c}={v!r}" for c, v in zip(key, first))
            raise DataError(
                f"{self._where()}: {duplicate_rows - duplicate_groups:,} duplicate rows: {duplicate_groups:,} values "
                f"of ({', '.join(key)}) appear more than once, e.g. {shown} appears {first[-1]} times",
                hint=self._fix("duplicates", '"first"') + " (or last, sum, max), or set "
                     f"`{self.spec.key('unique_key')}` to the columns that identify a row")
        last = policy == "last"
        order = [exp.Ordered(this=_col(FILE), desc=last), exp.Ordered(this=_col(ROW), desc=last)]
        how = f'{self.spec.key("duplicates")} = "{policy}" on ({", ".join(key)})'
        self._removed("duplicates", duplicate_rows - duplicate_groups, how)
        if policy in ("first", "last") and 2 * duplicate_rows > self.raw_rows:
            return self._keep_one(query, key, output, last)
        window = exp.Window(this=exp.func("row_number"), partition_by=keys, order=exp.Order(expressions=order))
        if policy in ("sum", "max"):  # measures combined over the group, other columns from its first row
            measures = set(MEASURE_COLUMNS.get(self.spec.name, ())) - set(key)
            query = exp.select(*[
                exp.alias_(exp.Window(this=exp.func(policy, _col(c)), partition_by=[k.copy() for k in keys]), c,
                           quoted=True) if c in measures else _col(c)
                for c in output + [FILE, ROW]]).from_(query.subquery("d"))
        return query.qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))

    def _keep_one(self, query: exp.Select, key: list[str], output: list[str], last: bool) -> exp.Select:
        """The first (or last) row of each key, by file then row: the smallest (largest) (file, row) of each key,
        joined back. Where most rows repeat a key, this is faster than numbering the rows of each key in a window,
        which sorts them all (Online Retail's items, 99% repeats: 8x); where few do, the join costs more (its
        events, 1%: 1.4x)."""
        position = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(n), expression=_col(c))
                                           for n, c in (("f", FILE), ("r", ROW))])
        picked = exp.select(*[exp.alias_(_col(c), f"__k{i}", quoted=True) for i, c in enumerate(key)],
                            exp.alias_(exp.func("max" if last else "min", position), "__at", quoted=True)
                            ).from_(exp.to_table(self.raw, quoted=True)).group_by(*[_col(c) for c in key])
        at = exp.column("__at", table="p", quoted=True)
        same = [exp.NullSafeEQ(this=exp.column(c, table="d", quoted=True),  # a NULL key is one key, as in GROUP BY
                               expression=exp.column(f"__k{i}", table="p", quoted=True)) for i, c in enumerate(key)]
        same += [exp.EQ(this=exp.column(c, table="d", quoted=True),
                        expression=exp.Dot(this=at.copy(), expression=exp.to_identifier(n, quoted=True)))
                 for n, c in (("f", FILE), ("r", ROW))]
        return (exp.select(*[exp.column(c, table="d", quoted=True) for c in [*output, FILE, ROW]])
                .from_(query.subquery("d")).join(picked.subquery("p"), on=exp.and_(*same)))

    def _link_items(self, query: exp.Select, output: list[str]) -> exp.Select:
        items = exp.to_table("src_items", quoted=True)
        item_id_type = self._types(items).get("item_id")
        event_type = self._types(exp.to_table(self.raw, quoted=True)).get("item_id")
        left, right = exp.column("item_id", table="e", quoted=True), exp.column("item_id", table="i", quoted=True)
        if item_id_type != event_type:  # 85123 as text in one file, a number in the other: compare as text
            left, right = exp.cast(left, "VARCHAR"), exp.cast(right, "VARCHAR")
        known = exp.Exists(this=exp.select("1").from_(exp.alias_(items, "i", table=True))
                           .where(exp.EQ(this=right, expression=left)))
        candidates = query.subquery("e")
        unknown = exp.select("count(*)").from_(candidates).where(exp.not_(known.copy()))
        count = self._fetch(unknown)[0][0]
        if not count:
            return query
        policy = self.spec.unknown_items
        key = self.spec.key("unknown_items")
        if policy == "error":
            types = self._types(query)
            shown_columns = [exp.cast(exp.column(c, table="e", quoted=True), "VARCHAR") if "TIME ZONE" in types[c]
                             else exp.column(c, table="e", quoted=True) for c in [*output, FILE, ROW]]
            example_query = (exp.select(*shown_columns).from_(query.subquery("e")).where(exp.not_(known.copy()))
                             .order_by(exp.column(FILE, table="e", quoted=True), exp.column(ROW, table="e", quoted=True))
                             .limit(1))
            row = dict(zip([*output, FILE, ROW], self._fetch(example_query)[0]))
            shown = ", ".join(f"{c}: {row[c]!r}" for c in output[:8])
            raise DataError(f"{self._where()}: {count:,} events refer to items that are not in the items input, e.g. "
                            f"row {row[ROW] + 1:,} of {self.source.shown_file(row[FILE])}: {{{shown}}}",
                            hint=f'set `{key}` = "drop" (or "warn") in {self.config.source}, or add the items to '
                                 "the catalog")
        if policy == "warn":
            self.report.notes.append(f"unknown items: {count:,} events refer to items not in the items input "
                                     f'(kept: {key} = "warn")')
            return query
        self._removed("unknown items", count, f'{key} = "drop"')
        return exp.select("e.*").from_(query.subquery("e")).where(known)

    def _create(self, query: exp.Select) -> None:
        names = list(self._types(query))
        output = [c for c in names if c not in (FILE, ROW) and not c.startswith(SOURCE_PREFIX)]
        output += [FILE] if self.keep_file else []
        final = exp.select(*[_col(c) for c in output]).from_(query.subquery("q"))
        target = exp.to_table(self.resolved.relation, quoted=True)
        self._execute_data(lambda: self.source.create(self.resolved.relation, final))
        self.report.rows = self._fetch(exp.select("count(*)").from_(target))[0][0]
        if self.report.rows == 0:
            removed = ", ".join(f"{reason}: {rows:,}" for reason, rows in self.report.removed.items())
            raise DataError(f"{self._where()} has no rows"
                            + (f" left after the checks ({self.report.rows_read:,} read; removed {removed})"
                               if self.report.rows_read else ""),
                            hint=f"check `{self.spec.key('path')}`" + (f" and `{self.spec.key('filter')}`"
                                                                          if self.spec.filter else ""))


def flag_labels(columns: tuple[str, ...]) -> list[str]:
    """Each yes/no column's label: its name without the prefix all of them share up to an underscore.

    >>> flag_labels(("genre_action", "genre_sci_fi"))
    ['action', 'sci_fi']
    >>> flag_labels(("organic",))
    ['organic']
    """
    if len(columns) < 2:
        return list(columns)
    shared = len(os.path.commonprefix(list(columns)))
    cut = columns[0].rfind("_", 0, shared) + 1
    return [c[cut:] for c in columns]


def _from_flags(canonical: str, columns: tuple[str, ...]) -> exp.Expression:
    """A category (the first set flag, in the configured order) or tags (every set flag, joined by ", ") from yes/no
    columns: 1/0, true/false or their text."""
    set_flags = [exp.func("coalesce", exp.TryCast(this=_col(c), to=exp.DataType.build("BOOLEAN")), exp.false())
                 for c in columns]
    labels = [exp.Literal.string(label) for label in flag_labels(columns)]
    if canonical == "tags":  # ", a, b" then cut the leading separator (concat_ws's NULL rules differ by engine)
        parts = [exp.Case(ifs=[exp.If(this=flag, true=exp.Literal.string(f", {label.this}"))],
                          default=exp.Literal.string("")) for flag, label in zip(set_flags, labels)]
        joined = parts[0]
        for part in parts[1:]:
            joined = exp.DPipe(this=joined, expression=part)
        return exp.func("nullif", exp.Substring(this=joined, start=exp.Literal.number(3)), exp.Literal.string(""))
    return exp.Case(ifs=[exp.If(this=flag, true=label) for flag, label in zip(set_flags, labels)])


def _ident(name: str) -> str:
    """A column name as a filter would write it: bare when it can be, quoted otherwise."""
    return exp.to_identifier(name).sql(DIALECT)


def _file_name(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1]


def _shown_value(value: Any) -> str:
    """A value for an error message: long text is cut, with its length."""
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:60]) + f"... ({len(value):,} characters)"
    return repr(value)
