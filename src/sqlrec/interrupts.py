"""Ctrl-C and SIGTERM on the command line: the run stops, cleans up and exits as shells expect (128 + the signal).

`install()` is called by the `sqlrec` command only; a notebook keeps its own Ctrl-C handling. The handler remembers
the signal and raises KeyboardInterrupt, which stops a DuckDB query within a moment and unwinds through the
pipeline's cleanup (the staging folder, the lock). While outputs are being switched (`deferred()`), the signal is
only remembered and raised once the switch is complete, so that a run is published whole or not at all.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

EXIT_SIGNAL_BASE = 128

_received: int | None = None
_deferring = 0
_held = False  # a signal came during deferred() and is still to be raised
_published: str | None = None


def install() -> None:
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)


def _handle(signum: int, _frame) -> None:
    global _received, _held
    stopping = _received is not None
    _received = signum
    if _deferring:
        _held = True
    elif not stopping:  # a second Ctrl-C while the first unwinds must not break the cleanup half way
        raise KeyboardInterrupt


def received() -> int | None:
    """The signal (SIGINT or SIGTERM) that stopped this process, if one did."""
    return _received


def published_run() -> str | None:
    """The run this process published before the signal came, if any."""
    return _published


@contextmanager
def deferred():
    """Hold a signal back until the block is done: the block is a switch that must not stop half way."""
    global _deferring, _held
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _held:
        _held = False
        raise KeyboardInterrupt


def note_published(run_id: str) -> None:
    global _published
    _published = run_id


def exit_now(code: int) -> None:
    """End the process with `code` once a signal has stopped it and everything is cleaned up.

    Not `sys.exit`: when a KeyboardInterrupt passed through code that DuckDB's client evaluated, Python remembers it
    and, at the very end of a normal exit, kills itself with SIGINT, so the shell would see -2 rather than 130 or
    143 (seen about once in 30 interrupted runs, traced with strace)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def exit_code(signum: int) -> int:
    return EXIT_SIGNAL_BASE + signum


def message(signum: int) -> str:
    """One line: what stopped the run and what is published now."""
    what = "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if _published:
        return f"{what} after run {_published} was published; its outputs are complete"
    return f"{what}: nothing was published, the last outputs are unchanged"
