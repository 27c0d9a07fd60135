"""sqlrec's own DuckDB connections beside the engine's: the snapshot it builds, the contract's and the checks' queries.

DuckDB draws its own progress bar on any output, a file or a pipe included, once a query passes two seconds (a
large shop's snapshot copy does). A scheduled run's log would fill with it; sqlrec shows its own progress instead.
"""

from __future__ import annotations

import duckdb


def quiet_connection(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never draws DuckDB's progress bar (its first statement turns it off)."""
    con = duckdb.connect(database)
    con.execute("SET enable_progress_bar_print = false")
    return con
