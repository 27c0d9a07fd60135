"""How the input checks read files and keep tables on Spark: the DataFrame reader over the user's own files and URLs
(object stores and HDFS through Spark's file systems), bound as temporary views, and tables written as Parquet to
the run's scratch folder. The checks (sqlrec.input_checks) are the same sqlglot trees DuckDB runs, transpiled.

Where the engines read a file differently, this module makes Spark read it as DuckDB does: CSV types are inferred
(one extra pass) and widened as DuckDB's sniffer types them (whole numbers BIGINT; a timestamp written without a
zone stays without one, so that `naive_timezone` applies), a malformed line fails the read rather than becoming
NULLs, a UTF-8 file with bytes that are not UTF-8 is refused rather than read with U+FFFD, and each row knows its
file and its row in that file (`_metadata.row_index` for Parquet; for CSV, the order of the splits and of the rows
within them).
"""

from __future__ import annotations

import codecs
import os
from typing import Any, Mapping
from urllib.parse import unquote

from sqlglot import exp

from ..input_checks import TEXT_OFFSET
from ..inputs import ResolvedInput
from .duckdb_inputs import FILE, ROW
from .spark import SparkEngine, to_spark, _TYPE_NAMES

_BLOCK, _ORDER = "__block", "__order"


class SparkInputs:
    # PySpark and py4j raise their own types, and any of them here means the files could not be read as asked
    errors: tuple[type[BaseException], ...] = (Exception,)

    def __init__(self, engine: SparkEngine):
        self.engine, self.session = engine, engine.session
        self._views: dict[tuple[str, bool], str] = {}
        self._listed: dict[str, list[str]] = {}

    # -- reading ------------------------------------------------------------------------------------------------

    def files(self, resolved: ResolvedInput, origin: bool = False) -> exp.Expression:
        """A view over the input's files (read once per run); with `origin`, also each row's FILE and ROW."""
        key = (resolved.spec.name, origin)
        if key not in self._views:
            frame = self._read(resolved, resolved.locations, infer=True, origin=origin)
            name = f"__files_{resolved.spec.name}" + ("_origin" if origin else "")
            self._views[key] = self.engine.temp_view(frame, name)
        return exp.to_table(self._views[key], quoted=True)

    def file_columns(self, resolved: ResolvedInput, location: str) -> list[tuple[str, str]]:
        """One file's (column, type) pairs: Parquet from its footer; CSV from its header line alone (every column
        VARCHAR; types are inferred once, over all files), after one scan for bytes that are not UTF-8."""
        frame = self._read(resolved, (location,), infer=False, origin=False)
        if resolved.spec.format == "csv" and codecs.lookup(resolved.spec.encoding or "utf-8").name == "utf-8":
            self._refuse_undecodable(location)
        return [(f.name, _type_name(f.dataType)) for f in frame.schema.fields]

    def _refuse_undecodable(self, location: str) -> None:
        """Spark's CSV reader decodes bytes that are not UTF-8 as U+FFFD and reads on; DuckDB refuses the file, and
        so does this (with DuckDB's words, which the checks turn into the `encoding` hint)."""
        from pyspark.sql import functions as F
        bad = (self.session.read.text(location).where(~F.expr("is_valid_utf8(value)")).limit(1)
               .select(F.expr("make_valid_utf8(value)").alias("line")).collect())
        if bad:
            raise ValueError(f"{location} is not utf-8 encoded: {bad[0].line[:80]!r}")

    def listed(self, resolved: ResolvedInput) -> list[str]:
        """The files behind the input: local ones as resolved, a URL's as Spark lists them (once per run)."""
        if resolved.spec.name not in self._listed:
            listed = [str(f) for f in resolved.files]
            if resolved.urls:
                frame = self._reader(resolved, infer=False).load(list(resolved.urls))
                listed += sorted(set(frame.inputFiles()) - set(listed))
            self._listed[resolved.spec.name] = listed
        return self._listed[resolved.spec.name]

    def url_files(self, resolved: ResolvedInput) -> list[dict]:
        """Size and modification time of each file behind an input's URLs, from their file systems (reading every
        byte to hash it, as for local files, would copy the whole input to the driver)."""
        jvm, conf = self.session._jvm, self.session._jsc.hadoopConfiguration()
        local = {str(f) for f in resolved.files}
        entries = []
        for location in self.listed(resolved):
            if location in local:
                continue
            path = jvm.org.apache.hadoop.fs.Path(location)
            status = path.getFileSystem(conf).getFileStatus(path)
            entries.append({"path": location, "bytes": status.getLen(),
                            "mtime_ns": status.getModificationTime() * 1_000_000})
        return entries

    def _reader(self, resolved: ResolvedInput, infer: bool):
        spec = resolved.spec
        options: dict[str, str] = {}
        if spec.format == "csv":
            options.update(header=str(spec.header).lower(), mode="FAILFAST", inferSchema=str(infer).lower())
            if spec.delimiter is not None:
                options["sep"] = spec.delimiter
            if spec.encoding is not None:
                options["encoding"] = _spark_charset(spec.encoding)
        elif spec.union_by_name:
            options["mergeSchema"] = "true"
        if spec.hive_partitioning and resolved.files:
            # Spark finds key=value folders between its base path and each file
            options["basePath"] = _base_path(resolved)
        elif not spec.hive_partitioning and resolved.urls:
            options["recursiveFileLookup"] = "true"  # a folder's files, without reading its folders as columns
        return self.session.read.format(spec.format).options(**options)

    def _read(self, resolved: ResolvedInput, locations: tuple[str, ...], infer: bool, origin: bool):
        spec = resolved.spec
        if spec.format == "csv" and spec.union_by_name and len(locations) > 1:
            each = self.listed(resolved) if locations == resolved.locations else list(locations)
            parts = [self._read(resolved, (one,), infer, origin) for one in each]
            frame = parts[0]
            for part in parts[1:]:
                frame = frame.unionByName(part, allowMissingColumns=True)
            return _numbered(frame) if origin else frame
        frame = self._reader(resolved, infer).load(list(locations))
        if spec.format == "csv" and infer:
            frame = self._typed_as_duckdb(resolved, frame, locations)
        frame = _named(frame, spec, origin)
        if origin and spec.format == "csv" and not spec.union_by_name:
            frame = _numbered(frame)
        return frame

    def _typed_as_duckdb(self, resolved: ResolvedInput, frame, locations: tuple[str, ...]):
        """The types DuckDB's CSV sniffer gives: whole numbers BIGINT (Spark infers INT where they fit), and times
        TIMESTAMP without a zone (so that `naive_timezone` applies) unless some are written with one. The file is
        read again with that schema, which costs no second inference pass (a column of times, one scan for
        offsets)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import (IntegerType, LongType, StringType, StructField, StructType, TimestampNTZType,
                                       TimestampType)
        fields = frame.schema.fields
        times = [f.name for f in fields if isinstance(f.dataType, TimestampType)]
        if not times and not any(isinstance(f.dataType, IntegerType) for f in fields):
            return frame
        zoned = {}
        if times:
            as_text = StructType([StructField(f.name, StringType()) if f.name in times else f for f in fields])
            text = self._reader(resolved, infer=False).schema(as_text).load(list(locations))
            zoned = text.select(*[F.max(F.col(f"`{c}`").rlike(TEXT_OFFSET)).alias(c) for c in times]).first()
            zoned = {c: bool(zoned[c]) for c in times}
        schema = StructType([
            StructField(f.name, LongType(), f.nullable) if isinstance(f.dataType, IntegerType) else
            StructField(f.name, TimestampNTZType(), f.nullable) if f.name in zoned and not zoned[f.name] else f
            for f in fields])
        return self._reader(resolved, infer=False).schema(schema).load(list(locations))

    # -- queries and tables -------------------------------------------------------------------------------------

    def describe(self, query: exp.Expression) -> list[tuple[str, str]]:
        frame = self.session.sql(to_spark(query))
        return [(f.name, _type_name(f.dataType)) for f in frame.schema.fields]

    def rows(self, query: exp.Expression | str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.engine.fetch(query, params)[1]

    def create(self, name: str, query: exp.Expression, temporary: bool = False) -> None:
        self.engine.materialize(name, to_spark(query))

    def delete(self, name: str, condition: exp.Expression) -> None:
        """Spark tables are files: the rows kept are written anew (rows where `condition` is NULL are kept, as by
        DELETE)."""
        kept = exp.not_(exp.func("coalesce", condition.copy(), exp.false()))
        self.create(name, exp.select("*").from_(exp.to_table(name, quoted=True)).where(kept))

    def drop(self, name: str) -> None:
        self.engine.drop_view(name)

    def resource_hint(self, exc: BaseException) -> str | None:
        if "OutOfMemory" in str(exc) or "Java heap space" in str(exc):
            return ("give Spark more memory: [engine] memory_limit in local mode, or spark.driver.memory and "
                    "spark.executor.memory in [engine] spark_conf")
        return None

    def shown_file(self, file: str) -> str:
        """Spark names local files as file: URLs (file:/a/b or file:///a/b, with %-escapes); messages show paths."""
        return "/" + unquote(file[len("file:"):]).lstrip("/") if file.startswith("file:") else file


# Python's canonical codec names -> the charsets Spark 4's CSV reader accepts
_CHARSETS = {"iso8859-1": "iso-8859-1", "ascii": "us-ascii", "utf-8": "utf-8", "utf-16": "utf-16",
             "utf-16-be": "utf-16be", "utf-16-le": "utf-16le", "utf-32": "utf-32"}


def _spark_charset(encoding: str) -> str:
    """"latin-1", "latin1", "ISO-8859-1"... as Spark names it (others as given: Spark's refusal lists its own)."""
    try:
        return _CHARSETS.get(codecs.lookup(encoding).name, encoding)
    except LookupError:
        return encoding


def _type_name(data_type) -> str:
    return _TYPE_NAMES.get(data_type.simpleString(), data_type.simpleString().upper())


def _named(frame, spec, origin: bool):
    """DuckDB's names for a CSV's columns (`names`, or column0, column1... without a header), and with `origin`
    the file each row came from and, for Parquet, its row in the file."""
    from pyspark.sql import functions as F
    columns = frame.columns
    if spec.format == "csv" and spec.names:
        names = list(spec.names) + columns[len(spec.names):]
    elif spec.format == "csv" and not spec.header:
        names = [f"column{i}" for i in range(len(columns))]
    else:
        names = columns
    selected = [F.col(f"`{old}`").alias(new) for old, new in zip(columns, names)]
    if origin:
        selected.append(F.col("_metadata.file_path").alias(FILE))
        if spec.format == "parquet":
            selected.append(F.col("_metadata.row_index").cast("bigint").alias(ROW))
        else:  # numbered after the files are together (see _numbered)
            selected += [F.col("_metadata.file_block_start").alias(_BLOCK),
                         F.monotonically_increasing_id().alias(_ORDER)]
    return frame.select(*selected)


def _numbered(frame):
    """A CSV row's 0-based row in its file: Spark reads a file in splits, each from its start offset on, in order."""
    from pyspark.sql import Window, functions as F
    order = Window.partitionBy(F.col(FILE)).orderBy(F.col(_BLOCK), F.col(_ORDER))
    return frame.withColumn(ROW, (F.row_number().over(order) - 1).cast("bigint")).drop(_BLOCK, _ORDER)


def _base_path(resolved: ResolvedInput) -> str:
    """The folder above the input's key=value folders: the files' common folder, less its key=value levels."""
    base = os.path.commonpath([os.path.dirname(str(f)) for f in resolved.files])
    while "=" in os.path.basename(base):
        base = os.path.dirname(base)
    return base
