"""Checks on a stage's output before anything is published: declared columns, emptiness, keys, nulls.

Queries are built with sqlglot; each failure names the stage, its file, the column and an example row.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa
from sqlglot import exp

from .connections import quiet_connection
from .engines.duckdb import DuckDBEngine
from .errors import OutputCheckError
from .project import Stage
from .templating import DIALECT


def check_columns(engine: DuckDBEngine, stage: Stage) -> None:
    declared = list(stage.header.column_names)
    actual = engine.columns(stage.name)
    unknown = [c for c in (*stage.header.unique, *stage.header.order_by) if c not in actual]
    if unknown:
        raise OutputCheckError(f"stage {stage.name} ({stage.path}) has no column {unknown[0]!r}, which its header's "
                               f"`unique` or `order_by` names; it returned {actual}",
                               hint="fix the header or the SELECT list")
    if not declared:
        return
    if actual != declared:
        missing = [c for c in declared if c not in actual]
        extra = [c for c in actual if c not in declared]
        detail = (f"missing {missing}" if missing else "") + ("; " if missing and extra else "") + \
                 (f"unexpected {extra}" if extra else "") or "same columns in another order"
        raise OutputCheckError(
            f"stage {stage.name} ({stage.path}) returned columns {actual}, but its header declares {declared} "
            f"({detail})", hint="make the SELECT list match the `columns:` header, or update the header")


def check_published(engine: DuckDBEngine, stage: Stage, rows: int) -> None:
    where = f"output {stage.name} (stage {stage.path})"
    if rows == 0 and not stage.header.allow_empty:
        raise OutputCheckError(f"{where} is empty; nothing was published",
                               hint="check the inputs and the stages it reads; add `-- allow_empty: true` to the "
                                    "header if an empty output is valid")
    table = exp.to_table(stage.name, quoted=True)
    for column in stage.header.not_null:
        query = exp.select(*_shown(engine, stage.name)).from_(table).where(
            exp.column(column, quoted=True).is_(exp.null())).limit(1)
        example = engine.scalar(query.sql(DIALECT))
        if example is not None:
            count = engine.scalar(exp.select("count(*)").from_(table)
                                  .where(exp.column(column, quoted=True).is_(exp.null())).sql(DIALECT))[0]
            raise OutputCheckError(f"{where}: {count} rows have NULL `{column}`, e.g. "
                                   f"{_row(engine, stage.name, example)}",
                                   hint=f"filter or fill NULL {column} in the stage")
    for column in stage.header.zero:
        nonzero = exp.column(column, quoted=True).neq(0)
        example = engine.scalar(exp.select(*_shown(engine, stage.name)).from_(table).where(nonzero).limit(1)
                                   .sql(DIALECT))
        if example is not None:
            raise OutputCheckError(f"{where}: `{column}` must be 0, e.g. {_row(engine, stage.name, example)}",
                                   hint=f"the stage's header declares `zero: {column}`; see its description")
    check_unique(engine.scalar, table, stage, where)


def check_unique(fetch_one: Callable[[str], tuple | None], table: exp.Expression, stage: Stage,
                 where: str | None = None) -> None:
    """The stage's declared `unique` key holds in `table`; `fetch_one(sql)` returns a query's first row or None."""
    if not stage.header.unique:
        return
    keys = [exp.column(c, quoted=True) for c in stage.header.unique]
    query = (exp.select(*keys, "count(*) AS n").from_(table).group_by(*keys)
             .having("count(*) > 1").order_by("n DESC", *keys).limit(1))
    duplicate = fetch_one(query.sql(DIALECT))
    if duplicate is not None:
        where = where or f"output {stage.name} (stage {stage.path})"
        count = fetch_one(exp.select("count(*)").from_(
            exp.select(*keys).from_(table).group_by(*keys).having("count(*) > 1").subquery("d")).sql(DIALECT))[0]
        shown = ", ".join(f"{c}={v!r}" for c, v in zip(stage.header.unique, duplicate))
        raise OutputCheckError(
            f"{where}: its header declares `unique: {', '.join(stage.header.unique)}`, but {count:,} keys repeat, "
            f"e.g. {shown} appears {duplicate[-1]} times; nothing was published",
            hint="deduplicate in the stage (or fix the join that repeats rows); the last published outputs are "
                 "untouched")


def check_unique_arrow(stage: Stage, table: pa.Table) -> None:
    """check_unique on an Arrow table (tables computed outside a run: experiment and tuning results)."""
    if not stage.header.unique:
        return
    con = quiet_connection()
    try:
        con.register("published", table)
        check_unique(lambda sql: con.execute(sql).fetchone(), exp.to_table("published"), stage)
    finally:
        con.close()


def _shown(engine: DuckDBEngine, name: str) -> list[exp.Expression]:
    """Every column of a table, zoned timestamps as text (fetching them as Python objects would need pytz)."""
    return [exp.cast(exp.column(c, quoted=True), "VARCHAR") if "TIME ZONE" in t else exp.column(c, quoted=True)
            for c, t in engine.types(name)]


def _row(engine: DuckDBEngine, name: str, values: tuple) -> str:
    return "{" + ", ".join(f"{c}: {v!r}" for c, v in zip(engine.columns(name), values)) + "}"
