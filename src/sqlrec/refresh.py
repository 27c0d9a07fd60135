"""Incremental refresh: when the events input only gained files since the last published run, the co-occurrence
counts and the affinities are updated from the new files alone instead of recomputed from every event.

Both are sums over events: an affinity is a sum of decayed event weights (decaying the last run's sum to the new
newest event and adding the new events gives the same number), and a co-occurrence count is a sum over users (a user
with items new to them adds the pairs those items make with the rest of their basket). So each `sqlrec run` keeps,
beside its outputs, the state that the next run starts from:

    runs/<run_id>/_state/affinity.parquet      user_id, item_id, affinity (at the run's newest event)
    runs/<run_id>/_state/pair_counts.parquet   item_id, other_item_id (>= item_id), users: every count
    runs/<run_id>/_state/state.json            the newest event, the events' files, and a key of what they depend on

The next run refreshes instead of recounting only when that is exactly the same computation (`decide`): the same
stages, vars and input settings (the key), every file of the last run still there and unchanged (SHA-256), at least
one new file, and no setting that makes the sums depend on more than the new rows (duplicates merged across files,
a per-user history cap, a project's own version of the stages involved). Otherwise it runs in full and says why.
Only the state of the current run is kept.
"""

from __future__ import annotations

import hashlib
import os
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sqlglot import exp

from . import __version__
from .config import Config
from .engines.duckdb import DuckDBEngine
from .layout import RUNS
from .plan import Plan
from .project import Project
from .templating import DIALECT, ident

STATE_DIR = "_state"
STATE_FILE = "state.json"
AFFINITY, PAIR_COUNTS = "affinity", "pair_counts"
TABLES = {AFFINITY: "__previous_affinity", PAIR_COUNTS: "__previous_pair_counts"}  # engine tables of the state
#: vars.cooccurrence_max_history's default (sql/features/int_user_affinity.sql): a capped history is re-ranked by
#: every new event, so a refresh cannot add the new files' pairs to the last run's counts
DEFAULT_MAX_HISTORY = 200
#: The stages whose results the state holds or depends on; each must be the built-in one.
STATEFUL = ("stg_events", "int_item_index", "int_user_index", "int_user_affinity", "int_item_pair_counts")


@dataclass(frozen=True)
class Refresh:
    previous_run: Path
    new_files: tuple[str, ...]
    previous_t_now: str  # ISO time of the last run's newest event

    @property
    def state_dir(self) -> Path:
        return self.previous_run / STATE_DIR

    def context(self) -> dict[str, Any]:
        """What the stage templates see as `refresh`."""
        return {"new_files": list(self.new_files), "previous_t_now": self.previous_t_now,
                "previous_affinity": ident(TABLES[AFFINITY]), "previous_pair_counts": ident(TABLES[PAIR_COUNTS]),
                "tables": tuple(TABLES.values())}


def state_key(config: Config, plan: Plan) -> str | None:
    """What the state depends on: sqlrec's version, the SQL of the stateful stages as a full run renders it, and
    every setting of the events and items inputs but their files. None when a run cannot keep state."""
    planned = {p.stage.name: p for p in plan.stages}
    if not config.output.incremental or "events" not in config.inputs \
            or any(name not in planned for name in STATEFUL):
        return None
    parts = {"sqlrec": __version__, "sql": {name: planned[name].sql for name in STATEFUL},
             "inputs": {name: repr(config.inputs[name]) for name in ("events", "items") if name in config.inputs}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def decide(config: Config, project: Project, plan: Plan, fingerprints: Mapping[str, dict],
           previous_run: Path | None) -> tuple[Refresh | None, str]:
    """A Refresh when the run may update the last run's state, else None; and the reason, in words."""
    key = state_key(config, plan)
    if key is None:
        return None, "this pipeline keeps no refresh state" + ("" if config.output.incremental else
                                                               " ([output] incremental = false)")
    blocker = _blocker(config, project)
    if blocker:
        return None, blocker
    state_file = previous_run / STATE_DIR / STATE_FILE if previous_run else None
    if state_file is None or not state_file.exists():
        return None, "no previous run with refresh state"
    state = json.loads(state_file.read_text())
    if state.get("key") != key:
        return None, "stages, vars, input settings or the sqlrec version changed since the last run"
    if config.inputs.get("items") and state.get("items") != _files(fingerprints.get("items"), config.root) \
            and config.inputs["items"].unknown_items == "drop":
        return None, "the items input changed and events of unknown items are dropped"
    before, now = state["events"], _files(fingerprints["events"], config.root)
    changed = [path for path, digest in before.items() if now.get(path) != digest]
    if changed:
        return None, f"an events file of the last run changed or disappeared ({changed[0]})"
    new = tuple(f["path"] for f in fingerprints["events"]["files"]  # as the reader names them in `__file`
                if os.path.relpath(f["path"], config.root) not in before)
    if not new:
        return None, "no new events files"
    return Refresh(previous_run, new, state["t_now"]), f"{len(new)} new events file(s)"


def _blocker(config: Config, project: Project) -> str | None:
    own = [name for name in STATEFUL if project.stages[name].origin != "builtin"]
    if own:
        return f"the project has its own {own[0]} stage"
    if config.inputs["events"].duplicates != "error":
        return "events duplicates are merged across files (inputs.events.duplicates is not \"error\")"
    exact = config.vars.get("cooccurrence_exact", False)  # exact SAR counts whole histories
    if "cooccurrence_max_history" not in config.vars and not exact:
        return (f"vars.cooccurrence_max_history caps each user's history ({DEFAULT_MAX_HISTORY} items by default; "
                "set it to 0, or cooccurrence_exact = true, for refreshes that read only the new files)")
    if config.vars.get("cooccurrence_max_history", 0):
        return "vars.cooccurrence_max_history caps each user's history"
    return None


def _files(fingerprint: Mapping | None, root: Path) -> dict[str, str]:
    """path -> SHA-256, paths relative to the project folder: a project moved or copied keeps its state."""
    return {os.path.relpath(f["path"], root): f["sha256"] for f in (fingerprint or {}).get("files", [])}


def bind_state(engine: DuckDBEngine, refresh: Refresh) -> None:
    """Load the last run's state as the tables the refreshing stages read."""
    for name, table in TABLES.items():
        target = exp.to_table(table, quoted=True).sql(DIALECT)
        engine.con.execute(f"CREATE TABLE {target} AS SELECT * FROM read_parquet($path)",
                           {"path": str(refresh.state_dir / f"{name}.parquet")})


def save_state(engine: DuckDBEngine, publish_dir: Path, key: str, fingerprints: Mapping[str, dict],
               root: Path) -> None:
    """Write the state of this run beside its outputs (published with them, atomically)."""
    folder = publish_dir / STATE_DIR
    folder.mkdir(parents=True)
    con = engine.con
    con.execute("COPY (SELECT user_id, item_id, affinity FROM int_user_affinity ORDER BY user_id, item_id) "
                "TO $path (FORMAT parquet, COMPRESSION zstd)", {"path": str(folder / f"{AFFINITY}.parquet")})
    con.execute("COPY (SELECT i.item_id, j.item_id AS other_item_id, c.users FROM int_item_pair_counts AS c "
                "JOIN int_item_index AS i ON i.item_ix = c.item_ix "
                "JOIN int_item_index AS j ON j.item_ix = c.other_item_ix) "
                "TO $path (FORMAT parquet, COMPRESSION zstd)", {"path": str(folder / f"{PAIR_COUNTS}.parquet")})
    t_now = con.execute("SELECT CAST(max(ts) AS VARCHAR) FROM stg_events").fetchall()[0][0]
    (folder / STATE_FILE).write_text(json.dumps({
        "key": key, "t_now": t_now, "events": _files(fingerprints["events"], root),
        "items": _files(fingerprints.get("items"), root)}, indent=1, sort_keys=True) + "\n")


def prune_old_states(output_dir: Path, keep: str) -> None:
    """Only the current run's state is ever read: older runs drop theirs."""
    runs = output_dir / RUNS
    for run in runs.iterdir() if runs.is_dir() else ():
        if run.name != keep:
            shutil.rmtree(run / STATE_DIR, ignore_errors=True)
