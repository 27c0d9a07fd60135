"""Shared fixtures: small projects written into tmp folders, with data the tests control."""

from __future__ import annotations

import hashlib
import os
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import duckdb
import pytest

BASE_CONFIG = """
[project]
name = "t"

[inputs.events]
path = "data/events.parquet"

[output]
path = "out"
keep_runs = {keep_runs}

[engine]
threads = 1
progress = false
"""


def write_events(path: Path, rows: list[tuple]) -> Path:
    """rows: (user_id, item_id, event_type, day) -> a Parquet events file with UTC timestamps.

    Row i happens i seconds into its day, so no two rows are duplicates of each other.
    """
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "user_id": pa.array([r[0] for r in rows], pa.int64()),
        "item_id": pa.array([r[1] for r in rows], pa.int64()),
        "event_type": [r[2] for r in rows],
        "ts": pa.array([start + timedelta(days=r[3], seconds=i) for i, r in enumerate(rows)], pa.timestamp("us", tz="UTC")),
    }), path)
    return path


SMALL_EVENTS = [
    (1, 10, "purchase", 0), (1, 11, "view", 1), (2, 10, "view", 2), (2, 12, "cart", 3),
    (3, 13, "view", 4), (3, 10, "purchase", 5), (4, 11, "view", 6), (4, 14, "view", 7),
    (5, 12, "purchase", 8), (5, 15, "view", 9), (6, 10, "view", 10),
]


class Project:
    """A project folder under tmp_path that tests add stages, macros and settings to."""

    def __init__(self, root: Path, extra_config: str = "", keep_runs: int = 3):
        self.root = root
        write_events(root / "data" / "events.parquet", SMALL_EVENTS)
        self.write("sqlrec.toml", BASE_CONFIG.format(keep_runs=keep_runs) + textwrap.dedent(extra_config))

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    @property
    def config(self) -> Path:
        return self.root / "sqlrec.toml"

    @property
    def out(self) -> Path:
        return self.root / "out"


SPARK_MODULES = "test_spark"  # test_spark.py, test_spark_cluster.py, test_spark_demo.py, ...


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """How the suite shares the machine's cores: each module runs whole on one worker (its fixtures are built once),
    and the Spark modules run one after another on one worker, first. Two Spark JVMs side by side on two cores took
    twice as long each (the every-stage parity test: 587 s against 244 s alone). (xdist's own loadgroup cannot
    group them under pytest 9.2: it renames an attribute pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SparkModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "spark" if Path(module).name.startswith(SPARK_MODULES) else module

    return SparkModulesTogether(config, log)


def pytest_collection_modifyitems(config, items):
    """The Spark modules first: the longest unit of work starts at once, the other worker takes the rest."""
    items.sort(key=lambda item: not item.path.name.startswith(SPARK_MODULES))  # stable: modules keep their order


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for every Spark test module of the worker (the scheduler runs them all on one
    worker: tests/conftest.py), so that the JVM starts and warms up once (about 40 s of a first run); the Spark test
    modules skip themselves without Java."""
    from sqlrec.config import EngineSpec
    from sqlrec.engines.spark import start_session
    session, _started = start_session(EngineSpec(name="spark", threads=2))
    yield session
    session.stop()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


@pytest.fixture
def make_project(tmp_path: Path):
    def make(extra_config: str = "", name: str = "proj", keep_runs: int = 3) -> Project:
        return Project(tmp_path / name, extra_config, keep_runs)
    return make


CHECKOUT = Path(__file__).resolve().parents[1]


def shared_dataset(folder: str, env: str) -> Path:
    """A dataset under ../shared/datasets (beside the checkout), or the folder named by the environment variable."""
    return Path(os.environ.get(env) or CHECKOUT.parent / "shared" / "datasets" / folder)


ML100K = shared_dataset("ml-100k", "SQLREC_ML100K")
ONLINE_RETAIL = shared_dataset("online-retail", "SQLREC_ONLINE_RETAIL")


def world_inputs(folder: Path | str) -> str:
    """The [inputs] of a project reading a generated world's events, items and users from `folder`."""
    return "\n".join(f'[inputs.{name}]\npath = "{Path(folder) / f"{name}.parquet"}"'
                     for name in ("events", "items", "users")) + "\n"


def world_project(folder: Path | str, output: str = "", engine: str = "") -> str:
    """world_inputs, and an `out` output folder and no progress lines: the head of a test project's sqlrec.toml.
    `output` and `engine` are more lines for those sections, e.g. 'keep_runs = 10\n'."""
    return world_inputs(folder) + f'[output]\npath = "out"\n{output}[engine]\nprogress = false\n{engine}'


def generated_world(tmp_path_factory, users: int, items: int, events: int, seed: int) -> Path:
    """A synthetic retail world (sqlrec generate) in a new folder of the session's tmp dir."""
    from sqlrec.datagen import WorldSize, generate
    folder = tmp_path_factory.mktemp("world")
    generate(folder, WorldSize(users=users, items=items, events=events, seed=seed))
    return folder


def project_on(world: Path, root: Path, output: str = "", engine: str = "", extra: str = "") -> Path:
    """A project folder at `root` reading `world`, with world_project's settings and `extra` lines at the end."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sqlrec.toml").write_text(world_project(world, output, engine) + extra)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """Every published file (following `current`) and its content hash; excludes the lock file."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".lock":
            digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    digest["current ->"] = os.readlink(root / "current")
    return digest


def snapshot_run_id(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql("SELECT run_id FROM run_manifest").fetchall()[0][0]
    finally:
        con.close()
