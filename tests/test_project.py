"""Stages and the dependency graph: refs, cycles, overrides, disabled stages, Python stages."""

from __future__ import annotations

import pytest

import sqlrec
from sqlrec.errors import ConfigError, ProjectError


def _stage_names(project_root):
    return {row["stage"]: row for row in sqlrec.list_stages(project_root)}


def test_builtin_stages_are_found_without_a_project_sql_folder(project):
    rows = _stage_names(project.root)
    assert {"stg_events", "int_item_popularity", "rec_popularity", "recommendations"} <= set(rows)
    assert rows["recommendations"]["published"] and rows["recommendations"]["origin"] == "builtin"
    assert rows["rec_popularity"]["deps"] == ["int_item_popularity", "stg_events"] or \
        set(rows["rec_popularity"]["deps"]) == {"int_item_popularity", "stg_events"}


def test_unknown_ref_names_both_files(project):
    path = project.write("sql/publish/out.sql", "SELECT * FROM {{ ref('int_item_popularty') }}\n")
    with pytest.raises(ProjectError) as info:
        sqlrec.validate(project.root)
    message = str(info.value)
    assert str(path) in message  # the file that refers
    assert "unknown stage `int_item_popularty`" in message
    assert "did you mean `int_item_popularity`" in message and "int_item_popularity.sql" in message


def test_cycle_names_every_file_in_it(project):
    a = project.write("sql/features/a.sql", "SELECT * FROM {{ ref('b') }}\n")
    b = project.write("sql/features/b.sql", "SELECT * FROM {{ ref('a') }}\n")
    project.write("sql/publish/out.sql", "SELECT * FROM {{ ref('a') }}\n")
    with pytest.raises(ProjectError) as info:
        sqlrec.validate(project.root)
    message = str(info.value) + str(info.value.hint)
    assert "cycle: a -> b -> a" in message
    assert str(a) in message and str(b) in message


def test_self_reference_is_a_cycle(project):
    project.write("sql/publish/out.sql", "SELECT * FROM {{ ref('out') }}\n")
    with pytest.raises(ProjectError, match="cycle: out -> out"):
        sqlrec.validate(project.root)


def test_project_stage_overrides_builtin_by_name(project):
    project.write("sql/features/int_item_popularity.sql", """
        -- Popularity by distinct buyers only.
        -- columns: item_id, score, users, events
        SELECT item_id, CAST(count(DISTINCT user_id) AS DOUBLE) AS score, count(DISTINCT user_id) AS users,
               count(*) AS events
        FROM {{ ref('stg_events') }} WHERE event_type = 'purchase' GROUP BY item_id
    """)
    project.write("sql/publish/popular.sql", "SELECT * FROM {{ ref('rec_popularity') }}\n")
    rows = _stage_names(project.root)
    assert rows["int_item_popularity"]["origin"] == "project"
    result = sqlrec.run(project.root, progress=False)
    # Only items 10 and 12 were ever purchased, so they are the only candidates.
    assert set(result.table("popular").column("item_id").to_pylist()) <= {10, 12}


def test_project_macro_overrides_builtin_by_name(project):
    project.write("macros/weights.sql", """
        {% macro event_weight(weights, default=1) -%} 2.5 {%- endmacro %}
    """)
    result = sqlrec.run(project.root, progress=False)
    weights = set(result.relation("popular_items").project("score / events").fetchall())
    assert weights == {(2.5,)}


def test_new_project_stage_extends_the_graph(project):
    project.write("sql/publish/buyers.sql", """
        -- Buyers per item.
        -- unique: item_id
        -- columns:
        --   item_id: the item
        --   buyers: distinct purchasing users
        SELECT item_id, count(DISTINCT user_id) AS buyers
        FROM {{ ref('stg_events') }} WHERE event_type = 'purchase' GROUP BY item_id
    """)
    result = sqlrec.run(project.root, progress=False)
    assert "buyers" in result.tables
    assert sorted(result.table("buyers").to_pylist(), key=lambda r: r["item_id"]) == [
        {"item_id": 10, "buyers": 2}, {"item_id": 12, "buyers": 1}]


def test_disabled_stage_leaves_the_graph(make_project):
    project = make_project("\n[stages.popular_items]\nenabled = false\n")
    result = sqlrec.run(project.root, progress=False)
    assert "popular_items" not in result.tables and "recommendations" in result.tables


def test_disabling_a_stage_others_read_is_an_error(make_project):
    project = make_project("\n[stages.int_item_popularity]\nenabled = false\n")
    with pytest.raises(ProjectError, match="reads stage `int_item_popularity`, which sqlrec.toml disables"):
        sqlrec.validate(project.root)


def test_stages_table_naming_no_stage_is_an_error(make_project):
    project = make_project("\n[stages.rec_popularty]\nenabled = false\n")
    with pytest.raises(ConfigError, match=r"\[stages.rec_popularty\]` names no stage \(did you mean `rec_popularity`"):
        sqlrec.load(project.root)


def test_same_stage_name_twice_in_a_project_is_an_error(project):
    first = project.write("sql/features/dup.sql", "SELECT 1 AS x\n")
    second = project.write("sql/candidates/dup.sql", "SELECT 2 AS x\n")
    with pytest.raises(ProjectError) as info:
        sqlrec.load(project.root)
    assert "defined twice" in str(info.value) and str(first) in str(info.value) and str(second) in str(info.value)


def test_reserved_input_prefix_is_refused(project):
    project.write("sql/features/src_events.sql", "SELECT 1 AS x\n")
    with pytest.raises(ProjectError, match="may not start with `src_`"):
        sqlrec.load(project.root)


def test_unknown_header_key_is_an_error(project):
    project.write("sql/publish/out.sql", "-- Out.\n-- colums: a\nSELECT 1 AS a\n")
    with pytest.raises(ProjectError, match=r"out.sql, line 2: unknown header key `colums` \(did you mean `columns`"):
        sqlrec.load(project.root)


def test_python_stage_sits_between_sql_stages(project):
    project.write("python/scaling.py", '''
        import pyarrow as pa
        import pyarrow.compute as pc
        from sqlrec import python_stage

        @python_stage(inputs=["int_item_popularity"], columns=["item_id", "share"], grain="one row per item")
        def item_share(tables, vars):
            """Each item's share of all popularity."""
            pop = tables["int_item_popularity"]
            total = pc.sum(pop["score"]).as_py()
            return pa.table({"item_id": pop["item_id"], "share": pc.divide(pop["score"], total)})
    ''')
    project.write("sql/publish/shares.sql", """
        -- columns: item_id, share
        SELECT item_id, share FROM {{ ref('item_share') }}
    """)
    rows = _stage_names(project.root)
    assert rows["item_share"]["kind"] == "python" and rows["item_share"]["deps"] == ["int_item_popularity"]
    result = sqlrec.run(project.root, progress=False)
    shares = result.table("shares").to_pylist()
    assert abs(sum(r["share"] for r in shares) - 1.0) < 1e-12
    order = [s["stage"] for s in result.manifest["stages"]]
    assert order.index("int_item_popularity") < order.index("item_share") < order.index("shares")


def test_python_stage_with_wrong_columns_fails_clearly(project):
    project.write("python/bad.py", '''
        import pyarrow as pa
        from sqlrec import python_stage

        @python_stage(inputs=["stg_events"], columns=["item_id", "share"])
        def bad(tables, vars):
            return pa.table({"item_id": [1]})
    ''')
    project.write("sql/publish/out.sql", "-- columns: item_id\nSELECT item_id FROM {{ ref('bad') }}\n")
    with pytest.raises(sqlrec.SqlrecError) as info:
        sqlrec.run(project.root, progress=False)
    assert "bad" in str(info.value) and "share" in str(info.value)


def test_python_stage_that_raises_names_its_file(project):
    path = project.write("python/boom.py", '''
        from sqlrec import python_stage

        @python_stage(inputs=["stg_events"], columns=["x"])
        def boom(tables, vars):
            raise ValueError("no factors today")
    ''')
    project.write("sql/publish/out.sql", "-- columns: x\nSELECT x FROM {{ ref('boom') }}\n")
    with pytest.raises(sqlrec.SqlrecError) as info:
        sqlrec.run(project.root, progress=False)
    assert str(path) in str(info.value) and "ValueError: no factors today" in str(info.value)


def test_unused_var_is_an_error(make_project):
    project = make_project("\n[vars]\nkk = 5\n")
    with pytest.raises(ConfigError, match=r"`vars.kk` is not read by any stage"):
        sqlrec.validate(project.root)


def test_source_of_undeclared_input_is_an_error(project):
    project.write("sql/publish/out.sql", "SELECT * FROM {{ source('orders') }}\n")
    with pytest.raises(ConfigError, match="orders"):
        sqlrec.validate(project.root)


def test_python_stage_receives_only_the_vars_it_declares(make_project):
    project = make_project("\n[vars]\nk = 3\nalpha = 0.5\n")
    project.write("python/seen.py", '''
        import pyarrow as pa
        from sqlrec import python_stage

        @python_stage(inputs=["stg_events"], columns=["name", "value"], vars=["alpha"])
        def seen_vars(tables, vars):
            return pa.table({"name": list(vars), "value": [str(v) for v in vars.values()]})
    ''')
    project.write("sql/publish/out.sql", "-- columns: name, value\nSELECT * FROM {{ ref('seen_vars') }}\n")
    result = sqlrec.run(project.root, progress=False)
    assert result.table("out").to_pylist() == [{"name": "alpha", "value": "0.5"}]


def test_builtin_python_stages_join_the_graph_and_can_be_replaced(project):
    rows = _stage_names(project.root)
    assert rows["int_cooccurrence_candidates"]["kind"] == "python"
    assert rows["int_cooccurrence_candidates"]["origin"] == "builtin"
    assert rows["int_cooccurrence_candidates"]["deps"] == ["int_user_affinity", "int_item_similarity"]
    project.write("sql/candidates/int_cooccurrence_candidates.sql", """
        -- columns: user_ix, item_ix, score
        SELECT user_ix, item_ix, 1.0 AS score FROM {{ ref('int_user_affinity') }} WHERE false
    """)
    rows = _stage_names(project.root)
    assert rows["int_cooccurrence_candidates"]["kind"] == "sql"
    assert rows["int_cooccurrence_candidates"]["origin"] == "project"


def test_python_stage_reads_only_the_columns_it_names(project):
    project.write("python/narrow.py", '''
        import pyarrow as pa
        from sqlrec import python_stage

        @python_stage(inputs={"stg_events": ["item_id", "weight"]}, columns=["names"])
        def narrow(tables, vars):
            return pa.table({"names": [",".join(tables["stg_events"].column_names)]})
    ''')
    project.write("sql/publish/out.sql", "-- columns: names\nSELECT names FROM {{ ref('narrow') }}\n")
    result = sqlrec.run(project.root, progress=False)
    assert result.table("out").to_pylist() == [{"names": "item_id,weight"}]
    assert _stage_names(project.root)["narrow"]["deps"] == ["stg_events"]


def test_python_stage_inputs_mapping_needs_columns():
    from sqlrec import python_stage
    with pytest.raises(TypeError, match=r"inputs\['stg_events'\] must be a non-empty list of column names"):
        python_stage(inputs={"stg_events": []}, columns=["x"])
