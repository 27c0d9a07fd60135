"""Progress lines come from DuckDB's query_progress() while a stage runs, and only on a terminal."""

from __future__ import annotations

import io
import re

import duckdb
import pytest

from sqlrec import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def con():
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    yield con
    con.close()


LONG_QUERY = "SELECT sum(hash(i)) FROM range(400000000) t(i)"


def test_progress_is_drawn_on_a_terminal_and_cleared(con, monkeypatch):
    monkeypatch.setattr(progress, "_FIRST_DRAW_AFTER", 0.0)
    stream = FakeTerminal()
    with progress.progress_line("big_stage", con.query_progress, stream=stream):
        con.execute(LONG_QUERY).fetchall()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # the drawing's cursor moves and colours
    percents = [float(p) for p in re.findall(r"big_stage\s+\S+\s+([\d.]+)%", text)]
    assert percents and all(0 <= p <= 100 for p in percents) and percents == sorted(percents)
    assert len(set(percents)) > 1  # it moved while the query ran
    # the bar is removed at the end (rich erases its lines), leaving the summary clean
    assert stream.getvalue().rstrip("\r\n").endswith("\x1b[2K") or "\x1b[2K" in stream.getvalue()[-40:]


def test_nothing_is_written_when_not_a_terminal(con, monkeypatch):
    monkeypatch.setattr(progress, "_FIRST_DRAW_AFTER", 0.0)
    stream = io.StringIO()
    with progress.progress_line("big_stage", con.query_progress, stream=stream):
        con.execute(LONG_QUERY).fetchall()
    assert stream.getvalue() == ""
