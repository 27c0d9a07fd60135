"""The DuckDB engine: a locked-down connection, inputs bound as views, stages materialised as tables of a scratch
database. A run's scratch database is in memory (`database=None`): DuckDB moves its tables and large joins to the spill
folder when they outgrow memory_limit, and writes nothing it does not have to (measured: a file-backed scratch
database made the co-occurrence stages about 15% slower).

Settings come from [engine] in sqlrec.toml. Extension autoinstall/autoload are off, the time zone is UTC, and file
access is limited to the input files' folders, the staging folder and the spill folder; the configuration is
locked after setup so a stage cannot loosen it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import duckdb
import pyarrow as pa
from sqlglot import exp

from ..config import EngineSpec
from ..disks import free_space, full_disk_hint, is_disk_full
from ..errors import StageRunError
from ..layout import STAGING
from ..progress import progress_line
from ..templating import DIALECT


@dataclass(frozen=True)
class StageStats:
    rows: int
    seconds: float


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(DIALECT)


class DuckDBEngine:
    def __init__(self, spec: EngineSpec, database: Path | None, temp_directory: Path, allowed: Iterable[Path],
                 show_progress: bool = True):
        temp_directory.mkdir(parents=True, exist_ok=True)
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                  "temp_directory": str(temp_directory)}
        if spec.threads:
            config["threads"] = spec.threads
        if spec.memory_limit:
            config["memory_limit"] = spec.memory_limit
        if spec.max_temp_size:
            config["max_temp_directory_size"] = spec.max_temp_size
        self.spec, self.temp_directory = spec, temp_directory
        try:
            self.con = duckdb.connect(str(database) if database else ":memory:", config=config)
        except duckdb.Error as exc:
            raise StageRunError(f"cannot start DuckDB: {exc}", hint="check [engine] in sqlrec.toml") from None
        self.con.execute("SET enable_progress_bar_print = false")  # first: sqlrec draws its own (progress_line)
        folders = sorted({str(p.resolve()).rstrip("/") + "/" for p in [*allowed, temp_directory]})
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET allowed_directories = $dirs", {"dirs": folders})
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET enable_progress_bar = true")  # tracks progress for query_progress() (progress_line)
        self.con.execute("SET lock_configuration = true")
        self.show_progress = show_progress and spec.progress

    def inputs(self):
        """How this engine reads the input files and keeps the tables the input checks make
        (engines/duckdb_inputs.py; Spark's twin is SparkEngine.inputs)."""
        from .duckdb_inputs import DuckDBInputs  # it imports this module
        return DuckDBInputs(self)

    def close(self) -> None:
        self.con.close()

    # -- stages ---------------------------------------------------------------------------------------------

    def use_schema(self, schema: str) -> None:
        """Create `schema` if needed and make it where stages are created and first looked up (inputs stay in main,
        which DuckDB still finds)."""
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
        self.con.execute(f"USE {_q(schema)}")

    def alias(self, name: str, schema: str, source_schema: str) -> None:
        """`schema.name` as a view of `source_schema.name`: a stage computed once, read under another schema."""
        self.con.execute(f"CREATE OR REPLACE VIEW {_q(schema)}.{_q(name)} AS "
                         f"SELECT * FROM {_q(source_schema)}.{_q(name)}")

    def run_sql(self, name: str, sql: str, materialized: str, where: str) -> StageStats:
        kind = "VIEW" if materialized == "view" else "TABLE"
        started = time.perf_counter()
        try:
            with progress_line(name, self.con.query_progress, enabled=self.show_progress):
                self.con.execute(f"CREATE OR REPLACE {kind} {_q(name)} AS {sql}")  # name is quoted by sqlglot
        except duckdb.Error as exc:
            raise StageRunError(f"stage {name} ({where}) failed in DuckDB: {_first_line(exc)}",
                                hint=self._resource_hint(exc) or f"inspect the SQL with `sqlrec render {name}`") \
                from None
        rows = self.count(name) if kind == "TABLE" else -1
        return StageStats(rows=rows, seconds=time.perf_counter() - started)

    def _resource_hint(self, exc: Exception, writing_to: Path | None = None) -> str | None:
        return resource_hint(exc, self.spec, self.temp_directory, writing_to)

    def store_arrow(self, name: str, table: pa.Table) -> int:
        self.con.register("__sqlrec_arrow", table)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {_q(name)} AS SELECT * FROM __sqlrec_arrow")
        finally:
            self.con.unregister("__sqlrec_arrow")
        return table.num_rows

    def arrow(self, name: str, columns: Iterable[str] | None = None) -> pa.Table:
        """A table as Arrow: every column, or only `columns`."""
        selected = ", ".join(_q(c) for c in columns) if columns else "*"
        return self.con.sql(f"SELECT {selected} FROM {_q(name)}").to_arrow_table()

    def columns(self, name: str) -> list[str]:
        return list(self.con.sql(f"SELECT * FROM {_q(name)} LIMIT 0").columns)

    def types(self, name: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) pairs of a table or view."""
        return [(row[0], row[1]) for row in self.con.execute(f"DESCRIBE {_q(name)}").fetchall()]

    def count(self, name: str) -> int:
        return self.scalar(f"SELECT count(*) FROM {_q(name)}")[0]

    def fetch(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """Column names and rows of a query, with `$name` parameters bound."""
        cursor = self.con.execute(sql, params or {})
        names = [d[0] for d in cursor.description]
        return names, cursor.fetchall()

    def scalar(self, sql: str, params: dict | None = None):
        """The first row of a query (None if it has none). Reads the result to the end: DuckDB refuses other work
        on a connection whose last result is unfinished."""
        rows = self.con.execute(sql, params or {}).fetchall()
        return rows[0] if rows else None

    def copy_to_parquet(self, name: str, path: Path, order_by: tuple[str, ...] = ()) -> None:
        """Sorted rows make reruns byte-comparable and let a lookup of one user skip row groups by their
        min/max statistics."""
        path.parent.mkdir(parents=True, exist_ok=True)
        query = exp.select("*").from_(exp.to_table(name, quoted=True))
        if order_by:
            query = query.order_by(*(exp.column(c, quoted=True) for c in order_by))
        try:
            self.con.execute(f"COPY ({query.sql(DIALECT)}) TO $path (FORMAT parquet, COMPRESSION zstd)",
                             {"path": str(path)})
        except duckdb.Error as exc:
            raise StageRunError(f"cannot write output {name} to {path}: {_first_line(exc)}",
                                hint=self._resource_hint(exc, writing_to=path) or "check that the output folder is "
                                     "writable and has free space; the last published outputs are untouched") \
                from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _output_folder(path: Path) -> Path:
    """The output folder a staged file belongs to (what the person configured), else the file's folder."""
    return Path(*path.parts[:path.parts.index(STAGING)]) if STAGING in path.parts else path.parent


def resource_hint(exc: Exception, spec: EngineSpec, temp_directory: Path | str,
                  writing_to: Path | None = None) -> str | None:
    """What to change when DuckDB ran out of memory or disk, rather than out of correct SQL (None otherwise).
    `writing_to`: the output file being written, when there is one: a full disk is then the output's unless the
    message names the spill folder."""
    text = str(exc)
    if "max_temp_directory_size" in text:
        return (f"the run needs more spill space than it may use in {temp_directory}: raise [engine] max_temp_size "
                f"(now {spec.max_temp_size or 'the default'}), or point [engine] temp_directory at a larger disk")
    if is_disk_full(exc):
        if writing_to is not None and str(temp_directory) not in text:
            return full_disk_hint(_output_folder(writing_to), "[output] path")
        return (f"the spill folder's disk is full: {temp_directory} ({free_space(Path(temp_directory))}): free "
                f"space there, set [engine] max_temp_size (now {spec.max_temp_size or 'the default'}), or point "
                "[engine] temp_directory at a larger disk")
    if "Out of Memory" in text or "memory limit" in text.lower():
        return (f"raise [engine] memory_limit (now {spec.memory_limit or 'the default, 80% of RAM'}), or "
                "fewer [engine] threads; large stages spill to [engine] temp_directory when they can")
    return None
