"""A progress line for long queries, from DuckDB's query_progress() polled beside the running query."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, TextIO

_FIRST_DRAW_AFTER = 1.0  # seconds: short stages print nothing
_INTERVAL = 0.25


@contextmanager
def progress_line(label: str, poll: Callable[[], float], stream: TextIO | None = None, enabled: bool = True):
    """Show `label  42%` on `stream` while the body runs, if the stream is a terminal; clear it at the end."""
    stream = stream or sys.stderr
    if not enabled or not stream.isatty():
        yield
        return
    stop = threading.Event()
    drawn = threading.Event()

    def draw() -> None:
        started = time.monotonic()
        while not stop.wait(_INTERVAL):
            if time.monotonic() - started < _FIRST_DRAW_AFTER:
                continue
            try:
                percent = poll()
            except Exception:  # the query may finish between our check and the poll
                return
            if percent >= 0:
                stream.write(f"\r  {label}  {percent:5.1f}%  {time.monotonic() - started:6.1f}s")
                stream.flush()
                drawn.set()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if drawn.is_set():
            stream.write("\r\033[K")
            stream.flush()
