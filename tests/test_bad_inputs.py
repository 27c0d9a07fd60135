"""The bad-input corpus: every case starts from a project with a published run, breaks one thing in its data or
config, runs `sqlrec run`, and checks the documented exit code, a message that names what is wrong and where (the
file or config key, the column, an example), and that the published outputs did not change by one byte."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlrec
from conftest import tree_digest
from sqlrec.cli import cli

T0 = 1_770_000_000  # 2026-02-02 UTC
N = 12


def _events(**columns) -> dict:
    base = {"user_id": pa.array([1 + i % 4 for i in range(N)], pa.int64()),
            "item_id": pa.array([10 + i % 5 for i in range(N)], pa.int64()),
            "event_type": ["view", "cart", "purchase"] * (N // 3),
            "ts": pa.array([T0 + 3600 * i for i in range(N)], pa.timestamp("s", tz="UTC"))}
    base.update(columns)
    return base


def _write(root: Path, columns: dict | pa.Table, name: str = "events.parquet") -> Path:
    path = root / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(columns if isinstance(columns, pa.Table) else pa.table(columns), path)
    return path


def _replace(column: str, values: list, kind=None) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        _write(root, _events(**{column: pa.array(values, kind) if kind else values}))
    return change


def _config(old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / "sqlrec.toml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
    return change


def _bytes(name: str, content: bytes, glob: bool = True) -> Callable[[Path], None]:
    """A file of these bytes beside the good one (the events path becomes a glob) or instead of it."""
    def change(root: Path) -> None:
        target = root / "data" / name
        target.write_bytes(content)
        if glob:
            _config('path = "data/events.parquet"', 'path = "data/*.parquet"')(root)
        else:
            (root / "data" / "events.parquet").unlink()
            _config('path = "data/events.parquet"', f'path = "data/{name}"')(root)
    return change


def _csv(text: str, extra: str = "") -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / "data" / "events.csv").write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        _config('path = "data/events.parquet"', 'path = "data/events.csv"' + extra)(root)
    return change


def _both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        for c in changes:
            c(root)
    return change


def _second_file(columns: dict | pa.Table) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        _write(root, columns, "events_2.parquet")
        _config('path = "data/events.parquet"', 'path = "data/*.parquet"')(root)
    return change


def _vars(line: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / "sqlrec.toml").write_text((root / "sqlrec.toml").read_text() + f"\n[vars]\n{line}\n")
    return change


def _both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        for one in changes:
            one(root)
    return change


def _items(columns: dict) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        _write(root, columns, "items.parquet")
        (root / "sqlrec.toml").write_text((root / "sqlrec.toml").read_text()
                                          + '\n[inputs.items]\npath = "data/items.parquet"\n')
    return change


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[Path], None]
    exit_code: int
    says: tuple[str, ...]  # fragments the message (with its hint) must hold


PARQUET = "events.parquet"
TS = [T0 + 3600 * i for i in range(N)]
CASES = [
    # files
    Case("missing file", _config('path = "data/events.parquet"', 'path = "data/nope.parquet"'), 3,
         ("nope.parquet", "inputs.events.path")),
    Case("glob matching nothing", _config('path = "data/events.parquet"', 'path = "data/2027-*.parquet"'), 3,
         ("2027-*.parquet",)),
    Case("zero-byte file", _bytes("zero.parquet", b""), 3, ("zero.parquet", "the file is empty (0 bytes)")),
    Case("truncated parquet", lambda root: _bytes("cut.parquet", (root / "data" / PARQUET).read_bytes()[:300])(root),
         3, ("cut.parquet",)),
    Case("junk file inside the glob", _bytes("notes.parquet", b"this is not parquet\n" * 20), 3, ("notes.parquet",)),
    Case("empty parquet", lambda root: _write(root, pa.table(_events()).slice(0, 0)), 3, ("no rows",)),
    Case("empty csv", _csv(""), 3, ("events.csv", "the file is empty (0 bytes)")),
    Case("csv header only", _csv("user_id,item_id,ts\n"), 3, ("events.csv", "no rows")),
    Case("truncated csv line", _csv("user_id,item_id,ts\n1,10,2026-01-01 00:00:00\n2,11\n"), 3, ("events.csv",)),
    Case("non-utf-8 csv", _csv(b"user_id,item_id,ts,title\n1,10,2026-01-01 00:00:00,caf\xe9\n"), 3,
         ("events.csv", "encoding")),
    # columns
    Case("missing required column", lambda root: _write(root, {k: v for k, v in _events().items() if k != "ts"}), 3,
         ("ts", PARQUET)),
    Case("renamed column", lambda root: _write(root, {("timestamp" if k == "ts" else k): v
                                                      for k, v in _events().items()}), 3, ("ts", "columns")),
    Case("mapping to a column that does not exist", _config('path = "data/events.parquet"',
                                                            'path = "data/events.parquet"\ncolumns = { user_id = "CustomerID" }'),
         3, ("CustomerID", "inputs.events.columns.user_id")),
    Case("schema drift across files", _second_file({**{k: v for k, v in _events().items() if k != "event_type"},
                                                   "kind": ["view"] * N}), 3, ("events_2.parquet", "union_by_name")),
    Case("type drift across files", _second_file(_events(user_id=[f"u{i}" for i in range(N)])), 3,
         ("events_2.parquet", "user_id")),
    # ids
    Case("null user id", _replace("user_id", [None] + [1] * (N - 1), pa.int64()), 3, ("user_id", "NULL", "nulls")),
    Case("null item id", _replace("item_id", [10] * (N - 1) + [None], pa.int64()), 3, ("item_id", "NULL")),
    Case("fractional float id", _replace("item_id", [10.5] + [10.0] * (N - 1)), 3, ("item_id", "10.5")),
    Case("unsigned id beyond 64-bit signed", _replace("user_id", [2 ** 64 - 1] + [1] * (N - 1), pa.uint64()), 3,
         ("user_id",)),
    Case("decimal ids beyond 64 bits", _replace("user_id", [2 ** 70] + [1] * (N - 1), pa.decimal128(30, 0)), 3,
         ("user_id",)),
    # timestamps
    Case("null timestamp", _replace("ts", [None] + TS[1:], pa.timestamp("s", tz="UTC")), 3, ("ts", "NULL")),
    Case("unparseable text timestamp", _replace("ts", ["yesterday"] + ["2026-01-01 00:00:00"] * (N - 1)), 3,
         ("ts", "yesterday", "ts_format")),
    Case("numbers as timestamps without a unit", _replace("ts", TS), 3, ("ts", "epoch")),
    Case("timestamp in the far future", _replace("ts", TS[:-1] + [T0 + 10 ** 9], pa.timestamp("s", tz="UTC")), 3,
         ("ts", "ts_range")),
    Case("timestamp before 1990", _replace("ts", [0] + TS[1:], pa.timestamp("s", tz="UTC")), 3, ("ts", "ts_range")),
    Case("naive and zoned files mixed", _second_file(_events(ts=pa.array(TS, pa.timestamp("s")))), 3,
         ("events_2.parquet", "ts")),
    Case("text timestamps in another format", _replace("ts", ["01/02/2026 10:00"] * N), 3,
         ("ts", "01/02/2026", "ts_format")),
    # measures
    Case("NaN weight", _replace("weight", [math.nan] + [1.0] * (N - 1)), 3, ("weight", "nan")),
    Case("infinite weight", _replace("weight", [math.inf] + [1.0] * (N - 1)), 3, ("weight", "inf")),
    Case("negative weight", _replace("weight", [-2.0] + [1.0] * (N - 1)), 3, ("weight", "-2", "weight_range")),
    Case("text in a weight column", _replace("weight", ["heavy"] + ["1"] * (N - 1)), 3, ("weight", "heavy")),
    # rows
    Case("duplicate events", lambda root: _write(root, pa.concat_tables([pa.table(_events()),
                                                                          pa.table(_events()).slice(0, 2)])), 3,
         ("duplicate", "inputs.events.duplicates")),
    Case("event of an unknown item", _items({"item_id": pa.array([10, 11, 12, 13], pa.int64())}), 3,
         ("14", "unknown_items")),
    Case("duplicate items in the catalogue", _items({"item_id": pa.array([10, 11, 12, 13, 14, 14], pa.int64())}), 3,
         ("items", "14", "duplicate")),
    Case("a 10 MB string id", _replace("item_id", ["x" * 10_000_000] + ["10"] * (N - 1)), 3,
         ("item_id", "10,000,000 characters", "at most 1,000")),
    Case("a filter that is not one expression", _config('path = "data/events.parquet"',
                                                        'path = "data/events.parquet"\nfilter = "1; DROP TABLE x"'),
         2, ("filter",)),
    Case("a filter naming an unknown column", _config('path = "data/events.parquet"',
                                                      'path = "data/events.parquet"\nfilter = "quantity_x > 0"'),
         2, ("quantity_x",)),
    Case("a filter that keeps nothing", _config('path = "data/events.parquet"',
                                                'path = "data/events.parquet"\nfilter = "user_id < 0"'), 3,
         ("no rows", "filter")),
    # config
    Case("unknown config key", _config("[output]", "[output]\nkeep_run = 3"), 2, ("keep_run", "keep_runs")),
    Case("wrong config type", _config("keep_runs = 3", 'keep_runs = "three"'), 2, ("keep_runs", "integer")),
    Case("invalid TOML", _config("[output]", "[output\n"), 2, ("sqlrec.toml", "TOML")),
    Case("unknown timezone", _config('path = "data/events.parquet"',
                                     'path = "data/events.parquet"\nnaive_timezone = "Mars/Olympus"'), 2,
         ("Mars/Olympus",)),
    Case("unknown duplicates policy", _config('path = "data/events.parquet"',
                                              'path = "data/events.parquet"\nduplicates = "mean"'), 2,
         ("duplicates", "mean")),
    Case("var of the wrong kind", lambda root: (root / "sqlrec.toml").write_text(
        (root / "sqlrec.toml").read_text() + '\n[vars]\nk = "ten"\n'), 2, ("vars.k", "whole number")),
    Case("text in deny_items for integer item ids", _vars('deny_items = [10, "ten"]'), 2,
         ("vars.deny_items", "'ten'", "integer", "item_id", "write the ids as numbers")),
    Case("a filter holding a template", _config('path = "data/events.parquet"',
                                                'path = "data/events.parquet"\nfilter = "user_id > {{ var(\'x\') }}"'),
         2, ("inputs.events.filter", "template")),
    Case("deny_items wrong while the catalogue is bad too: the setting is said first", _both(
        _vars('deny_items = ["ten"]'), _items({"item_id": pa.array([10, 11, 12, 13, 14, 14], pa.int64())})), 2,
         ("vars.deny_items",)),
]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A project with a good published run, copied for each case."""
    from conftest import Project
    root = tmp_path_factory.mktemp("good") / "proj"
    project = Project(root)
    _write(root, _events())
    sqlrec.run(root, progress=False)
    return project


def test_the_corpus_has_at_least_40_cases():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_clearly_and_the_last_outputs_stay(published, tmp_path, case):
    import shutil
    root = tmp_path / "proj"
    shutil.copytree(published.root, root, symlinks=True)
    before = tree_digest(root / "out")
    case.change(root)
    result = CliRunner().invoke(cli, ["run", "-p", str(root), "--no-progress"])
    message = result.output
    assert result.exit_code == case.exit_code, message
    assert message.startswith("Error: ") and "Hint: " in message, message
    for fragment in case.says:
        assert fragment.lower() in message.lower(), (fragment, message)
    assert tree_digest(root / "out") == before
