"""Crash safety and concurrent readers, at counts that make a rare window show up: runs killed (SIGKILL) at random
moments, Ctrl-C, and a reader process reading the published outputs over and over while runs publish.

SQLREC_KILLS and SQLREC_READS raise the counts (defaults: 30 kills, 300 reads; tests/test_readers.py makes 5,000)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import sqlrec
from conftest import generated_world, project_on, snapshot_run_id, world_project
from sqlrec.datagen import WorldSize, generate

KILLS = int(os.environ.get("SQLREC_KILLS", 30))
READS = int(os.environ.get("SQLREC_READS", 300))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generated_world(tmp_path_factory, users=300, items=60, events=5_000, seed=2)


def _project(world: Path, root: Path, keep_runs: int = 3) -> Path:
    return project_on(world, root, output=f"keep_runs = {keep_runs}\n")


def _run_command(root: Path) -> list[str]:
    return [sys.executable, "-m", "sqlrec", "run", "-p", str(root), "--no-progress", "-q"]


def _published(out: Path) -> dict[str, str]:
    """Every published file of every run, by path, with its bytes' hash (not the refresh state, which only the
    current run keeps: sqlrec/refresh.py)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "runs").rglob("*")) if p.is_file() and "_state" not in p.parts}


def _check_readable(out: Path) -> str:
    """What a reader sees is one complete run: returns its id."""
    run_dir = Path(os.path.realpath(out / "current"))
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    con = duckdb.connect()
    for table in manifest["published"]:
        assert con.execute("SELECT count(*) FROM read_parquet($p)",
                           {"p": str(run_dir / table / "data.parquet")}).fetchall()[0][0] >= 0
    for pattern in ("current/*/*.parquet", "runs/*/*/*.parquet"):  # globs match complete files only
        con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(out / pattern)}).fetchall()
    con.close()
    assert snapshot_run_id(out / "sqlrec.duckdb") in {p.name for p in (out / "runs").iterdir()}
    return manifest["run_id"]


def test_runs_killed_at_random_moments_never_break_the_published_outputs(world, tmp_path):
    root = _project(world, tmp_path / "p", keep_runs=KILLS + 5)
    out = root / "out"
    started = time.monotonic()
    subprocess.run(_run_command(root), check=True, capture_output=True)
    duration = time.monotonic() - started
    rng = random.Random(11)
    outcomes = {"killed before publishing": 0, "published before the kill": 0}
    for _ in range(KILLS):
        before = _published(out)
        current_before = os.readlink(out / "current")
        child = subprocess.Popen(_run_command(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        child.send_signal(signal.SIGKILL)
        child.wait()
        after = _published(out)
        # every file of every run published before is still there, byte for byte
        assert {path: digest for path, digest in after.items() if path in before} == before
        current_after = os.readlink(out / "current")
        new_runs = {path.split("/")[0] for path in after} - {path.split("/")[0] for path in before}
        if current_after == current_before:
            assert not new_runs  # a run killed before publishing leaves nothing under runs/
            outcomes["killed before publishing"] += 1
        else:
            outcomes["published before the kill"] += 1
        _check_readable(out)
    print(f"\n{KILLS} kills: {outcomes}")  # shown with pytest -s
    assert outcomes["killed before publishing"] >= KILLS // 3, outcomes
    final = sqlrec.run(root, progress=False)  # no cleanup by hand
    assert _check_readable(out) == final.run_id
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())


def test_ctrl_c_and_sigterm_stop_a_run_within_two_seconds_say_so_and_publish_nothing(tmp_path):
    world = tmp_path / "big"
    generate(world, WorldSize(users=20_000, items=2_000, events=400_000, seed=3))
    root = tmp_path / "p"
    root.mkdir()
    (root / "sqlrec.toml").write_text(world_project(world))
    sqlrec.run(root, progress=False)
    before = _published(root / "out")
    current = os.readlink(root / "out" / "current")
    stopped = []
    for delay, sent_signal in ((1.0, signal.SIGINT), (2.5, signal.SIGTERM), (4.0, signal.SIGINT)):
        child = subprocess.Popen(_run_command(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        assert child.poll() is None, "the run ended before it could be interrupted"
        child.send_signal(sent_signal)
        sent = time.monotonic()
        _out, err = child.communicate(timeout=30)
        stopped.append(time.monotonic() - sent)
        # as shells expect: 128 + the signal, and one line saying what happened (no traceback, no "internal error")
        assert child.returncode == 128 + sent_signal, (child.returncode, err)
        what = "interrupted (Ctrl-C)" if sent_signal == signal.SIGINT else "stopped by SIGTERM"
        assert err.splitlines() == [f"sqlrec: {what}: nothing was published, the last outputs are unchanged"], err
        assert os.readlink(root / "out" / "current") == current
        assert _published(root / "out") == before
        assert not (root / "out" / ".staging").exists() or not any((root / "out" / ".staging").iterdir())
    print(f"\nCtrl-C / SIGTERM to exit: {', '.join(f'{s:.2f} s' for s in stopped)}")
    assert max(stopped) < 2.0, stopped


READER = r"""
import json, os, sys, time
from pathlib import Path
import duckdb
out, reads, stop = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
seen, errors, done = set(), [], 0
while done < reads or not stop.exists():
    try:
        con = duckdb.connect(str(out / "sqlrec.duckdb"), read_only=True)
        try:
            run_id = con.sql("SELECT run_id FROM run_manifest").fetchall()[0][0]
            con.sql("SELECT count(*) FROM recommendations").fetchall()
        finally:
            con.close()
        run_dir = Path(os.path.realpath(out / "current"))
        manifest = json.loads((run_dir / "run_manifest.json").read_text())
        files = [str(run_dir / t / "data.parquet") for t in manifest["published"]]
        duckdb.sql("SELECT count(*) FROM read_parquet($f, union_by_name = true)", params={"f": files}).fetchall()
        seen.add(run_id)
        seen.add(manifest["run_id"])
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    done += 1
    if done > 50 * reads:
        break
print(json.dumps({"reads": done, "errors": errors[:5], "error_count": len(errors), "runs_seen": len(seen)}))
"""


def test_a_reader_never_sees_a_broken_or_mixed_run_while_runs_publish(world, tmp_path):
    root = _project(world, tmp_path / "p", keep_runs=10)
    sqlrec.run(root, progress=False)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root / "out"), str(READS), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    try:
        publishes = 0
        while publishes < 4 or reader.poll() is None and publishes < 40:
            sqlrec.run(root, progress=False)  # never blocked by the reader holding the snapshot open
            publishes += 1
            if publishes >= 4:
                stop.touch()
    finally:
        stop.touch()
        report = json.loads(reader.communicate(timeout=300)[0])
    print(f"\nreader: {report['reads']} reads, {report['error_count']} errors, {report['runs_seen']} runs seen, "
          f"{publishes} publishes")
    assert report["error_count"] == 0, report["errors"]
    assert report["reads"] >= READS and report["runs_seen"] >= 2
