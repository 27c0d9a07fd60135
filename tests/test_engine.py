"""The DuckDB connection a run gets: settings from [engine], UTC, no extension autoloading, locked config."""

from __future__ import annotations

import duckdb
import pytest

import sqlrec
from sqlrec.config import load_config
from sqlrec.engines.duckdb import DuckDBEngine
from sqlrec.errors import ProjectError


@pytest.fixture
def engine(make_project, tmp_path):
    project = make_project('\n', name="eng")
    text = project.config.read_text().replace("threads = 1", 'threads = 1\nmemory_limit = "1GB"\ntemp_directory = "spill"')
    project.write("sqlrec.toml", text)
    config = load_config(project.config)
    eng = DuckDBEngine(config.engine, database=tmp_path / "w.duckdb",
                       temp_directory=(config.root / config.engine.temp_directory), allowed=[], show_progress=False)
    yield eng, project
    eng.close()


def _setting(eng, name):
    return eng.con.execute("SELECT current_setting($n)", {"n": name}).fetchall()[0][0]


def test_settings_come_from_config(engine):
    eng, project = engine
    assert _setting(eng, "threads") == 1
    assert _setting(eng, "memory_limit") == "953.6 MiB"  # DuckDB reports 1GB (10^9 bytes) in MiB
    assert _setting(eng, "temp_directory") == str(project.root / "spill")
    assert _setting(eng, "TimeZone") == "UTC"
    assert _setting(eng, "autoinstall_known_extensions") is False
    assert _setting(eng, "autoload_known_extensions") is False


def test_configuration_is_locked_and_files_outside_are_unreachable(engine, tmp_path):
    eng, _project = engine
    with pytest.raises(duckdb.InvalidInputException, match="the configuration has been locked"):
        eng.con.execute("SET enable_external_access = true")
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException, match=f'Cannot access file "{outside}"'):
        eng.con.execute("SELECT * FROM read_csv($p)", {"p": str(outside)}).fetchall()


def test_stage_materialized_as_view(make_project):
    project = make_project('\n[stages.int_item_popularity]\nmaterialized = "view"\n')
    result = sqlrec.run(project.root, progress=False)
    stage = {s["stage"]: s for s in result.manifest["stages"]}["int_item_popularity"]
    assert stage["materialized"] == "view" and stage["rows"] == -1  # a view is not counted
    assert result.table("popular_items").num_rows == 6


def test_header_inputs_must_match_what_the_sql_reads(project):
    project.write("sql/publish/out.sql", """
        -- inputs: stg_events
        -- columns: item_id
        SELECT item_id FROM {{ ref('int_item_popularity') }}
    """)
    with pytest.raises(ProjectError, match="not listed: int_item_popularity; not read: stg_events"):
        sqlrec.validate(project.root)
