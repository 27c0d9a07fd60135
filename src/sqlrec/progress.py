"""A progress bar for long stages: DuckDB's own query_progress(), drawn by rich, only on a terminal.

rich's refresh (four times a second) asks DuckDB for the running query's percentage as it draws, so sqlrec keeps no
thread of its own. Stages shorter than a second show nothing; the bar is removed when the stage ends, leaving the
run's summary clean. Off when the stream is not a terminal (a pipe, a log file, a scheduler), and with
`--no-progress` or `[engine] progress = false`.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, TextIO

_FIRST_DRAW_AFTER = 1.0  # seconds: short stages print nothing
_REFRESH_PER_SECOND = 4


@contextmanager
def progress_line(label: str, poll: Callable[[], float], stream: TextIO | None = None, enabled: bool = True):
    """Show `label`, a bar, the percentage and the seconds so far on `stream` while the body runs, if the stream is
    a terminal; remove it at the end."""
    stream = stream or sys.stderr
    if not enabled or not _is_terminal(stream):
        yield
        return
    from rich.console import Console
    from rich.live import Live
    live = Live(_QueryProgress(label, poll), console=Console(file=stream, force_terminal=True, highlight=False),
                refresh_per_second=_REFRESH_PER_SECOND, transient=True, redirect_stdout=False,
                redirect_stderr=False)
    with live:
        yield


class _QueryProgress:
    """What the bar shows, recomputed at each refresh: nothing for the first second, then DuckDB's percentage."""

    def __init__(self, label: str, poll: Callable[[], float]):
        self.label, self.poll, self.started = label, poll, time.monotonic()
        self.last = -1.0

    def __rich__(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        elapsed = time.monotonic() - self.started
        if elapsed >= _FIRST_DRAW_AFTER:
            try:
                self.last = max(self.last, self.poll())  # -1 while DuckDB has no estimate
            except Exception:  # the query may finish between a refresh and its poll
                pass
        grid = Table.grid(padding=(0, 1))
        if self.last < 0:
            return grid
        grid.add_row(f"  {self.label}", ProgressBar(total=100.0, completed=self.last, width=30),
                     f"{self.last:5.1f}%", f"{elapsed:6.1f}s")
        return grid


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
