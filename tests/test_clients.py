"""Real client processes on the published snapshot, in DuckDB's default read-write mode as BI tools and the duckdb
command line open it: one that writes after a publish and is killed, one kept open, and what a client of the old
layout (the snapshot a plain file) left. After each, read-only readers open the snapshot, the next `sqlrec run`
publishes, and says what it found."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import sqlrec
from conftest import snapshot_run_id
from sqlrec.layout import SNAPSHOT

#: A read-write client: opens the snapshot as given, then obeys lines on stdin ("write", "close") and answers "ok".
CLIENT = r"""
import duckdb, sys
con = duckdb.connect(sys.argv[1])  # DuckDB's default: read-write
print("ok", flush=True)
for line in sys.stdin:
    if line.strip() == "write":
        con.execute("CREATE TABLE IF NOT EXISTS analyst_notes (note VARCHAR)")
        con.execute("INSERT INTO analyst_notes VALUES ('written by a client')")
    elif line.strip() == "close":
        con.close()
    print("ok", flush=True)
"""


class Client:
    def __init__(self, path: Path):
        self.process = subprocess.Popen([sys.executable, "-c", CLIENT, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ok"

    def do(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def quit(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def read_only_reader(snapshot: Path) -> tuple[str, list[str]]:
    """What another process sees: the run id of the snapshot and its tables, opened read-only."""
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps([con.execute('SELECT run_id FROM run_manifest').fetchone()[0], "
            "sorted(r[0] for r in con.execute('SELECT table_name FROM information_schema.tables').fetchall())]))")
    done = subprocess.run([sys.executable, "-c", code, str(snapshot)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    run_id, tables = json.loads(done.stdout)
    return run_id, tables


def run_cli(project) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sqlrec", "run", "-p", str(project.root), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_a_client_that_writes_after_a_publish_and_is_killed_breaks_no_snapshot(project):
    first = sqlrec.run(project.root, progress=False).run_id
    client = Client(project.out / SNAPSHOT)  # opened on the first run's snapshot
    second = sqlrec.run(project.root, progress=False).run_id  # not blocked by the client
    client.do("write")  # after the publish: its log goes with the snapshot it opened, not the name readers open
    client.kill()
    assert (project.out / "runs" / first / "sqlrec.duckdb.wal").exists()
    assert not (project.out / "sqlrec.duckdb.wal").exists()
    assert read_only_reader(project.out / SNAPSHOT)[0] == second
    assert "analyst_notes" not in read_only_reader(project.out / SNAPSHOT)[1]
    # the killed client's writes are where it made them: readers of the first run see them
    assert "analyst_notes" in read_only_reader(project.out / "runs" / first / SNAPSHOT)[1]

    done = run_cli(project)  # the next run reports the log and publishes a snapshot that opens
    third, tables = read_only_reader(project.out / SNAPSHOT)
    assert third not in (first, second) and "analyst_notes" not in tables
    assert f"{project.out / 'runs' / first / SNAPSHOT} was changed by a read-write client" in done.stderr
    manifest = json.loads((project.out / "current" / "run_manifest.json").read_text())
    assert any("was changed by a read-write client" in f for f in manifest["client_findings"])


def test_a_client_kept_open_read_write_blocks_no_run_and_its_run_is_kept_until_it_closes(make_project):
    project = make_project(keep_runs=1)
    project.config.write_text(project.config.read_text().replace("[output]\n", "[output]\ngrace_seconds = 0\n"))
    first = sqlrec.run(project.root, progress=False).run_id
    client = Client(project.out / SNAPSHOT)
    client.do("write")  # a write on the current snapshot, and the client stays open
    try:
        notes = []
        second = sqlrec.run(project.root, progress=False, report=notes.append).run_id
        assert read_only_reader(project.out / SNAPSHOT)[0] == second  # readers are on the new run at once
        assert f"output: a client has {project.out / 'runs' / first / SNAPSHOT} open and has written to it" in \
            " ".join(notes)
        third = sqlrec.run(project.root, progress=False).run_id
        # keep_runs = 1 and no grace, yet the first run stays while the client has it open; the second goes
        assert sorted(p.name for p in (project.out / "runs").iterdir()) == [first, third]
        client.do("write")  # the client goes on working on the run it opened
    finally:
        client.do("close")
        client.quit()
    fourth = sqlrec.run(project.root, progress=False).run_id
    assert sorted(p.name for p in (project.out / "runs").iterdir()) == [fourth]
    assert read_only_reader(project.out / SNAPSHOT)[0] == fourth


def test_a_log_that_matches_no_snapshot_is_set_aside_and_the_snapshot_opens_again(project):
    """A log no reader can replay (here: another database's, as a copy or restore of the folder can leave) makes
    the run's snapshot unopenable; the next run moves it to set-aside/ and says so."""
    first = sqlrec.run(project.root, progress=False).run_id
    other = project.root / "other.duckdb"
    client = subprocess.run([sys.executable, "-c", "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); "
                             "c.execute('CREATE TABLE t AS SELECT 1 AS a'); c.execute('CHECKPOINT'); "
                             "c.execute('INSERT INTO t VALUES (2)'); os._exit(0)", str(other)], timeout=60)
    assert client.returncode == 0 and Path(f"{other}.wal").exists()
    log = project.out / "runs" / first / "sqlrec.duckdb.wal"
    shutil.copy(f"{other}.wal", log)
    with pytest.raises(duckdb.Error, match="WAL"):
        duckdb.connect(str(project.out / SNAPSHOT), read_only=True)

    done = run_cli(project)
    assert read_only_reader(project.out / "runs" / first / SNAPSHOT)[0] == first  # opens again
    assert read_only_reader(project.out / SNAPSHOT)[0] not in (first,)
    set_aside = list((project.out / "set-aside").iterdir())
    assert len(set_aside) == 1 and set_aside[0].read_bytes() == Path(f"{other}.wal").read_bytes()
    assert f"moved the log to {set_aside[0]}" in done.stderr


def test_outputs_of_the_old_layout_are_moved_over_without_a_moment_unreadable(project):
    """Before the snapshot moved into the run folder it was a plain file, and a read-write client's log beside it
    broke every open (the snapshot swapped, the log stayed). The next run hard-links the file into its run, puts the
    symlink in its place with one rename, and moves the stale log aside."""
    first = sqlrec.run(project.root, progress=False).run_id
    snapshot = project.out / SNAPSHOT
    snapshot.unlink()
    os.rename(project.out / "runs" / first / SNAPSHOT, snapshot)  # the old layout: a plain file beside `current`
    other = project.root / "other.duckdb"
    client = subprocess.run([sys.executable, "-c", "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); "
                             "c.execute('CREATE TABLE t AS SELECT 1 AS a'); c.execute('CHECKPOINT'); "
                             "c.execute('INSERT INTO t VALUES (2)'); os._exit(0)", str(other)], timeout=60)
    assert client.returncode == 0
    stale = Path(f"{snapshot}.wal")
    shutil.copy(f"{other}.wal", stale)  # what the issue saw: a log beside a snapshot it does not belong to
    with pytest.raises(duckdb.Error, match="WAL"):
        duckdb.connect(str(snapshot), read_only=True)

    done = run_cli(project)
    assert snapshot.is_symlink() and os.readlink(snapshot) == "current/sqlrec.duckdb"
    assert read_only_reader(snapshot)[0] == snapshot_run_id(project.out / "current" / SNAPSHOT) != first
    assert read_only_reader(project.out / "runs" / first / SNAPSHOT)[0] == first  # the old file, moved into its run
    assert not stale.exists() and len(list((project.out / "set-aside").iterdir())) == 1
    assert "left by a read-write client of an earlier snapshot" in done.stderr
