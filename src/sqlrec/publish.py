"""Publish a run so that no reader ever sees half of it.

Layout of the output folder:

    .lock                      held by the running `sqlrec run` (a second run exits with code 5)
    .staging/<run_id>/         private to one run: scratch database, staged Parquet, the new snapshot
    runs/<run_id>/<table>/data.parquet, runs/<run_id>/run_manifest.json, runs/<run_id>/sqlrec.duckdb
    current -> runs/<run_id>   a symlink, switched with os.replace (atomic on POSIX)
    sqlrec.duckdb -> current/sqlrec.duckdb   the snapshot BI tools open; a fixed symlink, so it switches with `current`

A run writes only under .staging/ until its outputs pass their checks. A failed or killed run leaves `current` as it
was; its leftovers are under .staging/ (never under runs/ or current/, so glob reads are unaffected), and the next run
removes them. So `current/<table>/*.parquet` and `runs/*/<table>/*.parquet` only ever match complete files of
published runs, and the Parquet files and the snapshot a reader opens belong to one run: one rename switches both.

DuckDB resolves the symlinks when it opens a database, so a client that opens `sqlrec.duckdb` read-write and writes
keeps its write-ahead log beside that run's file (runs/<id>/sqlrec.duckdb.wal), never beside the name every reader
opens: a later run's snapshot cannot be paired with it. The next run reports such logs (see `check_clients`).

A run that stops being current is pruned (beyond `keep_runs`) only after `grace_seconds`, and never while a client
holds its snapshot open, so a reader that resolved `current` just before a publish can finish its read.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import struct
import sys
import time
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
from .connections import quiet_connection
from .disks import full_disk_hint, is_disk_full
from .errors import LockError, StageRunError
from .layout import CURRENT, GRACE_SECONDS, MANIFEST, RUNS, SNAPSHOT, STAGING, current_run_dir, table_path
from .project import Stage
from .templating import DIALECT

CLIENT_LOG = SNAPSHOT + ".wal"  # DuckDB's write-ahead log: a read-write client's writes not yet checkpointed
SET_ASIDE = "set-aside"  # what a run moves out of a reader's way (an unreadable client log), kept, never deleted
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
    def __init__(self, root: Path, keep_runs: int = 5, grace_seconds: float = GRACE_SECONDS):
        self.root = root
        self.keep_runs = keep_runs
        self.grace_seconds = grace_seconds
        self.findings: list[str] = []  # what clients left in the outputs, found when the lock was taken

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
            self._link_snapshot()
            self.findings = self.check_clients()
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

    def _link_snapshot(self) -> None:
        """Make `sqlrec.duckdb` the fixed symlink into `current`. Outputs published before the snapshot moved into
        the run folder have it as a file: hard-link that file into its run first, so readers see the same snapshot
        before and after the one rename that puts the symlink in its place."""
        if self.snapshot.is_symlink():
            return
        run_dir = current_run_dir(self.root)
        if run_dir is None or not run_dir.is_dir():
            return  # nothing published yet: the first commit creates the link
        if self.snapshot.is_file() and not (run_dir / SNAPSHOT).exists():
            os.link(self.snapshot, run_dir / SNAPSHOT)
        link = self.root / ".tmp-snapshot-link"
        link.unlink(missing_ok=True)
        os.symlink(Path(CURRENT) / SNAPSHOT, link)
        os.replace(link, self.snapshot)
        _fsync_dir(self.root)

    def check_clients(self) -> list[str]:
        """What read-write clients of the snapshot left behind, in sentences. A killed client's log stays beside
        its run's file, which read-only readers replay, so it is reported, not removed; a log no reader can replay
        is moved to set-aside/ so that the run's snapshot opens again."""
        findings = []
        legacy = self.root / CLIENT_LOG  # beside the name itself: only a client of a snapshot from before the link
        if legacy.exists():
            findings.append(f"{legacy} was left by a read-write client of an earlier snapshot; moved to "
                            f"{self._set_aside(legacy)} (its writes are in no published run)")
        runs = self.root / RUNS
        for run in sorted(runs.iterdir()) if runs.is_dir() else []:
            log = run / CLIENT_LOG
            if not log.exists():
                continue
            snapshot = run / SNAPSHOT
            if held_by_a_client(snapshot):
                findings.append(f"a client has {snapshot} open and has written to it; this run's snapshot is a new "
                                "file without those writes, and that run is kept until the client closes it")
                continue
            try:
                duckdb.connect(str(snapshot), read_only=True).close()
            except duckdb.Error as exc:
                if "lock" in str(exc).lower():  # a client opened it since we looked
                    continue
                findings.append(f"{log} (written by a read-write client) does not match {snapshot}, so no reader "
                                f"could open that snapshot; moved the log to {self._set_aside(log)}")
                continue
            findings.append(f"{snapshot} was changed by a read-write client (its writes are in {log.name}); readers "
                            "of that run see them, this run's snapshot does not carry them")
        return findings

    def _set_aside(self, path: Path) -> Path:
        folder = self.root / SET_ASIDE
        folder.mkdir(exist_ok=True)
        target = folder / f"{path.parent.name}-{path.name}-{new_run_id()}"
        os.rename(path, target)
        return target

    def staging(self, run_id: str) -> Path:
        path = self.root / STAGING / run_id
        (path / "publish").mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, run_id: str, staging: Path) -> Path:
        """Move the staged run into runs/, switch `current` and the snapshot, prune old runs."""
        runs = self.root / RUNS
        runs.mkdir(exist_ok=True)
        final = runs / run_id
        with interrupts.deferred():  # Ctrl-C or SIGTERM here waits until `current` is switched
            os.rename(staging / "publish", final)  # same file system: atomic, and nobody reads runs/<new id> yet
            os.utime(final)  # when the previous run stopped being current: its grace period starts here
            _fsync_dir(runs)
            link = self.root / f".tmp-current-{run_id}"
            link.unlink(missing_ok=True)
            os.symlink(Path(RUNS) / run_id, link)
            os.replace(link, self.current)  # the one switch: Parquet files and snapshot together
            _fsync_dir(self.root)
            self._link_snapshot()  # only the first publish creates it
            interrupts.note_published(run_id)
        shutil.rmtree(staging, ignore_errors=True)
        self._prune(runs, keep=run_id)
        return final

    def _prune(self, runs: Path, keep: str) -> None:
        """Remove runs beyond `keep_runs`, except those that stopped being current less than `grace_seconds` ago
        (the next run's folder time is when it replaced them) and those whose snapshot a client holds open."""
        ids = sorted(p.name for p in runs.iterdir() if p.is_dir())
        now = time.time()
        for old, newer in zip(ids[:-self.keep_runs], ids[1:]):
            if old == keep or now - (runs / newer).stat().st_mtime < self.grace_seconds \
                    or held_by_a_client(runs / old / SNAPSHOT):
                continue
            shutil.rmtree(runs / old, ignore_errors=True)


# struct flock as the kernel lays it out (Linux; the BSDs and macOS order it differently)
_FLOCK = "qqihh" if sys.platform == "darwin" or "bsd" in sys.platform else "hhqqi4x"


def held_by_a_client(database: Path) -> bool:
    """Whether another process holds DuckDB's lock on `database` (any reader or writer has it open). Asks with
    F_GETLK, which takes no lock: taking one, even for a moment, would make a reader's open fail."""
    try:
        fd = os.open(database, os.O_RDONLY)
    except OSError:
        return False
    try:
        if _FLOCK.startswith("q"):
            query = struct.pack(_FLOCK, 0, 0, 0, fcntl.F_WRLCK, os.SEEK_SET)
            return struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))[3] != fcntl.F_UNLCK
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        return struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)  # we hold no lock on it, so closing releases nothing


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
                            hint=full_disk_hint(root, "[output] path") if is_disk_full(exc) else
                            f"make {root} writable; the last published outputs are untouched") from None


def new_run_id() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z"


def publish_tables(root: Path, keep_runs: int, tables: Sequence[tuple[Stage, pa.Table]],
                   manifest: Mapping, files: Mapping[str, str] | None = None,
                   contract: OutputContract | None = None, grace_seconds: float = GRACE_SECONDS) -> Path:
    """Publish tables computed outside a run (tuning scores, experiment results) like a run: Parquet per table,
    `files` (name -> text) beside them, the manifest and a snapshot, all switched in atomically under `root`.
    `manifest` gets its run_id and finished_at here."""
    store = OutputStore(root, keep_runs, grace_seconds)
    with store.lock():
        run_id = new_run_id()
        staging = store.staging(run_id)
        try:
            publish = staging / "publish"
            for stage, table in tables:
                check_unique_arrow(stage, table)
            with publishing_errors(root):
                for stage, table in tables:
                    path = table_path(publish, stage.name)
                    path.parent.mkdir(parents=True)
                    pq.write_table(table, path)
                for name, text in (files or {}).items():
                    (publish / name).write_text(text)
            new_contract = contract.check({s.name: table_path(publish, s.name) for s, _ in tables}) if contract \
                else None
            full = {"inputs": {}, "stages": [], **manifest, "run_id": run_id,
                    "finished_at": datetime.now(timezone.utc).isoformat(),
                    "published": [stage.name for stage, _ in tables]}
            with publishing_errors(root):
                write_manifest(publish, full)
                build_snapshot(publish / SNAPSHOT, publish, [stage for stage, _ in tables], full)
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
    con = quiet_connection(str(path))
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
