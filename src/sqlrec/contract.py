"""The output contract: the names and types of every published table's columns, kept in `sqlrec.contract.json`
beside sqlrec.toml (commit it with the project).

Dashboards, extracts and downstream jobs read the published views by column name and type. So before anything is
published, the staged Parquet files are compared with the contract, and a removed, renamed, added or retyped column
fails the publish (exit code 4), leaving the last good outputs in place, unless the run was told the change is
intended (`--update-contract`). The first publish of a table records it; a new table is recorded when it first
appears, since no reader can depend on it yet.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .connections import quiet_connection
from .errors import OutputCheckError

CONTRACT_VERSION = 1


@dataclass(frozen=True)
class OutputContract:
    path: Path
    update: bool = False  # accept and record the changes of this publish

    def check(self, staged: Mapping[str, Path]) -> dict | None:
        """Compare the staged Parquet files (table -> path) with the contract. Returns the contract to save after
        the publish succeeds (None when nothing changes); raises OutputCheckError for a change not allowed."""
        recorded = self.load()
        tables = dict(recorded)
        problems = []
        for table, columns in parquet_columns(staged).items():
            if table in recorded and recorded[table] != columns and not self.update:
                problems += [f"{table}: {change}" for change in describe_changes(recorded[table], columns)]
            tables[table] = columns
        if problems:
            raise OutputCheckError(
                f"the outputs no longer match the contract {self.path}: " + "; ".join(problems)
                + ". Nothing was published",
                hint="if the change is intended, rerun with --update-contract (API: update_contract=True) and "
                     "commit the new contract; tell the owners of dashboards that read those columns")
        return tables if tables != recorded else None

    def load(self) -> dict[str, list[list[str]]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise OutputCheckError(f"{self.path} is not valid JSON ({exc})",
                                   hint="restore it from version control, or delete it to record the outputs "
                                        "of the next run as the contract") from None
        return {table: [list(c) for c in columns] for table, columns in data.get("tables", {}).items()}

    def save(self, tables: Mapping[str, list[list[str]]]) -> None:
        """Write atomically: a reader (or a crash) sees the old or the new contract, never half of one."""
        text = json.dumps({"version": CONTRACT_VERSION,
                           "about": "Columns and types of sqlrec's published tables; see the README, Output contract.",
                           "tables": {t: tables[t] for t in sorted(tables)}}, indent=1) + "\n"
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(text)
        os.replace(temporary, self.path)


def parquet_columns(files: Mapping[str, Path]) -> dict[str, list[list[str]]]:
    """Each table's [[name, DuckDB type], ...] as an analyst sees them in the snapshot (table -> its file)."""
    con = quiet_connection()
    try:
        return {table: [[name, kind] for name, kind, *_ in
                        con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()]
                for table, path in files.items()}
    finally:
        con.close()


def describe_changes(before: list[list[str]], after: list[list[str]]) -> list[str]:
    """Each difference in words: removed, added, retyped, then reordered."""
    old, new = dict(map(tuple, before)), dict(map(tuple, after))
    changes = [f"column {c} ({old[c]}) was removed" for c in old if c not in new]
    changes += [f"column {c} ({new[c]}) is new" for c in new if c not in old]
    changes += [f"column {c} changed type from {old[c]} to {new[c]}" for c in old if c in new and old[c] != new[c]]
    if not changes:
        changes.append(f"the columns changed order from ({', '.join(old)}) to ({', '.join(new)})")
    return changes
