"""What `sqlrec.run()` returns: the published outputs of one run, as Arrow tables or DuckDB relations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .layout import SNAPSHOT, read_manifest, table_path


@dataclass
class RunResult:
    run_id: str
    output_dir: Path
    run_dir: Path  # runs/<run_id>: pinned to this run even after later runs switch `current`
    tables: tuple[str, ...]
    manifest: dict
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> "RunResult":
        manifest = read_manifest(run_dir)
        return cls(run_id=manifest["run_id"], output_dir=run_dir.parent.parent, run_dir=run_dir,
                   tables=tuple(manifest["published"]), manifest=manifest)

    @property
    def snapshot(self) -> Path:
        return self.output_dir / SNAPSHOT

    def path(self, table: str) -> Path:
        self._check(table)
        return table_path(self.run_dir, table)

    def table(self, table: str) -> pa.Table:
        """The published output as an Arrow table."""
        return pq.read_table(self.path(table))

    def relation(self, table: str, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
        """The published output as a DuckDB relation (lazy; on `con` or a private in-memory connection)."""
        path = self.path(table)
        if con is None:
            self._con = self._con or duckdb.connect()
            con = self._con
        return con.read_parquet(str(path))

    def stage_stats(self) -> list[dict]:
        return list(self.manifest["stages"])

    def _check(self, table: str) -> None:
        if table not in self.tables:
            raise KeyError(f"no published output `{table}`; this run published: {', '.join(self.tables)}")
