"""Rendering is fail-closed: config values reach SQL only as quoted identifiers or literals."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import sqlrec
from sqlrec.errors import TemplateError
from sqlrec.templating import SqlText, ident, lit, make_environment

ATTACKS = [
    "x'; DROP TABLE stg_events; --",
    "x' OR '1'='1",
    "a\\'; SELECT 1; --",
    "\"; DROP TABLE t; --",
    "line\nbreak ' -- comment",
    "$$ dollar $$",
    "{{ 7*7 }}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_lit_round_trips_any_string_as_one_literal(attack):
    sql = f"SELECT {lit(attack)} AS v"
    tree = sqlglot.parse(sql, read="duckdb")
    assert len(tree) == 1 and isinstance(tree[0].selects[0].this, exp.Literal)
    assert duckdb.sql(sql).fetchall()[0][0] == attack


@pytest.mark.parametrize("attack", ATTACKS)
def test_ident_round_trips_any_string_as_one_identifier(attack):
    sql = f"SELECT 1 AS {ident(attack)}"
    assert duckdb.sql(sql).columns == [attack]


@pytest.mark.parametrize("attack", ATTACKS)
def test_injection_through_config_var_stays_a_literal(project, attack):
    project.write("sql/publish/out.sql", """
        -- columns: v
        SELECT {{ var('label') | lit }} AS v FROM {{ ref('stg_events') }} LIMIT 1
    """)
    project.write("sqlrec.toml", project.config.read_text() + f"\n[vars]\nlabel = {_toml_str(attack)}\n")
    sql = sqlrec.render("out", project.root, raw=True)
    statements = sqlglot.parse(sql, read="duckdb")
    assert len(statements) == 1
    literals = [lit_.this for lit_ in statements[0].find_all(exp.Literal) if lit_.is_string]
    assert literals == [attack]
    result = sqlrec.run(project.root, progress=False)
    assert result.table("out").column("v").to_pylist() == [attack]


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_raw_string_var_is_refused(project):
    project.write("sql/publish/out.sql", "SELECT {{ var('label') }} AS v\n")
    project.write("sqlrec.toml", project.config.read_text() + '\n[vars]\nlabel = "1; DROP TABLE x"\n')
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root)
    message = str(info.value)
    assert "refusing to print the raw string" in message
    assert "stage out" in message and "out.sql, line 1" in message
    assert "| lit" in message


PLAIN_ATTACK = "1; DROP TABLE stg_events"  # no quote, no HTML character: escaping would not change it


@pytest.mark.parametrize("template", [
    "SELECT 'a' || {{ '' ~ var('label') }} AS v",
    "SELECT {{ ('a' | lit) ~ var('label') }} AS v",
    "SELECT {{ ('a' | lit) + var('label') }} AS v",
    "SELECT {{ ('a' | lit) % var('label') }} AS v",
    "SELECT {{ var('label') | e }} AS v",
    "SELECT {{ var('label') | safe }} AS v",
    "SELECT {{ [var('label')] | join(',') }} AS v",
    "SELECT {{ ('a' | lit).replace('a', var('label')) }} AS v",
    "SELECT {{ ('%s' | lit) | format(var('label')) }} AS v",
    "SELECT {{ var('label') | tojson }} AS v",
    "SELECT {{ var('label') | string }} AS v",
])
def test_no_jinja_operation_turns_a_raw_string_into_sql(project, template):
    project.write("sql/publish/out.sql", template + "\n")
    project.write("sqlrec.toml", project.config.read_text() + f'\n[vars]\nlabel = "{PLAIN_ATTACK}"\n')
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root, raw=True)
    assert "stage out" in str(info.value)


def test_joining_sql_fragments_and_numbers_is_allowed(project):
    project.write("sql/publish/out.sql", "-- columns: v\nSELECT {{ ('a' | lit) ~ ' || ' }} AS v\n")
    with pytest.raises(TemplateError):  # a bare template string is text too
        sqlrec.render("out", project.root, raw=True)
    env = make_environment({})
    assert env.from_string("{{ ('a' | lit) ~ 2 }}").render() == "'a'2"


def test_list_and_none_are_refused():
    env = make_environment({})
    for value in (["a"], None, {"a": 1}):
        with pytest.raises(Exception, match="refusing to print"):
            env.from_string("{{ v }}").render(v=value)


def test_numbers_and_booleans_print_as_literals():
    env = make_environment({})
    assert env.from_string("{{ a }} {{ b }} {{ c }}").render(a=3, b=0.25, c=True) == "3 0.25 TRUE"
    with pytest.raises(Exception, match="non-finite"):
        env.from_string("{{ a }}").render(a=float("nan"))


def test_lit_of_list_is_a_tuple():
    assert duckdb.sql(f"SELECT 2 IN {lit([1, 2])}, 'b' IN {lit(['a', 'c'])}").fetchall() == [(True, False)]


def test_sandbox_blocks_python_internals(project):
    project.write("sql/publish/out.sql", "SELECT {{ ''.__class__.__mro__[1].__subclasses__() }} AS v\n")
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root)
    assert "stage out" in str(info.value)


def test_undefined_variable_names_stage_file_and_line(project):
    project.write("sql/publish/out.sql", "-- columns: v\nSELECT\n  {{ nope }} AS v\n")
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root)
    message = str(info.value)
    assert "stage out" in message and "out.sql, line 3" in message and "'nope' is undefined" in message


def test_missing_var_without_default(project):
    project.write("sql/publish/out.sql", "SELECT {{ var('threshold') }} AS v\n")
    with pytest.raises(TemplateError, match=r"var\('threshold'\) is not set .* \[vars\]"):
        sqlrec.render("out", project.root)


def test_template_syntax_error_has_line(project):
    project.write("sql/publish/out.sql", "SELECT 1 AS v\n{% if %}\n")
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root)
    assert "out.sql), line 2: template syntax error" in str(info.value)


def test_sql_parse_error_has_line_and_column(project):
    project.write("sql/publish/out.sql", "SELECT 1 AS v,\n  FROM {{ ref('stg_events') }}\n  WHERE\n")
    with pytest.raises(TemplateError) as info:
        sqlrec.render("out", project.root)
    message = str(info.value)
    assert "stage out" in message and "out.sql" in message
    assert "parse error at line 3, column" in message


def test_macro_checks_its_arguments(project):
    project.write("sql/publish/out.sql", "SELECT {{ event_weight('view') }} AS v\n")
    with pytest.raises(TemplateError, match="weights must be a non-empty table"):
        sqlrec.render("out", project.root)


def test_sqltext_is_the_only_trusted_string():
    assert isinstance(ident("a"), SqlText) and isinstance(lit("a"), SqlText)
    env = make_environment({})
    assert env.from_string("{{ v }}").render(v=SqlText('"ok"')) == '"ok"'


@pytest.mark.parametrize("stage", ["int_blend_parts", "int_candidates", "int_explanations"])
@pytest.mark.parametrize("blend_vars, message", [
    ({"blend": "cooccurrence"}, "vars.blend must be a table of source weights"),
    ({"blend_by_segment": {"loyal": 0.5}}, "vars.blend_by_segment must hold a table of source weights per segment"),
])
def test_every_stage_reading_the_blend_refuses_a_malformed_one(project, stage, blend_vars, message):
    with pytest.raises(TemplateError, match=message):
        sqlrec.render(stage, project.root, vars=blend_vars)


def test_the_blends_sources_are_the_same_list_for_every_stage_that_reads_them(project):
    blend_vars = {"blend": {"svd": 0.5, "cooccurrence": 1.0},
                  "blend_by_segment": {"loyal": {"content": 1.0, "Zeta": 0.2}}, "cross_sell_segments": ["loyal"]}
    candidates = sqlrec.render("int_candidates", project.root, vars=blend_vars, raw=True)
    named = [line.split("THEN")[-1].strip() for line in candidates.splitlines() if "WHEN max(CASE" in line]
    # by code point, as SQL orders text: the capitalised name first
    assert named == ["'Zeta'", "'content'", "'cooccurrence'", "'cross_sell'", "'svd'"]
