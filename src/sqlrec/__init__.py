"""sqlrec: a recommender system whose logic is templated SQL, run inside DuckDB over Parquet."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Loaded on first use, so that `import sqlrec` (and each `sqlrec` command) pays only for what it calls.
_EXPORTS = {
    **{name: "api" for name in ("check", "demo", "evaluate", "experiment", "explain", "init", "list_stages", "load",
                                "open", "open_outputs", "recommend", "render", "report", "run", "similar", "tune",
                                "validate")},
    "SqlrecError": "errors", "python_stage": "python_stages", "RunResult": "result", "ProjectSession": "session",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sqlrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
