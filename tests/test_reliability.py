"""Reliability: the checks on the final lists before publishing, and reruns that give the same lists whatever the
thread count or the machine's time zone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import sqlrec
from conftest import generated_world, project_on
from sqlrec.errors import OutputCheckError
from sqlrec.resources import builtin_dir


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generated_world(tmp_path_factory, users=400, items=90, events=10_000, seed=21)


def _project(world: Path, root: Path, extra: str = "") -> Path:
    return project_on(world, root, extra=extra)


def _override_recommendations(root: Path, select: str) -> None:
    """The built-in recommendations stage, wrapped: `select` reads its rows as `original`."""
    text = (builtin_dir("sql") / "publish" / "recommendations.sql").read_text()
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("--") and not line.startswith("-- inputs:")]
    body = "\n".join(line for line in lines if not line.startswith("--"))
    target = root / "sql" / "publish" / "recommendations.sql"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(header) + f"\nWITH original AS (\n{body}\n)\n{select}\n")


@pytest.mark.parametrize("select, message", [
    ("SELECT user_id, item_id, CASE WHEN rank = 2 THEN 'NaN'::DOUBLE ELSE score END AS score, rank, source, reason "
     "FROM original", "a score is missing or not finite"),
    ("SELECT user_id, item_id, CASE WHEN rank = 3 THEN NULL ELSE score END AS score, rank, source, reason "
     "FROM original", "a score is missing or not finite"),
    ("SELECT user_id, item_id, score, CASE WHEN rank = 4 THEN 5 ELSE rank END AS rank, source, reason "
     "FROM original", "ranks are not 1..n"),
    ("SELECT * FROM original WHERE NOT (user_id = (SELECT min(user_id) FROM original) AND rank = 10)",
     "got fewer items"),
    ("SELECT * FROM original WHERE NOT (user_id = (SELECT min(user_id) FROM {{ ref('stg_events') }} "
     "WHERE event_type = 'purchase') AND rank = 10) UNION ALL "
     "SELECT e.user_id, e.item_id, 1.0, 10, 'cooccurrence', 'bought already' FROM {{ ref('stg_events') }} AS e "
     "WHERE e.user_id = (SELECT min(user_id) FROM {{ ref('stg_events') }} WHERE event_type = 'purchase') "
     "AND e.event_type = 'purchase' "
     "AND e.item_id NOT IN (SELECT item_id FROM original WHERE user_id = e.user_id) "
     "QUALIFY row_number() OVER (ORDER BY e.item_id) = 1", "recommended an item they purchased"),
])
def test_a_broken_list_is_never_published(world, tmp_path, select, message):
    root = _project(world, tmp_path / "p")
    first = sqlrec.run(root, progress=False)
    before = (first.output_dir / "current" / "recommendations" / "data.parquet").read_bytes()
    _override_recommendations(root, select)
    with pytest.raises(OutputCheckError, match=message) as info:
        sqlrec.run(root, progress=False)
    assert info.value.exit_code == 4 and "e.g. {" in str(info.value)  # an example row
    assert os.readlink(first.output_dir / "current") == f"runs/{first.run_id}"
    assert (first.output_dir / "current" / "recommendations" / "data.parquet").read_bytes() == before


def test_the_manifest_reports_how_much_the_cascade_served(world, tmp_path):
    result = sqlrec.run(_project(world, tmp_path / "p"), progress=False)
    figures = result.manifest["output_checks"]["recommendations"]
    recs = result.table("recommendations")
    assert figures["users"] == len(set(recs.column("user_id").to_pylist())) and figures["short_lists"] == 0
    events = set(pq.read_table(world / "events.parquet", columns=["user_id"]).column("user_id").to_pylist())
    listed = set(recs.column("user_id").to_pylist())
    cold = listed - events  # users of the users input without an event: only the cascade can serve them
    assert cold and figures["users_all_fallback"] >= len(cold)
    assert 0 < figures["fallback_share"] < 1 and figures["pinned_share"] == 0


def test_reruns_and_thread_counts_give_the_same_lists(world, tmp_path):
    """5 reruns x threads {1, 2}: identical ranked lists; identical tables within a thread count."""
    results = {}
    for threads in (1, 2):
        for rerun in range(5):
            root = _project(world, tmp_path / f"t{threads}-{rerun}")
            text = (root / "sqlrec.toml").read_text().replace("[engine]\n", f"[engine]\nthreads = {threads}\n")
            (root / "sqlrec.toml").write_text(text)
            results[threads, rerun] = sqlrec.run(root, progress=False)
    keys = ["user_id", "item_id", "rank", "source", "reason"]
    reference = results[1, 0]
    for (threads, rerun), result in results.items():
        recs = result.table("recommendations")
        assert recs.select(keys).equals(reference.table("recommendations").select(keys)), (threads, rerun)
        np.testing.assert_allclose(recs.column("score").to_numpy(zero_copy_only=False),
                                   reference.table("recommendations").column("score").to_numpy(zero_copy_only=False),
                                   rtol=1e-12)
        same_threads = results[threads, 0]
        for table in result.tables:
            assert result.table(table).equals(same_threads.table(table)), (threads, rerun, table)


def test_the_machines_time_zone_changes_nothing(world, tmp_path):
    """The same project run and evaluated under TZ=UTC, America/New_York and Asia/Tokyo: identical split counts and
    identical outputs (naive input timestamps are read as UTC unless the config names a zone)."""
    outputs = {}
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        root = _project(world, tmp_path / zone.replace("/", "_"), "[evaluate]\ntest_days = 30\n")
        env = {**os.environ, "TZ": zone}
        for command in ("run", "evaluate"):
            subprocess.run([sys.executable, "-m", "sqlrec", command, "-p", str(root), "--no-progress"], env=env,
                           check=True, capture_output=True)
        run = sqlrec.open(root)
        outputs[zone] = {name: run.table(name) for name in ("recommendations", "similar_items", "split_summary",
                                                            "metrics")}
        manifest = json.loads((root / "out" / "current" / "run_manifest.json").read_text())
        assert manifest["refresh"]["incremental"] is False
    for zone, tables in outputs.items():
        for name, table in tables.items():
            assert table.equals(outputs["UTC"][name]), (zone, name)
