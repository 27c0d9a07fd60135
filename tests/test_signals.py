"""Signals, pipes and the switch of a publish: a closed output pipe ends quietly with 141; a signal that comes while
a run switches its outputs waits until the switch is done; a failure injected at each step of publishing leaves
`current` and the snapshot on one complete run; the switch is fsynced. (Ctrl-C and SIGTERM on a real run:
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
    (staging / "publish" / SNAPSHOT).write_text(f"snapshot of {run_id}")
    return staging


@pytest.mark.parametrize("sent_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_switch_waits_until_current_and_the_snapshot_are_both_switched(
        tmp_path, monkeypatch, handlers, sent_signal):
    store = OutputStore(tmp_path / "out", keep_runs=2)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))
    real_rename = os.rename

    def rename_after_a_signal(source, target):  # the first step of the switch: moving the run into runs/
        os.kill(os.getpid(), sent_signal)
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_after_a_signal)
    with store.lock(), pytest.raises(KeyboardInterrupt):
        store.commit("r2", _staged(store, "r2"))
    monkeypatch.setattr(os, "rename", real_rename)
    # the signal was held until the switch was whole: both name the new run, and the message says so
    assert store.current_run() == "r2"
    assert store.snapshot.read_text() == "snapshot of r2"
    assert interrupts.received() == sent_signal and interrupts.published_run() == "r2"
    assert "after run r2 was published" in interrupts.message(sent_signal)
    assert interrupts.exit_code(sent_signal) == 128 + sent_signal


# -- a failure at each step of publishing --------------------------------------------------------------------------

#: Every call to the file system that commit makes, in order, as (function, which call of it): moving the run in,
#: stamping when it replaced the last one, syncing runs/, making the new link, switching `current`, syncing the folder.
PUBLISH_STEPS = [("rename", 1), ("utime", 1), ("fsync", 1), ("symlink", 1), ("replace", 1), ("fsync", 2)]


def _one_run(store: OutputStore) -> str:
    """The run that `current` and the snapshot show, after checking that they show the same complete run."""
    run = store.current_run()
    assert (store.current / "marker").read_text() == run  # resolves, to a complete run
    assert store.snapshot.read_text() == f"snapshot of {run}"
    return run


@pytest.mark.parametrize("step, nth", PUBLISH_STEPS, ids=[f"{f}-{n}" for f, n in PUBLISH_STEPS])
def test_a_failure_at_each_step_of_publishing_leaves_current_and_the_snapshot_on_one_complete_run(
        tmp_path, monkeypatch, step, nth):
    """A deterministic fault at each step of the switch: `current` and the snapshot show the same run, whole (the
    last one, or the new one once `current` switched), and the next publish succeeds. (Switching `current` before
    the run folder is moved in fails here.)"""
    store = OutputStore(tmp_path / "out", keep_runs=3)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))
    real = getattr(os, step)
    calls = []

    def failing_at_the_nth_call(*args, **kwargs):
        calls.append(args)
        if len(calls) == nth:
            raise OSError(28, "No space left on device (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, step, failing_at_the_nth_call)
    with store.lock(), pytest.raises(OSError, match="injected"):
        store.commit("r2", _staged(store, "r2"))
    monkeypatch.setattr(os, step, real)
    switched = (step, nth) == ("fsync", 2)  # only the last step comes after `current` switched
    assert _one_run(store) == ("r2" if switched else "r1")
    with store.lock():  # the next run cleans up what the failed one left and publishes
        store.commit("r3", _staged(store, "r3"))
    assert _one_run(store) == "r3"
    assert sorted(p.name for p in (store.root / "runs").iterdir()) == (["r1", "r2", "r3"] if switched else
                                                                      ["r1", "r3"])


def test_the_switch_is_made_durable(tmp_path, monkeypatch):
    """runs/ is fsynced after the run is moved in and before `current` names it, and the output folder after
    `current` is switched, so that a power cut cannot undo the switch after the run said it published, nor leave
    `current` naming a run folder that was never written. (Removing either fsync fails here.)"""
    store = OutputStore(tmp_path / "out", keep_runs=3)
    with store.lock():
        store.commit("r1", _staged(store, "r1"))  # the first publish also creates the snapshot link; watch the next
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
        store.commit("r2", _staged(store, "r2"))
    switch = events.index(("replace", "current"))
    assert ("fsync", str(store.root / "runs")) in events[:switch], events
    assert ("fsync", str(store.root)) in events[switch + 1:], events
