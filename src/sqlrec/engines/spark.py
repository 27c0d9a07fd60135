"""The Spark engine: the same stages, transpiled by sqlglot through sqlrec's Spark dialect, run by PySpark.

Local mode by default (`local[*]`, loopback only, no web UI, time zone UTC), or any master URL from
`[engine] spark_master`, or a SparkSession handed to the API. Each table stage is written as Parquet to a scratch
folder and read back as a temporary view, so later stages read its result rather than recompute its plan. Queries
that sqlrec itself asks (checks, counts) are written in DuckDB SQL like the stages and transpiled the same way;
their values are bound as Spark SQL parameters, never pasted into the text.

Only this module imports pyspark, and only when a Spark run starts: `pip install 'sqlrec[spark]'` and a Java 17+
runtime are needed for Spark runs alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from ..config import EngineSpec
from ..dialects import SqlrecSpark
from ..errors import ConfigError, StageRunError, first_line as _first_line
from ..templating import DIALECT
from .duckdb import StageStats

#: The largest table copied to the driver for a Python stage (SVD, EASE): past it the stage fails with a message
#: rather than exhausting the driver's memory. `[engine] spark_collect_rows` changes it.
DEFAULT_COLLECT_ROWS = 50_000_000

# Spark types as DuckDB names them, for messages and for the checks that treat zoned timestamps specially.
_TYPE_NAMES = {"bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT", "tinyint": "TINYINT",
               "double": "DOUBLE", "float": "FLOAT", "string": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE",
               "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP"}


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(SqlrecSpark)


def to_spark(sql: str | exp.Expression) -> str:
    """DuckDB SQL (text or a parsed tree) as Spark SQL; `$name` parameters become Spark's `:name` markers."""
    tree = sqlglot.parse_one(sql, read=DIALECT) if isinstance(sql, str) else sql
    return tree.sql(dialect=SqlrecSpark, unsupported_level=ErrorLevel.RAISE)


def start_session(spec: EngineSpec, app_name: str = "sqlrec"):
    """A SparkSession as [engine] describes it, and whether it was started here (and is to be stopped after the run).
    In local mode the driver listens on loopback only and shows no UI. A session already active in this process is
    used as it is."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("`[engine] name = \"spark\"` needs PySpark, which is not installed",
                          hint="pip install 'sqlrec[spark]' (and a Java 17 or newer runtime)") from None
    master = spec.spark_master or "local[*]"
    if master == "local[*]" and spec.threads:
        master = f"local[{spec.threads}]"
    builder = (SparkSession.builder.appName(app_name).master(master)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        log_config = Path(__file__).with_name("spark-log4j2.properties")
        builder = (builder.config("spark.ui.enabled", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}")
                   .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                   # small local data: a few shuffle partitions rather than Spark's 200
                   .config("spark.sql.shuffle.partitions", str(2 * (spec.threads or 2))))
        # local mode computes in the driver's JVM, whose default heap (1g) is far too small
        memory = _spark_size(spec.memory_limit) if spec.memory_limit else _default_driver_memory()
        builder = builder.config("spark.driver.memory", memory)
    for key, value in spec.spark_conf.items():
        builder = builder.config(key, value)
    if SparkSession.getActiveSession() is not None:
        return SparkSession.getActiveSession(), False  # e.g. a notebook's: its settings are the owner's
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j raises its own types; the message says what is missing (Java, a port)
        raise StageRunError(f"cannot start Spark ({master}): {_first_line(exc)}",
                            hint="Spark needs a Java 17 or newer runtime on PATH or JAVA_HOME; check "
                                 "[engine] spark_master and spark_conf") from None
    # sqlrec reports a failed query itself, with the stage and a hint; PySpark would log it again, in JSON
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    return session, True


def _default_driver_memory() -> str:
    """60% of the machine's memory: the rest is for Python, which holds the tables a Python stage copies out."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4g"
    return f"{max(1, int(total * 0.6) // 2 ** 30)}g"


def _spark_size(size: str) -> str:
    """DuckDB's "8GB" / "512MiB" (checked by config) as a Spark size in MiB, e.g. "7629m"."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(i?)B?\s*", size, re.IGNORECASE)
    if match is None:
        return size
    number, prefix, binary = match.groups()
    base = 1024 if binary else 1000
    scale = base ** "BKMGT".index(prefix.upper() or "B") if prefix else 1
    return f"{max(1, int(float(number) * scale) // 2 ** 20)}m"


class SparkEngine:
    """Runs stages in Spark. `session` is an existing SparkSession (kept open on close) or None to start one."""

    def __init__(self, spec: EngineSpec, scratch: Path, session=None):
        self.spec = spec
        self.session, self.owns_session = (session, False) if session is not None else start_session(spec)
        self.version, self.master = self.session.version, self.session.sparkContext.master
        self.scratch = scratch / f"spark-{uuid.uuid4().hex[:12]}"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.collect_rows = spec.spark_collect_rows or DEFAULT_COLLECT_ROWS
        self.views: list[str] = []
        self._inputs = None

    def inputs(self):
        """How this engine reads and lists the input files (engines/spark_inputs.py): one per run, so that files
        listed and read for the input checks are not listed and read again."""
        if self._inputs is None:
            from .spark_inputs import SparkInputs
            self._inputs = SparkInputs(self)
        return self._inputs

    def close(self) -> None:
        for view in self.views:
            self.session.catalog.dropTempView(view)
        if self.owns_session:
            self.session.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- inputs and stages --------------------------------------------------------------------------------------

    def bind_parquet(self, name: str, path: Path, rows: int | None = None) -> int:
        """Make `name` a temporary view over a Parquet file or folder; return its row count (`rows` when the caller
        knows it)."""
        frame = self.session.read.parquet(str(path))
        frame.createOrReplaceTempView(name)
        self.views.append(name)
        if rows is None:
            rows = self._footer_rows(path)
        return frame.count() if rows is None else rows

    def _footer_rows(self, folder: Path) -> int | None:
        """The rows of a folder Spark finished writing, summed from its Parquet footers: a Spark job less per stage
        (0.2 s each in local mode). Only where the driver sees what the executors wrote (local masters, one
        machine's disk) and the job committed (_SUCCESS); otherwise None, and Spark counts."""
        if not self.master.startswith("local") or not (folder / "_SUCCESS").is_file():
            return None
        return sum(pq.ParquetFile(part).metadata.num_rows for part in folder.glob("part-*.parquet"))

    def temp_view(self, frame, name: str) -> str:
        """Bind a DataFrame as the temporary view `name` (dropped when the engine closes); return the name."""
        frame.createOrReplaceTempView(name)
        self.views.append(name)
        return name

    def drop_view(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def materialize(self, name: str, sql: str) -> int:
        """Write a Spark SQL query's rows as Parquet to a new scratch folder and bind them as `name`; return the row
        count. A table rewritten from itself (the input checks drop rows) gets a folder of its own each time."""
        folder = self.scratch / name
        version = 1
        while folder.exists():
            version += 1
            folder = self.scratch / f"{name}.{version}"
        self.session.sql(sql).write.parquet(str(folder))
        return self.bind_parquet(name, folder)

    def run_sql(self, name: str, sql: str, materialized: str, where: str) -> StageStats:
        """Run a stage given as Spark SQL (see pipeline.stage_sql) and bind its result as `name`."""
        started = time.perf_counter()
        try:
            if materialized == "view":
                self.temp_view(self.session.sql(sql), name)
                return StageStats(rows=-1, seconds=time.perf_counter() - started)
            rows = self.materialize(name, sql)
        except Exception as exc:
            raise StageRunError(f"stage {name} ({where}) failed in Spark: {_first_line(exc)}",
                                hint=f"inspect the SQL with `sqlrec render {name} --dialect spark`") from None
        return StageStats(rows=rows, seconds=time.perf_counter() - started)

    def store_arrow(self, name: str, table: pa.Table) -> int:
        """A Python stage's result, written as Parquet and bound as a view."""
        folder = self.scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
        return self.bind_parquet(name, folder, rows=table.num_rows)

    def arrow(self, name: str, columns: Iterable[str] | None = None) -> pa.Table:
        """A table copied to the driver as Arrow (for Python stages), refused past spark_collect_rows rows."""
        frame = self.session.table(_q(name))
        if columns:
            frame = frame.select(*[_q(c) for c in columns])
        rows = frame.count()
        if rows > self.collect_rows:
            raise StageRunError(
                f"{name} has {rows:,} rows, more than the {self.collect_rows:,} a Python stage may copy to the "
                "Spark driver", hint="raise [engine] spark_collect_rows (and spark.driver.memory in spark_conf), "
                                     "cap the stage's input (e.g. vars.max_history), keep the neighbour "
                                     "recommenders and pair counts in Spark (vars.neighbour_scoring = \"sql\", "
                                     "vars.cooccurrence_counting = \"sql\"), or run this project on DuckDB")
        return frame.toArrow()

    # -- queries ------------------------------------------------------------------------------------------------

    def columns(self, name: str) -> list[str]:
        return list(self.session.table(_q(name)).columns)

    def types(self, name: str) -> list[tuple[str, str]]:
        """(column, type) pairs, the types named as DuckDB names them where they have a DuckDB twin."""
        return [(f.name, _TYPE_NAMES.get(f.dataType.simpleString(), f.dataType.simpleString().upper()))
                for f in self.session.table(_q(name)).schema.fields]

    def count(self, name: str) -> int:
        return self.session.table(_q(name)).count()

    def fetch(self, sql: str | exp.Expression,
              params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Column names and rows of a query written in DuckDB SQL (text or a tree), with `$name` parameters
        bound."""
        frame = self.session.sql(to_spark(sql), args=dict(params or {}) or None)
        return list(frame.columns), [tuple(row) for row in frame.collect()]

    def scalar(self, sql: str, params: dict | None = None):
        rows = self.fetch(sql, params)[1]
        return rows[0] if rows else None

    def copy_to_parquet(self, name: str, path: Path, order_by: tuple[str, ...] = ()) -> None:
        """One Parquet file, sorted like DuckDB's, through the DataFrame writer."""
        folder = path.parent / f".{path.name}.spark"
        frame = self.session.table(_q(name)).repartition(1)
        if order_by:
            frame = frame.sortWithinPartitions(*[_q(c) for c in order_by])
        try:
            frame.write.mode("overwrite").option("compression", "zstd").parquet(str(folder))
        except Exception as exc:
            raise StageRunError(f"cannot write output {name} to {path}: {_first_line(exc)}",
                                hint="check that the output folder is writable and has free space; the last "
                                     "published outputs are untouched") from None
        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) != 1:
            raise StageRunError(f"Spark wrote {len(parts)} files for output {name}, expected one",
                                hint="report this: the writer was asked for one partition")
        path.parent.mkdir(parents=True, exist_ok=True)
        parts[0].replace(path)
        shutil.rmtree(folder, ignore_errors=True)
