"""A project opened in a notebook: run it, then read any published output as a DuckDB relation, an Arrow table, or
a pandas / polars frame (when those are installed; sqlrec does not require them), or query them all in SQL.

>>> import sqlrec
>>> project = sqlrec.open("sqlrec-demo")                         # doctest: +SKIP
>>> project.run()                                                # doctest: +SKIP
>>> project.df("recommendations").head()                         # doctest: +SKIP
>>> project.sql("SELECT source, count(*) FROM recommendations GROUP BY source").show()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from .config import Config, load_config
from .errors import ConfigError
from .layout import current_run_dir
from .lookups import Explanation, Lookup, open_current
from .templating import DIALECT
from .result import RunResult

if TYPE_CHECKING:
    from .experiments.runner import ExperimentResult

EVALUATION, TUNING, EXPERIMENTS = "evaluation", "tuning", "experiments"  # folders under the output folder


class ProjectSession:
    """One project folder. Every read goes to the currently published runs, so a run started elsewhere (a
    scheduler, the CLI) shows up on the next read; nothing is cached but the DuckDB connection."""

    def __init__(self, project: str | Path = "."):
        self.config_path = Path(project)  # a folder or its sqlrec.toml: load_config and the API take either
        self.config: Config = load_config(self.config_path)
        self._con: duckdb.DuckDBPyConnection | None = None

    def __repr__(self) -> str:
        return f"<sqlrec project {self.config.name!r} at {self.config.root}>"

    # -- running ----------------------------------------------------------------------------------------------

    def run(self, vars: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
            progress: bool = False, report: Callable[[str], None] | None = None) -> RunResult:
        from . import api
        return api.run(self.config_path, vars=vars, overrides=overrides, progress=progress, report=report)

    def evaluate(self, vars: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
                 progress: bool = False) -> RunResult:
        from . import api
        return api.evaluate(self.config_path, vars=vars, overrides=overrides, progress=progress)

    def experiment(self, name: str | None = None, progress: bool = False, **options: Any) -> "ExperimentResult":
        from . import api
        return api.experiment(self.config_path, name, progress=progress, **options)

    # -- reading ----------------------------------------------------------------------------------------------

    def outputs(self) -> dict[str, Path]:
        """Every published table -> its Parquet file: the run's, then evaluation, tuning and experiments
        (experiment tables as `experiment_results` for a single experiment, `<name>.experiment_results` always)."""
        found: dict[str, Path] = {}
        roots = [(None, self.config.output_dir), (None, self.config.output_dir / EVALUATION),
                 (None, self.config.output_dir / TUNING)]
        experiments = self.config.output_dir / EXPERIMENTS
        names = sorted(p.name for p in experiments.iterdir() if p.is_dir()) if experiments.is_dir() else []
        roots += [(name, experiments / name) for name in names]
        for prefix, root in roots:
            result = _current(root)
            if result is None:
                continue
            for table in result.tables:
                path = result.path(table)
                if prefix is not None:
                    found[f"{prefix}.{table}"] = path
                    if len(names) > 1:
                        continue
                found.setdefault(table, path)
        return found

    def table(self, name: str) -> pa.Table:
        """A published output as an Arrow table."""
        return pq.read_table(self._path(name))

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        """A published output as a lazy DuckDB relation on this session's connection."""
        return self.connection.read_parquet(str(self._path(name)))

    def df(self, name: str):
        """A published output as a pandas DataFrame (needs pandas)."""
        _require("pandas", "df")
        return self.table(name).to_pandas()

    def pl(self, name: str):
        """A published output as a polars DataFrame (needs polars)."""
        polars = _require("polars", "pl")
        return polars.from_arrow(self.table(name))

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run SQL over every published output, each a view named as in `outputs()`; quote dotted names
        ("strategies.experiment_results")."""
        con = self.connection
        for name, path in self.outputs().items():
            view = exp.to_identifier(name, quoted=True).sql(DIALECT)
            source = exp.Literal.string(str(path)).sql(DIALECT)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_parquet({source})")
        return con.sql(query)

    # -- lookups ----------------------------------------------------------------------------------------------

    def recommend(self, user: Any, k: int | None = None, explain: bool = False) -> pa.Table:
        with self._lookup() as lookup:
            return lookup.recommendations(user, k, explain).arrow()

    def similar(self, item: Any, k: int | None = None, source: str | None = None) -> pa.Table:
        with self._lookup() as lookup:
            return lookup.similar(item, k, source).arrow()

    def explain(self, user: Any, item: Any) -> Explanation:
        with self._lookup() as lookup:
            return lookup.explanation(user, item)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "ProjectSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lookup(self) -> Lookup:
        return open_current(self.config.output_dir)

    def _path(self, name: str) -> Path:
        outputs = self.outputs()
        if name not in outputs:
            if not outputs:
                raise ConfigError(f"{self.config.output_dir} has no published outputs yet",
                                  hint="run the project first: project.run() or `sqlrec run`")
            raise ConfigError(f"no published output {name!r}", hint="published: " + ", ".join(outputs))
        return outputs[name]


def _current(root: Path) -> RunResult | None:
    run_dir = current_run_dir(root)
    return None if run_dir is None else RunResult.from_run_dir(run_dir)


def _require(module: str, method: str):
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f".{method}() needs {module}, which is not installed",
                          hint=f"pip install {module} (sqlrec does not require it; .table() gives Arrow, "
                               ".relation() DuckDB)") from None
