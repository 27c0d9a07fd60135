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
    spec: InputSpec
    files: tuple[Path, ...]

    @property
    def relation(self) -> str:
        return INPUT_PREFIX + self.spec.name


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # s3://, s3a://, gs://, abfss://, hdfs://, https://


def resolve(config: Config, names: tuple[str, ...] | None = None) -> dict[str, ResolvedInput]:
    """Expand each input's paths and globs relative to the project; a pattern that matches nothing is an error."""
    resolved = {}
    for name in names if names is not None else tuple(config.inputs):
        spec = config.inputs[name]
        files: list[Path] = []
        for pattern in spec.paths:
            if _URL.match(str(pattern)):
                raise ConfigError(
                    f"{config.source}: `inputs.{name}.path` = {pattern!r} is an object-store or HDFS URL, which "
                    "sqlrec does not read directly: inputs are checked on the machine that runs sqlrec, on either "
                    "engine", hint="mount the bucket as a folder (e.g. /dbfs/..., gcsfuse, s3fs, an NFS mount) and "
                                   "give that folder's path, or copy the files to a local disk first")
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
        resolved[name] = ResolvedInput(spec=spec, files=tuple(dict.fromkeys(files)))
    return resolved


def fingerprint(resolved: ResolvedInput) -> dict:
    """Size, modification time and SHA-256 of every file, for the run manifest."""
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
