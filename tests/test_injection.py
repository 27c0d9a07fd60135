"""Injection: hostile strings in every config value that reaches SQL. Each rendered stage must still be one SELECT to
DuckDB's own parser (json_serialize_sql refuses anything else), every value must come back from that parse exactly,
as a string constant or a column name, and a run with hostile values creates no file outside its output folder."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

import sqlrec
from conftest import generated_world, world_project
from sqlrec.config import load_config
from sqlrec.errors import ConfigError, DataError, SqlrecError, TemplateError
from sqlrec.plan import render_one
from sqlrec.project import load_project
from sqlrec.resources import template_path
from sqlrec.templating import make_environment

BASES = [
    "'", "''", '"', '""', "`", "\\", "\\'", ";", "--", "/*", "*/", "#", "%", "_", "$1", "?", ":name", "@x",
    "'; DROP TABLE recommendations; --", "' OR '1'='1", "') OR ('1'='1", "'||(SELECT 1)||'", "1); DELETE FROM x; --",
    "COPY (SELECT 1) TO '/tmp/sqlrec_pwned.csv'", "'; COPY recommendations TO '/tmp/sqlrec_pwned.parquet'; --",
    "'; ATTACH '/tmp/sqlrec_pwned.db' AS p; --", "read_csv('/etc/passwd')", "'; INSTALL httpfs; LOAD httpfs; --",
    "E'\\x27'", "U&'\\0027'", "$$ dollar $$", "{{ 7 * 7 }}", "{% raw %}", "{# comment #}", "{{ ''.__class__ }}",
    "{%- endmacro %}", "${HOME}", "\n", "\r\n", "\t", " ", "\u00a0", "\u200b", "\u202e", "\uff07", "\u02bc", "\u2019",
    "\u00e9", "e\u0301", "\U0001f600", "\u0130", "\\N", "NULL", "null", "true", "1e309", "-0", "NaN",
]
WRAPPERS = ["{}", "a{}", "{}b", "x {} y", "{}{}", "'{}'", "({})", "[{}]"]


def hostile_strings(count: int = 2_000) -> list[str]:
    """Every base alone, in each wrapper, and in pairs, until `count` distinct strings."""
    found: dict[str, None] = {}
    for wrapper, base in itertools.product(WRAPPERS, BASES):
        found[wrapper.format(base, base) if wrapper.count("{}") == 2 else wrapper.format(base)] = None
    for a, b in itertools.product(BASES, BASES):
        if len(found) >= count:
            break
        found[a + b] = None
    found["a" * 5_000 + "'"] = None
    return list(found)


HOSTILE = hostile_strings()
BATCH = 100  # values per render for list-valued vars


def test_the_corpus_has_2000_distinct_hostile_strings():
    assert len(HOSTILE) >= 2_000 and len(set(HOSTILE)) == len(HOSTILE)
    assert any("COPY" in s for s in HOSTILE) and any("{{" in s for s in HOSTILE) and any("\u202e" in s for s in HOSTILE)


@pytest.fixture(scope="module")
def starter():
    """The demo project's config and stages (`sqlrec run --demo`), rendered without running."""
    config = load_config(template_path("demo.toml"))
    project = load_project(config)
    return project, make_environment(project.macro_files)


#: One in-memory connection for every parse (json_serialize_sql only parses; a new connection per parse took 40 ms)
_PARSER = duckdb.connect()


def _duckdb_parse(sql: str) -> dict:
    return json.loads(_PARSER.execute("SELECT json_serialize_sql($q)", {"q": sql}).fetchall()[0][0])


def _constants(tree) -> set[str]:
    """Every string constant and every column name of DuckDB's parse tree."""
    found = set()
    if isinstance(tree, dict):
        if tree.get("type") == "VALUE_CONSTANT" and isinstance(tree.get("value"), dict):
            value = tree["value"]
            if value.get("type", {}).get("id") == "VARCHAR" and not value.get("is_null"):
                found.add(value["value"])
        literal = tree.get("literal")
        if isinstance(literal, dict) and literal.get("kind") == "STRING":
            found.add(literal.get("text"))
        if tree.get("class") == "COLUMN_REF":
            found.update(tree.get("column_names", []))
        for child in tree.values():
            found |= _constants(child)
    elif isinstance(tree, list):
        for child in tree:
            found |= _constants(child)
    return found


def _render(starter, stage: str, vars: dict, mode: str = "run", **config_changes) -> str:
    project, env = starter
    config = replace(project.config, vars={**project.config.vars, **vars}, **config_changes)
    sql, _ctx = render_one(replace(project, config=config), stage, env, mode)
    return sql


def _assert_one_select_holding(sql: str, values: list[str]) -> None:
    parsed = _duckdb_parse(sql)
    assert not parsed["error"], parsed.get("error_message")
    assert len(parsed["statements"]) == 1
    missing = [v for v in values if v not in _constants(parsed["statements"][0])]
    assert not missing, missing[:3]


LIST_VARS = [  # (var, stage that prints it with |lit)
    ("deny_categories", "int_eligible"), ("allow_brands", "int_eligible"), ("deny_items", "int_eligible"),
    ("purchase_events", "int_eligible"), ("repurchase_categories", "int_eligible"),
    ("cross_sell_segments", "rec_final"), ("tier_order", "int_item_attributes"),
]


@pytest.mark.parametrize("var, stage", LIST_VARS)
def test_hostile_list_values_stay_literals(starter, var, stage):
    for start in range(0, len(HOSTILE), BATCH):
        values = HOSTILE[start:start + BATCH]
        _assert_one_select_holding(_render(starter, stage, {var: values}), values)


@pytest.mark.parametrize("var, stage", [("pinned_items", "rec_final"), ("event_weights", "stg_events")])
def test_hostile_keys_of_table_vars_stay_literals(starter, var, stage):
    for start in range(0, len(HOSTILE), BATCH):
        values = HOSTILE[start:start + BATCH]
        table = {v: i % 5 + 1 for i, v in enumerate(values)}
        _assert_one_select_holding(_render(starter, stage, {var: table}), values)


def test_hostile_slice_columns_stay_identifiers(starter):
    project, _env = starter
    for start in range(0, len(HOSTILE), BATCH):
        values = HOSTILE[start:start + BATCH]
        evaluation = {**project.config.evaluation, "slices": values}
        _assert_one_select_holding(_render(starter, "metrics_by_slice", {}, "evaluate", evaluation=evaluation), values)


def test_hostile_experiment_salts_stay_literals(starter):
    project, env = starter
    spec = project.config.experiments["strategies"]
    for salt in HOSTILE:
        config = replace(project.config, experiment=replace(spec, salt=salt))
        sql, _ctx = render_one(replace(project, config=config), "experiment_assignments", env)
        parsed = _duckdb_parse(sql)
        assert not parsed["error"] and len(parsed["statements"]) == 1
        assert any(salt in text for text in _constants(parsed["statements"][0]) if isinstance(text, str))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generated_world(tmp_path_factory, users=200, items=50, events=3_000, seed=5)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_runs_with_hostile_values_create_nothing_outside_their_output(world, tmp_path):
    """Every variety of hostile string in the rule lists and pins of real runs: each run publishes, and the only new
    files are under out/ (and DuckDB's spill folder)."""
    pwned = [Path("/tmp/sqlrec_pwned.csv"), Path("/tmp/sqlrec_pwned.parquet"), Path("/tmp/sqlrec_pwned.db")]
    for path in pwned:
        path.unlink(missing_ok=True)
    root = tmp_path / "p"
    root.mkdir()
    before = _tree(tmp_path)
    for start in range(0, len(BASES) * 2, 40):
        values = (BASES * 2)[start:start + 40]
        vars_ = {"deny_categories": values, "purchase_events": ["purchase", *values],
                 "repurchase_categories": values, "pinned_items": {values[0]: 3}}
        (root / "sqlrec.toml").write_text(world_project(world))
        sqlrec.run(root, vars=vars_, progress=False)
    created = {p for p in _tree(tmp_path) - before
               if not p.startswith(("p/out", "p/.sqlrec")) and p not in ("p/sqlrec.toml", "p/sqlrec.contract.json")}
    assert created == set()
    assert not any(path.exists() for path in pwned)


@pytest.mark.parametrize("value", HOSTILE[::20])
def test_hostile_paths_and_column_mappings_are_refused_by_name(world, tmp_path, value):
    root = tmp_path / "p"
    root.mkdir()
    toml_value = json.dumps(value, ensure_ascii=False)  # a TOML basic string (surrogate escapes are not TOML)
    (root / "sqlrec.toml").write_text(world_project(world).replace(
        f'path = "{world / "events.parquet"}"',
        f'path = "{world / "events.parquet"}"\ncolumns = {{ user_id = {toml_value} }}'))
    with pytest.raises(DataError) as info:
        sqlrec.check(root)
    assert value in info.value.message or value.strip() == ""
    (root / "sqlrec.toml").write_text(world_project(world).replace(
        f'path = "{world / "events.parquet"}"', f"path = {toml_value}", 1))
    with pytest.raises(SqlrecError):
        sqlrec.check(root)


@pytest.mark.parametrize("value", HOSTILE[::10])
def test_hostile_filters_are_refused_or_stay_one_condition(world, tmp_path, value):
    root = tmp_path / "p"
    root.mkdir()
    (root / "sqlrec.toml").write_text(world_project(world).replace(
        f'path = "{world / "events.parquet"}"',
        f'path = "{world / "events.parquet"}"\nfilter = {json.dumps(value, ensure_ascii=False)}'))
    try:
        sqlrec.check(root)  # accepted: then it was one condition that read nothing else
    except ConfigError as exc:  # refused before anything runs, naming the setting (any other error fails the test)
        assert "`inputs.events.filter`" in exc.message, exc.message
    assert not Path("/tmp/sqlrec_pwned.csv").exists()


UNSAFE = r"not allowed in a template: access to attribute '{}' of '\w+' object is unsafe"


@pytest.mark.parametrize("payload, refusal", [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", UNSAFE.format("__class__")),
    ("{{ cycler.__init__.__globals__ }}", UNSAFE.format("__init__")),
    ("{{ lipsum.__globals__ }}", UNSAFE.format("__globals__")),
    ("{{ self._TemplateReference__context }}", UNSAFE.format("_TemplateReference__context")),
    ("{{ joiner.__init__.__globals__ }}", UNSAFE.format("__init__")),
    ("{{ ref.__self__ }}", UNSAFE.format("__self__")),
    ("{{ var.__globals__ }}", UNSAFE.format("__globals__")),
    ("{% set x = namespace() %}{{ x.__class__ }}", UNSAFE.format("__class__")),
    ("{{ range.__class__.__base__ }}", UNSAFE.format("__class__")),
    ("{{ ''|attr('__class__') }}", r"No filter named 'attr'"),  # the sandbox has no attr filter at all
])
def test_jinja_sandbox_escapes_are_refused(tmp_path, payload, refusal):
    from conftest import Project
    project = Project(tmp_path / "p")
    project.write("sql/publish/out.sql", f"SELECT {payload} AS v\n")
    with pytest.raises(TemplateError, match=refusal):  # refused by the sandbox, not by any error on the way
        sqlrec.render("out", project.root)


def test_hostile_variant_and_experiment_names_are_refused_by_the_config(tmp_path):
    """Names become identifiers and schema names, so they must be plain words: everything else is refused."""
    config = tmp_path / "sqlrec.toml"
    refused = 0
    for value in HOSTILE:
        name = json.dumps(value, ensure_ascii=False)
        config.write_text('[inputs.events]\npath = "e.parquet"\n[experiments.home]\ncontrol = "A"\n'
                          f'[experiments.home.variants.A]\n[experiments.home.variants.{name}]\n')
        try:
            spec = load_config(config).experiments["home"]
        except ConfigError:
            refused += 1
            continue
        assert value.isidentifier() and value.isascii(), value  # only a plain name gets through
        assert value in [v.name for v in spec.variants]
    assert refused >= len(HOSTILE) - 20
