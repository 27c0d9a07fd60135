"""Incremental refresh: a run whose events only gained files updates co-occurrence counts and affinities from the new
files alone, and publishes what a full rebuild publishes; anything that breaks the sums falls back to a full run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

import sqlrec
from sqlrec.datagen import WorldSize, generate


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    generate(folder, WorldSize(users=400, items=90, events=12_000, seed=8))
    return folder


def _write_files(world: Path, folder: Path, parts: dict[str, str]) -> None:
    """parts: file name -> SQL condition over the world's events."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name, condition in parts.items():
        con.execute(f"COPY (SELECT * FROM read_parquet($p) WHERE {condition}) TO '{folder / name}' (FORMAT parquet)",
                    {"p": str(world / "events.parquet")})


def _project(world: Path, root: Path, extra: str = "") -> Path:
    """A project reading events/*.parquet, with every user's whole history (cooccurrence_max_history = 0, which
    incremental refresh needs) and `extra` [vars] lines."""
    root.mkdir(parents=True, exist_ok=True)
    variables = "[vars]\ncooccurrence_max_history = 0\n" + extra.removeprefix("[vars]\n")
    (root / "sqlrec.toml").write_text(
        '[inputs.events]\npath = "events/*.parquet"\n'
        f'[inputs.items]\npath = "{world / "items.parquet"}"\n[inputs.users]\npath = "{world / "users.parquet"}"\n'
        f'[output]\npath = "out"\n[engine]\nprogress = false\n{variables}')
    return root


OLD = {"a.parquet": "ts < TIMESTAMPTZ '2026-05-01'", "b.parquet": "ts >= TIMESTAMPTZ '2026-05-01' "
       "AND ts < TIMESTAMPTZ '2026-09-01'"}
NEW = {"c.parquet": "ts >= TIMESTAMPTZ '2026-09-01'"}


def _incremental_and_full(world: Path, tmp: Path, old: dict, new: dict, extra: str = ""):
    inc = _project(world, tmp / "inc", extra)
    _write_files(world, inc / "events", old)
    first = sqlrec.run(inc, progress=False)
    assert not first.manifest["refresh"]["incremental"]
    _write_files(world, inc / "events", new)
    refreshed = sqlrec.run(inc, progress=False)
    full = _project(world, tmp / "full", extra)
    _write_files(world, full / "events", {**old, **new})
    rebuilt = sqlrec.run(full, progress=False)
    return refreshed, rebuilt


def _state(result, name: str, keys: list[str]):
    return pq.read_table(result.run_dir / "_state" / f"{name}.parquet").sort_by([(k, "ascending") for k in keys])


def _assert_same(refreshed, rebuilt) -> None:
    keys = ["user_id", "item_id", "rank", "source", "reason"]
    a, b = refreshed.table("recommendations"), rebuilt.table("recommendations")
    assert a.select(keys).equals(b.select(keys))
    np.testing.assert_allclose(np.array(a.column("score").to_pylist(), dtype=float),
                               np.array(b.column("score").to_pylist(), dtype=float), rtol=1e-9)
    for table in ("similar_items", "popular_items", "explanations"):
        x, y = refreshed.table(table), rebuilt.table(table)
        assert x.num_rows == y.num_rows and x.column(1).equals(y.column(1)), table
    assert _state(refreshed, "pair_counts", ["item_id", "other_item_id"]).equals(
        _state(rebuilt, "pair_counts", ["item_id", "other_item_id"]))
    x, y = _state(refreshed, "affinity", ["user_id", "item_id"]), _state(rebuilt, "affinity", ["user_id", "item_id"])
    assert x.select(["user_id", "item_id"]).equals(y.select(["user_id", "item_id"]))
    np.testing.assert_allclose(x.column("affinity").to_numpy(), y.column("affinity").to_numpy(), rtol=1e-12)


def test_a_new_months_file_refreshes_and_matches_a_full_rebuild(world, tmp_path):
    refreshed, rebuilt = _incremental_and_full(world, tmp_path, OLD, NEW)
    info = refreshed.manifest["refresh"]
    assert info["incremental"] and [Path(f).name for f in info["new_files"]] == ["c.parquet"]
    assert not rebuilt.manifest["refresh"]["incremental"]
    _assert_same(refreshed, rebuilt)


def test_late_events_spread_over_the_year_refresh_correctly(world, tmp_path):
    """New files need not be newer: every 7th event of the whole year arrives late, in its own file."""
    old = {"a.parquet": "hash(user_id, item_id, ts) % 7 <> 0"}
    new = {"late.parquet": "hash(user_id, item_id, ts) % 7 = 0"}
    refreshed, rebuilt = _incremental_and_full(world, tmp_path, old, new, '[vars]\ncooccurrence_threshold = 2\n')
    assert refreshed.manifest["refresh"]["incremental"]
    _assert_same(refreshed, rebuilt)


def test_refreshes_chain_and_only_the_current_run_keeps_state(world, tmp_path):
    inc = _project(world, tmp_path / "inc")
    _write_files(world, inc / "events", {"a.parquet": OLD["a.parquet"]})
    sqlrec.run(inc, progress=False)
    _write_files(world, inc / "events", {"b.parquet": OLD["b.parquet"]})
    assert sqlrec.run(inc, progress=False).manifest["refresh"]["incremental"]
    _write_files(world, inc / "events", NEW)
    refreshed = sqlrec.run(inc, progress=False)
    assert refreshed.manifest["refresh"]["incremental"]
    full = _project(world, tmp_path / "full")
    _write_files(world, full / "events", {**OLD, **NEW})
    _assert_same(refreshed, sqlrec.run(full, progress=False))
    runs = sorted((inc / "out" / "runs").iterdir())
    assert [r.name for r in runs if (r / "_state").exists()] == [refreshed.run_id]
    assert "_state" not in refreshed.tables


def test_the_threshold_drops_counts_as_sar_does(world, tmp_path):
    """Counts are kept whole; the similarity leaves out pairs below vars.cooccurrence_threshold (SAR zeroes them)."""
    root = _project(world, tmp_path / "p", '[vars]\ncooccurrence_threshold = 3\ncooccurrence_neighbours = 0\n')
    _write_files(world, root / "events", OLD)
    (root / "sql" / "publish").mkdir(parents=True)
    (root / "sql" / "publish" / "pairs_similarity.sql").write_text(
        "SELECT item_id, other_item_id, similarity FROM {{ ref('int_item_similarity') }}\n")
    result = sqlrec.run(root, progress=False)
    events = duckdb.connect().execute(
        "SELECT DISTINCT user_id, item_id FROM read_parquet($p)", {"p": [str(p) for p in
                                                                         sorted((root / "events").iterdir())]}
    ).fetchall()
    users = sorted({u for u, _ in events})
    items = sorted({i for _, i in events})
    matrix = np.zeros((len(users), len(items)))
    for u, i in events:
        matrix[users.index(u), items.index(i)] = 1
    counts = matrix.T @ matrix
    counts[counts < 3] = 0  # SAR: item_cooccurrence.multiply(item_cooccurrence >= threshold)
    diagonal = np.diag(counts)
    expected = {}
    for a, b in zip(*np.nonzero(counts)):
        if a != b:
            expected[(items[a], items[b])] = counts[a, b] / (diagonal[a] + diagonal[b] - counts[a, b])
    got = {(r["item_id"], r["other_item_id"]): r["similarity"] for r in result.table("pairs_similarity").to_pylist()}
    assert got.keys() == expected.keys()
    for pair, value in expected.items():
        assert got[pair] == pytest.approx(value, rel=1e-12)
    whole = _state(result, "pair_counts", ["item_id", "other_item_id"])
    assert min(whole.column("users").to_pylist()) == 1  # the state keeps the counts the similarity leaves out


@pytest.mark.parametrize("change, reason", [
    ("rewrite", "an events file of the last run changed or disappeared"),
    ("half_life", "stages, vars, input settings or the sqlrec version changed"),
    ("duplicates", "duplicates are merged across files"),
    ("max_history", "cooccurrence_max_history caps each user's history"),
    ("default_max_history", "200 items by default; set it to 0"),
    ("nothing_new", "no new events files"),
])
def test_what_breaks_the_sums_runs_in_full_and_says_why(world, tmp_path, change, reason):
    root = _project(world, tmp_path / "p")
    _write_files(world, root / "events", OLD)
    sqlrec.run(root, progress=False)
    config = (root / "sqlrec.toml").read_text()
    if change == "rewrite":
        _write_files(world, root / "events", {"a.parquet": "ts < TIMESTAMPTZ '2026-04-01'", **NEW})
    elif change == "half_life":
        (root / "sqlrec.toml").write_text(config + "cooccurrence_half_life_days = 10\n")
        _write_files(world, root / "events", NEW)
    elif change == "duplicates":
        (root / "sqlrec.toml").write_text(config.replace('path = "events/*.parquet"\n',
                                                         'path = "events/*.parquet"\nduplicates = "first"\n'))
        _write_files(world, root / "events", NEW)
    elif change == "max_history":
        (root / "sqlrec.toml").write_text(config.replace("max_history = 0", "max_history = 5"))
        _write_files(world, root / "events", NEW)
    elif change == "default_max_history":  # the default caps histories: refreshes rebuild, and say how not to
        (root / "sqlrec.toml").write_text(config.replace("cooccurrence_max_history = 0\n", ""))
        _write_files(world, root / "events", NEW)
    notes = []
    result = sqlrec.run(root, progress=False, report=notes.append)
    assert not result.manifest["refresh"]["incremental"]
    assert reason in result.manifest["refresh"]["reason"]
    assert any(n.startswith("refresh: full") and reason in n for n in notes)


def test_incremental_false_keeps_no_state(world, tmp_path):
    root = _project(world, tmp_path / "p")
    (root / "sqlrec.toml").write_text((root / "sqlrec.toml").read_text().replace(
        '[output]\n', '[output]\nincremental = false\n'))
    _write_files(world, root / "events", OLD)
    result = sqlrec.run(root, progress=False)
    assert not (result.run_dir / "_state").exists()
    assert "incremental = false" in result.manifest["refresh"]["reason"]


def test_exact_sar_is_one_setting_that_keeps_incremental_refresh(world, tmp_path):
    """`cooccurrence_exact = true` alone counts every neighbour and every whole history: the lists of both knobs set
    to 0, refreshed from the new file only."""
    exact = _project(world, tmp_path / "exact")
    config = (exact / "sqlrec.toml").read_text()
    (exact / "sqlrec.toml").write_text(config.replace("cooccurrence_max_history = 0\n", "cooccurrence_exact = true\n"))
    _write_files(world, exact / "events", OLD)
    sqlrec.run(exact, progress=False)
    _write_files(world, exact / "events", NEW)
    refreshed = sqlrec.run(exact, progress=False)
    assert refreshed.manifest["refresh"]["incremental"], refreshed.manifest["refresh"]
    both = _project(world, tmp_path / "both", "[vars]\ncooccurrence_neighbours = 0\n")
    _write_files(world, both / "events", {**OLD, **NEW})
    _assert_same(refreshed, sqlrec.run(both, progress=False))
    pruned = _project(world, tmp_path / "pruned", "[vars]\ncooccurrence_neighbours = 3\n")  # the test can tell
    _write_files(world, pruned / "events", {**OLD, **NEW})
    with pytest.raises(AssertionError):
        _assert_same(refreshed, sqlrec.run(pruned, progress=False))
