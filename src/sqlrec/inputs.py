"""Find the files behind each declared input, fingerprint them, and build the sqlglot expression that reads them.

Paths and options are literals in that expression, never text pasted into SQL.
"""

from __future__ import annotations

import glob
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from .config import Config, InputSpec
from .errors import ConfigError, DataError
from .templating import INPUT_PREFIX

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ResolvedInput:
    """An input's local files, found by resolve(), and its object-store or HDFS URLs (globs and folders included),
    which only the Spark engine reads and lists."""

    spec: InputSpec
    files: tuple[Path, ...]
    urls: tuple[str, ...] = ()

    @property
    def relation(self) -> str:
        return INPUT_PREFIX + self.spec.name

    @property
    def locations(self) -> tuple[str, ...]:
        """Every path and URL, for messages and for Spark's reader."""
        return tuple(str(f) for f in self.files) + self.urls


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # s3://, s3a://, gs://, abfss://, hdfs://, https://


def resolve(config: Config, names: tuple[str, ...] | None = None) -> dict[str, ResolvedInput]:
    """Expand each input's paths and globs relative to the project; a pattern that matches nothing is an error.
    URLs (s3a://, gs://, abfss://, hdfs://, file://) are kept as given for the Spark engine, which lists and reads
    them itself; on DuckDB they are refused."""
    resolved = {}
    for name in names if names is not None else tuple(config.inputs):
        spec = config.inputs[name]
        files: list[Path] = []
        urls: list[str] = []
        for pattern in spec.paths:
            if _URL.match(str(pattern)):
                if config.engine.name != "spark":
                    raise ConfigError(
                        f"{config.source}: `inputs.{name}.path` = {pattern!r} is an object-store or HDFS URL, "
                        "which the DuckDB engine does not read",
                        hint="run on Spark (`[engine] name = \"spark\"` or `--engine spark`), which reads such URLs "
                             "with its own file systems; or mount the bucket as a folder (gcsfuse, s3fs, /dbfs/...) "
                             "and give that folder's path")
                urls.append(str(pattern))
                continue
            full = config.root / pattern
            if glob.has_magic(str(pattern)):
                matches = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
            elif full.is_dir():  # a folder of files, e.g. hive partitions
                matches = sorted(p for p in full.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
            else:
                matches = [full] if full.is_file() else []
            if not matches:
                raise DataError(
                    f"{config.source}: `inputs.{name}.path` = {pattern!r} matches no file (looked for {full})",
                    hint="paths are relative to the folder holding sqlrec.toml; globs like data/*.parquet work")
            files.extend(p.resolve() for p in matches)
        resolved[name] = ResolvedInput(spec=spec, files=tuple(dict.fromkeys(files)),
                                       urls=tuple(dict.fromkeys(urls)))
    return resolved


def fingerprint(resolved: ResolvedInput) -> dict:
    """Size, modification time and SHA-256 of every local file, for the run manifest (the Spark engine adds its
    URLs' files, listed by Spark)."""
    entries = []
    for path in resolved.files:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        stat = path.stat()
        entries.append({"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                        "sha256": digest.hexdigest()})
    return {"format": resolved.spec.format, "files": entries}


def reader(resolved: ResolvedInput) -> exp.Expression:
    """`read_parquet([...files], ...)` or `read_csv([...], ...)` as a sqlglot expression."""
    spec = resolved.spec
    files = exp.Array(expressions=[exp.Literal.string(str(p)) for p in resolved.files])
    options: list[exp.Expression] = []

    def option(name: str, value: exp.Expression) -> None:
        options.append(exp.EQ(this=exp.column(name), expression=value))

    if spec.hive_partitioning:
        option("hive_partitioning", exp.true())
    if spec.union_by_name:
        option("union_by_name", exp.true())
    if spec.format == "parquet":
        return exp.Anonymous(this="read_parquet", expressions=[files, *options])
    option("header", exp.true() if spec.header else exp.false())
    if spec.delimiter is not None:
        option("delim", exp.Literal.string(spec.delimiter))
    if spec.encoding is not None:
        option("encoding", exp.Literal.string(spec.encoding))
    if spec.names:
        option("names", exp.Array(expressions=[exp.Literal.string(n) for n in spec.names]))
    return exp.Anonymous(this="read_csv", expressions=[files, *options])
