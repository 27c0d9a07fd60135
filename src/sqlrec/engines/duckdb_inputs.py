"""How the input checks read files and keep tables on DuckDB: `read_parquet` / `read_csv` over the resolved files,
and temporary tables in the run's connection. The checks themselves (sqlrec.input_checks) are written once, as
sqlglot trees, for this and the Spark twin (engines/spark_inputs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import duckdb
from sqlglot import exp

from ..inputs import ResolvedInput, reader
from ..templating import DIALECT
from .duckdb import DuckDBEngine, resource_hint

FILE, ROW = "__file", "__row"  # where each row came from: for examples in errors and for first/last


def _sql(expression: exp.Expression | str) -> str:
    return expression if isinstance(expression, str) else expression.sql(DIALECT)


class DuckDBInputs:
    errors: tuple[type[BaseException], ...] = (duckdb.Error,)

    def __init__(self, engine: DuckDBEngine):
        self.engine, self.con = engine, engine.con

    def files(self, resolved: ResolvedInput, origin: bool = False) -> exp.Expression:
        """A relation over the input's files; with `origin`, also each row's file (FILE) and 0-based row (ROW)."""
        if not origin:
            return reader(resolved)
        read = reader(resolved)
        read.append("expressions", exp.EQ(this=exp.column("filename"), expression=exp.Literal.string(FILE)))
        if resolved.spec.format == "parquet":
            read.append("expressions", exp.EQ(this=exp.column("file_row_number"), expression=exp.true()))
            row = exp.column("file_row_number")
        else:  # CSV has no file_row_number; DuckDB keeps insertion order, so the scan order is the file order
            row = exp.maybe_parse(f"row_number() OVER (PARTITION BY {FILE}) - 1")
        return exp.select("*", exp.alias_(row, ROW, quoted=True)).from_(read).subquery("files")

    def file_columns(self, resolved: ResolvedInput, location: str) -> list[tuple[str, str]]:
        """One file's (column, type) pairs."""
        return self.describe(exp.select("*").from_(reader(ResolvedInput(spec=resolved.spec, files=(Path(location),)))))

    def listed(self, resolved: ResolvedInput) -> list[str]:
        return [str(f) for f in resolved.files]

    def describe(self, query: exp.Expression) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.con.execute(f"DESCRIBE {_sql(query)}").fetchall()]

    def rows(self, query: exp.Expression | str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.con.execute(_sql(query), params or {}).fetchall()

    def create(self, name: str, query: exp.Expression, temporary: bool = False) -> None:
        kind = "TEMP TABLE" if temporary else "TABLE"
        self.con.execute(f"CREATE OR REPLACE {kind} {_sql(exp.to_table(name, quoted=True))} AS {_sql(query)}")

    def delete(self, name: str, condition: exp.Expression) -> None:
        self.con.execute(_sql(exp.delete(exp.to_table(name, quoted=True), where=condition.copy())))

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE {_sql(exp.to_table(name, quoted=True))}")

    def resource_hint(self, exc: BaseException) -> str | None:
        return resource_hint(exc, self.engine.spec, self.engine.temp_directory)

    def shown_file(self, file: str) -> str:
        return file
