"""Publish a run so that no reader ever sees half of it.

Layout of the output folder:

    .lock                      held by the running `sqlrec run` (a second run exits with code 5)
    .staging/<run_id>/         private to one run: scratch database, staged Parquet, the new snapshot
    runs/<run_id>/<table>/data.parquet, runs/<run_id>/run_manifest.json
    current -> runs/<run_id>   a symlink, switched with os.replace (atomic on POSIX)
    sqlrec.duckdb              the snapshot BI tools read; rebuilt as a new file and swapped in with os.replace

A run writes only under .staging/ until its outputs pass their checks. A failed or killed run leaves `current` and
`sqlrec.duckdb` as they were; its leftovers are under .staging/ (never under runs/ or current/, so glob reads are
unaffected), and the next run removes them. So `current/<table>/*.parquet` and `runs/*/<table>/*.parquet` only ever
match complete files of published runs. A reader holding the old snapshot open keeps reading the old file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from . import interrupts
from .checks import check_unique_arrow
from .contract import OutputContract
from .errors import LockError, StageRunError
from .layout import CURRENT, MANIFEST, RUNS, SNAPSHOT, STAGING, table_path
from .project import Stage
from .templating import DIALECT

DATA_SCHEMA = "sqlrec_data"  # tables live here; analysts read the views of the same name in `main`

#: The views every snapshot has besides the published tables: name, description, (column, doc).
SNAPSHOT_VIEWS = [
    ("run_manifest", "One row: the run that produced this snapshot.",
     [("run_id", "the run (also the folder name under runs/)"), ("project", "project.name"),
      ("started_at", "when the run started (UTC)"), ("finished_at", "when it finished (UTC)"),
      ("config_hash", "sha256 of the validated settings"), ("versions", "JSON: sqlrec, duckdb, sqlglot, ..."),
      ("inputs", "JSON: each input's files, sizes and fingerprint"), ("vars", "JSON: the [vars] of the run")]),
    ("run_stages", "One row per stage of the run: rows produced and seconds taken.",
     [("stage", "the stage"), ("kind", "sql or python"), ("origin", "builtin or project"),
      ("materialized", "table or view"), ("published", "true for outputs"), ("rows", "rows produced (-1: a view)"),
      ("seconds", "time taken")]),
]


class OutputStore:
    def __init__(self, root: Path, keep_runs: int = 5):
        self.root = root
        self.keep_runs = keep_runs

    @property
    def snapshot(self) -> Path:
        return self.root / SNAPSHOT

    @property
    def current(self) -> Path:
        return self.root / CURRENT

    def current_run(self) -> str | None:
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    @contextmanager
    def lock(self):
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise LockError(f"another sqlrec run is publishing to {self.root}",
                                    hint="wait for it to finish; the lock is released when it exits") from None
                raise
            self._clean_leftovers()
            yield
        finally:
            handle.close()  # closing releases the lock, also when the process is killed

    def _clean_leftovers(self) -> None:
        """Remove what a failed or killed run left behind. Only called with the lock held."""
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        # A run killed between moving its folder into runs/ and switching `current` left a complete run that was
        # never published: remove it so runs/ holds only runs that were current at some point.
        current = self.current_run()
        runs = self.root / RUNS
        if runs.is_dir():
            for run in runs.iterdir():
                if current is None or run.name > current:
                    shutil.rmtree(run, ignore_errors=True)
        for leftover in self.root.glob(".tmp-*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def staging(self, run_id: str) -> Path:
        path = self.root / STAGING / run_id
        (path / "publish").mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, run_id: str, staging: Path) -> Path:
        """Move the staged run into runs/, switch `current` and the snapshot, prune old runs."""
        runs = self.root / RUNS
        runs.mkdir(exist_ok=True)
        final = runs / run_id
        with interrupts.deferred():  # Ctrl-C or SIGTERM here waits until both are switched
            os.rename(staging / "publish", final)  # same file system: atomic, and nobody reads runs/<new id> yet
            link = self.root / f".tmp-current-{run_id}"
            link.unlink(missing_ok=True)
            os.symlink(Path(RUNS) / run_id, link)
            os.replace(link, self.current)
            os.replace(staging / SNAPSHOT, self.snapshot)
            _fsync_dir(self.root)
            interrupts.note_published(run_id)
        shutil.rmtree(staging, ignore_errors=True)
        self._prune(runs, keep=run_id)
        return final

    def _prune(self, runs: Path, keep: str) -> None:
        ids = sorted(p.name for p in runs.iterdir() if p.is_dir())
        for old in ids[:-self.keep_runs]:
            if old != keep:
                shutil.rmtree(runs / old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def publishing_errors(root: Path):
    """A full disk or a read-only folder while publishing is a runtime error that says where, not a crash; the
    caller removes the staged run, so the last published outputs stay as they were."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        raise StageRunError(f"cannot publish to {root}: {str(exc).strip().splitlines()[0]}",
                            hint=f"free disk space in {root} (or make it writable); the last published outputs "
                                 "are untouched") from None


def new_run_id() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z"


def publish_tables(root: Path, keep_runs: int, tables: Sequence[tuple[Stage, pa.Table]],
                   manifest: Mapping, files: Mapping[str, str] | None = None,
                   contract: OutputContract | None = None) -> Path:
    """Publish tables computed outside a run (tuning scores, experiment results) like a run: Parquet per table,
    `files` (name -> text) beside them, the manifest and a snapshot, all switched in atomically under `root`.
    `manifest` gets its run_id and finished_at here."""
    store = OutputStore(root, keep_runs)
    with store.lock():
        run_id = new_run_id()
        staging = store.staging(run_id)
        try:
            publish = staging / "publish"
            for stage, table in tables:
                check_unique_arrow(stage, table)
                path = table_path(publish, stage.name)
                path.parent.mkdir(parents=True)
                pq.write_table(table, path)
            new_contract = contract.check({s.name: table_path(publish, s.name) for s, _ in tables}) if contract \
                else None
            for name, text in (files or {}).items():
                (publish / name).write_text(text)
            full = {"inputs": {}, "stages": [], **manifest, "run_id": run_id,
                    "finished_at": datetime.now(timezone.utc).isoformat(),
                    "published": [stage.name for stage, _ in tables]}
            with publishing_errors(root):
                write_manifest(publish, full)
                build_snapshot(staging / "sqlrec.duckdb", publish, [stage for stage, _ in tables], full)
                final = store.commit(run_id, staging)
            if new_contract is not None:
                contract.save(new_contract)
            return final
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def write_manifest(publish_dir: Path, manifest: Mapping) -> None:
    (publish_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def build_snapshot(path: Path, publish_dir: Path, stages: list[Stage], manifest: Mapping) -> None:
    """A new, self-contained DuckDB file: one table per output in `sqlrec_data`, one documented view in `main`."""
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE SCHEMA {DATA_SCHEMA}")
        for stage in stages:
            data = exp.table_(stage.name, db=DATA_SCHEMA, quoted=True).sql(DIALECT)
            view = exp.to_identifier(stage.name, quoted=True).sql(DIALECT)
            con.execute(f"CREATE TABLE {data} AS SELECT * FROM read_parquet($path)",
                        {"path": str(table_path(publish_dir, stage.name))})
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM {data}")
            _comment(con, f"COMMENT ON VIEW {view} IS", stage.header.description)
            for column in stage.header.columns:
                column_sql = exp.column(column.name, table=stage.name, quoted=True).sql(DIALECT)
                _comment(con, f"COMMENT ON COLUMN {column_sql} IS", column.doc)
        _manifest_tables(con, manifest)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _comment(con, statement: str, text: str) -> None:
    if text:
        con.execute(f"{statement} {exp.Literal.string(text).sql(DIALECT)}")  # COMMENT takes no parameters


def _manifest_tables(con, manifest: Mapping) -> None:
    con.execute(f"""
        CREATE TABLE {DATA_SCHEMA}.run_manifest AS
        SELECT $run_id AS run_id, $project AS project, CAST($started_at AS TIMESTAMPTZ) AS started_at,
               CAST($finished_at AS TIMESTAMPTZ) AS finished_at, $config_hash AS config_hash,
               CAST($versions AS JSON) AS versions, CAST($inputs AS JSON) AS inputs, CAST($vars AS JSON) AS vars
    """, {"run_id": manifest["run_id"], "project": manifest["project"], "started_at": manifest["started_at"],
          "finished_at": manifest["finished_at"], "config_hash": manifest["config_hash"],
          "versions": json.dumps(manifest["versions"]), "inputs": json.dumps(manifest["inputs"]),
          "vars": json.dumps(manifest["vars"], default=str)})
    con.execute("CREATE VIEW run_manifest AS SELECT * FROM sqlrec_data.run_manifest")
    con.execute(f"""CREATE TABLE {DATA_SCHEMA}.run_stages (stage VARCHAR, kind VARCHAR, origin VARCHAR,
                    materialized VARCHAR, published BOOLEAN, rows BIGINT, seconds DOUBLE)""")
    rows = [(s["stage"], s["kind"], s["origin"], s["materialized"], s["published"], s["rows"], s["seconds"])
            for s in manifest["stages"]]
    if rows:  # DuckDB's executemany refuses an empty list (a tuning run publishes no stages of its own)
        con.executemany(f"INSERT INTO {DATA_SCHEMA}.run_stages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE VIEW run_stages AS SELECT * FROM sqlrec_data.run_stages")
    for view, description, columns in SNAPSHOT_VIEWS:
        _comment(con, f"COMMENT ON VIEW {view} IS", description)
        for column, doc in columns:
            _comment(con, f"COMMENT ON COLUMN {exp.column(column, table=view).sql(DIALECT)} IS", doc)
