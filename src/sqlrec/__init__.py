"""sqlrec: a recommender system whose logic is templated SQL, run inside DuckDB over Parquet."""

__version__ = "0.1.0"

from .api import (check, demo, evaluate, experiment, explain, init, list_stages, load, open_outputs,  # noqa: E402
                  render, report, run, tune, validate)
from .errors import SqlrecError  # noqa: E402
from .python_stages import python_stage  # noqa: E402
from .result import RunResult  # noqa: E402

__all__ = ["__version__", "check", "demo", "evaluate", "experiment", "explain", "report", "init", "list_stages", "load", "open_outputs", "render", "run",
           "tune", "validate", "python_stage", "RunResult", "SqlrecError"]
