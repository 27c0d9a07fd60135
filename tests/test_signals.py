"""Signals, pipes and the switch of a publish: a closed output pipe ends quietly with 141; a signal that comes while
a run switches its outputs waits until `current` and the snapshot are both switched; a failure injected at each step
of the switch leaves `current` on a complete run; the switch is fsynced. (Ctrl-C and SIGTERM on a real run:
tests/test_crash_safety.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from sqlrec import interrupts
from sqlrec.layout import SNAPSHOT
from sqlrec.publish import OutputStore


def test_a_closed_output_pipe_ends_the_command_quietly_with_141(project):
    child = subprocess.Popen([sys.executable, "-m", "sqlrec", "ls", "-p", str(project.root)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child.stdout.close()  # as `| head` does once it has its lines
    err = child.stderr.read()
    child.wait(timeout=60)
    assert (child.returncode, err) == (141, "")


@pytest.fixture
def handlers(monkeypatch):
    """sqlrec's handlers for SIGINT and SIGTERM in this process, pytest's own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(interrupts, "_received", None)
    monkeypatch.setattr(interrupts, "_published", None)
    interrupts.install()
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def _staged(store: OutputStore, run_id: str) -> tuple:
    staging = store.staging(run_id)
    (staging / "publish" / "marker").write_text(run_id)
    (staging / SNAPSHOT).write_text(f"snapshot of {run_id}")
    return staging


@pytest.mark.parametrize("sent_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_switch_waits_until_current_and_the_snapshot_are_both_switched(
        tmp_path, monkeypatch, handlers, sent_signal):
    store = OutputStore(tmp_path / "out", keep_runs=2)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))
    real_replace = os.replace
    calls = []

    def replace_after_a_signal(source, target):
        calls.append(str(target))
        if len(calls) == 1:  # the first step of the switch: `current`
            os.kill(os.getpid(), sent_signal)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_after_a_signal)
    with store.lock(), pytest.raises(KeyboardInterrupt):
        store.commit("r2", _staged(store, "r2"))
    monkeypatch.setattr(os, "replace", real_replace)
    # the signal was held until the switch was whole: both name the new run, and the message says so
    assert store.current_run() == "r2"
    assert store.snapshot.read_text() == "snapshot of r2"
    assert interrupts.received() == sent_signal and interrupts.published_run() == "r2"
    assert "after run r2 was published" in interrupts.message(sent_signal)
    assert interrupts.exit_code(sent_signal) == 128 + sent_signal


# -- a failure at each step of the switch ------------------------------------------------------------------------

SWITCH_STEPS = ["rename", "symlink", "replace"]  # moving the run in, making the new link, switching `current`


@pytest.mark.parametrize("step", SWITCH_STEPS)
def test_a_failure_at_each_step_of_the_switch_leaves_current_on_a_complete_run(tmp_path, monkeypatch, step):
    """A deterministic fault at each step before `current` points at the new run: `current` stays on the last run,
    whole, and the next publish succeeds. (Switching `current` before the run folder is moved in fails here.)"""
    store = OutputStore(tmp_path / "out", keep_runs=3)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))
    real = getattr(os, step)

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(os, step, failing)
    with store.lock(), pytest.raises(OSError, match="injected"):
        store.commit("r2", _staged(store, "r2"))
    monkeypatch.setattr(os, step, real)
    assert store.current_run() == "r1"
    assert (store.current / "marker").read_text() == "r1"  # resolves, to a complete run
    assert store.snapshot.read_text() == "snapshot of r1"
    with store.lock():  # the next run cleans up what the failed one left and publishes
        store.commit("r3", _staged(store, "r3"))
    assert (store.current / "marker").read_text() == "r3" and store.snapshot.read_text() == "snapshot of r3"


def test_the_switch_is_made_durable_after_both_renames(tmp_path, monkeypatch):
    """The output folder is fsynced after `current` and the snapshot are switched, so that a power cut cannot undo
    the switch after the run said it published. (Removing the fsync fails here.)"""
    store = OutputStore(tmp_path / "out", keep_runs=3)
    events = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(source, target):
        events.append(("replace", os.path.basename(target)))
        return real_replace(source, target)

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))
    last_switch = max(i for i, e in enumerate(events) if e[0] == "replace" and e[1] in ("current", SNAPSHOT))
    assert ("fsync", str(store.root)) in events[last_switch + 1:], events
