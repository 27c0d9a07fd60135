"""Atomic publish: failed, killed and concurrent runs never change or break what readers see."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

import sqlrec
from conftest import snapshot_run_id, tree_digest
from sqlrec.resources import builtin_dir
from sqlrec.errors import LockError, OutputCheckError, StageRunError

from conftest import SMALL_EVENTS, write_events


def test_run_publishes_parquet_snapshot_and_manifest(project):
    result = sqlrec.run(project.root, progress=False)
    out = project.out
    assert os.readlink(out / "current") == f"runs/{result.run_id}"
    for table in ("recommendations", "popular_items"):
        assert (out / "current" / table / "data.parquet").is_file()
    con = duckdb.connect(str(out / "sqlrec.duckdb"), read_only=True)
    views = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"recommendations", "popular_items", "run_manifest", "run_stages"} <= views
    assert con.sql("SELECT count(*) FROM recommendations").fetchall()[0][0] == \
        result.table("recommendations").num_rows
    comments = dict(con.sql("SELECT column_name, comment FROM duckdb_columns() "
                            "WHERE table_name = 'recommendations' AND schema_name = 'main'").fetchall())
    header = (builtin_dir("sql") / "publish" / "recommendations.sql").read_text()
    assert f"--   rank: {comments['rank']}" in header
    con.close()

    manifest = json.loads((out / "current" / "run_manifest.json").read_text())
    assert manifest["run_id"] == result.run_id and len(manifest["config_hash"]) == 64
    events_file = project.root / "data" / "events.parquet"
    assert manifest["inputs"]["events"]["files"][0]["sha256"] == hashlib.sha256(events_file.read_bytes()).hexdigest()
    assert set(manifest["versions"]) >= {"sqlrec", "duckdb", "sqlglot", "jinja2", "numpy", "pyarrow", "python"}
    by_stage = {s["stage"]: s for s in manifest["stages"]}
    assert by_stage["stg_events"]["rows"] == len(SMALL_EVENTS)
    assert by_stage["recommendations"]["rows"] == result.table("recommendations").num_rows
    assert all(s["seconds"] >= 0 for s in manifest["stages"])


def test_failing_stage_leaves_previous_outputs_identical(project):
    sqlrec.run(project.root, progress=False)
    before = tree_digest(project.out)
    # Fails at run time (not at parse time): the cast only breaks on real rows, after earlier stages ran.
    project.write("sql/publish/popular_items.sql", """
        -- columns: item_id
        SELECT CAST('not a number ' || item_id AS INTEGER) AS item_id FROM {{ ref('int_item_popularity') }}
    """)
    with pytest.raises(StageRunError) as info:
        sqlrec.run(project.root, progress=False)
    assert "popular_items" in str(info.value)
    assert tree_digest(project.out) == before
    assert not (project.out / ".staging").exists() or not any((project.out / ".staging").iterdir())


def test_failed_output_check_publishes_nothing(project):
    sqlrec.run(project.root, progress=False)
    before = tree_digest(project.out)
    project.write("sql/publish/popular_items.sql", """
        -- unique: item_id
        -- columns: item_id
        SELECT item_id FROM {{ ref('stg_events') }}
    """)
    with pytest.raises(OutputCheckError, match=r"declares `unique: item_id`, but 3 keys repeat, e.g. item_id=10 appears 4 times"):
        sqlrec.run(project.root, progress=False)
    assert tree_digest(project.out) == before


def test_not_null_check_shows_an_example_row(project):
    project.write("sql/publish/out.sql", """
        -- not_null: label
        -- columns: item_id, label
        SELECT item_id, CASE WHEN item_id = 13 THEN NULL ELSE 'x' END AS label FROM {{ ref('int_item_popularity') }}
    """)
    with pytest.raises(OutputCheckError, match=r"1 rows have NULL `label`, e.g. \{item_id: 13, label: None\}"):
        sqlrec.run(project.root, progress=False)


def test_empty_output_is_refused_unless_allowed(project):
    project.write("sql/publish/out.sql", "-- columns: item_id\nSELECT item_id FROM {{ ref('stg_events') }} WHERE false\n")
    with pytest.raises(OutputCheckError, match="output out .* is empty"):
        sqlrec.run(project.root, progress=False)
    project.write("sql/publish/out.sql",
                  "-- allow_empty: true\n-- columns: item_id\nSELECT item_id FROM {{ ref('stg_events') }} WHERE false\n")
    assert sqlrec.run(project.root, progress=False).table("out").num_rows == 0


def test_declared_columns_are_checked(project):
    project.write("sql/publish/out.sql", "-- columns: item_id, score\nSELECT item_id FROM {{ ref('stg_events') }}\n")
    with pytest.raises(OutputCheckError, match=r"declares \['item_id', 'score'\] \(missing \['score'\]\)"):
        sqlrec.run(project.root, progress=False)


def _grace(project, seconds: float) -> None:
    project.config.write_text(project.config.read_text().replace("[output]\n", f"[output]\ngrace_seconds = {seconds}\n"))


def test_second_run_switches_current_and_prunes_old_runs(make_project):
    project = make_project(keep_runs=2)
    _grace(project, 0)
    ids = [sqlrec.run(project.root, progress=False).run_id for _ in range(3)]
    assert sorted(p.name for p in (project.out / "runs").iterdir()) == ids[1:]
    assert os.readlink(project.out / "current") == f"runs/{ids[-1]}"
    assert snapshot_run_id(project.out / "sqlrec.duckdb") == ids[-1]
    assert os.readlink(project.out / "sqlrec.duckdb") == "current/sqlrec.duckdb"  # switches with `current`


def test_a_run_that_stopped_being_current_is_kept_for_the_grace_period(make_project):
    """keep_runs = 1: the run a publish replaced stays (a reader that resolved `current` before it may still read
    it) until grace_seconds after it was replaced, and is pruned by the first publish after that."""
    project = make_project(keep_runs=1)
    _grace(project, 3)
    first = sqlrec.run(project.root, progress=False).run_id
    second = sqlrec.run(project.root, progress=False).run_id
    assert sorted(p.name for p in (project.out / "runs").iterdir()) == [first, second]
    time.sleep(3.5)
    third = sqlrec.run(project.root, progress=False).run_id
    # `first` was replaced more than 3 s ago; `second` only just now
    assert sorted(p.name for p in (project.out / "runs").iterdir()) == [second, third]


def test_result_of_an_earlier_run_stays_pinned_to_it(project):
    first = sqlrec.run(project.root, progress=False)
    write_events(project.root / "data" / "events.parquet", SMALL_EVENTS + [(7, 16, "purchase", 11)] * 30)
    second = sqlrec.run(project.root, progress=False)
    assert 16 not in first.table("popular_items").column("item_id").to_pylist()
    assert second.table("popular_items").column("item_id").to_pylist()[0] == 16
    assert sqlrec.open_outputs(project.root).run_id == second.run_id


def test_a_second_run_while_one_holds_the_lock_exits_with_lock_error(project):
    sqlrec.run(project.root, progress=False)
    before = tree_digest(project.out)
    with open(project.out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockError, match="another sqlrec run is publishing"):
            sqlrec.run(project.root, progress=False)
    assert tree_digest(project.out) == before


SLOW_STAGE = '''
import time
from pathlib import Path
from sqlrec import python_stage

@python_stage(inputs=["stg_events"], columns=["item_id"], vars=["marker"])
def slow(tables, vars):
    Path(vars["marker"]).write_text("started")
    time.sleep(600)
'''


def test_killed_run_leaves_outputs_readable_and_next_run_cleans_up(project):
    first = sqlrec.run(project.root, progress=False)
    before = tree_digest(project.out)
    marker = project.root / "started.txt"
    project.write("python/slow.py", SLOW_STAGE)
    project.write("sql/publish/slow_out.sql", "-- columns: item_id\nSELECT item_id FROM {{ ref('slow') }}\n")
    project.write("sqlrec.toml", project.config.read_text() + f"\n[vars]\nmarker = {json.dumps(str(marker))}\n")
    child = subprocess.Popen([sys.executable, "-m", "sqlrec", "run", "-p", str(project.root), "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never reached the slow stage"
            time.sleep(0.05)
        assert any((project.out / ".staging").iterdir())  # the killed run had started writing
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()

    after = tree_digest(project.out)
    assert {k: v for k, v in after.items() if not k.startswith(".staging")} == before
    assert snapshot_run_id(project.out / "sqlrec.duckdb") == first.run_id
    rows = duckdb.sql("SELECT count(*) FROM read_parquet($glob)",
                      params={"glob": str(project.out / "current" / "*" / "*.parquet")}).fetchall()
    assert rows[0][0] > 0

    (project.root / "python" / "slow.py").unlink()
    (project.root / "sql" / "publish" / "slow_out.sql").unlink()
    project.write("sqlrec.toml", project.config.read_text().split("\n[vars]")[0])
    second = sqlrec.run(project.root, progress=False)
    assert not (project.out / ".staging").exists() or not any((project.out / ".staging").iterdir())
    assert second.run_id != first.run_id


def test_unpublished_run_folder_left_by_a_kill_is_removed(project):
    first = sqlrec.run(project.root, progress=False)
    orphan = project.out / "runs" / "99999999T000000000000Z"  # moved into runs/ but never made current
    orphan.mkdir()
    (orphan / "junk.parquet").write_bytes(b"partial")
    second = sqlrec.run(project.root, progress=False)
    assert sorted(p.name for p in (project.out / "runs").iterdir()) == [first.run_id, second.run_id]


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.sql("SELECT run_id FROM run_manifest").fetchall()[0][0], flush=True)
sys.stdin.readline()   # hold the snapshot open until told to read again
print(con.sql("SELECT run_id FROM run_manifest").fetchall()[0][0], flush=True)
print(con.sql("SELECT count(*) FROM recommendations").fetchall()[0][0], flush=True)
"""


def test_reader_holding_the_snapshot_does_not_block_the_next_run(project):
    first = sqlrec.run(project.root, progress=False)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(project.out / "sqlrec.duckdb")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == first.run_id
        second = sqlrec.run(project.root, progress=False)
        assert snapshot_run_id(project.out / "sqlrec.duckdb") == second.run_id
        out, err = reader.communicate("\n", timeout=60)
    finally:
        reader.kill()
    lines = out.split()
    assert lines[0] == first.run_id, err  # the open reader keeps its consistent, older snapshot
    assert int(lines[1]) == first.table("recommendations").num_rows


class _BarAfterFirstStatement:
    """A connection on which DuckDB draws its bar for every query after the connection's first statement, as it
    does for any query past progress_bar_time (2 s: a large shop's snapshot copy)."""

    def __init__(self, con):
        self._con, self._statements = con, 0

    def execute(self, *args, **kwargs):
        result = self._con.execute(*args, **kwargs)
        self._statements += 1
        if self._statements == 1:
            self._con.execute("SET progress_bar_time = 0")
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_run_prints_no_progress_bar_of_duckdb_s_own_when_not_on_a_terminal(project, capfd, monkeypatch):
    """A scheduled run's log would fill with DuckDB's bar: every connection sqlrec opens turns it off first."""
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: _BarAfterFirstStatement(connect(*args, **kwargs)))
    capfd.readouterr()
    sqlrec.run(project.root, progress=False)
    out, err = capfd.readouterr()
    assert "▕" not in out + err and "%" not in out + err, (out + err)[-500:]
