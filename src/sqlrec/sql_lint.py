"""Check rendered SQL with sqlglot before it runs, and transpile it for other engines. Pure.

A stage is one read-only query: a SELECT (CTEs, set operations allowed) over relations the engine binds
(`ref()` and `source()`), never a file path, a table function or a statement that writes.

>>> parse_stage("SELECT 1 AS x", "s", "s.sql", known={"s"}).sql()
'SELECT 1 AS x'
"""

from __future__ import annotations

from pathlib import Path
from typing import Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from .dialects import DIALECTS, check_portable
from .errors import TemplateError
from .template_cache import cache_key, cache_root, store
from .templating import DIALECT

#: Table functions a stage may call. Everything else in FROM (read_parquet, glob, read_csv, ...) reads files or
#: system state, which is the engine's job.
ALLOWED_TABLE_FUNCTIONS = frozenset({"unnest"})
#: Scalar functions that touch files or the environment.
FORBIDDEN_FUNCTIONS = frozenset({"read_text", "read_blob", "getenv", "glob", "read_parquet", "read_csv",
                                 "read_csv_auto", "read_json", "read_json_auto", "parquet_scan", "query",
                                 "query_table", "sniff_csv"})


def lint_stage(sql: str, stage: str, path: Path | str, known: Collection[str]) -> None:
    """parse_stage's checks, skipped for SQL that passed them before with the same relations (sqlglot's parse is
    half a second of every run of the built-in stages, whose rendered SQL rarely changes)."""
    key = _lint_key(sql, known)
    marker = cache_root() / "lint" / key
    if key in _passed or marker.is_file():
        _passed.add(key)
        return
    parse_stage(sql, stage, path, known)
    _passed.add(key)
    store(marker, b"")


_passed: set[str] = set()
_lint_salt: bytes | None = None


def _lint_key(sql: str, known: Collection[str]) -> str:
    """A hash of what the verdict depends on: the SQL, the relations, sqlglot's version and this module's code."""
    global _lint_salt
    if _lint_salt is None:
        _lint_salt = sqlglot.__version__.encode() + b"\0" + Path(__file__).read_bytes()
    return cache_key(_lint_salt, sql, *sorted(known))


def parse_stage(sql: str, stage: str, path: Path | str, known: Collection[str]) -> exp.Expression:
    """Parse `sql` (DuckDB dialect) and lint it. `known` is every relation name a stage may read."""
    where = f"stage {stage} ({path})"
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except TokenError as exc:  # an unclosed quote or comment in a project's stage
        raise TemplateError(f"{where}: the SQL cannot be read: {exc}",
                            hint=f"see the SQL as rendered with `sqlrec render {stage}`") from None
    except ParseError as exc:
        raise TemplateError(_describe_parse_error(exc, sql, where),
                            hint=f"see the SQL as rendered with `sqlrec render {stage}`") from None
    if len(statements) != 1:
        raise TemplateError(f"{where}: expected one SELECT statement, found {len(statements)}",
                            hint="remove the extra `;`-separated statements; one stage is one query")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise TemplateError(f"{where}: a stage must be a SELECT, found {tree.key.upper()}",
                            hint="stages never write: the engine materialises and publishes their results")
    _lint(tree, where, known)
    return tree


def _lint(tree: exp.Expression, where: str, known: Collection[str]) -> None:
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            name = _func_name(table.this)
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise TemplateError(f"{where}: table function {name}() is not allowed in a stage",
                                    hint="declare data under [inputs] in sqlrec.toml and read it with source()")
            continue
        if table.db or table.catalog:
            raise TemplateError(f"{where}: qualified table `{table.sql(DIALECT)}` is not allowed",
                                hint="read other stages with ref('name') and inputs with source('name')")
        if table.name not in cte_names and table.name not in known:
            raise TemplateError(f"{where}: reads `{table.name}`, which is neither a CTE, a stage nor an input",
                                hint="read other stages with {{ ref('name') }} and inputs with {{ source('name') }}")
    for func in tree.find_all(exp.Func):
        name = _func_name(func)
        if name in FORBIDDEN_FUNCTIONS:
            raise TemplateError(f"{where}: function {name}() is not allowed in a stage",
                                hint="stages read data only through ref() and source()")


def _func_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _describe_parse_error(exc: ParseError, sql: str, where: str) -> str:
    if not exc.errors:
        return f"{where}: cannot parse the rendered SQL: {exc}"
    first = exc.errors[0]
    line, col = first.get("line"), first.get("col")
    lines = sql.splitlines()
    text = lines[line - 1].strip() if line and 0 < line <= len(lines) else ""
    return (f"{where}: SQL parse error at line {line}, column {col} of the rendered SQL: "
            f"{first.get('description')}" + (f" -- near: {text[:120]}" if text else ""))


def pretty(tree: exp.Expression, dialect: str = DIALECT, where: str = "the stage") -> str:
    """Pretty SQL for `dialect` (duckdb or spark)."""
    return to_dialect(tree, dialect, where, pretty=True)


def to_dialect(tree: exp.Expression, dialect: str, where: str, pretty: bool = False) -> str:
    """A stage's SQL for `dialect`. For another engine than DuckDB, a function without a verified translation, or
    anything sqlglot cannot express there, raises TemplateError naming it."""
    if dialect != DIALECT:
        check_portable(tree, where, dialect)
    try:
        return tree.sql(dialect=DIALECTS.get(dialect, dialect), pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise TemplateError(f"{where}: cannot be written as {dialect} SQL: {exc}",
                            hint="docs/spark.md (\"Running on Spark\") lists what translates") from None
