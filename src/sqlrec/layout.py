"""Where a published run's files are (see sqlrec.publish for how they get there). Kept free of heavy imports: the
lookups read it on every call."""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = "sqlrec.duckdb"
CURRENT = "current"
RUNS = "runs"
STAGING = ".staging"
MANIFEST = "run_manifest.json"
GRACE_SECONDS = 600  # default [output] grace_seconds: how long a replaced run stays for readers that resolved it


def table_path(publish_dir: Path, table: str) -> Path:
    return publish_dir / table / "data.parquet"


def current_run_dir(root: Path) -> Path | None:
    """runs/<run_id> that `current` points to, or None before the first publish. Resolved once, so a caller keeps
    reading one run even if another run switches `current` meanwhile."""
    try:
        target = os.readlink(root / CURRENT)
    except OSError:
        return None
    return (root / target).resolve()


def read_manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / MANIFEST).read_text())
